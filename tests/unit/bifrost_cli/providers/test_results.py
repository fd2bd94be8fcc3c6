"""Result lines of every shape a target answers with (OpenAI's, Gemini's summaries, failed items) normalized
to Anthropic's result shape (``providers/results.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from bifrost_cli.errors import ResponseError
from bifrost_cli.providers.results import normalize_line, normalize_result


def chat_completion(**choice: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, **choice}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


def test_openai_chat_completion_becomes_an_anthropic_message() -> None:
    item = {
        "custom_id": "r1",
        "response": {
            "status_code": 200,
            "request_id": "req_1",
            "body": chat_completion(
                message={
                    "role": "assistant",
                    "content": "Let me look.",
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}},
                        {"id": "call_2", "type": "function", "function": {"name": "broken", "arguments": "{not json"}},
                    ],
                },
                finish_reason="tool_calls",
            ),
        },
        "error": None,
    }
    result = normalize_result(item, where="test")
    assert result.result.type == "succeeded"
    message = result.result.message
    assert message["role"] == "assistant"
    assert message["model"] == "gpt-4o-mini"
    assert message["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "x"}},
        {"type": "tool_use", "id": "call_2", "name": "broken", "input": {"_raw": "{not json"}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {"input_tokens": 12, "output_tokens": 5}


@pytest.mark.parametrize(
    ("finish", "stop"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal"), (None, "end_turn"), ("weird", "end_turn")],
)
def test_openai_finish_reason_mapping(finish: str | None, stop: str) -> None:
    item = {"custom_id": "r", "response": {"status_code": 200, "body": chat_completion(message={"role": "assistant", "content": "x"}, finish_reason=finish)}}
    assert normalize_result(item, where="t").result.message["stop_reason"] == stop


@pytest.mark.parametrize(
    ("finish", "stop"), [("STOP", "end_turn"), ("MAX_TOKENS", "max_tokens"), ("SAFETY", "refusal"), ("RECITATION", "refusal")]
)
def test_gemini_summary_becomes_an_anthropic_message(finish: str, stop: str) -> None:
    item = {
        "custom_id": "request-1",
        "response": {
            "status_code": 200,
            "body": {"text": "Paris", "finish_reason": finish, "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}},
        },
    }
    result = normalize_result(item, where="t")
    message = result.result.message
    assert result.result.type == "succeeded"
    assert message["content"] == [{"type": "text", "text": "Paris"}]
    assert message["stop_reason"] == stop
    assert message["usage"] == {"input_tokens": 7, "output_tokens": 1}
    assert message["id"] == "msg_request-1"


@pytest.mark.parametrize(
    ("item", "etype", "native", "message"),
    [
        (  # OpenAI: a failed request's own body
            {"custom_id": "r", "response": {"status_code": 400, "body": {"error": {"type": "invalid_request_error", "message": "bad model"}}}},
            "invalid_request_error",
            None,
            "bad model",
        ),
        (  # OpenAI: a failed request's body naming only a code
            {"custom_id": "r", "response": {"status_code": 429, "body": {"error": {"code": "rate_limit_exceeded", "message": "slow"}}}},
            "rate_limit_error",
            "rate_limit_exceeded",
            "slow",
        ),
        (  # OpenAI: top-level error
            {"custom_id": "r", "response": None, "error": {"code": "batch_expired", "message": "expired"}},
            "api_error",
            "batch_expired",
            "expired",
        ),
        (  # Gemini: error with a numeric code as text
            {"custom_id": "r", "error": {"code": "400", "message": "invalid argument"}},
            "invalid_request_error",
            "400",
            "invalid argument",
        ),
        (  # status without a body
            {"custom_id": "r", "response": {"status_code": 500}},
            "api_error",
            "500",
            "request failed",
        ),
        (  # a 200 with an error is still an error
            {"custom_id": "r", "response": {"status_code": 200, "body": {}}, "error": {"code": "x", "message": "partial"}},
            "api_error",
            "x",
            "partial",
        ),
        ({"custom_id": "r", "error": "plain text"}, "api_error", None, "plain text"),
        (  # an Anthropic-shaped envelope with a foreign type: named in the vocabulary, the type kept
            {"custom_id": "r", "result": {"type": "errored", "error": {"type": "error", "error": {"type": "NOT_FOUND", "message": "m"}}}},
            "not_found_error",
            "NOT_FOUND",
            "m",
        ),
    ],
)
def test_failed_items_become_errored_results(item: dict[str, Any], etype: str, native: str | None, message: str) -> None:
    result = normalize_result(item, where="t").to_json_dict()
    error = {"type": etype, "message": message} | ({"native_type": native} if native else {})
    assert result == {"custom_id": "r", "result": {"type": "errored", "error": {"type": "error", "error": error}}}


def test_failed_item_with_a_text_body_becomes_an_errored_result() -> None:
    item = {"custom_id": "r", "response": {"status_code": 502, "body": "Bad Gateway"}}
    assert normalize_result(item, where="t").result.type == "errored"


@pytest.mark.parametrize(
    "item",
    [{"result": {"type": "succeeded"}}, {"custom_id": 5}, "a string", {"custom_id": "r"}, {"custom_id": "r", "result": {"type": "weird"}}],
)
def test_unusable_items_are_response_errors(item: Any) -> None:
    with pytest.raises(ResponseError):
        normalize_result(item, where="results of b, item 1")


def completion(message: dict[str, Any], finish: str | None = "stop", usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage or {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}}


def ok_line(body: dict[str, Any]) -> dict[str, Any]:
    return {"id": "batch_req_1", "custom_id": "r", "response": {"status_code": 200, "request_id": "req", "body": body}, "error": None}


# (name, assistant message, finish_reason, expected content, expected stop_reason)
COMPLETIONS: list[tuple[str, dict[str, Any], str | None, list[dict[str, Any]], str]] = [
    ("text", {"role": "assistant", "content": "Paris"}, "stop", [{"type": "text", "text": "Paris"}], "end_turn"),
    ("length", {"role": "assistant", "content": "Par"}, "length", [{"type": "text", "text": "Par"}], "max_tokens"),
    ("content filter", {"role": "assistant", "content": None}, "content_filter", [], "refusal"),
    ("refusal", {"role": "assistant", "content": None, "refusal": "I can't."}, "stop",
     [{"type": "text", "text": "I can't."}], "refusal"),
    ("tool calls", {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}]}, "tool_calls",
     [{"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": 1}}], "tool_use"),
    ("unknown finish", {"role": "assistant", "content": "x"}, "weird", [{"type": "text", "text": "x"}], "end_turn"),
]


@pytest.mark.parametrize(("name", "message", "finish", "content", "stop"), COMPLETIONS, ids=[c[0] for c in COMPLETIONS])
def test_chat_completion_becomes_a_message(name: str, message: dict[str, Any], finish: str | None,
                                           content: list[dict[str, Any]], stop: str) -> None:
    result = normalize_line(ok_line(completion(message, finish)), where="t").to_json_dict()
    assert result["custom_id"] == "r" and result["result"]["type"] == "succeeded"
    msg = result["result"]["message"]
    assert msg["content"] == content
    assert msg["stop_reason"] == stop
    assert msg["usage"] == {"input_tokens": 10, "output_tokens": 4}
    assert msg["model"] == "gpt-4o-mini" and msg["role"] == "assistant" and msg["type"] == "message"


def test_cached_prompt_tokens_are_counted_as_cache_reads() -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 64}}
    msg = normalize_line(ok_line(completion({"role": "assistant", "content": "x"}, usage=usage)), where="t").result.message
    assert msg["usage"] == {"input_tokens": 36, "output_tokens": 5, "cache_read_input_tokens": 64}


def test_responses_and_embeddings_bodies() -> None:
    response = {"id": "resp_1", "object": "response", "model": "gpt-4o", "output": [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}],
        "usage": {"input_tokens": 3, "output_tokens": 2}}
    msg = normalize_line(ok_line(response), where="t").result.message
    assert msg["content"] == [{"type": "text", "text": "Hi"}, {"type": "tool_use", "id": "c1", "name": "f", "input": {}}]
    assert msg["stop_reason"] == "tool_use" and msg["usage"] == {"input_tokens": 3, "output_tokens": 2}
    embedding = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}], "model": "e"}
    assert normalize_line(ok_line(embedding), where="t").result.message == embedding  # kept whole


# (name, line, expected result)
ERRORS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("http 400", {"custom_id": "r", "response": {"status_code": 400, "request_id": "q", "body": {
        "error": {"message": "bad model", "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}},
        "error": None},
     {"type": "errored", "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "bad model",
                                                              "native_type": "model_not_found"}}}),
    ("http 500 without body", {"custom_id": "r", "response": {"status_code": 500, "body": None}, "error": None},
     {"type": "errored", "error": {"type": "error", "error": {"type": "api_error", "message": "request failed", "native_type": "500"}}}),
    ("batch_expired", {"custom_id": "r", "response": None, "error": {"code": "batch_expired", "message": "late"}},
     {"type": "expired"}),
    ("batch_cancelled", {"custom_id": "r", "response": None, "error": {"code": "batch_cancelled", "message": "x"}},
     {"type": "canceled"}),
    ("missing_result", {"id": None, "custom_id": "r", "response": None,
                        "error": {"code": "missing_result", "message": "not in any file"}},
     {"type": "errored", "error": {"type": "error", "error": {"type": "missing_result", "message": "not in any file"}}}),
]


@pytest.mark.parametrize(("name", "line", "expected"), ERRORS, ids=[e[0] for e in ERRORS])
def test_error_lines(name: str, line: dict[str, Any], expected: dict[str, Any]) -> None:
    assert normalize_line(line, where="t").to_json_dict() == {"custom_id": "r", "result": expected}
