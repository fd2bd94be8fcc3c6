"""The Gemini API's files, uploads and Batch Mode, served under ``/native/gemini``.

Point the CLI at it with ``GEMINI_BASE_URL=<emulator>/native/gemini``, or the official SDK with
``HttpOptions(base_url=<emulator>/native/gemini)``. Both ``v1beta`` and ``v1`` paths are served.
Faithful to the wire format: resumable uploads (start, chunks with offsets, ``query``, finalize
answering ``{"file": ...}``), int64 fields as strings, long-running Operations with ``metadata.state``
(``BATCH_STATE_*``) and ``batchStats``, outputs double-nested (``inlinedResponses.inlinedResponses``)
or in a generated ``responsesFile``, files that expire 48 hours after upload, and Google's error
shape (a bad key is 400 ``API_KEY_INVALID``, a missing file 403).

The store is the one the gateway routes use for their ``gemini`` upstream: a stored id ``files-x``
is the resource ``files/x``, ``batches-x`` is ``batches/x``.
"""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any

from . import engine, ops
from .anthropic_native import decode_page_token, encode_page_token
from .ops import Context
from .store import open_private
from .web import ApiError, FileStream, Request, Response, Router, json_response

PREFIX = "/native/gemini"
PROVIDER = "gemini"
FILE_LIFETIME = 48 * 3600
UPLOAD_LIFETIME = 7 * 24 * 3600
BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
FILE_PAGE_DEFAULT, BATCH_PAGE_DEFAULT, PAGE_MAX = 10, 10, 100
_VERSIONED = re.compile(r"^(?P<kind>/upload|/download)?/(?P<version>v1beta|v1)(?P<rest>/.*)$")

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


# ---------------------------------------------------------------- errors


def gerror(status: int, message: str, details: list[dict] | None = None) -> ApiError:
    """An error in Google's shape (``status`` name from the HTTP status)."""
    return ApiError(status, STATUS_NAMES.get(status, "UNKNOWN"), message, details={"items": details or []})


def error_body(error: ApiError) -> dict:
    name = error.type if error.type.isupper() else STATUS_NAMES.get(error.status, "UNKNOWN")
    details = (error.details or {}).get("items", []) if isinstance(error.details, dict) else []
    return {"error": {"code": error.status, "message": error.message, "status": name, "details": details}}


def error_response(error: ApiError) -> Response:
    return json_response(error_body(error), error.status, error.headers)


def missing_file(name: str) -> ApiError:
    return gerror(403, f"You do not have permission to access the File {name} or it may not exist.")


def missing_batch(name: str) -> ApiError:
    return gerror(404, f"Requested entity was not found: {name}")


# ---------------------------------------------------------------- names


def file_name(record: dict) -> str:
    return "files/" + record["id"].removeprefix("files-")


def batch_name(record: dict) -> str:
    return "batches/" + record["id"].removeprefix("batches-")


def _bare(value: str, kind: str) -> str:
    return value.removeprefix(kind + "/").removeprefix(kind + "-")


def find_file(ctx: Context, raw: str) -> dict | None:
    """A live file by ``x``, ``files/x`` or ``files-x`` (expired files are gone)."""
    record = ops.get_file(ctx.store, PROVIDER, "files-" + _bare(raw, "files"))
    if record is None or record["created_at"] + FILE_LIFETIME <= ctx.now():
        return None
    return record


def find_batch(ctx: Context, raw: str) -> dict | None:
    return ops.get_batch(ctx.store, PROVIDER, "batches-" + _bare(raw, "batches"))


def pick(obj: dict, camel: str, snake: str) -> Any:
    """A field sent in either casing (the API accepts both)."""
    return obj[camel] if camel in obj else obj.get(snake)


# ---------------------------------------------------------------- shapes


def file_json(record: dict, base_url: str, prefix: str = PREFIX) -> dict:
    name = file_name(record)
    generated = bool(record.get("downloadable"))
    created = ops.rfc3339(record["created_at"])
    body: dict[str, Any] = {
        "name": name,
        "displayName": record.get("filename") or "",
        "mimeType": record.get("mime_type") or "application/octet-stream",
        "sizeBytes": str(record.get("size_bytes") or 0),
        "createTime": created,
        "updateTime": created,
        "expirationTime": ops.rfc3339(record["created_at"] + FILE_LIFETIME),
        "uri": f"{base_url}{prefix}/v1beta/{name}",
        "state": "ACTIVE",
        "source": "GENERATED" if generated else "UPLOADED",
    }
    if record.get("sha256"):
        body["sha256Hash"] = record["sha256"]
    if generated:
        body["downloadUri"] = f"{base_url}{prefix}/download/v1beta/{name}:download?alt=media"
    return body


def batch_state(snap: engine.Snapshot) -> str:
    if snap.phase == "validating":
        return "BATCH_STATE_PENDING"
    if snap.phase == "ended":
        return "BATCH_STATE_CANCELLED" if snap.canceled else "BATCH_STATE_SUCCEEDED"
    if snap.phase == "failed":
        return "BATCH_STATE_FAILED"
    if snap.phase == "expired":
        return "BATCH_STATE_EXPIRED"
    return "BATCH_STATE_RUNNING"  # in_progress, finalizing, canceling


def batch_stats(snap: engine.Snapshot) -> dict[str, int]:
    counts = snap.counts()
    head = snap.outcomes[: snap.finished]
    failed = head.count(engine.ERRORED) + head.count(engine.EXPIRED)
    return {
        "requestCount": snap.n,
        "successfulRequestCount": counts["succeeded"],
        "failedRequestCount": failed,
        "pendingRequestCount": snap.n - counts["succeeded"] - failed,
    }


def gemini_response(batch_id: str, entry: list) -> dict:
    key, _, _, _, model, reply, input_tokens, output_tokens = entry
    return {
        "candidates": [{"content": {"parts": [{"text": reply}], "role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": input_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": input_tokens + output_tokens,
        },
        "modelVersion": model,
        "responseId": engine.hash_token(batch_id, key, "gemini", length=22),
    }


def output_item(batch_id: str, entry: list, outcome: str) -> dict:
    """One output (without its key): ``{"response": ...}`` or ``{"error": Status}``."""
    if outcome == engine.SUCCEEDED:
        return {"response": gemini_response(batch_id, entry)}
    if outcome == engine.ERRORED:
        status = engine.ERROR_STATUS.get(entry[2], 400)
        status = 503 if status == 529 else status
        return {"error": {"code": status, "message": entry[3], "status": STATUS_NAMES.get(status, "UNKNOWN")}}
    if outcome == engine.EXPIRED:
        return {"error": {"code": 504, "message": "the request expired before it was processed",
                          "status": "DEADLINE_EXCEEDED"}}
    return {"error": {"code": 1, "message": "the batch was cancelled before this request ran", "status": "CANCELLED"}}


def batch_output(ctx: Context, record: dict, snap: engine.Snapshot) -> dict | None:
    """The output of an ended batch (None while running, or when the batch failed or expired)."""
    if snap.phase != "ended":
        return None
    if record.get("input_file"):
        return {"responsesFile": file_name({"id": responses_file(ctx, record, snap)})}
    plan = ops.batch_plan(ctx.store, PROVIDER, record["id"])
    items = []
    for i, entry in enumerate(plan):
        item = output_item(record["id"], entry, snap.final_outcome(i))
        if entry[0]:
            item["metadata"] = {"key": entry[0]}
        items.append(item)
    return {"inlinedResponses": {"inlinedResponses": items}}


def responses_file(ctx: Context, record: dict, snap: engine.Snapshot) -> str:
    """The generated JSONL of a file-based batch, written once on first need; its stored id."""
    with ctx.store.locked():
        current = ops.get_batch(ctx.store, PROVIDER, record["id"]) or record
        if current.get("responses_file"):
            return current["responses_file"]
        plan = ops.batch_plan(ctx.store, PROVIDER, record["id"])
        files = ctx.store.files(PROVIDER)
        tmp = files.temp_path()
        size = 0
        with open_private(tmp, "wb") as fh:
            for i, entry in enumerate(plan):
                line = {"key": entry[0], **output_item(record["id"], entry, snap.final_outcome(i))}
                data = (json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
                fh.write(data)
                size += len(data)
        created = ops.add_file(ctx.store, PROVIDER, tmp, filename=f"{record.get('display_name') or 'batch'}-responses",
                               mime_type="application/jsonl", size=size, created_at=ctx.now(), downloadable=True)
        ctx.store.batches(PROVIDER).update(record["id"], lambda r: {**r, "responses_file": created["id"]})
        return created["id"]


def operation_json(ctx: Context, record: dict, snap: engine.Snapshot) -> dict:
    name = batch_name(record)
    state = batch_state(snap)
    created = ops.rfc3339(record["created_at"])
    meta: dict[str, Any] = {
        "@type": BATCH_TYPE,
        "model": "models/" + (record.get("model") or ""),
        "displayName": record.get("display_name") or "",
        "name": name,
        "createTime": created,
        "updateTime": ops.rfc3339(snap.ended_at) if snap.done and snap.ended_at else created,
        "state": state,
        "priority": "0",
        "batchStats": {k: str(v) for k, v in batch_stats(snap).items()},
    }
    if record.get("input_file"):
        meta["inputConfig"] = {"fileName": record["input_file"]}
    if snap.done and snap.ended_at is not None:
        meta["endTime"] = ops.rfc3339(snap.ended_at)
    body: dict[str, Any] = {"name": name, "metadata": meta, "done": snap.done}
    output = batch_output(ctx, record, snap)
    if output is not None:
        meta["output"] = output
    if state == "BATCH_STATE_SUCCEEDED":
        body["response"] = {"@type": OUTPUT_TYPE, **(output or {})}
    elif state == "BATCH_STATE_CANCELLED":
        body["error"] = {"code": 1, "message": "The batch was cancelled."}
    elif state == "BATCH_STATE_FAILED":
        body["error"] = {"code": 13, "message": "The batch failed."}
    elif state == "BATCH_STATE_EXPIRED":
        body["error"] = {"code": 4, "message": "The batch expired: it was pending or running for more than 48 hours."}
    return body


# ---------------------------------------------------------------- paging


def page_size(req: Request, default: int) -> int:
    raw = req.arg("pageSize") or req.arg("page_size")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise gerror(400, f"Invalid value at 'page_size' (TYPE_INT32), \"{raw}\"") from None
    return max(1, min(value, PAGE_MAX))


def paged(req: Request, records: list[dict], default: int) -> tuple[list[dict], str | None]:
    token = req.arg("pageToken") or req.arg("page_token")
    try:
        after = decode_page_token(token) if token else None
    except ApiError:
        raise gerror(400, "Invalid page token.") from None
    page, has_more = ops.page_of(records, limit=page_size(req, default), after_id=after)
    return page, (encode_page_token(page[-1]["id"]) if has_more and page else None)


# ---------------------------------------------------------------- uploads (shared with the gateway)


def _uploads(ctx: Context) -> Any:
    return ctx.store.files("gemini-uploads")


def start_upload(ctx: Context, req: Request) -> dict:
    """Open a resumable upload session from a ``start`` request; returns the session record."""
    if (req.header("x-goog-upload-protocol") or "").lower() != "resumable":
        raise gerror(400, "Only the resumable upload protocol is supported (X-Goog-Upload-Protocol: resumable).")
    if (req.header("x-goog-upload-command") or "").lower() != "start":
        raise gerror(400, "The first request of a resumable upload must have X-Goog-Upload-Command: start.")
    raw = req.read_body(1024 * 1024)
    meta: dict = {}
    if raw.strip():
        try:
            body = json.loads(raw)
        except ValueError:
            raise gerror(400, "Invalid JSON payload received.") from None
        meta = (body.get("file") if isinstance(body, dict) else None) or {}
        if not isinstance(meta, dict):
            raise gerror(400, "Invalid JSON payload received: file must be an object.")
    total_raw = req.header("x-goog-upload-header-content-length") or pick(meta, "sizeBytes", "size_bytes")
    try:
        total = int(total_raw) if total_raw not in (None, "") else None
    except (TypeError, ValueError):
        raise gerror(400, "X-Goog-Upload-Header-Content-Length must be a number.") from None
    display = pick(meta, "displayName", "display_name") or ""
    mime = req.header("x-goog-upload-header-content-type") or pick(meta, "mimeType", "mime_type") or ""
    session = {
        "id": "up-" + os.urandom(12).hex(),
        "display_name": str(display),
        "mime_type": ops.guess_mime(str(display), mime),
        "total": total,
        "received": 0,
        "created_at": ctx.now(),
        "file_id": None,
    }
    uploads = _uploads(ctx)
    uploads.create(session)
    open_private(uploads.path_for(session["id"], ".data"), "wb").close()
    return session


def upload_session(ctx: Context, session_id: str, lifetime: float) -> dict:
    record = _uploads(ctx).get(session_id) if re.fullmatch(r"up-[0-9a-f]{24}", session_id or "") else None
    if record is None or record["created_at"] + lifetime <= ctx.now():
        raise gerror(404, "The upload session does not exist or has expired; start the upload again.")
    return record


def upload_status_headers(session: dict) -> list[tuple[str, str]]:
    return [
        ("X-Goog-Upload-Status", "final" if session.get("file_id") else "active"),
        ("X-Goog-Upload-Size-Received", str(session["received"])),
    ]


def continue_upload(ctx: Context, req: Request, session: dict, base_url: str, prefix: str) -> Response:
    """One request on an open session: ``query``, ``upload`` (a chunk at an offset), ``finalize``."""
    commands = {c.strip().lower() for c in (req.header("x-goog-upload-command") or "").split(",") if c.strip()}
    uploads = _uploads(ctx)
    if "query" in commands:
        req.drain()
        if session.get("file_id"):
            record = ops.get_file(ctx.store, PROVIDER, session["file_id"])
            if record is not None:
                return json_response({"file": file_json(record, base_url, prefix)}, headers=upload_status_headers(session))
        return Response(200, b"", upload_status_headers(session))
    if session.get("file_id"):
        req.drain()
        raise gerror(400, "The upload has already been finalized.")
    if not commands or not commands <= {"upload", "finalize"}:
        req.drain()
        raise gerror(400, f"Unknown X-Goog-Upload-Command: {req.header('x-goog-upload-command')!r}")
    if "upload" in commands:
        try:
            offset = int(req.header("x-goog-upload-offset") or "0")
        except ValueError:
            req.drain()
            raise gerror(400, "X-Goog-Upload-Offset must be a number.") from None
        if offset != session["received"]:
            req.drain()
            error = gerror(400, f"Invalid request: the offset {offset} does not match the {session['received']} "
                                "bytes received so far; query the upload and resume from there.")
            error.headers = upload_status_headers(session)
            raise error
        written = 0
        with open_private(uploads.path_for(session["id"], ".data"), "ab") as fh:
            while chunk := req.body.read(256 * 1024):
                fh.write(chunk)
                written += len(chunk)
        session = uploads.update(session["id"], lambda r: {**r, "received": r["received"] + written}) or session
    if "finalize" not in commands:
        return Response(200, b"", upload_status_headers(session))
    if session["total"] is not None and session["received"] != session["total"]:
        raise gerror(400, f"The upload is incomplete: {session['received']} of {session['total']} bytes received.")
    data_path = uploads.path_for(session["id"], ".data")
    import hashlib

    digest = hashlib.sha256()
    with open(data_path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    record = ops.add_file(ctx.store, PROVIDER, data_path, filename=session["display_name"],
                          mime_type=session["mime_type"], size=session["received"], created_at=ctx.now(),
                          downloadable=False)
    record = ctx.store.files(PROVIDER).update(
        record["id"], lambda r: {**r, "sha256": base64.b64encode(digest.digest()).decode()}) or record
    session = uploads.update(session["id"], lambda r: {**r, "file_id": record["id"]}) or session
    return json_response({"file": file_json(record, base_url, prefix)}, headers=upload_status_headers(session))


# ---------------------------------------------------------------- batch creation (shared with the gateway)


def _pseudo_params(request: Any, model: str) -> dict:
    """A GenerateContentRequest seen as Messages params, so the engine plans it like any request."""
    if not isinstance(request, dict) or not isinstance(request.get("contents"), list) or not request["contents"]:
        return {"model": model}  # the engine answers "messages: Field required" -> errored
    messages = []
    for content in request["contents"]:
        parts = content.get("parts") if isinstance(content, dict) else None
        text = "\n".join(p["text"] for p in parts or [] if isinstance(p, dict) and isinstance(p.get("text"), str))
        role = "assistant" if isinstance(content, dict) and content.get("role") == "model" else "user"
        messages.append({"role": role, "content": text})
    config = pick(request, "generationConfig", "generation_config") or {}
    max_tokens = pick(config, "maxOutputTokens", "max_output_tokens") if isinstance(config, dict) else None
    return {"model": model, "max_tokens": max_tokens or 1024, "messages": messages}


def _file_requests(ctx: Context, raw_name: str) -> tuple[list[tuple[str, Any]], str]:
    record = find_file(ctx, raw_name)
    if record is None:
        raise missing_file(raw_name)
    items: list[tuple[str, Any]] = []
    with open(ops.file_data_path(ctx.store, PROVIDER, record["id"]), "rb") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            if not isinstance(line, dict):
                items.append((f"line-{n}", None))
                continue
            items.append((str(line.get("key") or f"line-{n}"), line.get("request")))
    return items, file_name(record)


def create_from_body(ctx: Context, req: Request, model: str) -> dict:
    """Validate a ``batchGenerateContent`` body and store the batch; returns its record."""
    body = req.read_json()
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, dict):
        raise gerror(400, "Invalid JSON payload received: batch is required.")
    config = pick(batch, "inputConfig", "input_config")
    if not isinstance(config, dict):
        raise gerror(400, "batch.input_config is required.")
    wrapped = config.get("requests")
    source = pick(config, "fileName", "file_name")
    if (wrapped is None) == (source is None):
        raise gerror(400, "batch.input_config must have exactly one of requests or file_name.")
    if source is not None:
        items, input_file = _file_requests(ctx, str(source))
    else:
        inner = wrapped.get("requests") if isinstance(wrapped, dict) else None
        if not isinstance(inner, list):
            raise gerror(400, "batch.input_config.requests.requests must be a list.")
        items = []
        for index, item in enumerate(inner):
            if not isinstance(item, dict):
                raise gerror(400, f"batch.input_config.requests.requests[{index}] must be an object.")
            meta = item.get("metadata") or {}
            items.append((str(meta.get("key") or "") if isinstance(meta, dict) else "", item.get("request")))
        input_file = None
    return store_batch(ctx, items, model, input_file, str(pick(batch, "displayName", "display_name") or ""))


def store_batch(ctx: Context, items: list[tuple[str, Any]], model: str, input_file: str | None,
                display_name: str = "") -> dict:
    """Store a batch of ``(key, GenerateContentRequest)`` items; returns its record."""
    if not items:
        raise gerror(400, "A batch needs at least one request.")
    batch_id = ops.new_batch_id(PROVIDER)
    model = model.removeprefix("models/")
    pseudo = [_pseudo_params(request, model) for _, request in items]
    plan = [engine.plan_request(batch_id, key, params) for (key, _), params in zip(items, pseudo, strict=True)]
    kinds = {kind for kind, _ in engine.markers(pseudo[0])}
    fate = "expired" if "batch-expire" in kinds else "failed" if "batch-fail" in kinds else None
    now = ctx.now()
    record = engine.new_batch_record(batch_id, PROVIDER, plan, created_at=now, batch_seconds=ctx.config.batch_seconds,
                                     fate=fate, model=model)
    record["display_name"] = display_name
    record["input_file"] = input_file
    return ctx.store.batches(PROVIDER).create(record, documents={".plan.json": plan})


# ---------------------------------------------------------------- handlers


def upload(ctx: Context, req: Request) -> Response:
    upload_id = req.arg("upload_id")
    if not upload_id:
        session = start_upload(ctx, req)
        url = f"{req.base_url}{PREFIX}/upload/v1beta/files?upload_id={session['id']}&upload_protocol=resumable"
        return Response(200, b"", [("X-Goog-Upload-URL", url), ("X-Goog-Upload-Status", "active"),
                                   ("X-Goog-Upload-Chunk-Granularity", "262144")])
    session = upload_session(ctx, upload_id, UPLOAD_LIFETIME)
    return continue_upload(ctx, req, session, req.base_url, PREFIX)


# ---------------------------------------------------------------- lookups and pages (shared with the gateway)


def live_files(ctx: Context) -> list[dict]:
    now = ctx.now()
    return [r for r in ctx.store.files(PROVIDER).all() if r["created_at"] + FILE_LIFETIME > now]


def file_or_missing(ctx: Context, fid: str) -> dict:
    record = find_file(ctx, fid)
    if record is None:
        raise missing_file("files/" + _bare(fid, "files"))
    return record


def batch_or_missing(ctx: Context, bid: str) -> dict:
    record = find_batch(ctx, bid)
    if record is None:
        raise missing_batch("batches/" + _bare(bid, "batches"))
    return record


def remove_file(ctx: Context, fid: str) -> None:
    if not ops.delete_file(ctx.store, PROVIDER, file_or_missing(ctx, fid)["id"]):
        raise missing_file("files/" + _bare(fid, "files"))


def remove_batch(ctx: Context, bid: str) -> None:
    if not ops.delete_batch(ctx.store, PROVIDER, batch_or_missing(ctx, bid)["id"]):
        raise missing_batch("batches/" + _bare(bid, "batches"))


def files_page(req: Request, records: list[dict], prefix: str, *, empty_list: bool) -> dict:
    """``{"files": [...], "nextPageToken": ...}`` (``files`` left out of an empty page unless ``empty_list``)."""
    page, token = paged(req, records, FILE_PAGE_DEFAULT)
    body: dict[str, Any] = {}
    if page or empty_list:
        body["files"] = [file_json(r, req.base_url, prefix) for r in page]
    if token:
        body["nextPageToken"] = token
    return body


def batches_page(ctx: Context, req: Request, render: Any) -> dict:
    """``{"operations": [...], "nextPageToken": ...}``, each batch drawn by ``render(ctx, record, snapshot)``."""
    page, token = paged(req, ctx.store.batches(PROVIDER).all(), BATCH_PAGE_DEFAULT)
    now = ctx.now()
    body: dict[str, Any] = {"operations": [render(ctx, r, engine.snapshot(r, now)) for r in page]}
    if token:
        body["nextPageToken"] = token
    return body


def rendered(ctx: Context, record: dict, render: Any) -> Response:
    """A batch drawn by ``render(ctx, record, snapshot)`` as it stands now."""
    return json_response(render(ctx, record, engine.snapshot(record, ctx.now())))


# ---------------------------------------------------------------- handlers


def list_files(ctx: Context, req: Request) -> Response:
    return json_response(files_page(req, live_files(ctx), PREFIX, empty_list=False))


def get_file(ctx: Context, req: Request, fid: str) -> Response:
    return json_response(file_json(file_or_missing(ctx, fid), req.base_url))


def delete_file(ctx: Context, req: Request, fid: str) -> Response:
    remove_file(ctx, fid)
    return json_response({})


def download_file(ctx: Context, req: Request, fid: str) -> Response:
    record = file_or_missing(ctx, fid)
    if req.arg("alt") != "media":
        return json_response(file_json(record, req.base_url))
    if not record.get("downloadable"):
        raise gerror(400, f"Only generated files can be downloaded; {file_name(record)} was uploaded.")
    path = ops.file_data_path(ctx.store, PROVIDER, record["id"])
    response = Response(200, FileStream(path), content_type=record.get("mime_type") or "application/octet-stream",
                        length=record["size_bytes"])
    response.etag = ops.file_etag(record)  # a byte stream: Range is honoured
    return response


def create_batch(ctx: Context, req: Request, model: str) -> Response:
    return rendered(ctx, create_from_body(ctx, req, model), operation_json)


def list_batches(ctx: Context, req: Request) -> Response:
    return json_response(batches_page(ctx, req, operation_json))


def get_batch(ctx: Context, req: Request, bid: str) -> Response:
    return rendered(ctx, batch_or_missing(ctx, bid), operation_json)


def cancel(ctx: Context, bid: str) -> None:
    record = batch_or_missing(ctx, bid)
    try:
        ops.cancel_batch(ctx.store, PROVIDER, record["id"], ctx.now())
    except ApiError as error:
        raise gerror(400, f"The batch batches/{_bare(bid, 'batches')} has already ended and cannot be cancelled.") from error


def cancel_batch(ctx: Context, req: Request, bid: str) -> Response:
    req.drain()
    cancel(ctx, bid)
    return json_response({})


def delete_batch(ctx: Context, req: Request, bid: str) -> Response:
    remove_batch(ctx, bid)
    return json_response({})


# a file or batch in a path, with or without its collection prefix
FILE_ID = _ID = r"(?:files/)?(?P<fid>[a-z0-9-]+)"
BATCH_ID = _BATCH = r"(?:batches/)?(?P<bid>[a-z0-9-]+)"

ROUTER = Router()
ROUTER.add("POST", r"upload:/files", upload)
ROUTER.add("GET", r":/files", list_files)
ROUTER.add("GET", rf":/files/{_ID}", get_file)
ROUTER.add("DELETE", rf":/files/{_ID}", delete_file)
ROUTER.add("GET", rf"(?:download)?:/files/{_ID}:download", download_file)
ROUTER.add("POST", r":/models/(?P<model>[^/:]+):batchGenerateContent", create_batch)
ROUTER.add("GET", r":/batches", list_batches)
ROUTER.add("GET", rf":/batches/{_BATCH}", get_batch)
ROUTER.add("DELETE", rf":/batches/{_BATCH}", delete_batch)
ROUTER.add("POST", rf":/batches/{_BATCH}:cancel", cancel_batch)


def routed_path(path: str) -> str | None:
    """``/upload/v1beta/files`` -> ``upload:/files``; ``/v1/batches`` -> ``:/batches`` (None: no API path)."""
    found = _VERSIONED.match(path)
    if not found:
        return None
    return (found.group("kind") or "/")[1:] + ":" + found.group("rest")


def presented_key(req: Request) -> str | None:
    return (req.header("x-goog-api-key") or "").strip() or (req.arg("key") or "").strip() or None


def authenticate(ctx: Context, req: Request) -> None:
    key = presented_key(req)
    if not key and req.arg("upload_id"):
        return  # the session URL of a started upload authorizes its chunks (the SDK sends no key there)
    if not key:
        raise gerror(403, "Method doesn't allow unregistered callers (callers without established identity). "
                          "Please use API Key or other form of API consumer identity to call this API.")
    expected = getattr(ctx.config, "gemini_api_key", None)
    if expected is not None and key != expected:
        raise gerror(400, "API key not valid. Please pass a valid API key.", [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
            "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"},
        }])


def handle(ctx: Context, req: Request, path: str) -> Response:
    """Serve one request whose path (without :data:`PREFIX`) is ``path``."""
    try:
        authenticate(ctx, req)
        routed = routed_path(path)
        handler, params, _ = ROUTER.match(req.method, routed) if routed is not None else (None, {}, "")
        if handler is None:
            raise gerror(404, f"Not found: {req.method} {PREFIX}{path}")
        return handler(ctx, req, **params)
    except ApiError as error:
        if error.type.isupper() or error.status not in (400, 404, 413):
            return error_response(error)
        return error_response(gerror(error.status, error.message))
