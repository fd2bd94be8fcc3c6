"""The Typer app through ``typer.testing.CliRunner``, on the in-process emulator."""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, invoke
from tests.fakes import send_json

REQUESTS = EXAMPLES / "requests.jsonl"

COMMANDS = [
    ["files", "upload"],
    ["files", "list"],
    ["files", "get"],
    ["files", "delete"],
    ["files", "download"],
    ["batches", "create"],
    ["batches", "list"],
    ["batches", "get"],
    ["batches", "cancel"],
    ["batches", "delete"],
    ["batches", "results"],
    ["batches", "wait"],
    ["config", "show"],
    ["config", "path"],
    ["config", "set"],
    ["config", "unset"],
    ["auth", "set"],
    ["auth", "unset"],
    ["emulator", "serve"],
]


def emu(*args: str, input: str | bytes | None = None):
    return invoke("--emulator", *args, input=input)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_every_command_has_help_with_examples(command: list[str], flag: str) -> None:
    result = invoke(*command, flag)
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.stdout
    examples = result.stdout.split("Examples:", 1)
    assert len(examples) == 2, f"{command} help has no examples"
    assert 2 <= len(re.findall(r"^\s+(?:\S+=\S+ )*(?:cat|gunzip|bifrost|\$EDITOR)", examples[1], re.M)) <= 3


def test_root_help_documents_exit_codes_and_python_dash_m() -> None:
    result = invoke("-h")
    assert result.exit_code == 0
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "7 ", "130"):
        assert re.search(rf"^\s+{code.strip()}\s+\S", result.stdout, re.M), code
    assert "python -m bifrost_cli" in result.stdout


def test_version() -> None:
    from bifrost_cli import __version__

    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"bifrost-cli {__version__}"


def test_json_and_quiet_together_is_a_usage_error() -> None:
    result = emu("batches", "list", "--json", "-q")
    assert result.exit_code == 2


def test_unknown_provider_is_a_usage_error() -> None:
    result = emu("-p", "mistral", "batches", "list")
    assert result.exit_code == 2
    assert "unknown provider 'mistral'" in result.stderr
    assert "anthropic, openai, gemini, bedrock" in result.stderr


def test_direct_without_a_key_says_what_to_set() -> None:
    result = invoke("batches", "list")
    assert result.exit_code == 2
    assert "ANTHROPIC_API_KEY" in result.stderr
    assert "--emulator" in result.stderr


@pytest.mark.parametrize(("provider", "needs"), [("openai", "OPENAI_API_KEY"), ("gemini", "GEMINI_API_KEY"), ("bedrock", "AWS_REGION")])
def test_direct_providers_say_what_to_set(provider: str, needs: str) -> None:
    result = invoke("-p", provider, "batches", "list")
    assert result.exit_code == 2
    assert needs in result.stderr
    assert "--base-url" in result.stderr


def test_lists_in_json_are_arrays_and_quiet_prints_ids() -> None:
    assert json.loads(emu("batches", "list", "--json").stdout) == []
    assert json.loads(emu("files", "list", "--json").stdout) == []
    created = json.loads(emu("batches", "create", str(REQUESTS), "--json").stdout)
    listed = json.loads(emu("batches", "list", "--json").stdout)
    assert [b["id"] for b in listed] == [created["id"]]
    assert emu("batches", "list", "-q").stdout == created["id"] + "\n"
    human = emu("batches", "list")
    assert created["id"] in human.stdout and "processing" in human.stdout
    assert human.stderr == ""


def test_list_limit_and_all() -> None:
    ids = [json.loads(emu("batches", "create", str(REQUESTS), "--json", "--new").stdout)["id"] for _ in range(3)]
    assert len(emu("batches", "list", "--limit", "2", "-q").stdout.split()) == 2
    assert sorted(emu("batches", "list", "--all", "-q").stdout.split()) == sorted(ids)


@pytest.fixture
def canned_gateway(loopback):
    """Start loopback servers that answer every request from ``reply(method, path) -> (status, body, headers)``."""

    def start(reply):
        def route(h: BaseHTTPRequestHandler) -> None:
            status, body, headers = reply(h.command, h.path)
            send_json(h, body, status, headers)

        return loopback(route).url

    return start


@pytest.fixture
def hostile_gateway(canned_gateway):
    """A gateway answering with strings full of markup and terminal escapes."""
    evil = "[bold red]boom[/bold red]\x1b[31m\x1b]8;;http://x\x07red"
    files = {"data": [{"id": "file_1", "type": "file", "filename": evil, "size_bytes": 1, "mime_type": "text/plain",
                       "created_at": "2026-01-01T00:00:00Z"}], "has_more": False}
    error = {"type": "error", "error": {"type": "not_found_error", "message": evil}}
    return canned_gateway(lambda method, path: (200, files, {}) if path.startswith("/anthropic/v1/files") else (404, error, {}))


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, 1), (401, 3), (403, 3), (404, 4), (409, 5), (429, 5), (500, 6), (503, 6), (529, 6)],
)
def test_error_answers_map_to_exit_codes(canned_gateway, status: int, code: int) -> None:
    calls = []

    def reply(method: str, path: str):
        calls.append(path)
        return status, {"type": "error", "error": {"type": "some_error", "message": f"status {status}"}}, {"retry-after": "0"}

    url = canned_gateway(reply)
    result = invoke("--base-url", url, "--max-retries", "1", "batches", "get", "msgbatch_1")
    assert result.exit_code == code, result.stderr
    assert f"status {status}" in result.stderr
    retried = status in (409, 429, 500, 503, 529)
    assert len(calls) == (2 if retried else 1)


def test_a_create_is_never_sent_twice(canned_gateway, tmp_path: Path) -> None:
    calls = []

    def reply(method: str, path: str):
        calls.append((method, path))
        return 500, {"type": "error", "error": {"type": "api_error", "message": "boom"}}, {}

    url = canned_gateway(reply)
    result = invoke("--base-url", url, "--max-retries", "3", "batches", "create", str(REQUESTS))
    assert result.exit_code == 6
    assert calls == [("POST", "/anthropic/v1/messages/batches")]
    assert "may have received" in result.stderr or "batches list" in result.stderr


def test_server_strings_cannot_inject_markup_or_escapes(hostile_gateway: str) -> None:
    listed = invoke("--base-url", hostile_gateway, "files", "list")
    assert listed.exit_code == 0, listed.stderr
    assert "[bold red]boom[/bold red]" in listed.stdout  # shown literally, not as markup
    assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout
    failed = invoke("--base-url", hostile_gateway, "batches", "get", "msgbatch_x")
    assert failed.exit_code == 4
    assert "[bold red]boom[/bold red]" in failed.stderr
    assert "\x1b" not in failed.stderr and "\x07" not in failed.stderr
    as_json = json.loads(invoke("--base-url", hostile_gateway, "files", "list", "--json").stdout)
    assert as_json[0]["filename"].startswith("[bold red]boom")  # JSON keeps the data, escaped by json


def test_no_color_means_no_escape_codes() -> None:
    emu("batches", "create", str(REQUESTS))
    result = emu("batches", "list")
    assert "\x1b[" not in result.stdout + result.stderr


def test_bad_input_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "in.jsonl"
    bad.write_text(
        '{"custom_id": "a b", "params": {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}}\n'
        '{"custom_id": "ok", "params": {"model": "m", "max_tokens": 0, "messages": []}}\n'
        "[1, 2]\n"
    )
    result = emu("batches", "create", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:1: custom_id" in result.stderr
    assert f"{bad}:2: params.max_tokens" in result.stderr
    assert f"{bad}:2: params.messages" in result.stderr
    assert "nothing was sent" in result.stderr
    assert json.loads(emu("batches", "list", "--json").stdout) == []


def test_json_array_input_is_accepted(tmp_path: Path) -> None:
    lines = [json.loads(x) for x in REQUESTS.read_text().splitlines()]
    src = tmp_path / "in.json"
    src.write_text(json.dumps(lines, indent=2))
    result = emu("batches", "create", str(src), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["request_counts"]["processing"] == len(lines)


def test_results_refuse_to_overwrite(tmp_path: Path) -> None:
    batch_id = emu("batches", "create", str(REQUESTS), "-q").stdout.strip()
    assert emu("batches", "wait", batch_id, "--poll", "0.2", "-q").exit_code == 0
    out = tmp_path / "r.jsonl"
    out.write_text("keep me")
    refused = emu("batches", "results", batch_id, "-o", str(out))
    assert refused.exit_code == 2 and "already exists" in refused.stderr
    assert out.read_text() == "keep me"
    assert emu("batches", "results", batch_id, "-o", str(out), "--force").exit_code == 0
    assert len(out.read_text().splitlines()) == 3


def test_wait_on_several_batches_prints_one_table() -> None:
    a = emu("batches", "create", str(REQUESTS), "-q").stdout.strip()
    b = emu("batches", "create", str(EXAMPLES / "requests-with-failures.jsonl"), "-q").stdout.strip()
    result = emu("batches", "wait", a, b, "--poll", "0.2")
    assert result.exit_code == 7
    assert a in result.stdout and b in result.stdout
    assert b in result.stderr and a not in result.stderr.split("Error:")[1]


def test_delete_reports_every_failure_and_keeps_going() -> None:
    file_id = json.loads(emu("files", "upload", str(REQUESTS), "--json").stdout)[0]["id"]
    result = emu("files", "delete", "file_missing", file_id)
    assert result.exit_code == 4
    assert "file_missing" in result.stderr
    assert json.loads(emu("files", "list", "--json").stdout) == []


def test_config_show_redacts_secrets_and_names_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir = Path(str(tmp_path / "config"))
    config_dir.mkdir(exist_ok=True)
    (config_dir / "config.toml").write_text(
        'base_url = "http://localhost:8080"\n[profiles.ci]\napi_key = "sk-bf-profile-secret-0001"\nprovider = "gemini"\n'
    )
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-very-secret-9999")
    result = invoke("--profile", "ci", "-p", "openai", "config", "show", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    settings = data["settings"]
    assert settings["provider"] == {"value": "openai", "source": "flag"}
    assert settings["base_url"] == {"value": "http://localhost:8080", "source": "config file"}
    assert settings["api_key"]["source"] == "profile ci"
    assert "sk-bf-profile-secret-0001" not in result.stdout
    assert "sk-ant-very-secret-9999" not in result.stdout
    assert settings["anthropic_api_key"]["source"] == "env ANTHROPIC_API_KEY"
    assert data["config_file"].endswith("config.toml")


def test_config_path_honours_bifrost_config_dir(tmp_path: Path) -> None:
    result = invoke("config", "path")
    assert result.stdout.strip() == str(tmp_path / "config" / "config.toml")


def test_bad_emulator_setting_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_EMULATOR_BATCH_SECONDS", "soon")
    result = emu("batches", "list")
    assert result.exit_code == 2
    assert "BIFROST_EMULATOR_BATCH_SECONDS" in result.stderr


# ------------------------------------------------------------------------------------------------
# startup: a command imports what it needs, not what it might


_LOADED_AT_EXIT = """
import atexit, runpy, sys
heavy = ("rich", "pygments", "click", "httpx._main")
atexit.register(lambda: print("LOADED", sorted(m for m in heavy if m in sys.modules), file=sys.stderr))
sys.argv = ["bifrost", *sys.argv[1:]]
runpy.run_module("bifrost_cli", run_name="__main__")
"""


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_batches_get_json_loads_no_terminal_ui_nor_httpx_cli(tmp_path: Path, provider: str) -> None:
    # ``import httpx`` would bring its own command line client (click, pygments, rich.syntax) along
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("BIFROST_")}
    env["BIFROST_EMULATOR_STATE_DIR"] = str(tmp_path / "state")
    env["BIFROST_CONFIG_DIR"] = str(tmp_path / "config")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[4])
    run = subprocess.run(
        [sys.executable, "-c", _LOADED_AT_EXIT, "-p", provider, "--emulator", "batches", "get", "batch_missing", "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert run.returncode != 0 and "batch_missing" in run.stderr, run.stderr  # the command ran, asked, was told
    assert "LOADED []" in run.stderr, run.stderr


def test_httpx_cli_module_still_importable_after_the_http_layer() -> None:
    import subprocess
    import sys

    code = "import bifrost_cli.http, httpx, httpx._main; print(callable(httpx._main.main))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "True", run.stderr




def _modules_probe(tmp_path: Path, *command: str) -> tuple[list[str], dict[str, str]]:
    """argv and environment of ``bifrost COMMAND`` that prints, at exit, whether pydantic or httpx was loaded."""
    import os
    import sys

    code = _LOADED_AT_EXIT.replace('("rich", "pygments", "click", "httpx._main")', '("pydantic", "httpx")')
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIFROST_")}
    env["BIFROST_CONFIG_DIR"] = str(tmp_path / "config")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[4])
    return [sys.executable, "-c", code, *command], env


def test_the_served_emulator_loads_neither_pydantic_nor_httpx(tmp_path: Path) -> None:
    """``bifrost emulator serve`` (a CI job's background step) starts without the client's models."""
    import signal
    import subprocess

    args, env = _modules_probe(tmp_path, "emulator", "serve", "--port", "0", "--state-dir", str(tmp_path / "s"))
    with subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env) as server:
        assert server.stderr is not None
        banner = server.stderr.readline()  # the banner is a note on stderr
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    assert "127.0.0.1" in banner, banner
    assert "LOADED []" in err, err


@pytest.mark.parametrize("command", [["config", "path"], ["config", "show", "--json"]])
def test_config_commands_load_neither_pydantic_nor_httpx(tmp_path: Path, command: list[str]) -> None:
    import subprocess

    args, env = _modules_probe(tmp_path, *command)
    run = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "LOADED []" in run.stderr, run.stderr
