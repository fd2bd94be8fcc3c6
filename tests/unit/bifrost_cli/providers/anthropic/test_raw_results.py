"""`batches results --raw` passes Anthropic's own lines through untouched (a result type the CLI does
not know yet included); the normalised path refuses such a line naming the field and the value (a
plain word; anything else is never echoed). Through a real loopback server."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.conftest import invoke
from tests.fakes import ANTHROPIC_KEY, ENDED_BATCH, send_json

COUNTS = {"processing": 0, "succeeded": 2, "errored": 0, "canceled": 0, "expired": 0}


def serve(loopback: Any, body: bytes) -> dict[str, str]:
    def route(h: BaseHTTPRequestHandler) -> None:
        if h.path.endswith("/results"):
            h.send_response(200)
            h.send_header("content-length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        else:
            send_json(h, {**ENDED_BATCH, "request_counts": COUNTS})

    return {"ANTHROPIC_BASE_URL": loopback(route).url, "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "BIFROST_MAX_RETRIES": "0"}


LINES = (b'{"custom_id":"a",  "result": {"type":"deferred","until":"2026-12-01"}}\n'
         b'{"custom_id": "b", "result": {"type": "succeeded", "message": {"content": [], "x": 1.50}}}\n')


def test_raw_passes_the_providers_lines_through_untouched(loopback: Any) -> None:
    result = invoke("batches", "results", "msgbatch_1", "--raw", env=serve(loopback, LINES))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.encode() == LINES


def test_the_normalised_path_names_the_field_and_the_new_value(loopback: Any) -> None:
    result = invoke("batches", "results", "msgbatch_1", env=serve(loopback, LINES))
    assert result.exit_code == 1
    assert "result.type is 'deferred', not one of succeeded, errored, canceled or expired" in result.stderr


@pytest.mark.parametrize("value", ["two words", "\u001b[31mred", "x" * 60])
def test_a_value_that_is_not_a_plain_word_is_not_echoed(loopback: Any, value: str) -> None:
    body = json.dumps({"custom_id": "a", "result": {"type": value}}).encode() + b"\n"
    result = invoke("batches", "results", "msgbatch_1", env=serve(loopback, body))
    assert result.exit_code == 1
    assert "result.type is not one of the known values" in result.stderr
    assert value not in result.stderr and "words" not in result.stderr and "red" not in result.stderr


def test_raw_still_refuses_a_line_that_is_not_a_json_object(loopback: Any) -> None:
    result = invoke("batches", "results", "msgbatch_1", "--raw", env=serve(loopback, b'{"custom_id": "a"}\n[1, 2]\n'))
    assert result.exit_code == 1
    assert "line 2: expected a JSON object, got a list" in result.stderr


def test_raw_through_the_gateway_gives_its_items_one_per_line(tmp_path) -> None:
    from tests.conftest import EXAMPLES

    env = {"BIFROST_EMULATOR_STATE": str(tmp_path / "state"), "BIFROST_EMULATOR_BATCH_SECONDS": "0"}
    created = invoke("--emulator", "batches", "create", str(EXAMPLES / "requests.jsonl"), "-q", "--wait", env=env)
    assert created.exit_code == 0, created.stderr
    raw = invoke("--emulator", "batches", "results", created.stdout.strip(), "--raw", env=env)
    assert raw.exit_code == 0, raw.stderr
    lines = [json.loads(line) for line in raw.stdout.splitlines()]
    assert lines and all(set(line) >= {"custom_id", "result"} for line in lines)
