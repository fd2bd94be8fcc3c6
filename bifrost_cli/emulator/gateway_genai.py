"""The Bifrost gateway's GenAI-compatible routes (``/genai/...``) for its ``gemini`` upstream.

The upstream is the same emulated Gemini (same store) as ``/native/gemini``. Reproduced behaviours
of the real gateway:

* provider from the ``x-model-provider`` header (default ``gemini``); the virtual key in ``x-bf-vk``
  (or the other key headers) when one is configured;
* a two-step upload: ``start`` answers ``{}`` with ``X-Goog-Upload-URL:
  <base>/genai/upload/v1beta/files?upload_id=genai_upload_session:<b64>`` (the session lives one
  minute), then ONE request with the whole file (``upload, finalize``) answers ``{"file": ...}``;
* files and batches keep Gemini's native names (``files/x``, ``batches/x``); a path takes the id
  with or without its prefix;
* batch objects are the gateway's conversion: ``JOB_STATE_*`` states, ``batchStats`` as plain
  integers without ``failedRequestCount``, ``dest``/``metadata.output`` naming a responses file,
  and no inline responses (results come from the ``/anthropic`` results route);
* cancel and delete answer ``{}``; errors are ``{"error": {"code", "message", "status", "details"}}``.
"""

from __future__ import annotations

import base64
from typing import Any

from . import engine, ops
from .gateway import presented_keys
from .gemini_native import (
    BATCH_ID,
    FILE_ID,
    PROVIDER,
    batch_name,
    batch_or_missing,
    batch_output,
    batch_state,
    batch_stats,
    batches_page,
    cancel,
    continue_upload,
    create_from_body,
    error_response,
    file_json,
    file_or_missing,
    files_page,
    gerror,
    live_files,
    remove_batch,
    remove_file,
    rendered,
    start_upload,
    upload_session,
)
from .ops import Context
from .web import ApiError, Request, Response, Router, json_response

PREFIX = "/genai"
SESSION_PREFIX = "genai_upload_session:"
SESSION_SECONDS = 60.0
JOB_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.BatchPredictionJob"


def job_json(ctx: Context, record: dict, snap: engine.Snapshot) -> dict:
    name = batch_name(record)
    stats = batch_stats(snap)
    created = ops.rfc3339(record["created_at"], micros=False)
    meta: dict[str, Any] = {
        "name": name,
        "@type": JOB_TYPE,
        "createTime": created,
        "updateTime": created,
        "state": batch_state(snap).replace("BATCH_STATE_", "JOB_STATE_"),
        "batchStats": {
            "requestCount": stats["requestCount"],
            "pendingRequestCount": stats["pendingRequestCount"],
            "successfulRequestCount": stats["successfulRequestCount"],
        },
    }
    body: dict[str, Any] = {"name": name, "metadata": meta, "done": snap.done}
    if record.get("input_file"):
        meta["inputConfig"] = {"fileName": record["input_file"]}
        output = batch_output(ctx, record, snap)
        if output:
            meta["output"] = {"responsesFile": output["responsesFile"]}
            body["dest"] = {"fileName": output["responsesFile"]}
    if snap.done and snap.ended_at is not None:
        meta["endTime"] = ops.rfc3339(snap.ended_at, micros=False)
    return body


def upload(ctx: Context, req: Request) -> Response:
    raw = req.arg("upload_id")
    if not raw:
        session = start_upload(ctx, req)
        token = base64.urlsafe_b64encode(session["id"].encode()).decode().rstrip("=")
        url = f"{req.base_url}{PREFIX}/upload/v1beta/files?upload_id={SESSION_PREFIX}{token}"
        return json_response({}, headers=[("X-Goog-Upload-URL", url), ("X-Goog-Upload-Status", "active")])
    if not raw.startswith(SESSION_PREFIX):
        req.drain()
        raise gerror(400, "invalid upload session")
    token = raw[len(SESSION_PREFIX):]
    try:
        session_id = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except ValueError:
        req.drain()
        raise gerror(400, "invalid upload session") from None
    session = upload_session(ctx, session_id, SESSION_SECONDS)
    commands = {c.strip().lower() for c in (req.header("x-goog-upload-command") or "").split(",")}
    if "finalize" not in commands:
        req.drain()
        raise gerror(400, "the gateway takes the whole file in one request (X-Goog-Upload-Command: upload, finalize)")
    return continue_upload(ctx, req, session, req.base_url, PREFIX)


def list_files(ctx: Context, req: Request, provider: str) -> Response:
    return json_response(files_page(req, live_files(ctx), PREFIX, empty_list=True))


def get_file(ctx: Context, req: Request, provider: str, fid: str) -> Response:
    return json_response(file_json(file_or_missing(ctx, fid), req.base_url, PREFIX))


def delete_file(ctx: Context, req: Request, provider: str, fid: str) -> Response:
    remove_file(ctx, fid)
    return json_response({})


def create_batch(ctx: Context, req: Request, provider: str, model: str) -> Response:
    return rendered(ctx, create_from_body(ctx, req, model), job_json)


def list_batches(ctx: Context, req: Request, provider: str) -> Response:
    return json_response(batches_page(ctx, req, job_json))


def get_batch(ctx: Context, req: Request, provider: str, bid: str) -> Response:
    return rendered(ctx, batch_or_missing(ctx, bid), job_json)


def cancel_batch(ctx: Context, req: Request, provider: str, bid: str) -> Response:
    req.drain()
    cancel(ctx, bid)
    return json_response({})


def delete_batch(ctx: Context, req: Request, provider: str, bid: str) -> Response:
    remove_batch(ctx, bid)
    return json_response({})


_ID, _BATCH = FILE_ID, BATCH_ID

ROUTER = Router()
ROUTER.add("GET", r"/v1beta/files", list_files)
ROUTER.add("GET", rf"/v1beta/files/{_ID}", get_file)
ROUTER.add("DELETE", rf"/v1beta/files/{_ID}", delete_file)
ROUTER.add("POST", r"/v1beta/models/(?P<model>[^/:]+):batchGenerateContent", create_batch)
ROUTER.add("GET", r"/v1beta/batches", list_batches)
ROUTER.add("GET", rf"/v1beta/batches/{_BATCH}", get_batch)
ROUTER.add("DELETE", rf"/v1beta/batches/{_BATCH}", delete_batch)
ROUTER.add("POST", rf"/v1beta/batches/{_BATCH}:cancel", cancel_batch)


def select_provider(req: Request) -> str:
    provider = (req.header("x-model-provider") or PROVIDER).strip().lower() or PROVIDER
    if provider != PROVIDER:
        raise gerror(400, f"unsupported_operation: files and batches through /genai are emulated for provider "
                          f"gemini only, not {provider!r}")
    return provider


def handle(ctx: Context, req: Request, path: str) -> Response:
    """Serve one request whose path (without :data:`PREFIX`) is ``path``."""
    try:
        expected = ctx.config.virtual_key
        if expected is not None and expected not in presented_keys(req):
            raise gerror(401, "invalid or missing virtual key")
        if path == "/upload/v1beta/files" and req.method == "POST":
            select_provider(req)
            return upload(ctx, req)
        handler, params, _ = ROUTER.match(req.method, path)
        if handler is None:
            if req.method in ("GET", "HEAD"):
                from .gateway import spa_page

                return spa_page()
            raise gerror(404, f"route not found: {req.method} {PREFIX}{path}")
        return handler(ctx, req, select_provider(req), **params)
    except ApiError as error:
        if not error.type.isupper():
            error = gerror(error.status, error.message)
        return error_response(error)
