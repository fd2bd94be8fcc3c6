"""Global options anywhere: the root's options after a subcommand (at any level, after its
arguments, ``--opt=value`` or ``-pVALUE``) act as they do before it, as with aws and gh."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest

from tests.conftest import EXAMPLES, invoke
from tests.fakes import send_json

REQUESTS = EXAMPLES / "requests.jsonl"


def target_line(result) -> str:
    """The ``-v`` log's line naming the target the command used."""
    return next(line for line in result.stderr.splitlines() if line.startswith("target:"))


@pytest.mark.parametrize(
    "args",
    [
        ["batches", "list", "--emulator", "-p", "openai", "-v"],
        ["batches", "list", "--emulator", "--provider=openai", "--verbose"],
        ["batches", "list", "-popenai", "--emulator", "-v"],
        ["batches", "-p", "openai", "list", "--emulator", "-v"],
        ["--emulator", "batches", "list", "-v", "-p", "openai"],
        ["-v", "batches", "list", "--json", "--provider", "openai", "--emulator"],
        ["batches", "list", "--emulator", "-p", "openai", "-vq"],
    ],
    ids=["after", "equals", "attached", "between", "mixed", "among-own", "flags-together"],
)
def test_global_options_after_the_command_select_the_target(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "provider openai" in target_line(result)


def test_before_and_after_give_the_same_output() -> None:
    created = json.loads(invoke("--emulator", "batches", "create", str(REQUESTS), "--json").stdout)
    before = invoke("--emulator", "-p", "anthropic", "batches", "get", created["id"], "--json")
    after = invoke("batches", "get", created["id"], "--json", "-p", "anthropic", "--emulator")
    assert before.exit_code == after.exit_code == 0, after.output
    assert json.loads(before.stdout) == json.loads(after.stdout)


def test_global_options_after_a_commands_arguments() -> None:
    uploaded = invoke("files", "upload", str(REQUESTS), "--emulator", "-p", "gemini", "--json")
    assert uploaded.exit_code == 0, uploaded.output
    file = json.loads(uploaded.stdout)[0]
    assert file["provider"] == "gemini"
    got = invoke("files", "get", file["id"], "--json", "--emulator", "-p", "gemini")
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout)["id"] == file["id"]


def test_base_url_after_the_command_is_the_gateway_used(loopback) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        send_json(h, {"data": [], "has_more": False})

    gateway = loopback(route)
    result = invoke("batches", "list", "--json", f"--base-url={gateway.url}", "--api-key", "vk-test")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert gateway.requests and gateway.requests[0][1].startswith("/anthropic/v1/messages/batches")


def test_settings_flags_after_the_command_are_flags() -> None:
    result = invoke(
        "config", "show", "--json", "--region", "eu-west-1", "--max-retries=5", "--s3-uri", "s3://b/p",
        "--allow-insecure-http", "--no-emulator",
    )
    assert result.exit_code == 0, result.output
    settings = json.loads(result.stdout)["settings"]
    assert settings["region"] == {"value": "eu-west-1", "source": "flag"}
    assert settings["max_retries"] == {"value": 5, "source": "flag"}
    assert settings["s3_uri"] == {"value": "s3://b/p", "source": "flag"}
    assert settings["allow_insecure_http"] == {"value": True, "source": "flag"}
    assert settings["emulator"] == {"value": False, "source": "flag"}


def test_profile_after_the_command() -> None:
    result = invoke("config", "show", "--profile", "ci")
    assert result.exit_code == 2
    assert "no profile 'ci'" in result.stderr


def test_a_commands_own_option_of_the_same_name_wins() -> None:
    # No command of bifrost has an option of a global's name with another meaning today (doctor's
    # and validate's -p mean the same); a command that has one gets its own, the root nothing.
    import typer
    from typer.testing import CliRunner

    from bifrost_cli.cli._coercion import App, FastGroup

    seen: dict[str, object] = {}
    app = App(cls=FastGroup, add_completion=False)

    @app.callback()
    def root(profile: str | None = typer.Option(None, "--profile"), verbose: bool = typer.Option(False, "-v")) -> None:
        seen["root"] = (profile, verbose)

    @app.command("set")
    def set_(key: str, profile: str | None = typer.Option(None, "--profile")) -> None:
        seen["set"] = (key, profile)

    @app.command("other")
    def other() -> None:
        pass

    result = CliRunner().invoke(app, ["set", "k", "--profile", "ci", "-v"])
    assert result.exit_code == 0, result.output
    assert seen == {"root": (None, True), "set": ("k", "ci")}


def test_an_own_options_value_is_never_taken_for_a_global_option() -> None:
    result = invoke("files", "upload", "-", "--filename", "-v", "--emulator", "--json", input=b'{"a": 1}\n')
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["filename"] == "-v"
    assert "target:" not in result.stderr  # -v was the name, not --verbose


def test_nothing_after_double_dash_is_moved() -> None:
    result = invoke("batches", "get", "--emulator", "--", "-p")
    assert result.exit_code == 4  # the id "-p" was looked up, and not found
    assert "-p" in result.stderr


def test_a_global_option_without_its_value_is_a_usage_error() -> None:
    result = invoke("batches", "list", "--emulator", "-p")
    assert result.exit_code == 2
    assert "Option '-p' requires an argument" in result.stderr


@pytest.mark.parametrize(
    ("typo", "suggested"),
    [("--emulatr", "--emulator"), ("--lmit", "--limit"), ("--verbos", "--verbose")],
)
def test_an_unknown_option_after_the_command_still_gets_did_you_mean(typo: str, suggested: str) -> None:
    result = invoke("batches", "list", typo)
    assert result.exit_code == 2
    assert f"No such option: {typo}" in result.stderr
    assert suggested in result.stderr


def test_an_unknown_option_before_the_command_is_refused_as_before() -> None:
    result = invoke("--emulatr", "batches", "list")
    assert result.exit_code == 2
    assert "No such option: --emulatr" in result.stderr
