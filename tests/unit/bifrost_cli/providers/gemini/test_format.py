"""Gemini translations, table-driven: neutral params -> GenerateContentRequest (and every field that
must be refused), Gemini outputs -> Anthropic results, native input lines, Operations and errors."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bifrost_cli.errors import InputError, UsageError
from bifrost_cli.http import HttpClient
from bifrost_cli.inputs import load_requests
from bifrost_cli.models import BatchResult
from bifrost_cli.providers.gemini.api import batch_name, file_name, gemini_error_hook, parse_file, parse_operation
from bifrost_cli.providers.gemini.format import INPUT_FORMAT, to_anthropic_result, to_gemini_request
from tests.fakes import Recorder

BASE = {"model": "gemini-2.5-flash", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}

TRANSLATED = [
    ("plain text", {}, {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                        "generationConfig": {"maxOutputTokens": 64}}),
    ("system string", {"system": "be brief"}, {"systemInstruction": {"parts": [{"text": "be brief"}]}}),
    ("system blocks", {"system": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
     {"systemInstruction": {"parts": [{"text": "a"}, {"text": "b"}]}}),
    ("sampling", {"temperature": 0.5, "top_p": 0.9, "top_k": 40, "stop_sequences": ["END"]},
     {"generationConfig": {"maxOutputTokens": 64, "temperature": 0.5, "topP": 0.9, "topK": 40,
                           "stopSequences": ["END"]}}),
    ("assistant turn is model", {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                                              {"role": "user", "content": "q2"}]},
     {"contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": [{"text": "a"}]},
                   {"role": "user", "parts": [{"text": "q2"}]}]}),
    ("inline image", {"messages": [{"role": "user", "content": [IMAGE, {"type": "text", "text": "what?"}]}]},
     {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                                              {"text": "what?"}]}]}),
]


@pytest.mark.parametrize(("name", "change", "expected"), TRANSLATED, ids=[t[0] for t in TRANSLATED])
def test_neutral_params_become_generate_content(name: str, change: dict, expected: dict) -> None:
    request, problems = to_gemini_request({**BASE, **change})
    assert problems == []
    for key, value in expected.items():
        assert request[key] == value
    assert "model" not in request  # the model goes in the URL


REFUSED = [
    ("metadata", {"metadata": {"user_id": "u"}}, "params.metadata has no Gemini equivalent"),
    ("tools", {"tools": [{"name": "t", "input_schema": {}}]}, "params.tools has no Gemini equivalent"),
    ("tool_choice", {"tool_choice": {"type": "auto"}}, "params.tool_choice has no Gemini equivalent"),
    ("thinking", {"thinking": {"type": "enabled", "budget_tokens": 1024}}, "params.thinking has no Gemini equivalent"),
    ("service_tier", {"service_tier": "auto"}, "params.service_tier has no Gemini equivalent"),
    ("stream", {"stream": True}, "params.stream has no Gemini equivalent"),
    ("cache_control on text", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]}]},
     "params.messages[0].content[0].cache_control has no Gemini equivalent"),
    ("image by url", {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]},
     "params.messages[0].content[0].source: only base64 image data"),
    ("image type", {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "AA=="}}]}]},
     "params.messages[0].content[0].source.media_type must be one of"),
    ("document block", {"messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "text", "data": "x", "media_type": "text/plain"}}]}]},
     'params.messages[0].content[0]: a content block of type "document" has no Gemini equivalent'),
    ("tool_result block", {"messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": "x"}]}]},
     'a content block of type "tool_result" has no Gemini equivalent'),
    ("image in system", {"system": [IMAGE]}, 'params.system[0]: a content block of type "image"'),
    ("extra message key", {"messages": [{"role": "user", "content": "x", "name": "bob"}]},
     "params.messages[0].name has no Gemini equivalent"),
    ("stop_sequences type", {"stop_sequences": "END"}, "params.stop_sequences must be an array of strings"),
    ("top_k type", {"top_k": 0.5}, "params.top_k must be an integer"),
    ("temperature type", {"temperature": "hot"}, "params.temperature must be a number"),
]


@pytest.mark.parametrize(("name", "change", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_fields_gemini_cannot_express_are_refused(name: str, change: dict, message: str) -> None:
    _, problems = to_gemini_request({**BASE, **change})
    assert any(message in p for p in problems), problems


def _write(tmp_path: Path, lines: list[dict]) -> str:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def test_refusals_name_file_line_and_field_before_anything_is_sent(tmp_path: Path) -> None:
    from bifrost_cli.providers.gemini.api import GeminiAPI

    server = Recorder(lambda request: httpx.Response(500))
    api = GeminiAPI(HttpClient("http://127.0.0.1:9", label="gemini", transport=httpx.MockTransport(server)))
    path = _write(tmp_path, [
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
    path = _write(tmp_path, [{"custom_id": "a", "params": BASE},
                             {"custom_id": "b", "params": {**BASE, "model": "gemini-2.5-pro"}}])
    with load_requests(path) as requests, pytest.raises(UsageError, match="uses 2: gemini-2.5-flash, gemini-2.5-pro"):
        api.create_batch(requests)


# ------------------------------------------------------------------------------------------------
# Gemini outputs -> Anthropic results

RESPONSE = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}, {"text": "lo"}]}, "finishReason": "STOP"}],
    "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10},
    "modelVersion": "gemini-2.5-flash-001",
    "responseId": "resp-1",
}

RESULTS = [
    ("text", {"response": RESPONSE}, "succeeded",
     {"content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}], "stop_reason": "end_turn",
      "usage": {"input_tokens": 7, "output_tokens": 3}, "model": "gemini-2.5-flash-001", "id": "resp-1"}),
    ("max tokens", {"response": {**RESPONSE, "candidates": [{**RESPONSE["candidates"][0], "finishReason": "MAX_TOKENS"}]}},
     "succeeded", {"stop_reason": "max_tokens"}),
    ("safety", {"response": {**RESPONSE, "candidates": [{"finishReason": "SAFETY"}]}}, "succeeded",
     {"stop_reason": "refusal", "content": []}),
    ("function call", {"response": {**RESPONSE, "candidates": [{"content": {"parts": [
        {"functionCall": {"name": "f", "args": {"x": 1}}}]}, "finishReason": "STOP"}]}}, "succeeded",
     {"stop_reason": "tool_use", "content": [{"type": "tool_use", "id": "toolu_k_0", "name": "f", "input": {"x": 1}}]}),
    ("blocked prompt", {"response": {"promptFeedback": {"blockReason": "SAFETY"}}}, "errored", None),
    ("error", {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}, "errored", None),
    ("cancelled", {"error": {"code": 1, "message": "cancelled", "status": "CANCELLED"}}, "canceled", None),
    ("cancelled, code only (the gateway's form)", {"error": {"code": "1", "message": "cancelled"}}, "canceled", None),
    ("deadline exceeded", {"error": {"code": 504, "message": "too late", "status": "DEADLINE_EXCEEDED"}}, "expired",
     None),
    ("deadline exceeded, code only (the gateway's form)", {"error": {"code": "504", "message": "too late"}}, "expired",
     None),
    ("unsupported language", {"response": {**RESPONSE, "candidates": [{"finishReason": "LANGUAGE"}]}}, "succeeded",
     {"stop_reason": "refusal"}),
    ("cached and thinking tokens", {"response": {**RESPONSE, "usageMetadata": {
        "promptTokenCount": 100, "cachedContentTokenCount": 60, "toolUsePromptTokenCount": 5,
        "candidatesTokenCount": 10, "thoughtsTokenCount": 20, "totalTokenCount": 135}}}, "succeeded",
     {"usage": {"input_tokens": 45, "output_tokens": 30, "cache_read_input_tokens": 60}}),
]


@pytest.mark.parametrize(("name", "item", "rtype", "message"), RESULTS, ids=[r[0] for r in RESULTS])
def test_outputs_become_anthropic_results(name: str, item: dict, rtype: str, message: dict | None) -> None:
    result = BatchResult.model_validate(to_anthropic_result("k", item))
    assert result.custom_id == "k"
    assert result.result.type == rtype
    for key, value in (message or {}).items():
        assert result.result.message[key] == value  # type: ignore[index]
    if rtype == "errored":
        assert result.result.error is not None and result.result.error.error["message"]


def test_error_results_keep_the_status_and_message() -> None:
    result = to_anthropic_result("k", {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}})
    assert result["result"]["error"] == {"type": "error", "error": {"type": "INVALID_ARGUMENT", "message": "bad"}}


def test_an_error_without_a_status_is_named_from_its_code() -> None:
    """The gateway passes only ``code`` (as a string): the type is the same name Gemini would give."""
    for code in (400, "400"):
        result = to_anthropic_result("k", {"error": {"code": code, "message": "bad"}})
        assert result["result"]["error"]["error"] == {"type": "INVALID_ARGUMENT", "message": "bad"}


def test_the_message_names_the_batch_model_when_the_response_does_not() -> None:
    bare = {k: v for k, v in RESPONSE.items() if k != "modelVersion"}
    assert to_anthropic_result("k", {"response": bare}, "models/gemini-2.5-pro")["result"]["message"]["model"] == (
        "gemini-2.5-pro")
    assert to_anthropic_result("k", {"response": RESPONSE}, "models/gemini-2.5-pro")["result"]["message"]["model"] == (
        "gemini-2.5-flash-001")


# ------------------------------------------------------------------------------------------------
# native {key, request} lines

NATIVE = [
    ({"key": "a", "request": {"model": "models/gemini-2.5-flash", "contents": [{"parts": [{"text": "x"}]}]}}, None,
     [], "gemini-2.5-flash"),
    ({"key": "a", "request": {"contents": [{"parts": [{"text": "x"}]}]}}, "gemini-2.5-pro", [], "gemini-2.5-pro"),
    ({"key": "a", "request": {"contents": [{"parts": [{"text": "x"}]}]}}, None,
     ["request.model is missing (add it, or pass --model to fill it in)"], None),
    ({"request": {"model": "m", "contents": [{"parts": []}]}}, None,
     ["key is missing (it identifies the request in the results)"], "m"),
    ({"key": "a", "request": {"model": "m", "contents": []}, "extra": 1}, None,
     ['unknown field "extra" (a Gemini request line has only "key" and "request")',
      "request.contents must be a non-empty array"], "m"),
    ({"key": "a", "request": {"model": "m", "contents": [{"role": "assistant", "parts": []}]}}, None,
     ['request.contents[0].role must be "user" or "model"'], "m"),
    ({"key": 3, "request": "x"}, None, ["key must be a non-empty string, got 3", "request must be an object, got \"x\""], None),
]


@pytest.mark.parametrize(("item", "model", "problems", "chosen"), NATIVE)
def test_native_lines_are_checked(item: dict, model: str | None, problems: list[str], chosen: str | None) -> None:
    checked = INPUT_FORMAT.check(item, model)
    assert checked.problems == problems
    assert checked.model == chosen


def test_native_input_is_detected_and_read(tmp_path: Path) -> None:
    line = {"key": "k1", "request": {"model": "gemini-2.5-flash", "contents": [{"parts": [{"text": "x"}]}]}}
    with load_requests(_write(tmp_path, [line])) as requests:
        assert requests.input_format == "gemini"
        assert requests.models == {"gemini-2.5-flash"}
        assert list(requests.iter_requests()) == [line]


# ------------------------------------------------------------------------------------------------
# Operations, files, names, error quirks


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


# ------------------------------------------------------------------------------------------------
# results through the adapters (canned loopback answers)


def _server(routes: dict[str, object]) -> Recorder:
    """Canned JSON answers by path; 404 for any other path."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = routes.get(request.url.path)
        return httpx.Response(404, json={"error": {"code": 404, "message": "no"}}) if body is None else httpx.Response(
            200, json=body)

    return Recorder(answer)


def _client(server: Recorder) -> HttpClient:
    return HttpClient("http://127.0.0.1:9", label="test", transport=httpx.MockTransport(server), sleep=lambda s: None)


def _done(model: str | None, state: str = "BATCH_STATE_SUCCEEDED", **extra: object) -> dict:
    meta: dict = {"name": "batches/b1", "state": state, "createTime": "2025-07-01T10:00:00Z"}
    if model:
        meta["model"] = model
    return {"name": "batches/b1", "metadata": meta, "done": True, **extra}


def test_direct_results_name_the_batch_model_when_responses_do_not() -> None:
    from bifrost_cli.providers.gemini.api import GeminiAPI

    bare = {k: v for k, v in RESPONSE.items() if k != "modelVersion"}
    output = {"inlinedResponses": {"inlinedResponses": [
        {"response": bare, "metadata": {"key": "a"}},
        {"error": {"code": 504, "message": "late", "status": "DEADLINE_EXCEEDED"}, "metadata": {"key": "b"}}]}}
    api = GeminiAPI(_client(_server({"/v1beta/batches/b1": _done("models/gemini-2.5-pro", response=output)})))
    results = {r.custom_id: r.result for r in api.iter_results("b1")}
    assert results["a"].message is not None and results["a"].message["model"] == "gemini-2.5-pro"
    assert results["b"].type == "expired"


def test_gateway_results_read_gemini_errors_as_directly_and_name_the_model() -> None:
    from bifrost_cli.providers.gemini.gateway import GeminiGateway

    items = [
        {"custom_id": "a", "response": {"status_code": 200, "body": {"text": "hi", "finish_reason": "STOP",
                                                                     "usage": {"prompt_tokens": 2, "completion_tokens": 1}}}},
        {"custom_id": "b", "error": {"code": "504", "message": "request expired before it was processed"}},
        {"custom_id": "c", "error": {"code": "1", "message": "cancelled"}},
        {"custom_id": "d", "error": {"code": "400", "message": "bad"}},
    ]
    gateway = GeminiGateway(_client(_server({
        "/genai/v1beta/batches/b1": _done("models/gemini-2.5-flash"),
        "/anthropic/v1/messages/batches/batches-b1/results": {"batch_id": "batches-b1", "results": items},
    })))
    results = {r.custom_id: r.result for r in gateway.iter_results("batches/b1")}
    assert results["a"].message is not None and results["a"].message["model"] == "gemini-2.5-flash"
    assert (results["b"].type, results["c"].type, results["d"].type) == ("expired", "canceled", "errored")
    assert results["d"].error is not None and results["d"].error.error == {"type": "INVALID_ARGUMENT", "message": "bad"}


@pytest.mark.parametrize("state", ["JOB_STATE_FAILED", "JOB_STATE_EXPIRED"])
def test_gateway_results_of_a_batch_that_ended_without_any_say_so_as_directly(state: str) -> None:
    from bifrost_cli.errors import BatchIncomplete
    from bifrost_cli.providers.gemini.gateway import GeminiGateway

    server = _server({"/genai/v1beta/batches/b1": _done(None, state)})
    gateway = GeminiGateway(_client(server))
    with pytest.raises(BatchIncomplete, match=r"ended \((failed|expired)\) without results"):
        list(gateway.iter_results("b1"))
    assert server.paths() == ["/genai/v1beta/batches/b1"]  # the results route was not asked
