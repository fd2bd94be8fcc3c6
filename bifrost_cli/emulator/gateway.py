"""The Bifrost gateway's Anthropic-compatible routes (``/anthropic/v1/...``), quirks included.

The gateway sits in front of emulated upstreams chosen by the ``x-model-provider`` header
(``anthropic`` by default, ``openai``, ``gemini``; ``bedrock`` is refused for files and batches).
The ``anthropic`` upstream is the same store as the ``/native/anthropic`` routes, as a real gateway
forwards to the real Anthropic API. Reproduced behaviours of the real gateway:

* errors are ``{"type":"error","error":{"type","message"}}`` (no ``request_id``);
* file list: ``limit`` (a bad integer means 30) and ``after_id`` only, answer ``{"data","has_more"}``;
* batch list: ``page_size``/``page_token`` only (``limit``/``after_id``/``before_id`` are ignored);
  ``page_token`` is the ``last_id`` of the previous page;
* batch objects: second-precision RFC 3339 timestamps, unset ones omitted, ``request_counts`` omitted
  when the upstream reports a total of 0; upstream states the mapping does not know are passed through
  (``finalizing``, ``failed``, ``expired``);
* results are one JSON object ``{"batch_id","results","extra_fields"}``, not JSONL;
* unknown GET paths answer the web UI's HTML page (``200 text/html``); with ``legacy_gateway`` the
  file-retrieve route is missing (HTML page) and ``/content`` returns the metadata JSON.
"""

from __future__ import annotations

import time
from typing import Any

from . import engine, ops
from .anthropic_native import batch_json as native_batch_json
from .anthropic_native import error_body, not_downloadable, results_url, stream_file
from .ops import Context
from .web import ApiError, Request, Response, Router, bad_request, json_response, not_found

PREFIX = "/anthropic"
KNOWN_PROVIDERS = ("anthropic", "openai", "gemini", "bedrock")
FILE_LIST_DEFAULT = 30
BATCH_PAGE_DEFAULT = 20

SPA_HTML = (
    b"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Bifrost</title></head>"
    b"<body><div id=\"root\"></div><noscript>Bifrost web UI (emulated)</noscript></body></html>\n"
)


def spa_page() -> Response:
    """The web UI's single-page-app fallback that a real gateway serves for unknown GET paths."""
    return Response(200, SPA_HTML, content_type="text/html; charset=utf-8")


def error_response(error: ApiError) -> Response:
    return json_response(error_body(error, None), error.status, error.headers)


# ---------------------------------------------------------------- shapes


def file_json(record: dict, legacy: bool) -> dict:
    provider = record["provider"]
    body: dict[str, Any] = {
        "id": record["id"],
        "type": "file",
        "filename": record["filename"],
        "mime_type": record["mime_type"],
        "size_bytes": record["size_bytes"],
        "created_at": ops.rfc3339(record["created_at"], micros=False),
    }
    if legacy:  # before the fix, mime_type carried the OpenAI purpose and downloadable was dropped
        if provider == "openai":
            body["mime_type"] = record.get("purpose") or ""
    else:
        body["downloadable"] = provider == "openai" or (provider == "anthropic" and bool(record.get("downloadable")))
    return body


def _openai_status(snap: engine.Snapshot) -> str:
    if snap.phase == "canceling":
        return "cancelling"
    if snap.phase == "ended":
        return "cancelled" if snap.canceled else "completed"
    return snap.phase  # validating | in_progress | finalizing | failed


def _processing_status(upstream: str) -> str:
    """The gateway's status mapping; states it does not know pass through unchanged."""
    if upstream in ("validating", "in_progress"):
        return "in_progress"
    if upstream in ("cancelling", "canceling"):
        return "canceling"
    if upstream in ("completed", "cancelled", "ended"):
        return "ended"
    return upstream


def batch_view(record: dict, snap: engine.Snapshot) -> tuple[str, dict | None, float | None]:
    """``(processing_status, request_counts or None, ended_at or None)`` as the gateway reports them."""
    provider = record["provider"]
    head = snap.outcomes[: snap.finished]
    zero = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    if provider == "openai":
        status = _openai_status(snap)
        if status in ("validating", "failed"):
            counts = None  # the upstream reports total 0
        else:  # OpenAI only yields total/completed/failed
            counts = {**zero, "errored": head.count(engine.ERRORED) + head.count(engine.EXPIRED)}
        return _processing_status(status), counts, snap.ended_at if status == "completed" else None
    if provider == "gemini":
        status = snap.phase if snap.phase in ("canceling", "ended", "expired") else "in_progress"
        counts = {
            **zero,
            "processing": snap.n - snap.finished,
            "succeeded": head.count(engine.SUCCEEDED),
            "errored": head.count(engine.ERRORED) + head.count(engine.EXPIRED),
        }
        return status, counts, snap.ended_at if snap.done else None
    native = native_batch_json(record, snap, "")
    return native["processing_status"], native["request_counts"], snap.ended_at if snap.phase == "ended" else None


def batch_json(record: dict, snap: engine.Snapshot, base_url: str, *, cancel_shape: bool = False) -> dict:
    status, counts, ended_at = batch_view(record, snap)
    body: dict[str, Any] = {"id": record["id"], "type": "message_batch", "processing_status": status}
    if counts is not None and sum(counts.values()) > 0:
        body["request_counts"] = counts
    cancel_at = record.get("cancel_at")
    if cancel_at is not None:
        body["cancel_initiated_at"] = ops.rfc3339(cancel_at, micros=False)
    if cancel_shape:  # the cancel answer only fills these fields
        return body
    body["created_at"] = ops.rfc3339(record["created_at"], micros=False)
    body["expires_at"] = ops.rfc3339(record["created_at"] + ops.BATCH_LIFETIME, micros=False)
    if ended_at is not None:
        body["ended_at"] = ops.rfc3339(ended_at, micros=False)
    if record["provider"] == "anthropic" and snap.phase == "ended":
        body["results_url"] = results_url(base_url, record["id"])  # the (emulated) upstream's URL
    return body


# ---------------------------------------------------------------- results


def _usage(entry: list) -> dict:
    return {"prompt_tokens": entry[6], "completion_tokens": entry[7], "total_tokens": entry[6] + entry[7]}


def _http_status(error_type: str, provider: str) -> int:
    status = engine.ERROR_STATUS.get(error_type, 400)
    return 503 if provider != "anthropic" and status == 529 else status


def anthropic_item(batch_id: str, entry: list, outcome: str) -> dict:
    item = engine.anthropic_result(batch_id, entry, outcome)
    if outcome == engine.ERRORED:  # the gateway moves the error out of "result"
        inner = item["result"].pop("error")["error"]
        item["error"] = {"code": inner["type"], "message": inner["message"]}
    return item


def openai_item(record: dict, index: int, entry: list, outcome: str) -> dict | None:
    custom_id, _, error_type, message, model, reply = entry[:6]
    request_id = "req_" + engine.hash_token(record["id"], custom_id, "openai", length=32).lower()
    if outcome == engine.SUCCEEDED:
        n, start, span = record["n"], record["created_at"], record["batch_seconds"]
        body = {
            "id": "chatcmpl-" + engine.hash_token(record["id"], custom_id, "chatcmpl", length=29),
            "object": "chat.completion",
            "created": int(start + span * (index + 1) / (n + 1)),
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }],
            "usage": _usage(entry),
        }
        return {"custom_id": custom_id, "response": {"status_code": 200, "request_id": request_id, "body": body}}
    if outcome == engine.ERRORED:
        status = _http_status(error_type, "openai")
        error_body_ = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
        return {
            "custom_id": custom_id,
            "response": {"status_code": status, "request_id": request_id, "body": error_body_},
            "error": {"code": error_type, "message": message},
        }
    return None  # expired/canceled requests go to the error file, which the gateway does not read


def gemini_item(entry: list, outcome: str) -> dict:
    custom_id, _, error_type, message = entry[:4]
    if outcome == engine.SUCCEEDED:
        body = {"text": entry[5], "finish_reason": "STOP", "usage": _usage(entry)}
        return {"custom_id": custom_id, "response": {"status_code": 200, "body": body}}
    if outcome == engine.ERRORED:
        return {"custom_id": custom_id, "error": {"code": str(_http_status(error_type, "gemini")), "message": message}}
    if outcome == engine.EXPIRED:
        return {"custom_id": custom_id, "error": {"code": "504", "message": "request expired before it was processed"}}
    # canceled: google.rpc code 1 (CANCELLED), as Gemini reports a request its canceled batch never ran
    return {"custom_id": custom_id, "error": {"code": "1", "message": "request canceled before it was processed"}}


def results_items(ctx: Context, record: dict, snap: engine.Snapshot) -> list[dict]:
    provider = record["provider"]
    if provider == "anthropic":
        if not snap.done:
            raise bad_request(f"Batch {record['id']} has not finished processing yet; results are available "
                              "once it has ended")
        return [anthropic_item(record["id"], e, o) for e, o in ops.ordered_results(ctx.store, record, snap)]
    plan = ops.batch_plan(ctx.store, provider, record["id"])
    if provider == "openai":
        items = [openai_item(record, i, e, snap.final_outcome(i)) for i, e in enumerate(plan)] if snap.done else []
        if snap.phase == "failed" or not any(items):
            raise bad_request("batch results not available: output_file_id is empty (batch may not be completed)")
    else:
        if snap.phase != "ended":
            raise bad_request(f"batch results not available: batch {record['id']} has not succeeded "
                              f"(state {snap.phase})")
        items = [gemini_item(e, snap.final_outcome(i)) for i, e in enumerate(plan)]
    return [item for item in items if item is not None]


# ---------------------------------------------------------------- handlers


def _file_or_404(ctx: Context, provider: str, file_id: str) -> dict:
    record = ops.get_file(ctx.store, provider, file_id)
    if record is None:
        raise not_found(f"file not found: {file_id}")
    return record


def _batch_or_404(ctx: Context, provider: str, batch_id: str) -> dict:
    record = ops.get_batch(ctx.store, provider, batch_id)
    if record is None:
        raise not_found(f"batch not found: {batch_id}")
    return record


def upload_file(ctx: Context, req: Request, provider: str) -> Response:
    fields, upload = ops.receive_upload(req, ctx.store.files(provider))
    try:
        mime = ops.guess_mime(upload["filename"], fields.get("content_type") or upload["content_type"])
        filename = ops.clean_filename(upload["filename"], mime)
    except ApiError:
        ops.remove_quietly(upload["tmp"])
        raise
    purpose = fields.get("purpose") or ("batch" if provider == "openai" else None)
    record = ops.add_file(ctx.store, provider, upload["tmp"], filename=filename, mime_type=mime,
                          size=upload["size"], created_at=ctx.now(), downloadable=provider == "openai",
                          purpose=purpose)
    return json_response(file_json(record, ctx.config.legacy_gateway))


def list_files(ctx: Context, req: Request, provider: str) -> Response:
    limit = ops.parse_limit(req.arg("limit"), default=FILE_LIST_DEFAULT, maximum=10_000, strict=False)
    records = ctx.store.files(provider).all()
    page, has_more = ops.page_of(records, limit=limit, after_id=req.arg("after_id"))
    return json_response({"data": [file_json(r, ctx.config.legacy_gateway) for r in page], "has_more": has_more})


def retrieve_file(ctx: Context, req: Request, provider: str, file_id: str) -> Response:
    return json_response(file_json(_file_or_404(ctx, provider, file_id), ctx.config.legacy_gateway))


def delete_file(ctx: Context, req: Request, provider: str, file_id: str) -> Response:
    if not ops.delete_file(ctx.store, provider, file_id):
        raise not_found(f"file not found: {file_id}")
    return json_response({"id": file_id, "type": "file_deleted"})


def file_content(ctx: Context, req: Request, provider: str, file_id: str) -> Response:
    record = _file_or_404(ctx, provider, file_id)
    if ctx.config.legacy_gateway:  # the route was wired to "retrieve" before the fix
        return json_response(file_json(record, True))
    if provider == "gemini":
        raise bad_request("unsupported_operation: file content download is not supported for provider gemini")
    if provider == "anthropic" and not record.get("downloadable"):
        error = not_downloadable(file_id)
        error.details = None
        raise error
    return stream_file(ctx, provider, record)


def _common_param(requests: list[dict], key: str) -> set:
    return {item["params"].get(key) for item in requests}


def validate_gateway_batch(body: Any, provider: str) -> tuple[list[dict], str | None]:
    if provider == "anthropic":
        return ops.validate_anthropic_batch_body(body), None
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        raise bad_request("either input_file_id or requests is required")
    for index, item in enumerate(requests):
        if not isinstance(item, dict) or not isinstance(item.get("params"), dict):
            raise bad_request(f"requests.{index}.params: an object is required")
    models = _common_param(requests, "model")
    if None in models or "" in models:
        raise bad_request("model is required")
    if len(models) > 1:
        raise bad_request("for non-Anthropic providers, model must be the same for all requests")
    if provider == "openai":
        urls = _common_param(requests, "url")
        if len(urls) > 1:
            raise bad_request("for OpenAI batch API, all requests must have the same url")
        if urls == {None} or urls == {""}:
            raise bad_request("endpoint is required for OpenAI batch API")
    return requests, models.pop()


def create_batch(ctx: Context, req: Request, provider: str) -> Response:
    requests, model = validate_gateway_batch(req.read_json(), provider)
    now = ctx.now()
    record = ops.create_batch(ctx.store, provider, requests, now=now, batch_seconds=ctx.config.batch_seconds,
                              model=model)
    return json_response(batch_json(record, engine.snapshot(record, now), req.base_url))


def list_batches(ctx: Context, req: Request, provider: str) -> Response:
    size = ops.parse_limit(req.arg("page_size"), default=BATCH_PAGE_DEFAULT, strict=False)
    records = ctx.store.batches(provider).all()
    page, has_more = ops.page_of(records, limit=size, after_id=req.arg("page_token") or None)
    now = ctx.now()
    body: dict[str, Any] = {"data": [batch_json(r, engine.snapshot(r, now), req.base_url) for r in page],
                            "has_more": has_more}
    if page:
        body["first_id"], body["last_id"] = page[0]["id"], page[-1]["id"]
    return json_response(body)


def retrieve_batch(ctx: Context, req: Request, provider: str, batch_id: str) -> Response:
    record = _batch_or_404(ctx, provider, batch_id)
    return json_response(batch_json(record, engine.snapshot(record, ctx.now()), req.base_url))


def cancel_batch(ctx: Context, req: Request, provider: str, batch_id: str) -> Response:
    now = ctx.now()
    record = ops.cancel_batch(ctx.store, provider, batch_id, now)
    if record is None:
        raise not_found(f"batch not found: {batch_id}")
    return json_response(batch_json(record, engine.snapshot(record, now), req.base_url, cancel_shape=True))


def batch_results(ctx: Context, req: Request, provider: str, batch_id: str) -> Response:
    started = time.monotonic()
    record = _batch_or_404(ctx, provider, batch_id)
    items = results_items(ctx, record, engine.snapshot(record, ctx.now()))
    latency = int((time.monotonic() - started) * 1000)
    return json_response({
        "batch_id": batch_id,
        "results": items,
        "extra_fields": {"request_type": "batch_results", "provider": provider, "latency": latency},
    })


ROUTER = Router()
ROUTER.add("POST", r"/v1/files", upload_file)
ROUTER.add("GET", r"/v1/files", list_files)
ROUTER.add("GET", r"/v1/files/(?P<file_id>[^/]+)", retrieve_file)
ROUTER.add("DELETE", r"/v1/files/(?P<file_id>[^/]+)", delete_file)
ROUTER.add("GET", r"/v1/files/(?P<file_id>[^/]+)/content", file_content)
ROUTER.add("POST", r"/v1/messages/batches", create_batch)
ROUTER.add("GET", r"/v1/messages/batches", list_batches)
ROUTER.add("GET", r"/v1/messages/batches/(?P<batch_id>[^/]+)", retrieve_batch)
ROUTER.add("POST", r"/v1/messages/batches/(?P<batch_id>[^/]+)/cancel", cancel_batch)
ROUTER.add("GET", r"/v1/messages/batches/(?P<batch_id>[^/]+)/results", batch_results)

_KEY_HEADERS = ("x-bf-vk", "x-api-key", "x-goog-api-key", "api-key")


def presented_keys(req: Request) -> list[str]:
    keys = [(req.header(name) or "").strip() for name in _KEY_HEADERS]
    auth = (req.header("authorization") or "").strip()
    if auth[:7].lower() == "bearer ":
        keys.append(auth[7:].strip())
    return [k for k in keys if k]


def select_provider(req: Request) -> str:
    provider = (req.header("x-model-provider") or "anthropic").strip().lower() or "anthropic"
    if provider not in KNOWN_PROVIDERS:
        raise bad_request(f"unsupported provider {provider!r} (x-model-provider): expected one of "
                          + ", ".join(KNOWN_PROVIDERS))
    if provider == "bedrock":
        raise bad_request("unsupported_operation: files and batches are not supported for provider bedrock "
                          "through /anthropic; Bedrock batch jobs need file-based input in S3 "
                          "(use the Bedrock-compatible routes)")
    return provider


def handle(ctx: Context, req: Request, path: str) -> Response:
    """Serve one request whose path (without :data:`PREFIX`) is ``path``."""
    handler, params, name = ROUTER.match(req.method, path)
    if handler is None:
        if req.method in ("GET", "HEAD"):
            return spa_page()
        return error_response(ApiError(405 if params else 404, "not_found_error",
                                       f"route not found: {req.method} {PREFIX}{path}"))
    if name == "retrieve_file" and ctx.config.legacy_gateway:
        return spa_page()  # before the fix there was no such route
    try:
        expected = ctx.config.virtual_key
        if expected is not None and expected not in presented_keys(req):
            raise ApiError(401, "authentication_error", "invalid or missing virtual key")
        return handler(ctx, req, select_provider(req), **params)
    except ApiError as error:
        return error_response(error)
