"""Result lines of every shape a target answers with (OpenAI's, Gemini's summaries, failed items) normalized
to Anthropic's result shape (``providers/results.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from bifrost_cli.errors import ResponseError
from bifrost_cli.providers.results import normalize_result


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
    ("item", "etype", "message"),
    [
        (  # OpenAI: a failed request's own body
            {"custom_id": "r", "response": {"status_code": 400, "body": {"error": {"type": "invalid_request_error", "message": "bad model"}}}},
            "invalid_request_error",
            "bad model",
        ),
        (  # OpenAI: top-level error
            {"custom_id": "r", "response": None, "error": {"code": "batch_expired", "message": "expired"}},
            "batch_expired",
            "expired",
        ),
        (  # Gemini: error with a numeric code as text
            {"custom_id": "r", "error": {"code": "400", "message": "invalid argument"}},
            "400",
            "invalid argument",
        ),
        (  # status without a body
            {"custom_id": "r", "response": {"status_code": 500}},
            "500",
            "request failed",
        ),
        (  # a 200 with an error is still an error
            {"custom_id": "r", "response": {"status_code": 200, "body": {}}, "error": {"code": "x", "message": "partial"}},
            "x",
            "partial",
        ),
        ({"custom_id": "r", "error": "plain text"}, "api_error", "plain text"),
    ],
)
def test_failed_items_become_errored_results(item: dict[str, Any], etype: str, message: str) -> None:
    result = normalize_result(item, where="t").to_json_dict()
    assert result == {"custom_id": "r", "result": {"type": "errored", "error": {"type": "error", "error": {"type": etype, "message": message}}}}


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
