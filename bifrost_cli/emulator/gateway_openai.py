"""The Bifrost gateway's OpenAI-compatible routes (``/openai/v1/...`` and ``/openai/...``).

The upstream is chosen by the ``provider`` body or form field, else the ``provider`` query parameter
(default ``openai``). The ``openai`` upstream is the same store as the ``/native/openai/v1`` routes, as
a real gateway forwards to the real OpenAI API, served by ``openai_native``'s handlers. The
``anthropic`` and ``gemini`` upstreams go through the gateway core (``gateway_cross``): files upload,
list, retrieve, delete (and content where the upstream serves it); batches are created inline from
``requests`` (anthropic: ``{"custom_id","params"}`` items, ``input_file_id`` empty) or from an uploaded
file with ``model`` (gemini), then listed, retrieved and cancelled, all in OpenAI's shapes. Gemini ids
are the gateway's ``files-``/``batches-`` forms. The ``bedrock`` upstream is served by
``gateway_bedrock`` (ids are the base64 of the S3 URI or job ARN). Batch create decodes its body
leniently (``role_arn``, ``output_s3_uri``, ``job_name`` and unknown keys are accepted). With
``legacy_gateway`` the upload route ignores ``expires_after[...]``, as older gateways do. Other shapes:

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
import json
from typing import Any

from . import openai_native, ops
from .gateway import presented_keys, spa_page
from .ops import Context
from .web import ApiError, Request, Response, bad_request, json_response

PREFIX = "/openai"
_CURSOR = "bfc_"
_NO_ROUTE = ("create_upload", "add_part", "complete_upload", "cancel_upload")


class GatewayFlavor(openai_native.Flavor):
    extra_body_fields = ("provider", "model")
    lenient = True

    def provider(self, req: Request, given: Any = None) -> str:
        return "openai"  # the handlers only see requests for the openai upstream (see handle)

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


class LegacyFlavor(GatewayFlavor):
    ignores_expiry = True


GATEWAY = GatewayFlavor()
LEGACY = LegacyFlavor()


# ---------------------------------------------------------------- other upstreams


def _b64(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


def _unb64(raw: str, what: str) -> str:
    try:
        return base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_request(f"invalid {what} {raw!r}: expected the base64 id the gateway gave") from None


def _extra(provider: str, request_type: str) -> dict:
    return {"request_type": request_type, "provider": provider, "latency": 0}


def file_shape(view: dict, provider: str, request_type: str) -> dict:
    return {"id": view["id"], "object": "file", "bytes": view["bytes"], "created_at": int(view["created_at"]),
            "filename": view["filename"], "purpose": view["purpose"], "status": view["status"],
            "status_details": None, "expires_at": view.get("expires_at") and int(view["expires_at"]),
            "extra_fields": _extra(provider, request_type)}


def batch_shape(view: dict, provider: str, request_type: str) -> dict:
    status, ended = view["status"], view.get("ended_at")
    body: dict[str, Any] = {
        "id": view["id"], "object": "batch", "endpoint": view.get("endpoint") or "/v1/chat/completions",
        "model": view.get("model"), "input_file_id": view.get("input_file_id") or "", "completion_window": "24h",
        "status": status, "output_file_id": view.get("output_file_id"), "error_file_id": view.get("error_file_id"),
        "created_at": view["created_at"], "expires_at": view["created_at"] + 24 * 3600,
        "request_counts": {"total": view["total"], "completed": view["completed"], "failed": view["failed"]},
        "extra_fields": _extra(provider, request_type),
    }
    for key, when in (("completed_at", "completed"), ("failed_at", "failed"), ("expired_at", "expired"),
                      ("cancelled_at", "cancelled")):
        if status == when and ended is not None:
            body[key] = ended
    return body


def _page(items: list[dict], req: Request, request_type: str, default: int) -> dict:
    limit = ops.parse_limit(req.arg("limit"), default=default, maximum=10_000, strict=False)
    page, has_more = ops.page_of(items, limit=limit, after_id=GATEWAY.cursor(req.arg("after")))
    return GATEWAY.list_body(page, has_more, request_type)


def cross(ctx: Context, req: Request, provider: str, name: str, params: dict, body: Any) -> Response:
    """A request for the ``anthropic`` or ``gemini`` upstream, answered in OpenAI's shapes."""
    from . import gateway_cross as core

    if name == "upload_file":
        fields, upload = body
        mime = ops.guess_mime(upload["filename"], fields.get("content_type") or upload["content_type"])
        view = core.upload(ctx, provider, upload["tmp"], size=upload["size"], filename=upload["filename"] or "",
                           mime_type=mime, purpose=fields.get("purpose"))
        return json_response(file_shape(view, provider, "file_upload"))
    if name == "list_files":
        views = core.files(ctx, provider)
        purpose = req.arg("purpose")
        if purpose:
            views = [v for v in views if v["purpose"] == purpose]
        shaped = [file_shape(v, provider, "file_list") for v in views]
        for item in shaped:
            item.pop("extra_fields")
        return json_response(_page(shaped, req, "file_list", 30))
    if name == "retrieve_file":
        return json_response(file_shape(core.get_file(ctx, provider, params["file_id"]), provider, "file_retrieve"))
    if name == "delete_file":
        core.delete_file(ctx, provider, params["file_id"])
        return json_response({"id": params["file_id"], "object": "file", "deleted": True,
                              "extra_fields": _extra(provider, "file_delete")})
    if name == "file_content":
        record = core.file_record(ctx, provider, params["file_id"])
        if provider == "gemini" or not record.get("downloadable"):
            raise bad_request(f"unsupported_operation: file content download is not supported for provider "
                              f"{provider} for this file")
        from .anthropic_native import stream_file

        return stream_file(ctx, provider, record)
    if name == "create_batch":
        if not isinstance(body, dict):
            raise bad_request("Request body must be a JSON object")
        if provider == "anthropic" or (body.get("requests") and not body.get("input_file_id")):
            if body.get("input_file_id") and body.get("requests"):
                raise bad_request("either input_file_id or requests is required, not both")
            view = core.create_inline(ctx, provider, body.get("requests"), model=body.get("model"),
                                      endpoint=body.get("endpoint"))
        else:
            if not body.get("input_file_id"):
                raise bad_request("either input_file_id or requests is required")
            view = core.create_from_file(ctx, provider, str(body["input_file_id"]), model=body.get("model"),
                                         endpoint=body.get("endpoint"))
        return json_response(batch_shape(view, provider, "batch_create"))
    if name == "list_batches":
        shaped = [batch_shape(v, provider, "batch_list") for v in core.batches(ctx, provider)]
        for item in shaped:
            item.pop("extra_fields")
        return json_response(_page(shaped, req, "batch_list", 30))
    if name == "retrieve_batch":
        return json_response(batch_shape(core.get_batch(ctx, provider, params["batch_id"]), provider,
                                         "batch_retrieve"))
    if name == "cancel_batch":
        return json_response(batch_shape(core.cancel_batch(ctx, provider, params["batch_id"]), provider,
                                         "batch_cancel"))
    raise bad_request(f"unsupported_operation: {name} is not supported for provider {provider}")


def _json_body(req: Request) -> Any:
    """The JSON body (kept for the handler to read again), or None when there is none."""
    import io

    raw = req.read_body()
    req.body = io.BytesIO(raw)
    req.content_length = len(raw)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None  # the handler answers the parse error


def _provider(given: Any, req: Request) -> str:
    provider = str(given or req.arg("provider") or "openai").strip().lower() or "openai"
    if provider not in ("openai", "anthropic", "gemini", "bedrock"):
        raise bad_request(f"unsupported provider {provider!r}: expected openai, anthropic, gemini or bedrock")
    return provider


def handle(ctx: Context, req: Request, path: str) -> Response:
    """Serve one request whose path (without :data:`PREFIX`) is ``path``."""
    if path == "/v1" or path.startswith("/v1/"):
        path = path[3:]
    handler, params, name = openai_native.ROUTER.match(req.method, path)
    if handler is None or name in _NO_ROUTE:
        if req.method in ("GET", "HEAD"):
            return spa_page()
        return GATEWAY.error(ApiError(404, "not_found_error", f"route not found: {req.method} {PREFIX}{path}"), "")
    flavor = LEGACY if ctx.config.legacy_gateway else GATEWAY
    try:
        expected = ctx.config.virtual_key
        if expected is not None and expected not in presented_keys(req):
            raise ApiError(401, "authentication_error", "invalid or missing virtual key")
        body: Any = None
        if name == "upload_file":
            fields, upload = ops.receive_upload(req, ctx.store.files("openai"))
            try:
                provider = _provider(fields.get("provider"), req)
            except ApiError:
                ops.remove_quietly(upload["tmp"])
                raise
            if provider == "openai":
                return openai_native.store_upload(ctx, req, flavor, fields, upload)
            body = (fields, upload)
        elif req.method == "POST":
            body = _json_body(req)
            provider = _provider(body.get("provider") if isinstance(body, dict) else None, req)
        else:
            provider = _provider(None, req)
        if provider == "openai":
            return handler(ctx, req, flavor, **params)
        if provider == "bedrock":
            from . import gateway_bedrock

            return gateway_bedrock.openai_route(ctx, req, name, params, body, flavor)
        return cross(ctx, req, provider, name, params, body)
    except ApiError as error:
        return GATEWAY.error(error, name)
