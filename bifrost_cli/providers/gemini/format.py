"""Gemini's GenerateContent format: translations both ways, and the native ``{key, request}`` input.

- :func:`to_gemini_request`: a provider-neutral ``params`` object (Anthropic's Messages body) as a
  GenerateContentRequest. A field Gemini cannot express is a problem, never dropped.
- :func:`to_anthropic_result`: one Gemini batch output (an inlined response or a responses-file
  line: ``response`` or ``error``) in Anthropic's result shape.
- :data:`INPUT_FORMAT`: native ``{"key": ..., "request": {...}}`` lines (``--input-format gemini``).

Nothing here does I/O.
"""

from __future__ import annotations

import json
from typing import Any

from bifrost_cli.inputs import Checked, InputFormat
from bifrost_cli.providers.content import ContentRules, convert_blocks, convert_messages, extra_keys, sampling_config

# neutral params -> generationConfig
_GENERATION = {
    "max_tokens": "maxOutputTokens",
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "stop_sequences": "stopSequences",
}
_HANDLED = {"model", "messages", "system", *_GENERATION}
_ROLES = {"user": "user", "assistant": "model"}
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/heif")

# finishReason -> Anthropic stop_reason
FINISH_TO_STOP = {
    "STOP": "end_turn",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "refusal",
    "RECITATION": "refusal",
    "BLOCKLIST": "refusal",
    "PROHIBITED_CONTENT": "refusal",
    "SPII": "refusal",
    "IMAGE_SAFETY": "refusal",
    "LANGUAGE": "refusal",  # flagged for an unsupported language
    "OTHER": "end_turn",
    "MALFORMED_FUNCTION_CALL": "end_turn",
    "FINISH_REASON_UNSPECIFIED": "end_turn",
}

NO_EQUIVALENT = "has no Gemini equivalent; remove it (nothing is dropped silently)"


def model_name(model: str) -> str:
    """A model as the URL needs it (``gemini-2.5-flash``), also when given as ``models/...``."""
    return model.removeprefix("models/")


# ------------------------------------------------------------------------------------------------
# neutral params -> GenerateContentRequest


def to_gemini_request(params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``(request, problems)``: the GenerateContentRequest for ``params``, and every field that
    cannot be expressed (as ``params.FIELD ...`` messages). The model is not part of the request."""
    problems: list[str] = []
    extra_keys(params, _HANDLED, "params", problems, NO_EQUIVALENT)
    messages = convert_messages(params.get("messages"), problems, _CONTENT, roles=_ROLES)
    request: dict[str, Any] = {"contents": [{"role": role, "parts": parts} for role, parts in messages]}
    if "system" in params:
        parts = convert_blocks(params["system"], "params.system", problems, _SYSTEM)
        request["systemInstruction"] = {"parts": parts}
    config = sampling_config(params, _GENERATION, problems)
    if config:
        request["generationConfig"] = config
    return request, problems


def _inline_data(media_type: str, data: str) -> dict[str, Any]:
    return {"inlineData": {"mimeType": media_type, "data": data}}


_CONTENT = ContentRules(
    NO_EQUIVALENT,
    image=_inline_data,
    image_types=_IMAGE_TYPES,
    source_rule='only base64 image data can be sent inline to Gemini (use {"type": "base64", "media_type": ..., "data": ...})',
)
_SYSTEM = _CONTENT.without_images()


# ------------------------------------------------------------------------------------------------
# Gemini output -> Anthropic result


def to_anthropic_result(custom_id: str, item: dict[str, Any], model: str | None = None) -> dict[str, Any]:
    """One output (``{"response": ...}`` or ``{"error": ...}``) as ``{"custom_id", "result"}``.
    ``model``: the batch's model, for a response that does not name its ``modelVersion``."""
    error = item.get("error")
    response = item.get("response")
    if isinstance(error, dict) or not isinstance(response, dict):
        return {"custom_id": custom_id, "result": error_result(error)}
    candidates = response.get("candidates") or []
    if not candidates:
        from bifrost_cli.providers.common import error_envelope

        feedback = response.get("promptFeedback") or {}
        reason = feedback.get("blockReason") or "no candidates"
        return {
            "custom_id": custom_id,
            "result": {
                "type": "errored",
                "error": error_envelope("blocked", f"prompt blocked: {reason}"),
            },
        }
    message = to_message(custom_id, response)
    if not message["model"] and model:
        message["model"] = model_name(model)
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}


# google.rpc.Code numbers and the HTTP statuses Google's errors carry, by status name
_RPC_CODES = {1: "CANCELLED", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND", 7: "PERMISSION_DENIED",
              8: "RESOURCE_EXHAUSTED", 13: "INTERNAL", 14: "UNAVAILABLE", 16: "UNAUTHENTICATED"}
_HTTP_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
               409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 503: "UNAVAILABLE",
               504: "DEADLINE_EXCEEDED"}


def status_name(error: dict[str, Any]) -> str:
    """A Status's name (``INVALID_ARGUMENT``...): its ``status``, else named from its ``code`` (an
    HTTP status or a google.rpc.Code, as a number or, through the gateway, a string)."""
    status = str(error.get("status") or "")
    if status:
        return status
    try:
        code = int(error.get("code"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    return _HTTP_CODES.get(code) or _RPC_CODES.get(code) or str(code)


def error_result(error: Any) -> dict[str, Any]:
    """A per-request Gemini Status as a result: ``canceled`` for CANCELLED, ``expired`` for
    DEADLINE_EXCEEDED (the request ran out of time before it was processed), else ``errored``."""
    error = error if isinstance(error, dict) else {"message": "the request has neither a response nor an error"}
    status = status_name(error)
    if status == "CANCELLED":
        return {"type": "canceled"}
    if status == "DEADLINE_EXCEEDED":
        return {"type": "expired"}
    from bifrost_cli.providers.common import error_envelope

    return {"type": "errored", "error": error_envelope(status or None, error.get("message") or "")}


def to_message(custom_id: str, response: dict[str, Any]) -> dict[str, Any]:
    """A GenerateContentResponse (first candidate) as an Anthropic message."""
    candidate = response["candidates"][0] or {}
    content: list[dict[str, Any]] = []
    for n, part in enumerate((candidate.get("content") or {}).get("parts") or []):
        if not isinstance(part, dict) or part.get("thought"):
            continue
        if isinstance(part.get("text"), str):
            content.append({"type": "text", "text": part["text"]})
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            content.append({
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{custom_id}_{n}",
                "name": call.get("name"),
                "input": call.get("args") or {},
            })
    finish = str(candidate.get("finishReason") or "STOP")
    return {
        "id": response.get("responseId") or f"msg_{custom_id}",
        "type": "message",
        "role": "assistant",
        "model": response.get("modelVersion"),
        "content": content,
        "stop_reason": "tool_use" if any(b["type"] == "tool_use" for b in content) else FINISH_TO_STOP.get(finish, "end_turn"),
        "stop_sequence": None,
        "usage": to_usage(response.get("usageMetadata")),
    }


def to_usage(metadata: Any) -> dict[str, int]:
    """``usageMetadata`` as Anthropic's usage. Gemini's prompt count includes the cached part, which
    Anthropic counts apart (``cache_read_input_tokens``); tool-use prompt tokens are input and
    thinking tokens are output, as Gemini bills them."""
    usage = metadata if isinstance(metadata, dict) else {}

    def count(name: str) -> int:
        try:
            return max(int(usage.get(name) or 0), 0)
        except (TypeError, ValueError):
            return 0

    cached = count("cachedContentTokenCount")
    result = {
        "input_tokens": max(count("promptTokenCount") - cached, 0) + count("toolUsePromptTokenCount"),
        "output_tokens": count("candidatesTokenCount") + count("thoughtsTokenCount"),
    }
    if cached:
        result["cache_read_input_tokens"] = cached
    return result


# ------------------------------------------------------------------------------------------------
# native {key, request} input lines


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return json.dumps(value)[:60]


def _check_native(item: Any, model: str | None) -> Checked:
    if not isinstance(item, dict):
        return Checked([f'expected a JSON object with "key" and "request", got {_describe(item)}'])
    problems = [
        f'unknown field {json.dumps(key)} (a Gemini request line has only "key" and "request")'
        for key in item
        if key not in ("key", "request")
    ]
    key = item.get("key")
    if "key" not in item:
        problems.append("key is missing (it identifies the request in the results)")
        key = None
    elif not isinstance(key, str) or not key.strip():
        problems.append(f"key must be a non-empty string, got {_describe(key)}")
        key = None
    request = item.get("request")
    if "request" not in item:
        problems.append("request is missing (it holds a GenerateContent request)")
        return Checked(problems, key)
    if not isinstance(request, dict):
        problems.append(f"request must be an object, got {_describe(request)}")
        return Checked(problems, key)
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        problems.append("request.contents must be a non-empty array")
    else:
        for index, content in enumerate(contents):
            if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
                problems.append(f"request.contents[{index}].parts must be an array")
            elif content.get("role", "user") not in ("user", "model"):
                problems.append(f'request.contents[{index}].role must be "user" or "model"')
    line_model = request.get("model")
    if line_model is not None and (not isinstance(line_model, str) or not line_model.strip()):
        problems.append(f"request.model must be a non-empty string, got {_describe(line_model)}")
        line_model = None
    chosen = model_name(line_model) if line_model else (model_name(model) if model else None)
    if chosen is None:
        problems.append("request.model is missing (add it, or pass --model to fill it in)")
    return Checked(problems, key, chosen)


def _native_request(item: dict[str, Any], model: str | None) -> dict[str, Any]:
    return {"key": item["key"], "request": item["request"]}


INPUT_FORMAT = InputFormat(_check_native, _native_request, id_name="key")
