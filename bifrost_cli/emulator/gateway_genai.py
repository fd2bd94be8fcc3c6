"""The Bifrost gateway's GenAI-compatible routes (``/genai/...``), ``v1beta`` only.

The ``gemini`` upstream is the same emulated Gemini (same store) as ``/native/gemini``; the
``openai`` and ``anthropic`` upstreams (``x-model-provider``) go through the gateway core
(``gateway_cross``): files (upload, list, get, delete) and batches (inline GenerateContent requests
converted to chat messages, or an upstream-format file for openai; list, get, cancel) in Gemini's
shapes, named ``files/<upstream id>`` and ``batches/<upstream id>``. ``bedrock`` is refused (its
files and jobs are on ``/bedrock``). Reproduced behaviours of the real gateway:

* provider from the ``x-model-provider`` header (default ``gemini``); the virtual key in ``x-bf-vk``
  (or the other key headers) when one is configured;
* a two-step upload: ``start`` answers ``{}`` with ``X-Goog-Upload-URL:
  <base>/genai/upload/v1beta/files?upload_id=genai_upload_session:<b64>`` (the session lives one
  minute), then the first request carrying ``upload_id`` is the whole file, whatever its
  ``X-Goog-Upload-Command`` says, and answers ``{"file": ...}``; the session is then gone (404);
* batch create is ``/v1beta/models/{model...}:batchGenerateContent``: the model may hold a ``/``
  (``gemini/gemini-2.5-flash``, the ``gemini/`` prefix dropped);
* states as the gateway converts them: validating, in_progress and finalizing all read
  ``JOB_STATE_RUNNING`` (never PENDING);
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
    _uploads,
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
        "state": _gateway_state(batch_state(snap)),
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


def _gateway_state(native_state: str) -> str:
    """The gateway's conversion: PENDING (validating) reads RUNNING, like in_progress and finalizing."""
    state = native_state.replace("BATCH_STATE_", "JOB_STATE_")
    return "JOB_STATE_RUNNING" if state == "JOB_STATE_PENDING" else state


def upload(ctx: Context, req: Request, provider: str) -> Response:
    raw = req.arg("upload_id")
    if not raw:
        session = start_upload(ctx, req)
        if provider != PROVIDER:
            session = _uploads(ctx).update(session["id"], lambda r: {**r, "provider": provider}) or session
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
    if session.get("file_id"):  # the gateway deleted the session with its first upload request
        req.drain()
        raise gerror(404, "The upload session does not exist or has expired; start the upload again.")
    owner = session.get("provider") or PROVIDER
    if owner != PROVIDER:
        from . import gateway_cross as core

        tmp, size = ops.store_stream_as_file(req.body, ctx.store.files(owner))
        view = core.upload(ctx, owner, tmp, size=size, filename=session["display_name"],
                           mime_type=session["mime_type"], purpose="batch")
        _uploads(ctx).update(session["id"], lambda r: {**r, "file_id": view["id"]})
        return json_response({"file": foreign_file(view, req.base_url)}, headers=[("X-Goog-Upload-Status", "final")])
    # the first request carrying upload_id is the whole file, whatever X-Goog-Upload-Command says
    req.environ["HTTP_X_GOOG_UPLOAD_COMMAND"] = "upload, finalize"
    req.environ["HTTP_X_GOOG_UPLOAD_OFFSET"] = str(session["received"])
    return continue_upload(ctx, req, session, req.base_url, PREFIX)


# ---------------------------------------------------------------- other providers (x-model-provider)


def foreign_file(view: dict, base_url: str) -> dict:
    created = ops.rfc3339(view["created_at"])
    name = "files/" + view["id"]
    return {"name": name, "displayName": view["filename"], "mimeType": view["mime_type"],
            "sizeBytes": str(view["bytes"]), "createTime": created, "updateTime": created,
            "uri": f"{base_url}{PREFIX}/v1beta/{name}", "state": "ACTIVE", "source": "UPLOADED"}


_FOREIGN_STATE = {"validating": "JOB_STATE_RUNNING", "in_progress": "JOB_STATE_RUNNING",
                  "finalizing": "JOB_STATE_RUNNING", "completed": "JOB_STATE_SUCCEEDED",
                  "failed": "JOB_STATE_FAILED", "expired": "JOB_STATE_EXPIRED",
                  "cancelling": "JOB_STATE_CANCELLING", "cancelled": "JOB_STATE_CANCELLED"}


def foreign_job(view: dict) -> dict:
    name = "batches/" + view["id"]
    created = ops.rfc3339(view["created_at"], micros=False)
    done = view["status"] in ("completed", "failed", "expired", "cancelled")
    meta: dict[str, Any] = {
        "name": name, "@type": JOB_TYPE, "createTime": created, "updateTime": created,
        "state": _FOREIGN_STATE[view["status"]],
        "batchStats": {"requestCount": view["total"],
                       "pendingRequestCount": max(0, view["total"] - view["completed"] - view["failed"]),
                       "successfulRequestCount": view["completed"]},
    }
    if view.get("model"):
        meta["model"] = "models/" + view["model"]
    if done and view.get("ended_at"):
        meta["endTime"] = ops.rfc3339(view["ended_at"], micros=False)
    if view.get("output_file_id"):
        meta["output"] = {"responsesFile": "files/" + view["output_file_id"]}
    return {"name": name, "metadata": meta, "done": done}


def _bare_id(raw: str, kind: str) -> str:
    return raw.removeprefix(kind + "/")


def foreign(ctx: Context, req: Request, provider: str, name: str, params: dict) -> Response:
    from . import gateway_cross as core

    if name == "list_files":
        views = list(reversed(core.files(ctx, provider)))
        size = ops.parse_limit(req.arg("pageSize"), default=10, maximum=100, strict=False)
        start = int(req.arg("pageToken") or 0) if (req.arg("pageToken") or "0").isdigit() else 0
        body: dict[str, Any] = {"files": [foreign_file(v, req.base_url) for v in views[start:start + size]]}
        if start + size < len(views):
            body["nextPageToken"] = str(start + size)
        return json_response(body)
    if name == "get_file":
        return json_response(foreign_file(core.get_file(ctx, provider, _bare_id(params["fid"], "files")), req.base_url))
    if name == "delete_file":
        core.delete_file(ctx, provider, _bare_id(params["fid"], "files"))
        return json_response({})
    if name == "create_batch":
        return json_response(foreign_job(create_foreign(ctx, req, provider, params["model"])))
    if name == "list_batches":
        views = core.batches(ctx, provider)
        size = ops.parse_limit(req.arg("pageSize"), default=10, maximum=100, strict=False)
        start = int(req.arg("pageToken") or 0) if (req.arg("pageToken") or "0").isdigit() else 0
        body = {"operations": [foreign_job(v) for v in views[start:start + size]]}
        if start + size < len(views):
            body["nextPageToken"] = str(start + size)
        return json_response(body)
    if name == "get_batch":
        return json_response(foreign_job(core.get_batch(ctx, provider, _bare_id(params["bid"], "batches"))))
    if name == "cancel_batch":
        req.drain()
        core.cancel_batch(ctx, provider, _bare_id(params["bid"], "batches"))
        return json_response({})
    if name == "delete_batch":
        core.delete_batch(ctx, provider, _bare_id(params["bid"], "batches"))
        return json_response({})
    raise gerror(400, f"unsupported_operation: {name} is not supported for provider {provider}")


def create_foreign(ctx: Context, req: Request, provider: str, model: str) -> dict:
    """A ``batchGenerateContent`` body for another upstream: a file of that upstream's own format, or
    inline GenerateContent requests converted to chat messages."""
    from . import gateway_cross as core
    from .gemini_native import _pseudo_params, pick

    body = req.read_json()
    batch = body.get("batch") if isinstance(body, dict) else None
    config = pick(batch, "inputConfig", "input_config") if isinstance(batch, dict) else None
    if not isinstance(config, dict):
        raise gerror(400, "batch.input_config is required.")
    source = pick(config, "fileName", "file_name")
    if source:
        return core.create_from_file(ctx, provider, _bare_id(str(source), "files"), model=model)
    wrapped = config.get("requests")
    inner = wrapped.get("requests") if isinstance(wrapped, dict) else None
    if not isinstance(inner, list) or not inner:
        raise gerror(400, "batch.input_config must have requests or file_name.")
    requests = []
    for index, item in enumerate(inner):
        meta = item.get("metadata") if isinstance(item, dict) else None
        key = str(meta.get("key") or "") if isinstance(meta, dict) else ""
        params = _pseudo_params(item.get("request") if isinstance(item, dict) else None, model)
        requests.append({"custom_id": key or f"request-{index + 1}", "params": params})
    return core.create_inline(ctx, provider, requests, endpoint="/v1/chat/completions" if provider == "openai" else None)


def list_files(ctx: Context, req: Request, provider: str) -> Response:
    return json_response(files_page(req, live_files(ctx), PREFIX, empty_list=True))


def get_file(ctx: Context, req: Request, provider: str, fid: str) -> Response:
    return json_response(file_json(file_or_missing(ctx, fid), req.base_url, PREFIX))


def delete_file(ctx: Context, req: Request, provider: str, fid: str) -> Response:
    remove_file(ctx, fid)
    return json_response({})


def create_batch(ctx: Context, req: Request, provider: str, model: str) -> Response:
    return rendered(ctx, create_from_body(ctx, req, model.removeprefix(PROVIDER + "/")), job_json)


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


# other upstreams' ids (file-..., file_011..., batch_..., msgbatch_...) hold "_" and capitals
_ID = r"(?:files/)?(?P<fid>[A-Za-z0-9_-]+)"
_BATCH = r"(?:batches/)?(?P<bid>[A-Za-z0-9_-]+)"

ROUTER = Router()
ROUTER.add("GET", r"/v1beta/files", list_files)
ROUTER.add("GET", rf"/v1beta/files/{_ID}", get_file)
ROUTER.add("DELETE", rf"/v1beta/files/{_ID}", delete_file)
ROUTER.add("POST", r"/v1beta/models/(?P<model>[^:]+):batchGenerateContent", create_batch)  # a model may hold "/"
ROUTER.add("GET", r"/v1beta/batches", list_batches)
ROUTER.add("GET", rf"/v1beta/batches/{_BATCH}", get_batch)
ROUTER.add("DELETE", rf"/v1beta/batches/{_BATCH}", delete_batch)
ROUTER.add("POST", rf"/v1beta/batches/{_BATCH}:cancel", cancel_batch)


PROVIDERS = ("gemini", "openai", "anthropic", "bedrock")


def select_provider(req: Request) -> str:
    provider = (req.header("x-model-provider") or PROVIDER).strip().lower() or PROVIDER
    if provider not in PROVIDERS:
        raise gerror(400, f"unsupported provider {provider!r} (x-model-provider): expected one of "
                          + ", ".join(PROVIDERS))
    if provider == "bedrock":
        raise gerror(400, "unsupported_operation: files and batches for provider bedrock go through the "
                          "Bedrock-compatible routes (/bedrock)")
    return provider


def handle(ctx: Context, req: Request, path: str) -> Response:
    """Serve one request whose path (without :data:`PREFIX`) is ``path``."""
    try:
        expected = ctx.config.virtual_key
        if expected is not None and expected not in presented_keys(req):
            raise gerror(401, "invalid or missing virtual key")
        if path == "/upload/v1beta/files" and req.method == "POST":
            return upload(ctx, req, select_provider(req) if not req.arg("upload_id") else PROVIDER)
        handler, params, name = ROUTER.match(req.method, path)
        if handler is None:
            if req.method in ("GET", "HEAD"):
                from .gateway import spa_page

                return spa_page()
            raise gerror(404, f"route not found: {req.method} {PREFIX}{path}")
        provider = select_provider(req)
        if provider != PROVIDER:
            return foreign(ctx, req, provider, name, params)
        return handler(ctx, req, provider, **params)
    except ApiError as error:
        if not error.type.isupper():
            error = gerror(error.status, error.message)
        return error_response(error)
