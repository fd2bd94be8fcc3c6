"""The Bifrost gateway's OpenAI-compatible routes (``/openai/v1/...`` and ``/openai/...``).

The upstream is chosen by the ``provider`` body or form field, else the ``provider`` query parameter
(default ``openai``); only the ``openai`` upstream is emulated here, and it is the same store as the
``/native/openai/v1`` routes, as a real gateway forwards to the real OpenAI API. Handlers are
``openai_native``'s; this module only changes the shapes:

* every object answer carries ``extra_fields`` (``request_type``, ``provider``, ``latency``);
* lists are ``{"object","data","has_more","next_cursor"}`` without ``first_id``/``last_id``;
  ``next_cursor`` is opaque and is sent back as ``after`` (a plain id works too);
* errors are Bifrost errors: ``{"is_bifrost_error","status_code","error":{"type","code","message",
  "param"},"extra_fields"}``;
* there is no Uploads route and no batch results route (results are the output/error files);
* unknown GET paths answer the web UI's HTML page.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from . import openai_native
from .gateway import presented_keys, spa_page
from .ops import Context
from .web import ApiError, Request, Response, bad_request, json_response

PREFIX = "/openai"
_CURSOR = "bfc_"
_NO_ROUTE = ("create_upload", "add_part", "complete_upload", "cancel_upload")


class GatewayFlavor(openai_native.Flavor):
    extra_body_fields = ("provider", "model")

    def provider(self, req: Request, given: Any = None) -> str:
        provider = str(given or req.arg("provider") or "openai").strip().lower()
        if provider != "openai":
            raise bad_request(f"unsupported_operation: the emulated gateway serves only provider openai on its "
                              f"/openai routes, not {provider!r}")
        return provider

    def shape(self, data: dict, request_type: str) -> dict:
        return {**data, "extra_fields": {"request_type": request_type, "provider": "openai", "latency": 0}}

    def list_body(self, data: list[dict], has_more: bool, request_type: str) -> dict:
        body: dict[str, Any] = {"object": "list", "data": data, "has_more": has_more}
        if has_more and data:
            body["next_cursor"] = _CURSOR + base64.urlsafe_b64encode(data[-1]["id"].encode()).decode().rstrip("=")
        return body

    def cursor(self, raw: str | None) -> str | None:
        if not raw or not raw.startswith(_CURSOR):
            return raw or None
        token = raw[len(_CURSOR):]
        try:
            return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise bad_request(f"invalid cursor {raw!r}") from None

    def error(self, error: ApiError, request_type: str) -> Response:
        inner = openai_native.error_object(error)
        body = {"is_bifrost_error": False, "status_code": error.status,
                "error": {"type": inner["type"], "code": inner["code"], "message": error.message,
                          "param": inner["param"]},
                "extra_fields": {"provider": "openai", "request_type": request_type}}
        return json_response(body, error.status, error.headers)


GATEWAY = GatewayFlavor()


def handle(ctx: Context, req: Request, path: str) -> Response:
    """Serve one request whose path (without :data:`PREFIX`) is ``path``."""
    if path == "/v1" or path.startswith("/v1/"):
        path = path[3:]
    handler, params, name = openai_native.ROUTER.match(req.method, path)
    if handler is None or name in _NO_ROUTE:
        if req.method in ("GET", "HEAD"):
            return spa_page()
        return GATEWAY.error(ApiError(404, "not_found_error", f"route not found: {req.method} {PREFIX}{path}"), "")
    try:
        expected = ctx.config.virtual_key
        if expected is not None and expected not in presented_keys(req):
            raise ApiError(401, "authentication_error", "invalid or missing virtual key")
        return handler(ctx, req, GATEWAY, **params)
    except ApiError as error:
        return GATEWAY.error(error, name)
