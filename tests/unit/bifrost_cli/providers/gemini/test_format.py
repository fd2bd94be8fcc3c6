"""Gemini translations, table-driven: neutral params -> GenerateContentRequest (and every field that
must be refused), Gemini outputs -> Anthropic results, native input lines, Operations and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bifrost_cli.inputs import load_requests
from bifrost_cli.models import BatchResult
from bifrost_cli.providers.gemini.format import INPUT_FORMAT, to_anthropic_result, to_gemini_request
from tests.unit.bifrost_cli.providers.gemini import BASE, RESPONSE, write_lines

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


# ------------------------------------------------------------------------------------------------
# Gemini outputs -> Anthropic results

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
    assert result["result"]["error"] == {"type": "error", "error": {"type": "invalid_request_error", "message": "bad",
                                                                    "native_type": "INVALID_ARGUMENT"}}


def test_an_error_without_a_status_is_named_from_its_code() -> None:
    """The gateway passes only ``code`` (as a string): the type is the same name Gemini would give."""
    for code in (400, "400"):
        result = to_anthropic_result("k", {"error": {"code": code, "message": "bad"}})
        assert result["result"]["error"]["error"] == {"type": "invalid_request_error", "message": "bad", "native_type": "INVALID_ARGUMENT"}


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
    with load_requests(write_lines(tmp_path, [line])) as requests:
        assert requests.input_format == "gemini"
        assert requests.models == {"gemini-2.5-flash"}
        assert list(requests.iter_requests()) == [line]
