"""OpenAI's batch ``usage`` (input, cached, output, reasoning tokens) is shown by `batches get`, in the
table and the JSON; a batch without one shows none. Through a real loopback server."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.conftest import invoke
from tests.fakes import send_json

BATCH = {"id": "batch_1", "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "file-in",
         "completion_window": "24h", "status": "completed", "output_file_id": "file-out", "created_at": 1735689600,
         "completed_at": 1735693200, "request_counts": {"total": 2, "completed": 2, "failed": 0}}
USAGE = {"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 200}, "output_tokens": 300,
         "output_tokens_details": {"reasoning_tokens": 50}, "total_tokens": 1500}


def serve(loopback: Any, batch: dict) -> dict[str, str]:
    def route(h: BaseHTTPRequestHandler) -> None:
        send_json(h, batch)

    return {"OPENAI_BASE_URL": loopback(route).url, "OPENAI_API_KEY": "sk-test-0123456789", "BIFROST_MAX_RETRIES": "0"}


def test_batches_get_shows_the_tokens_used(loopback: Any) -> None:
    env = serve(loopback, {**BATCH, "usage": USAGE})
    table = invoke("-p", "openai", "batches", "get", "batch_1", env=env)
    assert table.exit_code == 0, table.stderr
    assert "1,200 in (200 cached), 300 out (50 reasoning)" in table.stdout
    data = json.loads(invoke("-p", "openai", "batches", "get", "batch_1", "--json", env=env).stdout)
    assert data["usage"] == {"input_tokens": 1200, "cached_tokens": 200, "output_tokens": 300,
                             "reasoning_tokens": 50, "total_tokens": 1500}


@pytest.mark.parametrize("usage", [None, "lots", {"input_tokens": "many", "output_tokens": -3}])
def test_no_usage_or_an_unreadable_one_shows_none(loopback: Any, usage: Any) -> None:
    env = serve(loopback, {**BATCH, "usage": usage})
    table = invoke("-p", "openai", "batches", "get", "batch_1", env=env)
    assert table.exit_code == 0, table.stderr
    assert "tokens" not in table.stdout and "lots" not in table.stdout and "many" not in table.stdout
    assert json.loads(invoke("-p", "openai", "batches", "get", "batch_1", "--json", env=env).stdout)["usage"] is None
