"""Gemini Operations as proxies and failures really shape them: a done operation with an error and
no state is a failed batch whose error is shown (and ends `wait` with it); snake_case fields (as some
proxies rewrite them) read as their camelCase names; a SUCCEEDED batch whose stats give only
``requestCount`` is counted from its results, not as all errored. Through a real loopback server."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.conftest import invoke
from tests.fakes import send_json
from tests.unit.bifrost_cli.providers.gemini import RESPONSE

ERRORED = {"error": {"code": 400, "message": "bad request", "status": "INVALID_ARGUMENT"}}


def serve(loopback: Any, operation: dict) -> dict[str, str]:
    def route(h: BaseHTTPRequestHandler) -> None:
        if h.path.split("?")[0].endswith("/batches/b1"):
            send_json(h, operation)
        else:
            send_json(h, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}, status=404)

    url = loopback(route).url
    return {"GEMINI_BASE_URL": url, "GEMINI_API_KEY": "test-key-0123456789", "BIFROST_MAX_RETRIES": "0"}


def test_a_done_operation_with_an_error_and_no_state_is_a_failed_batch_and_wait_says_why(loopback: Any) -> None:
    env = serve(loopback, {"name": "batches/b1", "done": True, "metadata": {"name": "batches/b1"},
                           "error": {"code": 13, "message": "Internal error while running the batch", "status": "INTERNAL"}})
    shown = invoke("-p", "gemini", "batches", "get", "batches/b1", "--json", env=env)
    data = json.loads(shown.stdout)
    assert (data["status"], data["native_status"]) == ("ended", "failed")
    assert data["message"] == "Internal error while running the batch (INTERNAL)"
    waited = invoke("-p", "gemini", "batches", "wait", "batches/b1", "--poll", "0.1", env=env)
    assert waited.exit_code == 7, waited.stderr
    assert "Internal error while running the batch" in waited.stderr


def test_snake_case_operation_fields_are_read(loopback: Any) -> None:
    env = serve(loopback, {
        "name": "batches/b1", "done": True,
        "metadata": {"name": "batches/b1", "state": "BATCH_STATE_SUCCEEDED", "display_name": "nightly",
                     "create_time": "2025-07-01T10:00:00Z", "end_time": "2025-07-01T11:00:00Z",
                     "batch_stats": {"request_count": "2", "successful_request_count": "1", "failed_request_count": "1"},
                     "output": {"inlined_responses": {"inlined_responses": [
                         {"metadata": {"key": "a"}, "response": RESPONSE}, {"metadata": {"key": "b"}, **ERRORED}]}}},
    })
    shown = json.loads(invoke("-p", "gemini", "batches", "get", "batches/b1", "--json", env=env).stdout)
    assert shown["request_counts"]["succeeded"] == 1 and shown["request_counts"]["errored"] == 1
    assert shown["details"]["display_name"] == "nightly" and shown["ended_at"].startswith("2025-07-01T11:00:00")
    results = invoke("-p", "gemini", "batches", "results", "batches/b1", env=env)
    assert results.exit_code == 0, results.stderr
    lines = [json.loads(line) for line in results.stdout.splitlines()]
    assert [(r["custom_id"], r["result"]["type"]) for r in lines] == [("a", "succeeded"), ("b", "errored")]


def test_succeeded_stats_with_only_a_request_count_are_counted_from_the_results(loopback: Any) -> None:
    env = serve(loopback, {
        "name": "batches/b1", "done": True,
        "metadata": {"name": "batches/b1", "state": "BATCH_STATE_SUCCEEDED", "batchStats": {"requestCount": "2"}},
        "response": {"inlinedResponses": {"inlinedResponses": [
            {"metadata": {"key": "a"}, "response": RESPONSE}, {"metadata": {"key": "b"}, "response": RESPONSE}]}},
    })
    shown = json.loads(invoke("-p", "gemini", "batches", "get", "batches/b1", "--json", env=env).stdout)
    assert shown["request_counts"]["succeeded"] == 2 and shown["request_counts"]["errored"] == 0
    waited = invoke("-p", "gemini", "batches", "wait", "batches/b1", "--poll", "0.1", env=env)
    assert waited.exit_code == 0, waited.stderr
