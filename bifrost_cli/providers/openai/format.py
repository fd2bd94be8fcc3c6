"""OpenAI's batch formats: native input lines, the provider-neutral input translated to Chat
Completions, and output/error lines normalized to Anthropic's result shape.

- ``INPUT_FORMAT``: native lines ``{"custom_id", "method": "POST", "url", "body"}`` for
  ``/v1/chat/completions``, ``/v1/responses`` and ``/v1/embeddings`` (named in the provider's spec).
- :func:`chat_body`: Anthropic Messages ``params`` -> a Chat Completions body. A field OpenAI cannot
  express is a problem (never dropped); :func:`translate_requests` collects them as ``FILE:LINE``.
- :func:`message_from_chat_completion` and :func:`normalize_line`: the way back.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, BinaryIO, NamedTuple

from bifrost_cli import inputs
from bifrost_cli.inputs import Checked, InputFormat, Problems, RequestSet
from bifrost_cli.providers.content import ContentRules, convert_blocks, describe, extra_keys, sampling_config

CHAT_URL = "/v1/chat/completions"
ENDPOINTS = (CHAT_URL, "/v1/responses", "/v1/embeddings")
MAX_STOP_SEQUENCES = 4
MAX_SAFETY_IDENTIFIER = 64
_NATIVE_FIELDS = ("custom_id", "method", "url", "body")


# ------------------------------------------------------------------------------------------------
# native input lines


def _accept_native(item: Any, model: str | None) -> Checked | None:
    """The common case in one go: a line that passes every check of :func:`_check_native` (exact
    JSON types), else ``None`` and :func:`_check_native` says what is wrong."""
    if type(item) is not dict or len(item) != 4:
        return None
    custom_id, url, body = item.get("custom_id"), item.get("url"), item.get("body")
    if type(custom_id) is not str or not custom_id or item.get("method") != "POST" or url not in ENDPOINTS:
        return None
    if type(body) is not dict or body.get("stream"):
        return None
    found = body.get("model", model)
    if type(found) is not str or not found.strip():
        return None
    return Checked([], custom_id, found, url)


def _check_native(item: Any, model: str | None) -> Checked:
    accepted = _accept_native(item, model)
    if accepted is not None:
        return accepted
    if not isinstance(item, dict):
        return Checked([f'expected a JSON object with "custom_id", "method", "url" and "body", got {describe(item)}'])
    problems = [
        f'unknown field "{key}" (an OpenAI batch line has only custom_id, method, url and body)'
        for key in item
        if key not in _NATIVE_FIELDS
    ]
    custom_id = item.get("custom_id")
    if "custom_id" not in item:
        problems.append("custom_id is missing")
    elif not isinstance(custom_id, str) or not custom_id:
        problems.append(f"custom_id must be a non-empty string, got {describe(custom_id)}")
    if item.get("method") != "POST":
        got = f", got {describe(item['method'])}" if "method" in item else " (it is missing)"
        problems.append(f'method must be "POST"{got}')
    url = item.get("url")
    if url not in ENDPOINTS:
        got = f", got {describe(url)}" if "url" in item else " (it is missing)"
        problems.append("url must be one of " + ", ".join(ENDPOINTS) + got)
    body = item.get("body")
    found_model = None
    if not isinstance(body, dict):
        problems.append(f"body must be an object, got {describe(body)}" if "body" in item else "body is missing")
    else:
        found_model = body.get("model", model)
        if found_model is None:
            problems.append("body.model is missing (add it, or pass --model to fill it in)")
        elif not isinstance(found_model, str) or not found_model.strip():
            problems.append(f"body.model must be a non-empty string, got {describe(found_model)}")
            found_model = None
        if body.get("stream"):
            problems.append("body.stream must not be true: batch requests do not stream")
    good_id = custom_id if isinstance(custom_id, str) and custom_id else None
    return Checked(problems, good_id, found_model, url if url in ENDPOINTS else None)


def _native_request(item: dict[str, Any], model: str | None) -> dict[str, Any]:
    body = item["body"]
    if model is not None and "model" not in body:
        body = {"model": model, **body}
    return {"custom_id": item["custom_id"], "method": "POST", "url": item["url"], "body": body}


INPUT_FORMAT = InputFormat(_check_native, _native_request)


# ------------------------------------------------------------------------------------------------
# Anthropic params -> Chat Completions body

_UNSUPPORTED_PARAMS = {
    "top_k": "OpenAI has no top_k sampling",
    "thinking": "OpenAI's reasoning settings are not equivalent; remove it",
    "service_tier": "batch requests have no service tier",
    "container": "OpenAI has no code execution containers",
    "mcp_servers": "OpenAI's Chat Completions cannot call MCP servers",
    "context_management": "OpenAI has no context management",
}


# neutral sampling params -> Chat Completions fields
_SAMPLING = {"max_tokens": "max_completion_tokens", "temperature": "temperature", "top_p": "top_p", "stop_sequences": "stop"}
NO_EQUIVALENT = "cannot be sent to OpenAI: it has no Chat Completions equivalent"


def chat_body(params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A Chat Completions body for Anthropic Messages ``params``, and the problems found
    (each naming the field, e.g. ``params.top_k: ...``). The body is only usable without problems."""
    problems: list[str] = []
    body: dict[str, Any] = {}
    messages: list[dict[str, Any]] = []
    for key, value in params.items():
        where = f"params.{key}"
        if key == "model":
            body["model"] = value
        elif key in _SAMPLING:
            _sampling(key, value, body, problems)
        elif key == "system":
            messages.insert(0, {"role": "system", "content": _plain_text(value, where, problems)})
        elif key == "messages":
            pass  # below, after system
        elif key == "tools":
            tools = _tools(value, where, problems)
            if tools:  # OpenAI refuses an empty tools array; no tools is the same request
                body["tools"] = tools
        elif key == "tool_choice":
            _tool_choice(value, where, body, problems)
        elif key == "metadata":
            _metadata(value, where, body, problems)
        elif key == "stream":
            if value:
                problems.append(f"{where} must not be true: batch requests do not stream")
        elif key == "url":
            if value != CHAT_URL:
                problems.append(f"{where} must be {CHAT_URL} for OpenAI (or be left out), got {describe(value)}")
        else:
            reason = _UNSUPPORTED_PARAMS.get(key, "it has no OpenAI Chat Completions equivalent")
            problems.append(f"{where} cannot be sent to OpenAI: {reason}")
    for index, message in enumerate(params.get("messages") or []):
        messages.extend(_message(message, f"params.messages[{index}]", problems))
    body["messages"] = messages
    return body, problems


def _sampling(key: str, value: Any, body: dict[str, Any], problems: list[str]) -> None:
    """One sampling param, checked where it stands (so problems keep the order of the params)."""
    wrong_type = "params.{key} must be {kind}" + ("" if key == "stop_sequences" else ", got {got}")
    config = sampling_config({key: value}, _SAMPLING, problems, wrong_type=wrong_type)
    stop = config.pop("stop", None)
    if stop is not None and len(stop) > MAX_STOP_SEQUENCES:
        problems.append(f"params.{key} has {len(stop)} sequences; OpenAI's stop takes at most {MAX_STOP_SEQUENCES}")
    elif stop:
        body["stop"] = stop
    body.update(config)


def _data_url(media_type: str, data: str) -> dict[str, Any]:
    return _image_url(f"data:{media_type};base64,{data}")


def _image_url(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


# a user message's content: text and images; an assistant's: text (and tool calls); a system prompt or
# a tool result: text only
_CONTENT = ContentRules(
    NO_EQUIVALENT,
    text=lambda text: {"type": "text", "text": text},
    image=_data_url,
    image_url=_image_url,
    source_rule="only base64 and url image sources can be sent to OpenAI",
    says_got=True,
)
_ASSISTANT = _CONTENT.without_images()
_TEXT_ONLY = replace(_ASSISTANT, blocks="text blocks")


def _only_text(where: str, block: Any) -> str:
    kind = block.get("type") if isinstance(block, dict) else None
    return f"{where}: only text blocks can be sent here, got {describe(kind or block)}"


def _plain_text(value: Any, where: str, problems: list[str]) -> str:
    """A string, or text blocks joined (a system prompt, a tool result)."""
    if isinstance(value, str):
        return value
    parts = convert_blocks(value, where, problems, _TEXT_ONLY, refused=_only_text)
    return "\n\n".join(part["text"] for part in parts)


def _message(message: Any, where: str, problems: list[str]) -> list[dict[str, Any]]:
    """One Anthropic message as one or more OpenAI messages (tool results become ``tool`` messages)."""
    if not isinstance(message, dict):
        return []
    role = message.get("role")
    extra_keys(message, ("role", "content"), where, problems, NO_EQUIVALENT)
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    tool_calls: list[dict[str, Any]] = []
    tool_messages: list[dict[str, Any]] = []

    def tool_use(block: dict[str, Any], at: str, problems: list[str]) -> None:
        extra_keys(block, ("type", "id", "name", "input"), at, problems, NO_EQUIVALENT)
        arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
        tool_calls.append({"id": block.get("id"), "type": "function", "function": {"name": block.get("name"), "arguments": arguments}})

    def tool_result(block: dict[str, Any], at: str, problems: list[str]) -> None:
        extra_keys(block, ("type", "tool_use_id", "content", "is_error"), at, problems, NO_EQUIVALENT)
        if block.get("is_error"):
            problems.append(f"{at}.is_error cannot be sent to OpenAI: a tool message has no error flag")
        text = _plain_text(block.get("content", ""), f"{at}.content", problems)
        tool_messages.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text})

    def refused(at: str, block: Any) -> str:
        kind = block.get("type") if isinstance(block, dict) else None
        place = f" in a {role} message" if kind in ("image", "tool_use", "tool_result") else ""
        return f"{at}: a {describe(kind or block)} block{place} cannot be sent to OpenAI"

    if role == "user":
        parts = convert_blocks(content, f"{where}.content", problems, _CONTENT, kinds={"tool_result": tool_result}, refused=refused)
    else:
        kinds = {"tool_use": tool_use} if role == "assistant" else {}
        parts = convert_blocks(content, f"{where}.content", problems, _ASSISTANT, kinds=kinds, refused=refused)
    out: list[dict[str, Any]] = list(tool_messages)  # tool results answer the previous assistant turn
    if role == "assistant":
        if parts or not tool_calls:
            out.append({"role": "assistant", "content": "".join(part["text"] for part in parts)})
        else:
            out.append({"role": "assistant", "content": None})
        if tool_calls:
            out[-1]["tool_calls"] = tool_calls
    elif parts or not tool_messages:
        out.append({"role": role, "content": parts})
    return out


def _tools(value: Any, where: str, problems: list[str]) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        problems.append(f"{where} must be an array, got {describe(value)}")
        return []
    tools = []
    for index, tool in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(tool, dict):
            problems.append(f"{at} must be an object, got {describe(tool)}")
            continue
        if tool.get("type", "custom") != "custom":
            problems.append(f'{at}: the server tool "{tool.get("type")}" cannot be sent to OpenAI; only custom tools (name, description, input_schema) map')
            continue
        extra_keys(tool, ("type", "name", "description", "input_schema"), at, problems, NO_EQUIVALENT)
        function: dict[str, Any] = {"name": tool.get("name")}
        if "description" in tool:
            function["description"] = tool["description"]
        function["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
        tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(value: Any, where: str, body: dict[str, Any], problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{where} must be an object, got {describe(value)}")
        return
    kind = value.get("type")
    if kind == "auto":
        body["tool_choice"] = "auto"
    elif kind == "any":
        body["tool_choice"] = "required"
    elif kind == "none":
        body["tool_choice"] = "none"
    elif kind == "tool" and isinstance(value.get("name"), str):
        body["tool_choice"] = {"type": "function", "function": {"name": value["name"]}}
    else:
        problems.append(f"{where}: the tool choice {describe(kind or value)} cannot be sent to OpenAI")
        return
    extra_keys(value, ("type", "name", "disable_parallel_tool_use"), where, problems, NO_EQUIVALENT)
    if value.get("disable_parallel_tool_use") and kind != "none":
        body["parallel_tool_calls"] = False


def _metadata(value: Any, where: str, body: dict[str, Any], problems: list[str]) -> None:
    """``metadata.user_id`` (an opaque id of the end user, for abuse detection) is OpenAI's
    ``safety_identifier`` (the deprecated ``user`` field's successor, at most 64 characters)."""
    if not isinstance(value, dict):
        problems.append(f"{where} must be an object, got {describe(value)}")
        return
    for key, item in value.items():
        if key == "user_id" and isinstance(item, str):
            if len(item) > MAX_SAFETY_IDENTIFIER:
                problems.append(
                    f"{where}.user_id has {len(item)} characters; OpenAI's safety_identifier takes at most "
                    f"{MAX_SAFETY_IDENTIFIER} (send a hash of it instead)"
                )
            else:
                body["safety_identifier"] = item
        elif key == "user_id" and item is None:
            pass
        elif key == "user_id":
            problems.append(f"{where}.user_id must be a string, got {describe(item)}")
        else:
            problems.append(f"{where}.{key} {NO_EQUIVALENT}")


# ------------------------------------------------------------------------------------------------
# a whole input -> OpenAI batch lines


def batch_line(request: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """One request of a RequestSet (neutral or native) as an OpenAI batch line, with problems."""
    if "params" not in request:
        return request, []
    body, problems = chat_body(request["params"])
    return {"custom_id": request["custom_id"], "method": "POST", "url": CHAT_URL, "body": body}, problems


encode_line = inputs.encode_line  # the checked copy's encoding: a native line is sent as it was checked


class InputSummary(NamedTuple):
    """What checking a whole input for OpenAI found: its one endpoint, its size as JSONL, and
    (``keep=True``) the batch lines as translated while checking."""

    endpoint: str
    size: int
    lines: BinaryIO | None = None  # an unnamed temporary file; read with read_kept()
    same: RequestSet | None = None  # native input: its checked copy is the batch file, byte for byte


_BLOCK = 1 << 20


def check_input(requests: RequestSet, *, keep: bool = False) -> InputSummary:
    """Translate every request once, before anything is sent; raise :class:`InputError` listing
    every ``FILE:LINE: field: problem`` (untranslatable fields, mixed endpoints). ``keep``: also
    keep the translated lines (in :attr:`InputSummary.lines`; the caller closes it), so that
    sending them, on any attempt, translates nothing again.

    Native input needs no translation: its lines were checked (each one's url included) as they
    were read, and the copy written then is already the batch file (:func:`encode_line` is that
    copy's encoding), so nothing is read again here."""
    if requests.input_format == "openai" and requests.encoded_bytes is not None:
        problems = Problems(requests.display_name)
        _mixed_endpoints(requests, requests.endpoints, problems)
        problems.raise_any()
        return InputSummary(next(iter(requests.endpoints), CHAT_URL), requests.encoded_bytes, None, requests)
    return _translate(requests, keep)


def _mixed_endpoints(requests: RequestSet, endpoints: dict[str, str], problems: Problems) -> None:
    """A problem for each endpoint after the first (on the line of the first request naming it)."""
    if len(endpoints) < 2:
        return
    (first, first_id), *others = endpoints.items()
    for url, custom_id in others:
        problems.add(requests.line_of(custom_id), _differs(url, first, first_id))


def _differs(url: str, first: str, first_id: str) -> str:
    return f"url {url} differs from {first} (custom_id {first_id}): one batch has one endpoint"


def _translate(requests: RequestSet, keep: bool) -> InputSummary:
    problems = Problems(requests.display_name)
    endpoints: dict[str, str] = {}
    size = 0
    kept = tempfile.TemporaryFile(prefix="bifrost-openai-") if keep else None
    buffer: list[bytes] = []
    buffered = 0
    try:
        for request in requests.iter_checked():
            line, found = batch_line(request)
            for problem in found:
                problems.add(requests.line_of(request["custom_id"]), problem)
            url = line["url"]
            if url not in endpoints:
                if endpoints:
                    first = next(iter(endpoints.items()))
                    problems.add(requests.line_of(line["custom_id"]), _differs(url, *first))
                endpoints[url] = line["custom_id"]
            data = encode_line(line)
            size += len(data)
            if kept is not None and not problems.total:
                buffer.append(data)
                buffered += len(data)
                if buffered >= _BLOCK:
                    kept.write(b"".join(buffer))
                    buffer.clear()
                    buffered = 0
        problems.raise_any()
        if kept is not None:
            kept.write(b"".join(buffer))
            kept.flush()
    except BaseException:
        if kept is not None:
            kept.close()
        raise
    return InputSummary(next(iter(endpoints), CHAT_URL), size, kept)


def read_kept(summary: InputSummary) -> Iterator[bytes]:
    """The batch lines as checked (``check_input(keep=True)``), in blocks (re-readable: each call
    reads from the start): the kept translation, or native input's checked copy."""
    if summary.same is not None:
        yield from summary.same.iter_encoded(_BLOCK)
        return
    assert summary.lines is not None
    fd, offset = summary.lines.fileno(), 0
    while data := os.pread(fd, _BLOCK, offset):
        offset += len(data)
        yield data
