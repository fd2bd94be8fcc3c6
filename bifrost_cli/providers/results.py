"""Every shape a batch result comes back in, as Anthropic's result line.

A gateway passes results through from any provider (Anthropic results, OpenAI chat completions and
responses, its own Gemini summary, bare errors); OpenAI's output and error files have shapes of their
own. Everything here maps them onto :class:`~bifrost_cli.models.BatchResult`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pydantic_core import from_json as _from_json
from pydantic_core import to_json as _to_json

from bifrost_cli.models import RESULT_TYPES, BatchResult
from bifrost_cli.providers.common import (
    ERROR_TYPES,
    MalformedAnswer,
    error_detail,
    error_envelope,
    load_json,
    parse_result_line,
    reading,
    shape,
)

_FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
    "max_tokens": "max_tokens",
    "safety": "refusal",
    "recitation": "refusal",
}

FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def _normalize_result(item: Any, *, where: str) -> BatchResult:
    return _validated_item(_result_item(item, where=where), where)


def _result_item(item: Any, *, where: str) -> dict[str, Any]:
    """One result item (any shape a gateway passes through) as an Anthropic result line, not yet
    validated."""
    if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
        raise MalformedAnswer(f"{where}: a result without a custom_id ({shape(item)})")
    custom_id = item["custom_id"]
    result = item.get("result")
    top_error = item.get("error")
    if isinstance(result, dict) and result.get("type"):
        rtype = result["type"]
        body: dict[str, Any] = {"type": rtype}
        if rtype == "succeeded":
            body["message"] = result.get("message")
        elif rtype == "errored":
            body["error"] = _error_envelope(result.get("error") or top_error)
        return {"custom_id": custom_id, "result": body}
    response = item.get("response")
    if isinstance(response, dict) and response.get("status_code") == 200 and not top_error:
        message = message_from_body(response.get("body"), custom_id)
        return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}
    if top_error is None and isinstance(response, dict):
        answer = response.get("body")
        top_error = answer.get("error") if isinstance(answer, dict) else None
        if not top_error:
            text = answer if isinstance(answer, str) and answer else "request failed"
            top_error = {"code": str(response.get("status_code")), "message": text}
    if top_error is not None:
        status = response.get("status_code") if isinstance(response, dict) else None
        return {"custom_id": custom_id, "result": {"type": "errored", "error": _error_envelope(top_error, status)}}
    raise MalformedAnswer(f"{where}: cannot tell how request {custom_id} ended")


def _validated_item(item: dict[str, Any], where: str) -> BatchResult:
    line = json.dumps(item)
    return parse_result_line(line, where=where)[1]


def _error_envelope(error: Any, status: Any = None) -> dict[str, Any]:
    """Any error shape -> Anthropic's ``{"type": "error", "error": {"type", "message"}}``, its type
    in the one vocabulary (:func:`~bifrost_cli.providers.common.error_type`; Anthropic's own
    envelopes already are) and the provider's own in ``native_type``."""
    if isinstance(error, dict) and error.get("type") == "error" and isinstance(error.get("error"), dict):
        inner = error["error"]
        if inner.get("type") in ERROR_TYPES:
            return error
        return {"type": "error", "error": {**inner, **error_detail(inner.get("type"), inner.get("message"), status=status)}}
    if isinstance(error, dict):
        nested = error.get("error")
        inner = nested if isinstance(nested, dict) else error
        code, etype = inner.get("code"), inner.get("type")
        if isinstance(code, str) and code and not code.isdigit():  # OpenAI: its code says more than its type
            return error_envelope(code, inner.get("message") or "", etype, inner.get("status"), status=status)
        return error_envelope(etype, inner.get("message") or "", code, inner.get("status"), status=status)
    return error_envelope(None, error or "", status=status)


def message_from_body(body: Any, custom_id: str) -> dict[str, Any]:
    """A succeeded response body (Anthropic message, OpenAI chat completion, or the gateway's
    Gemini summary) as an Anthropic message."""
    if not isinstance(body, dict):
        return {"type": "message", "role": "assistant", "content": [{"type": "text", "text": str(body or "")}]}
    if body.get("type") == "message":
        return body
    if isinstance(body.get("choices"), list):
        return message_from_chat_completion(body)
    usage = body.get("usage") or {}
    return {
        "id": body.get("id") or f"msg_{custom_id}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": [{"type": "text", "text": str(body.get("text") or "")}],
        "stop_reason": _FINISH_TO_STOP.get(str(body.get("finish_reason") or "stop").lower(), "end_turn"),
        "stop_sequence": None,
        "usage": {
            "input_tokens": int(usage.get("prompt_tokens") or 0),
            "output_tokens": int(usage.get("completion_tokens") or 0),
        },
    }


# ------------------------------------------------------------------------------------------------
# OpenAI's shapes (chat completions, responses, batch output lines)


def _usage(usage: Any) -> dict[str, int]:
    usage = usage if isinstance(usage, dict) else {}
    prompt = int(usage.get("prompt_tokens", usage.get("input_tokens")) or 0)
    output = int(usage.get("completion_tokens", usage.get("output_tokens")) or 0)
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    out = {"input_tokens": prompt - cached, "output_tokens": output}
    if cached:  # Anthropic counts cache reads apart from input_tokens
        out["cache_read_input_tokens"] = cached
    return out


def _tool_use(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    try:
        args = json.loads(arguments or "{}")
    except (TypeError, ValueError):
        args = {"_raw": arguments}
    return {"type": "tool_use", "id": call_id, "name": name, "input": args}


def message_from_chat_completion(body: dict[str, Any]) -> dict[str, Any]:
    """A chat completion (its first choice) as an Anthropic message: text and refusals as text
    blocks, tool calls as ``tool_use`` blocks, ``finish_reason`` as ``stop_reason``, usage in tokens."""
    choices = body.get("choices") or []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    msg = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if msg.get("content"):
        content.append({"type": "text", "text": msg["content"]})
    if msg.get("refusal"):
        content.append({"type": "text", "text": msg["refusal"]})
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        content.append(_tool_use(call.get("id"), fn.get("name"), fn.get("arguments")))
    if isinstance(msg.get("function_call"), dict):
        fn = msg["function_call"]
        content.append(_tool_use(None, fn.get("name"), fn.get("arguments")))
    stop = FINISH_TO_STOP.get(str(choice.get("finish_reason") or "stop"), "end_turn")
    return _as_message(body, content, "refusal" if msg.get("refusal") else stop)


def _as_message(body: dict[str, Any], content: list[dict[str, Any]], stop: str) -> dict[str, Any]:
    return {
        "id": body.get("id"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": _usage(body.get("usage")),
    }


def message_from_response(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses API answer as an Anthropic message (output text and function calls)."""
    content: list[dict[str, Any]] = []
    for item in body.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            for part in item.get("content") or []:
                text = part.get("text") if part.get("type") == "output_text" else part.get("refusal")
                if text:
                    content.append({"type": "text", "text": text})
        elif item.get("type") == "function_call":
            content.append(_tool_use(item.get("call_id"), item.get("name"), item.get("arguments")))
    incomplete = (body.get("incomplete_details") or {}).get("reason")
    if incomplete == "max_output_tokens":
        stop = "max_tokens"
    elif incomplete == "content_filter":
        stop = "refusal"
    else:
        stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
    return _as_message(body, content, stop)


_LINE_ERRORS = {"batch_expired": "expired", "batch_cancelled": "canceled", "batch_canceled": "canceled"}


def _normalize_line(item: Any, *, where: str) -> BatchResult:
    """One output or error file line as a :class:`~bifrost_cli.models.BatchResult`.

    A 200 response is ``succeeded`` (chat completions and responses become messages, other bodies
    such as embeddings are kept as they are); any other status is ``errored`` with its error;
    ``batch_expired``/``batch_cancelled`` are ``expired``/``canceled``."""
    shaped = _line_item(item)
    if shaped is not None:
        return BatchResult.model_validate(shaped)
    return normalize_result(item, where=where)


def _line_item(item: Any) -> dict[str, Any] | None:
    """An output or error file line that is OpenAI's own (a 200 response, an expired or canceled
    request) as an Anthropic result line, not yet validated; ``None`` for any other shape."""
    if isinstance(item, dict):
        error = item.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        if code in _LINE_ERRORS and isinstance(item.get("custom_id"), str):
            return {"custom_id": item["custom_id"], "result": {"type": _LINE_ERRORS[code]}}
        response = item.get("response")
        body = response.get("body") if isinstance(response, dict) else None
        if response and response.get("status_code") == 200 and isinstance(body, dict) and not error:
            if isinstance(item.get("custom_id"), str):
                message = message_from_openai_body(body) or body  # embeddings and the like: kept whole
                return {"custom_id": item["custom_id"], "result": {"type": "succeeded", "message": message}}
    return None


def message_from_openai_body(body: dict[str, Any]) -> dict[str, Any] | None:
    """A succeeded OpenAI body as an Anthropic message, or ``None`` when it is not a generation."""
    if isinstance(body.get("choices"), list):
        return message_from_chat_completion(body)
    if body.get("object") == "response" or isinstance(body.get("output"), list):
        return message_from_response(body)
    return None


def normalize_result(item: Any, *, where: str) -> BatchResult:
    """One result item (any provider's shape, as a gateway passes it) as a :class:`BatchResult`;
    an item in a shape it cannot be read in is a malformed answer naming ``where``."""
    with reading(where):
        return _normalize_result(item, where=where)


def normalize_line(item: Any, *, where: str) -> BatchResult:
    """One line of an OpenAI batch output file as a :class:`BatchResult` (a malformed answer
    naming ``where`` when it cannot be read)."""
    with reading(where):
        return _normalize_line(item, where=where)


# ------------------------------------------------------------------------------------------------
# The fast path: result lines as the bytes ``batches results`` writes, without a model
#
# The ONE canonical serialisation of a normalised line is compact JSON in UTF-8 (no spaces, non-ASCII
# characters as they are, only ``"``, ``\\`` and control characters escaped, infinities and NaNs as
# ``null``): :func:`canonical_json`, as Anthropic itself writes result lines. Lines are parsed with
# :func:`~bifrost_cli.providers.common.load_json` and serialised in Rust (pydantic_core). A line
# already in the normalised shape (most lines: Anthropic's own, and what the functions above build)
# is written straight from the parsed JSON (:func:`is_normalized` tells; for an Anthropic line in
# canonical form that is its own bytes back), and only the lines it cannot vouch for go through the
# model (:func:`dump_result`). Both give byte-identical lines.


def canonical_json(data: Any) -> bytes:
    """``data`` in the one serialisation ``batches results`` writes (no newline)."""
    return _to_json(data, inf_nan_mode="null")


def dump_result(result: BatchResult) -> bytes:
    """A validated result as the one line of JSON ``batches results`` writes (no newline)."""
    return _to_json(result.to_json_dict(), inf_nan_mode="null")


def is_normalized(data: Any) -> bool:
    """Whether validating ``data`` as a :class:`BatchResult` and dumping it gives ``data`` back
    unchanged: keys ``custom_id`` (a string) then ``result``; the result's keys ``type`` (a result
    type), then optionally ``message`` (an object), then optionally ``error`` (exactly ``type``, a
    string, then ``error``, an object), nothing else. Anything else (fields the model drops or
    reorders, ``null``s it leaves out, extra fields) is not vouched for. Only these two levels are
    looked at: a message is kept whole by the model."""
    if type(data) is not dict or list(data) != _TOP or type(data["custom_id"]) is not str:
        return False
    result = data["result"]
    if type(result) is not dict:
        return False
    fields = list(result)
    if fields == _TYPE_MESSAGE:  # the common shapes first
        shaped = type(result["message"]) is dict
    elif fields == _TYPE_ONLY:
        shaped = True
    elif fields == _TYPE_ERROR:
        shaped = _is_envelope(result["error"])
    elif fields == _TYPE_MESSAGE_ERROR:
        shaped = type(result["message"]) is dict and _is_envelope(result["error"])
    else:
        return False
    rtype = result["type"]
    return shaped and type(rtype) is str and rtype in _RESULT_TYPES


_TOP = ["custom_id", "result"]
_TYPE_ONLY = ["type"]
_TYPE_MESSAGE = ["type", "message"]
_TYPE_ERROR = ["type", "error"]
_TYPE_MESSAGE_ERROR = ["type", "message", "error"]
_ENVELOPE = ["type", "error"]
_RESULT_TYPES = frozenset(RESULT_TYPES)


def _is_envelope(error: Any) -> bool:
    return (type(error) is dict and list(error) == _ENVELOPE and type(error["type"]) is str
            and type(error["error"]) is dict)


def result_text(data: Any, *, where: str) -> tuple[str, bytes]:
    """``(result type, line)`` for one result in Anthropic's shape: the line is exactly
    :func:`dump_result` of the validated result, taken straight from ``data`` when it is already in
    that shape (:func:`is_normalized`). A result the model refuses is a malformed answer naming ``where``."""
    if is_normalized(data):
        return data["result"]["type"], _to_json(data, inf_nan_mode="null")
    with reading(f"{where}: a result line"):
        result = BatchResult.model_validate(data)
    return result.result.type, dump_result(result)


def result_line_text(line: str | bytes, *, where: str) -> tuple[str, bytes]:
    """:func:`result_text` of one JSONL line in Anthropic's shape (as :func:`parse_result_line` reads it)."""
    try:
        data = load_json(line)
    except ValueError:
        raise MalformedAnswer(f"{where}: not a result line (not JSON)") from None
    return result_text(data, where=where)


def result_lines_text(lines: Iterable[str | bytes], where: Callable[[int], str]) -> Iterator[tuple[str, bytes]]:
    """:func:`result_line_text` of each line (``where(n)`` names line ``n``), in one tight loop:
    the hot path of ``batches results`` against Anthropic."""
    load, dump, normalized = _from_json, _to_json, is_normalized
    for n, line in enumerate(lines, 1):
        try:
            data = load(line)
        except ValueError:
            raise MalformedAnswer(f"{where(n)}: not a result line (not JSON)") from None
        if normalized(data):
            yield data["result"]["type"], dump(data, inf_nan_mode="null")
        else:
            yield result_text(data, where=where(n))


def normalized_text(item: Any, *, where: str) -> tuple[str, bytes]:
    """:func:`normalize_result` as the line ``batches results`` writes: ``(result type, line)``."""
    with reading(where):
        return result_text(_result_item(item, where=where), where=where)


def line_text(item: Any, *, where: str) -> tuple[str, bytes]:
    """:func:`normalize_line` as the line ``batches results`` writes: ``(result type, line)``."""
    with reading(where):
        shaped = _line_item(item)
        if shaped is None:
            shaped = _result_item(item, where=where)
        return result_text(shaped, where=where)


def lines_text(items: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, bytes]]:
    """:func:`line_text` of each ``(where, item)``, in one tight loop (the hot path of ``batches
    results`` against OpenAI): an item that does not go straight through is read again by
    :func:`line_text`, which refuses it in the same words."""
    dump, normalized, shape_line, shape_result = _to_json, is_normalized, _line_item, _result_item
    for where, item in items:
        text = None
        try:
            shaped = shape_line(item)
            if shaped is None:
                shaped = shape_result(item, where=where)
            if normalized(shaped):
                rtype, text = shaped["result"]["type"], dump(shaped, inf_nan_mode="null")
        except Exception:  # noqa: BLE001 - told apart, in the same words, by line_text below
            text = None
        if text is None:
            yield line_text(item, where=where)
        else:
            yield rtype, text
