"""The fast path of ``batches results`` (lines already in the normalised shape are written straight
from the parsed JSON) gives byte-identical lines to the general path (validate as a BatchResult,
dump it), on result shapes from every provider; a line already in the one canonical serialisation
(compact UTF-8 JSON, as Anthropic writes it) comes back as its own bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bifrost_cli.providers.common import MalformedAnswer, parse_result_line
from bifrost_cli.providers.results import (
    dump_result,
    is_normalized,
    line_text,
    normalize_line,
    normalize_result,
    normalized_text,
    result_line_text,
    result_text,
)

MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-x",
    "content": [{"type": "text", "text": "héllo \u2603 \"quoted\" \\ back\nslash \t tab \u0001 \U0001f600"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 5, "cost": 0.25, "big": 10**30},
}
ERROR = {"type": "error", "error": {"type": "overloaded_error", "message": "ünïcode </script>"}}

# Anthropic result lines as a server may write them (compact, spaced, escaped, reordered, extra...)
ANTHROPIC_LINES = [
    json.dumps({"custom_id": "a", "result": {"type": "succeeded", "message": MESSAGE}}),
    json.dumps({"custom_id": "a", "result": {"type": "succeeded", "message": MESSAGE}}, ensure_ascii=False),
    json.dumps({"custom_id": "a", "result": {"type": "succeeded", "message": MESSAGE}}, separators=(",", ":")),
    json.dumps({"custom_id": "é\u2028", "result": {"type": "errored", "error": ERROR}}),
    json.dumps({"custom_id": "c", "result": {"type": "canceled"}}),
    json.dumps({"custom_id": "d", "result": {"type": "expired"}}),
    json.dumps({"custom_id": "e", "result": {"type": "succeeded", "message": {}}}),
    # key order variations: the model writes its fields in its own order
    json.dumps({"result": {"type": "canceled"}, "custom_id": "f"}),
    json.dumps({"custom_id": "g", "result": {"message": MESSAGE, "type": "succeeded"}}),
    json.dumps({"custom_id": "h", "result": {"error": ERROR, "type": "errored"}}),
    json.dumps({"custom_id": "h", "result": {"type": "errored", "error": {"error": ERROR["error"], "type": "error"}}}),
    json.dumps({"custom_id": "i", "result": {"type": "succeeded", "error": ERROR, "message": MESSAGE}}),
    # extra fields: dropped at the top, kept in the result and the error envelope
    json.dumps({"custom_id": "j", "result": {"type": "canceled"}, "extra": {"x": 1}}),
    json.dumps({"custom_id": "k", "result": {"type": "succeeded", "message": MESSAGE, "note": "kept"}}),
    json.dumps({"custom_id": "k", "result": {"type": "succeeded", "note": None, "more": {"n": None}}}),
    json.dumps({"custom_id": "l", "result": {"type": "errored", "error": {**ERROR, "request_id": "r", "gone": None}}}),
    json.dumps({"custom_id": "l", "result": {"type": "errored", "error": {"type": "error"}}}),
    json.dumps({"custom_id": "l", "result": {"type": "errored", "error": {"error": {}}}}),
    # nulls: left out where the model leaves them out, kept inside a message
    json.dumps({"custom_id": "m", "result": {"type": "succeeded", "message": None}}),
    json.dumps({"custom_id": "m", "result": {"type": "errored", "error": None, "message": None}}),
    # numbers JSON cannot hold: the model writes null
    '{"custom_id": "n", "result": {"type": "succeeded", "message": {"x": Infinity, "y": NaN, "z": -Infinity}}}',
    '{"custom_id": "n", "result": {"type": "succeeded", "message": {"x": 1e999, "y": 1.5e300, "z": -0.0}}}',
    '{"custom_id": "n", "result": {"type": "succeeded", "message": {"text": "Infinity and NaN in a string"}}}',
    # escapes the parser turns into characters (surrogate pairs, escaped slashes), duplicate keys
    '{"custom_id": "o\\u00e9\\ud83d\\ude00", "result": {"type": "succeeded", "message": {"t": "\\/a\\/b \\u2028"}}}',
    '{"custom_id":"s","result":{"type":"succeeded","message":{"t":"<\\/script>","u":"\\u001f\\u007f"}}}',
    '{"custom_id":"s","result":{"type":"succeeded","message":{"t":1E5,"u":1.50,"v":-0,"w":12345678901234567890123}}}',
    '{"custom_id":"t","result":{"type":"succeeded","message":{"dup":1,"dup":2}}}',
    '{"custom_id":"u","result":{"type":"errored","error":{"type":"error","error":{"type":"x","message":"\u00fc"}}}} ',
    '{"custom_id": "p", "custom_id": "q", "result": {"type": "canceled"}}',
    '{"custom_id":"r","result":{"type":"succeeded","message":{"a":[1,2.0,true,false,null,{}]}}}',
]

# shapes the model refuses: both paths refuse them
MALFORMED_LINES = [
    "not json",
    "[1, 2]",
    json.dumps({"custom_id": 1, "result": {"type": "canceled"}}),
    json.dumps({"custom_id": "a", "result": {"type": "unknown"}}),
    json.dumps({"custom_id": "a", "result": {"type": "succeeded", "message": [1]}}),
    json.dumps({"custom_id": "a", "result": {"type": "errored", "error": {"type": 3, "error": {}}}}),
    json.dumps({"custom_id": "a"}),
    json.dumps({"custom_id": "a", "result": {"type": ["succeeded"]}}),
    json.dumps({"custom_id": "a", "result": {"type": {}, "message": {}}}),
    # not JSON text: a lone surrogate escape (no UTF-8 for it), a raw control character
    '{"custom_id": "o", "result": {"type": "succeeded", "message": {"t": "\\ud800 lone"}}}',
    '{"custom_id": "o", "result": {"type": "succeeded", "message": {"t": "tab\there"}}}',
]

# lines already in the canonical serialisation: they come back as their own bytes
CANONICAL_LINES = [
    '{"custom_id":"a","result":{"type":"succeeded","message":{"id":"m","content":[{"type":"text","text":"h\u00e9 \\"q\\" \\\\ \\n \\u0001 \U0001f600 \u2028"}],"usage":{"input_tokens":1,"x":0.5,"big":100000000000000000000000000001,"n":null,"e":1e+16}}}}',
    '{"custom_id":"b","result":{"type":"errored","error":{"type":"error","error":{"type":"overloaded_error","message":"</script>"}}}}',
    '{"custom_id":"c","result":{"type":"canceled"}}',
    '{"custom_id":"d","result":{"type":"expired"}}',
    '{"custom_id":"e","result":{"type":"succeeded","message":{"a":[1,2.0,true,false,null,{},[]]}}}',
]

CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-x",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "hi \u2603",
                "tool_calls": [{"id": "t1", "function": {"name": "f", "arguments": '{"a": 1}'}}],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 4}},
}
RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "output": [
        {"type": "message", "content": [{"type": "output_text", "text": "out"}, {"type": "refusal", "refusal": "no"}]},
        {"type": "function_call", "call_id": "c", "name": "g", "arguments": "not json"},
    ],
    "incomplete_details": {"reason": "max_output_tokens"},
    "usage": {"input_tokens": 2, "output_tokens": 3},
}

# OpenAI output and error file lines
OPENAI_LINES: list[Any] = [
    {"id": "b1", "custom_id": "a", "response": {"status_code": 200, "body": CHAT}, "error": None},
    {"id": "b2", "custom_id": "b", "response": {"status_code": 200, "body": RESPONSE}, "error": None},
    {"custom_id": "c", "response": {"status_code": 200, "body": {"object": "list", "data": [{"embedding": [0.5, 1e999]}]}}},
    {"custom_id": "d", "response": {"status_code": 200, "body": {"choices": [], "usage": None}}},
    {"custom_id": "e", "response": None, "error": {"code": "batch_expired", "message": "expired"}},
    {"custom_id": "f", "response": None, "error": {"code": "batch_cancelled", "message": "cancelled"}},
    {"custom_id": "g", "response": {"status_code": 400, "body": {"error": {"type": "invalid_request_error", "message": "bad"}}}},
    {"custom_id": "h", "response": {"status_code": 500, "body": "upstream broke"}},
    {"custom_id": "h", "response": {"status_code": 429, "body": None}},
    {"custom_id": "i", "response": None, "error": {"code": "missing_result", "message": "in neither file"}},
    {"custom_id": "j", "response": {"status_code": 200, "body": CHAT}, "error": {"message": "both"}},
    {"custom_id": "k", "result": {"type": "succeeded", "message": MESSAGE}},
]

# what a gateway passes through (any provider's shape)
GATEWAY_ITEMS: list[Any] = [
    {"custom_id": "a", "result": {"type": "succeeded", "message": MESSAGE}},
    {"custom_id": "a", "result": {"type": "succeeded", "message": MESSAGE, "extra": 1}, "extra": 2},
    {"custom_id": "b", "result": {"type": "errored", "error": {"code": "x", "message": "y"}}},
    {"custom_id": "b", "result": {"type": "errored"}, "error": {"error": {"status": "UNAVAILABLE"}}},
    {"custom_id": "c", "result": {"type": "expired"}},
    {"custom_id": "d", "response": {"status_code": 200, "body": CHAT}},
    {"custom_id": "e", "response": {"status_code": 200, "body": {"text": "gemini \u00e9", "finish_reason": "SAFETY", "usage": {"prompt_tokens": 1}}}},
    {"custom_id": "e", "response": {"status_code": 200, "body": {"type": "message", "content": [], "x": None}}},
    {"custom_id": "f", "response": {"status_code": 200, "body": "plain text"}},
    {"custom_id": "g", "error": "a bare error"},
    {"custom_id": "g", "error": {"type": "error", "error": {"type": "api_error", "message": "m"}, "more": None}},
    {"custom_id": "h", "response": {"status_code": 503, "body": {"error": {"code": 503, "message": "down"}}}},
    {"custom_id": "i", "response": {}},
]

MALFORMED_ITEMS: list[Any] = [None, [1], {"result": {"type": "canceled"}}, {"custom_id": "x"}, {"custom_id": "x", "response": None}]


def _general_line(line: str) -> tuple[str, bytes]:
    result = parse_result_line(line, where="w")[1]
    return result.result.type, dump_result(result)


@pytest.mark.parametrize("line", ANTHROPIC_LINES)
def test_anthropic_lines_are_byte_identical(line: str) -> None:
    assert result_line_text(line, where="w") == _general_line(line)


@pytest.mark.parametrize("line", CANONICAL_LINES)
def test_canonical_lines_pass_through_as_their_bytes(line: str) -> None:
    rtype = json.loads(line)["result"]["type"]
    assert result_line_text(line, where="w") == (rtype, line.encode())
    assert result_line_text(line.encode(), where="w") == (rtype, line.encode())
    assert _general_line(line) == (rtype, line.encode())


@pytest.mark.parametrize("line", ANTHROPIC_LINES + CANONICAL_LINES)
def test_every_line_written_is_one_line_of_json(line: str) -> None:
    """What comes out is one line (no raw newline or control character), valid UTF-8 JSON of the
    normalised shape, infinities and NaNs as null."""
    _, text = result_line_text(line, where="w")
    assert b"\n" not in text and b"\r" not in text and not any(b < 0x20 for b in text)
    data = json.loads(text.decode("utf-8"), parse_constant=lambda c: pytest.fail(f"{c} written"))
    assert list(data) == ["custom_id", "result"] and data["result"]["type"]


@pytest.mark.parametrize("item", OPENAI_LINES)
def test_openai_lines_are_byte_identical(item: Any) -> None:
    general = normalize_line(item, where="w")
    assert line_text(item, where="w") == (general.result.type, dump_result(general))


@pytest.mark.parametrize("item", GATEWAY_ITEMS)
def test_gateway_items_are_byte_identical(item: Any) -> None:
    general = normalize_result(item, where="w")
    assert normalized_text(item, where="w") == (general.result.type, dump_result(general))


@pytest.mark.parametrize("line", MALFORMED_LINES)
def test_both_paths_refuse_the_same_lines(line: str) -> None:
    with pytest.raises(MalformedAnswer):
        _general_line(line)
    with pytest.raises(MalformedAnswer):
        result_line_text(line, where="w")


@pytest.mark.parametrize("item", MALFORMED_ITEMS)
def test_both_paths_refuse_the_same_items(item: Any) -> None:
    for general, fast in ((normalize_result, normalized_text), (normalize_line, line_text)):
        with pytest.raises(MalformedAnswer):
            general(item, where="w")
        with pytest.raises(MalformedAnswer):
            fast(item, where="w")


def test_the_fast_path_takes_lines_already_in_shape_and_only_those() -> None:
    """The corpus above exercises both branches: lines in the normalised shape pass straight
    through; reordered, extra, null and refused shapes do not."""
    taken = [line for line in ANTHROPIC_LINES if is_normalized(json.loads(line))]
    assert len(taken) >= 8
    for line in ANTHROPIC_LINES + MALFORMED_LINES[2:-2]:
        data = json.loads(line)
        if is_normalized(data) and "Infinity" not in line and "NaN" not in line and "e999" not in line:
            # vouched for: the model gives back exactly what was parsed
            assert parse_result_line(line, where="w")[1].to_json_dict() == data
    for shaped in (
        {"result": {"type": "canceled"}, "custom_id": "f"},
        {"custom_id": "j", "result": {"type": "canceled"}, "extra": 1},
        {"custom_id": "g", "result": {"message": {}, "type": "succeeded"}},
        {"custom_id": "m", "result": {"type": "succeeded", "message": None}},
        {"custom_id": "k", "result": {"type": "succeeded", "note": "x"}},
        {"custom_id": "l", "result": {"type": "errored", "error": {"type": "error", "error": {}, "x": 1}}},
    ):
        assert not is_normalized(shaped)


# Gemini outputs (inline responses and the lines of a responses file have the same items) and
# Bedrock output records, as each provider's reader maps them onto Anthropic's shape
GEMINI_ITEMS: list[Any] = [
    {"response": {"candidates": [{"content": {"parts": [{"text": "h\u00e9llo \U0001f600 <\\/x>"}], "role": "model"},
                                  "finishReason": "STOP"}],
                  "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 5}, "modelVersion": "gemini-2.5-flash"}},
    {"response": {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"x": 1.5e300, "y": 10**25}}}]},
                                  "finishReason": "MAX_TOKENS"}]}},
    {"response": {"candidates": [], "promptFeedback": {"blockReason": "SAFETY"}}},
    {"error": {"code": 4, "message": "deadline", "status": "DEADLINE_EXCEEDED"}},
    {"error": {"code": 1, "message": "cancelled"}},
    {"error": {"code": 400, "message": "bad \u2028 request", "status": "INVALID_ARGUMENT"}},
]
BEDROCK_RECORDS: list[Any] = [
    {"recordId": "r1", "modelOutput": {"id": "msg_1", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "\u00fc"}],
                                       "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 2}}},
    {"recordId": "r2", "modelOutput": {"output": {"message": {"role": "assistant", "content": [{"text": "converse"}]}},
                                       "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 2}}},
    {"recordId": "r3", "modelOutput": {"generation": "llama \"said\"", "prompt_token_count": 1}},
    {"recordId": "r4", "error": {"errorCode": 400, "errorMessage": "bad"}},
    {"recordId": "r5", "error": {"errorCode": "junk"}},
]


@pytest.mark.parametrize("item", GEMINI_ITEMS)
def test_gemini_results_are_byte_identical(item: Any) -> None:
    from bifrost_cli.models import BatchResult
    from bifrost_cli.providers.gemini.format import to_anthropic_result

    shaped = to_anthropic_result("key-\u00e9", item, "models/gemini-2.5-flash")
    general = BatchResult.model_validate(to_anthropic_result("key-\u00e9", item, "models/gemini-2.5-flash"))
    assert result_text(shaped, where="w") == (general.result.type, dump_result(general))


@pytest.mark.parametrize("record", BEDROCK_RECORDS)
def test_bedrock_results_are_byte_identical(record: Any) -> None:
    from bifrost_cli.models import BatchResult
    from bifrost_cli.providers.bedrock.format import to_result

    general = BatchResult.model_validate(to_result(record, record["recordId"]))
    assert result_text(to_result(record, record["recordId"]), where="w") == (general.result.type, dump_result(general))


def test_the_loop_over_lines_gives_the_same_lines_and_names_a_bad_one() -> None:
    from bifrost_cli.providers.results import result_lines_text

    lines = ANTHROPIC_LINES + CANONICAL_LINES
    assert list(result_lines_text(lines, lambda n: f"line {n}")) == [_general_line(line) for line in lines]
    with pytest.raises(MalformedAnswer, match="line 3: not a result line"):
        list(result_lines_text([CANONICAL_LINES[0], CANONICAL_LINES[1], "{nope"], lambda n: f"line {n}"))
    with pytest.raises(MalformedAnswer, match="line 2"):
        list(result_lines_text([CANONICAL_LINES[0], MALFORMED_LINES[3]], lambda n: f"line {n}"))


def test_the_loop_over_openai_lines_gives_the_same_lines_and_refuses_in_the_same_words() -> None:
    from bifrost_cli.providers.results import lines_text

    items = [(f"line {n}", item) for n, item in enumerate(OPENAI_LINES + GATEWAY_ITEMS, 1)]
    assert list(lines_text(items)) == [line_text(item, where=where) for where, item in items]
    for bad in MALFORMED_ITEMS:
        with pytest.raises(MalformedAnswer) as fast:
            list(lines_text([("line 1", OPENAI_LINES[0]), ("line 2", bad)]))
        with pytest.raises(MalformedAnswer) as general:
            line_text(bad, where="line 2")
        assert str(fast.value) == str(general.value)
