"""Help that reads like a manual: every command's ``--help`` names values for what they are, lists
the global options and the environment variables it reads, and group summaries are never cut."""

from __future__ import annotations

import re

import pytest

from tests.conftest import invoke


def _commands() -> list[list[str]]:
    """Every command and group of the app, as the words that name it (the root: [])."""
    import typer.main

    from bifrost_cli.cli.app import app

    found: list[list[str]] = []

    def walk(command, path: list[str]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _commands()
GROUPS = [path for path in COMMANDS if path in ([], ["files"], ["batches"], ["config"], ["emulator"])]


def _help(path: list[str], columns: int) -> str:
    result = invoke(*path, "--help", env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.stdout


def _sections(text: str) -> dict[str, str]:
    """Each ``Heading:`` section of a help text -> its lines."""
    sections: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        heading = re.fullmatch(r"(\S[^:]*(?:\([^)]*\))?):", line)
        if heading:
            current = heading.group(1).split(" (")[0]
            sections[current] = ""
        elif current is not None and line.startswith("  "):
            sections[current] += line + "\n"
        elif line.strip():
            current = None
    return sections


def test_every_command_is_covered() -> None:
    assert ["batches", "list"] in COMMANDS and ["doctor"] in COMMANDS and len(COMMANDS) > 20


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "bifrost")
@pytest.mark.parametrize("columns", [80, 100])
def test_help_names_values_without_python_types(path: list[str], columns: int) -> None:
    text = _help(path, columns)
    usage = text.split("\n\n", 1)[0]
    sections = _sections(text)
    names = "\n".join(
        re.split(r"\s{2,}", line.strip())[0]
        for title in ("Arguments", "Options", "Global options")
        for line in sections.get(title, "").splitlines()
        if re.match(r"^  \S", line)
    )
    assert "--" in names
    for bad in ("<str>", "<int", "<float", "<list", "list[", "<path>", "x>=", "<=x", "x<=", "range>"):
        assert bad not in text, (path, bad)
    assert "{" not in usage and "}" not in usage, usage
    assert "{" not in names, names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "bifrost")
def test_help_lists_the_global_options_after_the_commands_own(path: list[str]) -> None:
    text = _help(path, 100)
    sections = _sections(text)
    assert "Global options" in sections, text
    for option in ("--base-url URL", "-p, --provider NAME", "--emulator / --no-emulator", "--profile NAME", "-v, --verbose"):
        assert option in sections["Global options"], (path, option)
    if path:
        assert text.index("\nOptions:") < text.index("\nGlobal options:"), text
        assert "-h, --help" in sections["Options"] and "-h, --help" not in sections["Global options"]


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "bifrost")
def test_help_lists_the_environment_from_the_settings_and_the_specs(path: list[str]) -> None:
    from bifrost_cli.config import settings_table
    from bifrost_cli.providers import registry

    environment = _sections(_help(path, 100))["Environment"]
    expected = [env for s in settings_table() for env in s.env]
    expected += [env for spec in registry.specs() for env in spec.env_names]
    expected += ["BIFROST_PROFILE", "BIFROST_CONFIG_DIR", "NO_COLOR", "FORCE_COLOR", "BIFROST_DEBUG"]
    listed = set(re.findall(r"[A-Z][A-Z0-9_]+", environment))
    assert set(expected) <= listed, set(expected) - listed


def test_a_registered_providers_variables_are_listed() -> None:
    from bifrost_cli.providers import registry
    from bifrost_cli.providers.spec import ProviderSpec, Setting

    registry.register(ProviderSpec(name="acme", title="Acme", settings=(Setting("acme_api_key", ("ACME_API_KEY",), secret=True),)))
    try:
        environment = _sections(_help(["batches", "list"], 100))["Environment"]
    finally:
        registry.unregister("acme")
    assert re.search(r"^\s+acme\s+ACME_API_KEY$", environment, re.M), environment


def test_every_variable_the_program_reads_by_name_is_listed() -> None:
    """A literal ``os.environ.get("NAME")`` anywhere in the program (the emulator aside) is in the
    help's Environment, so a new variable cannot go undocumented."""
    from pathlib import Path

    import bifrost_cli

    root = Path(bifrost_cli.__file__).parent
    read: set[str] = set()
    for source in root.rglob("*.py"):
        if "emulator" in source.relative_to(root).parts:
            continue
        read |= set(re.findall(r"""environ\.get\(\s*["']([A-Z][A-Z0-9_]*)["']""", source.read_text(encoding="utf-8")))
    assert "BIFROST_CONFIG_DIR" in read  # the scan finds what it should
    environment = _sections(_help([], 100))["Environment"]
    listed = set(re.findall(r"[A-Z][A-Z0-9_]+", environment))
    assert read - {"COLUMNS"} <= listed, (read - {"COLUMNS"}) - listed


@pytest.mark.parametrize("path", GROUPS, ids=lambda p: " ".join(p) or "bifrost")
@pytest.mark.parametrize("columns", [80, 100])
def test_group_summaries_are_whole_sentences(path: list[str], columns: int) -> None:
    commands = _sections(_help(path, columns))["Commands"]
    rows: list[str] = []
    for line in commands.splitlines():
        if re.match(r"^  \S", line):
            rows.append(line.strip())
        else:
            rows[-1] += " " + line.strip()
    assert rows
    for row in rows:
        name, summary = row.split(None, 1)
        assert not summary.endswith("..."), row
        assert summary.endswith("."), row
        assert len(summary) <= 80, row  # a line, not a paragraph


@pytest.mark.parametrize(
    ("path", "usage"),
    [
        (["files", "upload"], "files upload [OPTIONS] PATH..."),
        (["batches", "wait"], "batches wait [OPTIONS] ID..."),
        (["batches", "get"], "batches get [OPTIONS] ID"),
    ],
)
def test_usage_names_arguments(path: list[str], usage: str) -> None:
    text = _help(path, 100)
    assert re.match(rf"Usage: \S+ {re.escape(usage)}\n", text), text


def test_options_name_their_values() -> None:
    text = _help(["batches", "create"], 100)
    for option in ("--poll SECONDS", "--timeout SECONDS", "--timeout-hours HOURS", "--input-format FORMAT", "-m, --model MODEL"):
        assert option in text, option
    flat = " ".join(text.split())
    assert "[24 to 168]" in flat and "[default: 5; at least 0.1]" in flat
    assert "--expires-after SECONDS" in _help(["files", "upload"], 100)
    assert "-n, --limit N" in _help(["batches", "list"], 100)
