"""Gemini's Batch and File APIs called directly (``providers/gemini/api.py``): refusals before sending,
Operations, files, names, error quirks and results, on fake servers behind ``httpx.MockTransport``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bifrost_cli.errors import InputError, UsageError
from bifrost_cli.http import HttpClient
from bifrost_cli.inputs import load_requests
from bifrost_cli.providers.gemini.api import batch_name, file_name, gemini_error_hook, parse_file, parse_operation
from tests.fakes import Recorder
from tests.unit.bifrost_cli.providers.gemini import BASE, RESPONSE, client, done_operation, json_server, write_lines


def test_refusals_name_file_line_and_field_before_anything_is_sent(tmp_path: Path) -> None:
    from bifrost_cli.providers.gemini.api import GeminiAPI

    server = Recorder(lambda request: httpx.Response(500))
    api = GeminiAPI(HttpClient("http://127.0.0.1:9", label="gemini", transport=httpx.MockTransport(server)))
    path = write_lines(tmp_path, [
        {"custom_id": "ok", "params": BASE},
        {"custom_id": "bad", "params": {**BASE, "tools": [], "metadata": {}}},
    ])
    with load_requests(path) as requests, pytest.raises(InputError) as caught:
        api.create_batch(requests)
    assert caught.value.problems == [
        f"{path}:2: params.tools has no Gemini equivalent; remove it (nothing is dropped silently)",
        f"{path}:2: params.metadata has no Gemini equivalent; remove it (nothing is dropped silently)",
    ]
    assert server.requests == []


def test_one_model_per_batch(tmp_path: Path) -> None:
    from bifrost_cli.providers.gemini.api import GeminiAPI
    from bifrost_cli.http import HttpClient
    import httpx

    api = GeminiAPI(HttpClient("http://127.0.0.1:9", label="gemini", transport=httpx.MockTransport(lambda r: httpx.Response(500))))
    path = write_lines(tmp_path, [{"custom_id": "a", "params": BASE},
                             {"custom_id": "b", "params": {**BASE, "model": "gemini-2.5-pro"}}])
    with load_requests(path) as requests, pytest.raises(UsageError, match="uses 2: gemini-2.5-flash, gemini-2.5-pro"):
        api.create_batch(requests)


def _operation(state: str, stats: dict | None, done: bool = False) -> dict:
    meta: dict = {"state": state, "name": "batches/b1", "createTime": "2025-07-01T10:00:00Z"}
    if stats is not None:
        meta["batchStats"] = stats
    return {"name": "batches/b1", "metadata": meta, "done": done}


OPERATIONS = [
    ("BATCH_STATE_PENDING", {"requestCount": "3", "pendingRequestCount": "3"}, False, "in_progress", "pending",
     {"processing": 3}),
    ("JOB_STATE_RUNNING", {"requestCount": 3, "pendingRequestCount": 1, "successfulRequestCount": 2}, False,
     "in_progress", "running", {"processing": 1, "succeeded": 2}),
    ("JOB_STATE_CANCELLING", None, False, "canceling", "cancelling", None),
    ("BATCH_STATE_SUCCEEDED", {"requestCount": "3", "successfulRequestCount": "2", "failedRequestCount": "1",
                               "pendingRequestCount": "0"}, True, "ended", "succeeded", {"succeeded": 2, "errored": 1}),
    ("BATCH_STATE_CANCELLED", {"requestCount": "3", "successfulRequestCount": "1", "failedRequestCount": "0",
                               "pendingRequestCount": "2"}, True, "ended", "cancelled", {"succeeded": 1, "canceled": 2}),
    ("JOB_STATE_EXPIRED", {"requestCount": "2", "pendingRequestCount": "2"}, True, "ended", "expired", {"expired": 2}),
    ("BATCH_STATE_FAILED", None, True, "ended", "failed", None),
    # a failed batch's unprocessed requests errored with it; they did not expire
    ("BATCH_STATE_FAILED", {"requestCount": "2", "pendingRequestCount": "2", "successfulRequestCount": "0"}, True,
     "ended", "failed", {"errored": 2}),
]


@pytest.mark.parametrize(("state", "stats", "done", "status", "native", "counts"), OPERATIONS)
def test_operations_are_parsed(state: str, stats: dict | None, done: bool, status: str, native: str,
                               counts: dict | None) -> None:
    batch = parse_operation(_operation(state, stats, done), "gemini")
    assert (batch.id, batch.status, batch.native_status) == ("batches/b1", status, native)
    assert batch.details["state"] == state
    if counts is None:
        assert batch.request_counts is None
    else:
        assert batch.request_counts is not None
        got = batch.request_counts.model_dump()
        assert {k: v for k, v in got.items() if v} == counts


def test_a_running_batch_expires_48_hours_after_its_creation() -> None:
    running = parse_operation(_operation("BATCH_STATE_RUNNING", None), "gemini")
    assert running.expires_at is not None and running.created_at is not None
    assert running.expires_at.isoformat() == "2025-07-03T10:00:00+00:00"
    assert parse_operation(_operation("BATCH_STATE_SUCCEEDED", None, True), "gemini").expires_at is None


def test_whole_batch_failures_are_told_apart() -> None:
    assert parse_operation(_operation("BATCH_STATE_EXPIRED", None, True), "gemini").failed_as_whole
    assert not parse_operation(_operation("BATCH_STATE_SUCCEEDED", None, True), "gemini").failed_as_whole


def test_files_are_parsed_with_int64_strings() -> None:
    file = parse_file({"file": {"name": "files/x", "displayName": "in.jsonl", "sizeBytes": "1234", "mimeType": "application/jsonl",
                                "createTime": "2025-07-01T10:00:00Z", "source": "UPLOADED"}}, "gemini")
    assert (file.id, file.filename, file.size_bytes, file.downloadable) == ("files/x", "in.jsonl", 1234, False)
    assert parse_file({"name": "files/y", "source": "GENERATED"}, "gemini").downloadable


@pytest.mark.parametrize(("given", "batch", "file"), [
    ("abc", "batches/abc", "files/abc"),
    ("batches/abc", "batches/abc", "files/batches/abc"),
    ("batches-abc", "batches/abc", "files/batches-abc"),
    ("files/abc", "batches/files/abc", "files/abc"),
    ("files-abc", "batches/files-abc", "files/abc"),
])
def test_ids_are_accepted_in_every_form(given: str, batch: str, file: str) -> None:
    assert batch_name(given) == batch
    assert file_name(given) == file


ERRORS = [
    (400, {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
                     "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}},
     401, None),
    (403, {"error": {"code": 403, "message": "You do not have permission to access the File x or it may not exist.",
                     "status": "PERMISSION_DENIED"}}, 404, None),
    (429, {"error": {"code": 429, "message": "exhausted", "status": "RESOURCE_EXHAUSTED",
                     "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}},
     None, 37.0),
    (400, {"error": {"code": 400, "message": "bad request", "status": "INVALID_ARGUMENT"}}, None, None),
]


@pytest.mark.parametrize(("status", "body", "as_status", "wait"), ERRORS)
def test_error_quirks(status: int, body: dict, as_status: int | None, wait: float | None) -> None:
    advice = gemini_error_hook(status, body)
    if as_status is None and wait is None:
        assert advice is None
    else:
        assert advice is not None
        assert (advice.status, advice.retry_after) == (as_status, wait)


def test_direct_results_name_the_batch_model_when_responses_do_not() -> None:
    from bifrost_cli.providers.gemini.api import GeminiAPI

    bare = {k: v for k, v in RESPONSE.items() if k != "modelVersion"}
    output = {"inlinedResponses": {"inlinedResponses": [
        {"response": bare, "metadata": {"key": "a"}},
        {"error": {"code": 504, "message": "late", "status": "DEADLINE_EXCEEDED"}, "metadata": {"key": "b"}}]}}
    api = GeminiAPI(client(json_server({"/v1beta/batches/b1": done_operation("models/gemini-2.5-pro", response=output)})))
    results = {r.custom_id: r.result for r in api.iter_results("b1")}
    assert results["a"].message is not None and results["a"].message["model"] == "gemini-2.5-pro"
    assert results["b"].type == "expired"
