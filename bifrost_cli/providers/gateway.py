"""A running Bifrost gateway, through its Anthropic-compatible ``/anthropic`` routes.

The gateway picks the upstream provider from the ``x-model-provider`` header, which is sent on every
call. Its real behaviour differs from Anthropic's in ways handled here:

- batch results come back as ONE JSON object (``{"batch_id", "results": [...]}``), sometimes JSONL;
  items may carry an Anthropic ``result``, or an OpenAI/Gemini-style ``response``/``error``;
- ``processing_status`` may be ``failed``/``expired`` (ended) or ``finalizing`` (still running);
- ``request_counts`` may be missing;
- batch lists page by ``page_size``/``page_token``, file lists by ``limit``/``after_id`` without
  ``first_id``/``last_id``;
- a route the gateway lacks answers ``200 text/html`` (its web UI), which must not be parsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from bifrost_cli.errors import ResponseError
from bifrost_cli.http import HttpClient, Response
from bifrost_cli.models import BatchResult, File
from bifrost_cli.providers.anthropic import (
    AnthropicAPI,
    iter_jsonl,
    parse_file,
    parse_result_line,
    path_segment,
)
from bifrost_cli.providers.base import Download

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


class GatewayTarget(AnthropicAPI):
    name = "gateway"
    prefix = "/anthropic/v1"

    def __init__(self, http: HttpClient, provider: str = "anthropic"):
        super().__init__(http, provider)
        self.capabilities = self.capabilities.without(
            {
                "batches.delete": "the gateway has no route to delete a batch: delete it at the provider "
                "directly (without --base-url, with the provider's own key)",
            }
        )

    def describe(self) -> str:
        return f"Bifrost gateway at {self.http.base_url} (provider {self.provider})"

    # Every request carries the provider; ``_get_json`` and friends go through here.
    def _files_headers(self) -> dict[str, str]:
        return {}

    def _upload_fields(self, purpose: str | None) -> dict[str, str]:
        return {"purpose": purpose} if purpose else {}

    def _json(self, response: Response, method: str, path: str) -> Any:
        self._reject_html(response, method, path)
        return response.json()

    def _reject_html(self, response: Response, method: str, path: str) -> None:
        if response.is_html:
            response.close()
            raise ResponseError(
                f"the gateway at {self.http.base_url} has no route for {method} {self.prefix}{path}: "
                "it answered with its web page instead of the API",
                hint="This gateway version lacks the route; upgrade Bifrost, or check that --base-url "
                "points at the gateway itself (without /anthropic).",
            )

    def get_file(self, file_id: str) -> File:
        response = self.http.request("GET", self.prefix + f"/files/{path_segment(file_id)}")
        if response.is_html:
            # Gateways before Bifrost PR #6765 have no per-file route: find it in the list instead.
            response.close()
            for item in self.list_files(limit=None):
                if item.id == file_id:
                    return item
            from bifrost_cli.errors import NotFoundError

            raise NotFoundError(f"no file {file_id} at the gateway (provider {self.provider})", status=404)
        return parse_file(response.json(), self.provider)

    def open_download(self, file_id: str) -> Download:
        response = self.http.request("GET", self.prefix + f"/files/{path_segment(file_id)}/content", stream=True)
        self._reject_html(response, "GET", f"/files/{file_id}/content")
        if response.content_type == "application/json" and (response.content_length or 0) < 65536:
            data = response.read()
            response.close()
            try:
                meta = json.loads(data)
            except ValueError:
                meta = None
            if isinstance(meta, dict) and meta.get("id") == file_id and meta.get("type") == "file":
                raise ResponseError(
                    f"the gateway answered the download of {file_id} with the file's metadata, not its content",
                    hint="Gateways before Bifrost PR #6765 have this bug on /anthropic/v1/files/ID/content; upgrade the gateway.",
                )
            return Download(_BytesResponse(data), size=len(data))
        return Download(response, size=response.content_length)

    # -- batches ------------------------------------------------------------------------------

    def _page_params(self, size: int, cursor: str | None, token: str | None) -> dict[str, Any]:
        # The gateway's batch list reads page_size/page_token and ignores limit/after_id; its file
        # list reads limit/after_id. Send both so either works.
        return {"limit": size, "after_id": cursor, "page_size": size, "page_token": token or cursor}

    def _result_items(self, batch_id: str) -> Iterator[dict[str, Any]]:
        response = self.http.request(
            "GET", self.prefix + f"/messages/batches/{path_segment(batch_id)}/results", stream=True
        )
        self._reject_html(response, "GET", f"/messages/batches/{batch_id}/results")
        if response.content_type == "application/json":
            with response:
                data = response.json()
            if isinstance(data, dict) and isinstance(data.get("results"), list):
                yield from data["results"]
                return
            if isinstance(data, list):
                yield from data
                return
            raise ResponseError(f"unexpected results answer for {batch_id}: {json.dumps(data)[:200]}")
        for n, line in enumerate(iter_jsonl(response), 1):
            try:
                yield json.loads(line)
            except ValueError:
                raise ResponseError(f"results of {batch_id}, line {n}: not JSON") from None

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        yield from self._result_items(batch_id)

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]:
        for n, item in enumerate(self._result_items(batch_id), 1):
            yield normalize_result(item, where=f"results of {batch_id}, item {n}")


def gateway_http(
    base_url: str, key: str | None, *, trusted: bool = False, headers: dict[str, str] | None = None, **http_kwargs: Any
) -> HttpClient:
    """The HTTP client for a gateway: its root URL, and its virtual key (never a provider's) in
    ``x-bf-vk``. ``trusted``: the in-process emulator."""
    return HttpClient(
        gateway_root(base_url),
        label="the gateway",
        headers=headers,
        auth_headers={"x-bf-vk": key} if key else None,
        auth_hint="Check the gateway's virtual key: --api-key or BIFROST_VIRTUAL_KEY.",
        trusted_transport=trusted,
        **http_kwargs,
    )


def gateway_target(
    base_url: str, provider: str, key: str | None, *, trusted: bool = False, settings: Any = None, **http_kwargs: Any
) -> GatewayTarget:
    """A gateway, through its Anthropic-compatible ``/anthropic`` route, for ``provider``."""
    from bifrost_cli.providers.anthropic import ANTHROPIC_VERSION

    headers = {"x-model-provider": provider, "anthropic-version": ANTHROPIC_VERSION}
    return GatewayTarget(gateway_http(base_url, key, trusted=trusted, headers=headers, **http_kwargs), provider)


_ROUTE_SUFFIX = re.compile(r"/(?:anthropic|openai|genai|bedrock)(?:/v\d+(?:alpha|beta)?\d*)?$")


def gateway_root(base_url: str) -> str:
    """The gateway's root URL, also when given with one of its route prefixes (``/openai``) or
    a route and its API version (``/openai/v1``, ``/genai/v1beta``), as SDKs are configured."""
    root = base_url.rstrip("/")
    match = _ROUTE_SUFFIX.search(root)
    return root[: match.start()] if match else root


class _BytesResponse:
    """A response body already read (what ``Download`` needs: ``iter_bytes`` and ``close``)."""

    def __init__(self, data: bytes):
        self._data = data

    def iter_bytes(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        for i in range(0, len(self._data), chunk_size):
            yield self._data[i : i + chunk_size]

    def close(self) -> None:
        pass


# ------------------------------------------------------------------------------------------------
# result normalization: whatever the gateway returned -> Anthropic's result shape


def normalize_result(item: Any, *, where: str) -> BatchResult:
    if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
        raise ResponseError(f"{where}: a result without a custom_id: {json.dumps(item)[:200]}")
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
        return _validated(custom_id, body, where)
    response = item.get("response")
    if isinstance(response, dict) and response.get("status_code") == 200 and not top_error:
        message = message_from_body(response.get("body"), custom_id)
        return _validated(custom_id, {"type": "succeeded", "message": message}, where)
    if top_error is None and isinstance(response, dict):
        body = response.get("body")
        top_error = body.get("error") if isinstance(body, dict) else None
        if not top_error:
            message = body if isinstance(body, str) and body else "request failed"
            top_error = {"code": str(response.get("status_code")), "message": message}
    if top_error is not None:
        return _validated(custom_id, {"type": "errored", "error": _error_envelope(top_error)}, where)
    raise ResponseError(f"{where}: cannot tell how request {custom_id} ended: {json.dumps(item)[:200]}")


def _validated(custom_id: str, body: dict[str, Any], where: str) -> BatchResult:
    line = json.dumps({"custom_id": custom_id, "result": body})
    return parse_result_line(line, where=where)[1]


def _error_envelope(error: Any) -> dict[str, Any]:
    """Any error shape -> Anthropic's ``{"type": "error", "error": {"type", "message"}}``."""
    if isinstance(error, dict) and error.get("type") == "error" and isinstance(error.get("error"), dict):
        return error
    if isinstance(error, dict):
        inner = error.get("error") if isinstance(error.get("error"), dict) else error
        etype = inner.get("type") or inner.get("code") or inner.get("status") or "api_error"
        return {"type": "error", "error": {"type": str(etype), "message": str(inner.get("message") or "")}}
    return {"type": "error", "error": {"type": "api_error", "message": str(error or "")}}


def message_from_body(body: Any, custom_id: str) -> dict[str, Any]:
    """A succeeded response body (Anthropic message, OpenAI chat completion, or the gateway's
    Gemini summary) as an Anthropic message."""
    if not isinstance(body, dict):
        return {"type": "message", "role": "assistant", "content": [{"type": "text", "text": str(body or "")}]}
    if body.get("type") == "message":
        return body
    if isinstance(body.get("choices"), list):
        from bifrost_cli.providers.openai_format import message_from_chat_completion

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
