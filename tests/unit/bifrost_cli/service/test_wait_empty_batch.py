"""An ended Anthropic batch with all-zero counts and no results had no requests: `wait` exits 0 and
says so (not exit 7 with "0 succeeded"). One whose counts are zero but whose results hold failures
is still judged by its results. Through a real loopback server."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.conftest import invoke
from tests.fakes import ANTHROPIC_KEY, batch_obj, send_json

ZERO = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}


def serve(loopback: Any, results: list[dict]) -> dict[str, str]:
    def route(h: BaseHTTPRequestHandler) -> None:
        if h.path.endswith("/results"):
            body = "".join(json.dumps(r) + "\n" for r in results).encode()
            h.send_response(200)
            h.send_header("content-type", "application/x-jsonl")
            h.send_header("content-length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        else:
            send_json(h, batch_obj(request_counts=ZERO, ended_at="2025-04-14T13:00:00Z",
                                   results_url=f"http://{h.headers['host']}/v1/messages/batches/msgbatch_1/results"))

    return {"ANTHROPIC_BASE_URL": loopback(route).url, "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "BIFROST_MAX_RETRIES": "0"}


def test_an_ended_batch_of_no_requests_is_not_a_failure(loopback: Any) -> None:
    waited = invoke("batches", "wait", "msgbatch_1", "--poll", "0.1", env=serve(loopback, []))
    assert waited.exit_code == 0, waited.stderr
    assert "not every request succeeded" not in waited.stderr


def test_zero_counts_with_failed_results_still_fail(loopback: Any) -> None:
    errored = {"custom_id": "a", "result": {"type": "errored", "error": {"type": "error", "error": {
        "type": "invalid_request_error", "message": "bad"}}}}
    waited = invoke("batches", "wait", "msgbatch_1", "--poll", "0.1", env=serve(loopback, [errored]))
    assert waited.exit_code == 7, waited.stderr
    assert "1 errored" in waited.stderr
