"""Anthropic's own Files and Message Batches API, served under ``/native/anthropic``.

Point the official SDK at it with ``base_url=<emulator>/native/anthropic``. Answers follow Anthropic's
wire formats: errors are ``{"type":"error","error":{...},"request_id":...}`` and every response carries
a ``request-id`` header.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

from . import engine, ops
from .ops import Context
from .web import ApiError, FileStream, Request, Response, Router, bad_request, json_response, not_found, random_token

PREFIX = "/native/anthropic"
DEFAULT_LIMIT = 20
MAX_IDS = 100


def error_body(error: ApiError, request_id: str | None) -> dict:
    inner: dict[str, Any] = {"type": error.type, "message": error.message}
    if error.details:
        inner["details"] = error.details
    body: dict[str, Any] = {"type": "error", "error": inner}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def error_response(error: ApiError, request_id: str | None) -> Response:
    return json_response(error_body(error, request_id), error.status, error.headers)


# ---------------------------------------------------------------- shapes


def file_json(record: dict) -> dict:
    return {
        "id": record["id"],
        "type": "file",
        "filename": record["filename"],
        "mime_type": record["mime_type"],
        "size_bytes": record["size_bytes"],
        "created_at": ops.rfc3339(record["created_at"]),
        "downloadable": bool(record.get("downloadable")),
    }


def results_url(base_url: str, batch_id: str) -> str:
    return f"{base_url}{PREFIX}/v1/messages/batches/{batch_id}/results"


def batch_json(record: dict, snap: engine.Snapshot, base_url: str) -> dict:
    ended = snap.phase == "ended"
    if ended:
        counts = snap.counts()
    else:
        counts = {"processing": snap.n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    status = snap.phase if snap.phase in ("canceling", "ended") else "in_progress"
    cancel_at = record.get("cancel_at")
    return {
        "id": record["id"],
        "type": "message_batch",
        "processing_status": status,
        "request_counts": counts,
        "ended_at": ops.rfc3339(snap.ended_at) if ended and snap.ended_at is not None else None,
        "created_at": ops.rfc3339(record["created_at"]),
        "expires_at": ops.rfc3339(record["created_at"] + ops.BATCH_LIFETIME),
        "archived_at": None,
        "cancel_initiated_at": ops.rfc3339(cancel_at) if cancel_at is not None else None,
        "results_url": results_url(base_url, record["id"]) if ended else None,
    }


def list_json(page: list[dict], has_more: bool, *, next_page: str | None = None, paged: bool = True) -> dict:
    body: dict[str, Any] = {
        "data": page,
        "has_more": has_more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }
    if paged:
        body["next_page"] = next_page
    return body


def encode_page_token(after_id: str) -> str:
    return "page_" + base64.urlsafe_b64encode(after_id.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> str:
    if not token.startswith("page_"):
        raise bad_request(f"page: invalid page token {token!r}")
    raw = token[5:]
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad_request(f"page: invalid page token {token!r}") from None


# ---------------------------------------------------------------- lookups


def _file_or_404(ctx: Context, file_id: str) -> dict:
    record = ops.get_file(ctx.store, "anthropic", file_id)
    if record is None:
        raise not_found(f"File not found: {file_id}")
    return record


def _batch_or_404(ctx: Context, batch_id: str) -> dict:
    record = ops.get_batch(ctx.store, "anthropic", batch_id)
    if record is None:
        raise not_found(f"Message batch not found: {batch_id}")
    return record


def not_downloadable(file_id: str) -> ApiError:
    return bad_request(
        f"File {file_id} is not downloadable: only files created by tools (such as code execution) or skills "
        "can be downloaded; uploaded files cannot",
        details={"error_code": "file_not_downloadable"},
    )


def stream_file(ctx: Context, provider: str, record: dict) -> Response:
    path = ops.file_data_path(ctx.store, provider, record["id"])
    try:
        stream = FileStream(path)
    except FileNotFoundError:
        raise not_found(f"File not found: {record['id']}") from None
    response = Response(200, stream, content_type=record.get("mime_type") or "application/octet-stream",
                        length=record["size_bytes"])
    response.etag = ops.file_etag(record)  # a byte stream: Range is honoured
    return response


# ---------------------------------------------------------------- files


def upload_file(ctx: Context, req: Request) -> Response:
    files = ctx.store.files("anthropic")
    _, upload = ops.receive_upload(req, files)
    try:
        mime = ops.guess_mime(upload["filename"], upload["content_type"])
        filename = ops.clean_filename(upload["filename"], mime)
    except ApiError:
        ops.remove_quietly(upload["tmp"])
        raise
    record = ops.add_file(ctx.store, "anthropic", upload["tmp"], filename=filename, mime_type=mime,
                          size=upload["size"], created_at=ctx.now(), downloadable=False)
    return json_response(file_json(record))


def list_files(ctx: Context, req: Request) -> Response:
    records = ctx.store.files("anthropic").all()
    ids = req.args("ids[]") + req.args("ids")
    if ids:
        if req.arg("page") is not None or req.arg("limit") is not None:
            raise bad_request("ids is mutually exclusive with page and limit")
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > MAX_IDS:
            raise bad_request(f"ids: at most {MAX_IDS} ids may be given")
        wanted_ids = set(wanted)
        page = [r for r in records if r["id"] in wanted_ids]
        return json_response(list_json([file_json(r) for r in page], False))
    limit = ops.parse_limit(req.arg("limit"), default=DEFAULT_LIMIT)
    after_id, before_id = req.arg("after_id"), req.arg("before_id")
    token = req.arg("page")
    if token:
        after_id = decode_page_token(token)
    page, has_more = ops.page_of(records, limit=limit, after_id=after_id, before_id=before_id)
    next_page = encode_page_token(page[-1]["id"]) if has_more and page and not before_id else None
    return json_response(list_json([file_json(r) for r in page], has_more, next_page=next_page))


def retrieve_file(ctx: Context, req: Request, file_id: str) -> Response:
    return json_response(file_json(_file_or_404(ctx, file_id)))


def delete_file(ctx: Context, req: Request, file_id: str) -> Response:
    if not ops.delete_file(ctx.store, "anthropic", file_id):
        raise not_found(f"File not found: {file_id}")
    return json_response({"id": file_id, "type": "file_deleted"})


def file_content(ctx: Context, req: Request, file_id: str) -> Response:
    record = _file_or_404(ctx, file_id)
    if not record.get("downloadable"):
        raise not_downloadable(file_id)
    return stream_file(ctx, "anthropic", record)


# ---------------------------------------------------------------- batches


def create_batch(ctx: Context, req: Request) -> Response:
    requests = ops.validate_anthropic_batch_body(req.read_json())
    now = ctx.now()
    record = ops.create_batch(ctx.store, "anthropic", requests, now=now, batch_seconds=ctx.config.batch_seconds)
    return json_response(batch_json(record, engine.snapshot(record, now), req.base_url))


def list_batches(ctx: Context, req: Request) -> Response:
    limit = ops.parse_limit(req.arg("limit"), default=DEFAULT_LIMIT)
    records = ctx.store.batches("anthropic").all()
    page, has_more = ops.page_of(records, limit=limit, after_id=req.arg("after_id"), before_id=req.arg("before_id"))
    now = ctx.now()
    data = [batch_json(r, engine.snapshot(r, now), req.base_url) for r in page]
    return json_response(list_json(data, has_more, paged=False))


def retrieve_batch(ctx: Context, req: Request, batch_id: str) -> Response:
    record = _batch_or_404(ctx, batch_id)
    return json_response(batch_json(record, engine.snapshot(record, ctx.now()), req.base_url))


def cancel_batch(ctx: Context, req: Request, batch_id: str) -> Response:
    now = ctx.now()
    record = ops.cancel_batch(ctx.store, "anthropic", batch_id, now)
    if record is None:
        raise not_found(f"Message batch not found: {batch_id}")
    return json_response(batch_json(record, engine.snapshot(record, now), req.base_url))


def delete_batch(ctx: Context, req: Request, batch_id: str) -> Response:
    record = _batch_or_404(ctx, batch_id)
    if engine.snapshot(record, ctx.now()).phase != "ended":
        raise bad_request(f"Batch {batch_id} cannot be deleted while it is still processing; cancel it first")
    ops.delete_batch(ctx.store, "anthropic", batch_id)
    return json_response({"id": batch_id, "type": "message_batch_deleted"})


def require_ended(record: dict, snap: engine.Snapshot) -> None:
    if not snap.done:
        raise bad_request(f"Batch {record['id']} has not finished processing yet (processing_status is "
                          f"{snap.phase}); results are available once it has ended")


def batch_results(ctx: Context, req: Request, batch_id: str) -> Response:
    record = _batch_or_404(ctx, batch_id)
    snap = engine.snapshot(record, ctx.now())
    require_ended(record, snap)

    def lines() -> Iterator[bytes]:
        for entry, outcome in ops.ordered_results(ctx.store, record, snap):
            yield (json.dumps(engine.anthropic_result(batch_id, entry, outcome), separators=(",", ":"),
                              ensure_ascii=False) + "\n").encode("utf-8")

    # an ended batch's results never change: built once, then served as the stored bytes
    path, size, etag = ops.stored_results(ctx.store, "anthropic", batch_id, lines)
    try:
        stream = FileStream(path)
    except FileNotFoundError:  # the batch was deleted meanwhile
        raise not_found(f"Message batch not found: {batch_id}") from None
    response = Response(200, stream, content_type="application/x-jsonl", length=size)
    response.etag = etag  # a byte stream: Range is honoured
    return response


ROUTER = Router()
ROUTER.add("POST", r"/v1/files", upload_file)
ROUTER.add("GET", r"/v1/files", list_files)
ROUTER.add("GET", r"/v1/files/(?P<file_id>[^/]+)", retrieve_file)
ROUTER.add("DELETE", r"/v1/files/(?P<file_id>[^/]+)", delete_file)
ROUTER.add("GET", r"/v1/files/(?P<file_id>[^/]+)/content", file_content)
ROUTER.add("POST", r"/v1/messages/batches", create_batch)
ROUTER.add("GET", r"/v1/messages/batches", list_batches)
ROUTER.add("GET", r"/v1/messages/batches/(?P<batch_id>[^/]+)", retrieve_batch)
ROUTER.add("DELETE", r"/v1/messages/batches/(?P<batch_id>[^/]+)", delete_batch)
ROUTER.add("POST", r"/v1/messages/batches/(?P<batch_id>[^/]+)/cancel", cancel_batch)
ROUTER.add("GET", r"/v1/messages/batches/(?P<batch_id>[^/]+)/results", batch_results)


def presented_key(req: Request) -> str | None:
    key = (req.header("x-api-key") or "").strip()
    if key:
        return key
    auth = (req.header("authorization") or "").strip()
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def authenticate(ctx: Context, req: Request) -> None:
    key = presented_key(req)
    if not key:
        raise ApiError(401, "authentication_error", "x-api-key header is required")
    expected = ctx.config.anthropic_api_key
    if expected is not None and key != expected:
        raise ApiError(401, "authentication_error", "invalid x-api-key")


def handle(ctx: Context, req: Request, path: str) -> Response:
    """Serve one request whose path (without :data:`PREFIX`) is ``path``."""
    request_id = "req_011" + random_token(22)
    try:
        authenticate(ctx, req)
        handler, params, _ = ROUTER.match(req.method, path)
        if handler is None:
            raise not_found(f"Not found: {req.method} {PREFIX}{path}")
        response = handler(ctx, req, **params)
    except ApiError as error:
        response = error_response(error, request_id)
    response.add_header("request-id", request_id)
    return response
