"""OpenAI's own Files, Uploads and Batches API, served under ``/native/openai/v1``.

Point the official SDK (or ``OPENAI_BASE_URL``) at ``<emulator>/native/openai/v1``. Answers follow
OpenAI's wire formats: Unix-second timestamps, ``object`` fields, errors as
``{"error": {"message", "type", "param", "code"}}`` and an ``x-request-id`` header.

* Files: multipart upload (``file``, ``purpose``, ``expires_after[anchor]``/``[seconds]``), list
  (``purpose``, ``order``, ``after``, ``limit``), retrieve, delete, content.
* Uploads: create, parts (multipart field ``data``), complete (ordered ``part_ids``, optional ``md5``),
  cancel; an upload expires an hour after its creation.
* Batches from an uploaded input file: ``validating`` -> ``in_progress`` -> ``finalizing`` ->
  ``completed`` over ``batch_seconds``; the output and error files are written when the batch ends
  (either may be missing); ``cancelling`` -> ``cancelled`` with the finished requests' results; an
  input file that is not a valid batch file makes the batch ``failed`` with ``errors.data`` (line
  numbers). As with OpenAI, the create answer comes before the input file is checked. Markers in user texts as for the other surfaces, plus ``[emulator:batch-fail]`` and
  ``[emulator:batch-expire]`` in the first request, and ``[emulator:missing]``: that request's result
  is written to neither file.

The gateway's ``/openai`` routes (``gateway_openai``) serve the same handlers with another
:class:`Flavor` (answer shapes and provider selection) over the same store.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from . import engine, ops
from .anthropic_native import stream_file
from .gateway import _http_status, _openai_status, openai_item
from .ops import Context
from .store import atomic_write_json, open_private
from .web import ApiError, Request, Response, Router, bad_request, json_response, not_found, random_token

PREFIX = "/native/openai/v1"
PROVIDER = "openai"
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings")
KNOWN_ENDPOINTS = (*ENDPOINTS, "/v1/completions", "/v1/moderations", "/v1/images/generations", "/v1/images/edits",
                   "/v1/videos")
MAX_FILE_BYTES = 512 * 1000 * 1000
MAX_PART_BYTES = 64 * 1024 * 1024
MAX_UPLOAD_BYTES = 8 * 1000 * 1000 * 1000
MAX_BATCH_FILE_BYTES = 200 * 1000 * 1000
MAX_BATCH_LINES = 50_000
MAX_REPORTED_ERRORS = 100
BATCH_FILE_TTL = 30 * 24 * 3600
UPLOAD_TTL = 3600
EXPIRES_RANGE = (3600, 2_592_000)
FILE_LIST_DEFAULT, FILE_LIST_MAX = 10_000, 10_000
BATCH_LIST_DEFAULT, BATCH_LIST_MAX = 20, 100
_MISSING = re.compile(r"\[emulator:missing\]")
_EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
_CANCELLED_MESSAGE = "This request was cancelled before it could be executed."


def _int(ts: float | None) -> int | None:
    return None if ts is None else int(ts)


# ---------------------------------------------------------------- answer shapes


class Flavor:
    """How a surface shapes answers and picks the upstream: OpenAI's own API here."""

    extra_body_fields: tuple[str, ...] = ()
    lenient = False  # True: unknown batch-create body fields are ignored (the gateway's lenient decoding)
    ignores_expiry = False  # True: an upload's expires_after[...] fields are not read (older gateways)

    def provider(self, req: Request, given: Any = None) -> str:
        return PROVIDER

    def shape(self, data: dict, request_type: str) -> dict:
        return data

    def list_body(self, data: list[dict], has_more: bool, request_type: str) -> dict:
        return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None, "has_more": has_more}

    def cursor(self, raw: str | None) -> str | None:
        return raw or None

    def error(self, error: ApiError, request_type: str) -> Response:
        return json_response({"error": error_object(error)}, error.status, error.headers)


NATIVE = Flavor()

_TYPES = {"not_found_error": "invalid_request_error", "authentication_error": "invalid_request_error",
          "request_too_large": "invalid_request_error", "api_error": "server_error", "overloaded_error": "server_error"}


def error_object(error: ApiError) -> dict:
    code = (error.details or {}).get("code")
    if error.type == "authentication_error":
        code = code or "invalid_api_key"
    return {"message": error.message, "type": _TYPES.get(error.type, error.type),
            "param": (error.details or {}).get("param"), "code": code}


def file_json(record: dict) -> dict:
    return {
        "id": record["id"],
        "object": "file",
        "bytes": record["size_bytes"],
        "created_at": int(record["created_at"]),
        "expires_at": _int(record.get("expires_at")),
        "filename": record["filename"],
        "purpose": record.get("purpose") or "user_data",
        "status": "processed",
        "status_details": None,
    }


def upload_json(record: dict, now: float) -> dict:
    status = record["status"]
    if status == "pending" and now >= record["expires_at"]:
        status = "expired"
    return {
        "id": record["id"],
        "object": "upload",
        "bytes": record["bytes"],
        "created_at": int(record["created_at"]),
        "filename": record["filename"],
        "purpose": record["purpose"],
        "status": status,
        "expires_at": int(record["expires_at"]),
        "file": record.get("file"),
    }


def _counts(record: dict, snap: engine.Snapshot, status: str) -> dict:
    if status in ("validating", "failed"):
        return {"total": 0, "completed": 0, "failed": 0}
    head = snap.outcomes[: snap.finished]
    dropped = [i for i in record.get("dropped", []) if i < snap.finished]
    completed = head.count(engine.SUCCEEDED) - sum(1 for i in dropped if snap.outcomes[i] == engine.SUCCEEDED)
    failed = head.count(engine.ERRORED) - sum(1 for i in dropped if snap.outcomes[i] == engine.ERRORED)
    return {"total": snap.n, "completed": completed, "failed": failed}


def batch_json(record: dict, snap: engine.Snapshot, now: float) -> dict:
    status = _openai_status(snap)
    n, start, span = record["n"], record["created_at"], record["batch_seconds"]
    validated_at = start + span / (2 * (n + 1))
    cancel_at = record.get("cancel_at")
    ran = record.get("fate") != "failed" and now >= validated_at and (cancel_at is None or cancel_at >= validated_at)
    finalized = status in ("finalizing", "completed")
    ended = _int(snap.ended_at) if snap.done else None
    errors = record.get("errors")
    return {
        "id": record["id"],
        "object": "batch",
        "endpoint": record.get("endpoint") or "/v1/chat/completions",
        "model": record.get("model"),
        "errors": {"object": "list", "data": errors} if errors else None,
        "input_file_id": record.get("input_file_id") or "",
        "completion_window": record.get("completion_window") or "24h",
        "status": status,
        "output_file_id": record.get("output_file_id"),
        "error_file_id": record.get("error_file_id"),
        "created_at": int(start),
        "in_progress_at": int(validated_at) if ran else None,
        "expires_at": int(start + ops.BATCH_LIFETIME),
        "finalizing_at": int(start + span * n / (n + 1)) if finalized else None,
        "completed_at": ended if status == "completed" else None,
        "failed_at": ended if status == "failed" else None,
        "expired_at": ended if status == "expired" else None,
        "cancelling_at": _int(cancel_at),
        "cancelled_at": ended if status == "cancelled" else None,
        "request_counts": _counts(record, snap, status),
        "metadata": record.get("metadata"),
    }


# ---------------------------------------------------------------- requests and their results


def _texts(url: str, body: dict) -> list[str]:
    """The user texts of a request body (where the markers and the reply come from)."""
    if url == "/v1/chat/completions":
        return engine.user_texts(body)
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    texts: list[str] = []
    for item in value if isinstance(value, list) else ():
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict) and item.get("role", "user") == "user":
            content = item.get("content")
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts.append("\n".join(p.get("text", "") for p in content
                                       if isinstance(p, dict) and isinstance(p.get("text"), str)))
    return texts


def _problem(url: str, body: dict) -> str | None:
    """What the real endpoint would refuse (found when the request runs: an error-file line)."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    if url == "/v1/chat/completions":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty array"
        for index, msg in enumerate(messages):
            if not isinstance(msg, dict) or msg.get("role") not in ("system", "developer", "user", "assistant", "tool"):
                return f"Invalid value for 'messages[{index}].role'"
    elif "input" not in body:
        return "Missing required parameter: 'input'."
    return None


def plan_request(custom_id: str, url: str, body: dict) -> list:
    model = body["model"] if isinstance(body.get("model"), str) else ""
    problem = _problem(url, body)
    if problem:
        return [custom_id, engine.ERRORED, "invalid_request_error", problem, model, "", 0, 0]
    params = {"messages": [{"role": "user", "content": text} for text in _texts(url, body)]}
    return engine.plan_checked(custom_id, model, params)


def _success_body(record: dict, index: int, entry: list) -> dict:
    custom_id, model, reply, tokens_in, tokens_out = entry[0], entry[4], entry[5], entry[6], entry[7]
    endpoint = record.get("endpoint") or "/v1/chat/completions"
    if endpoint == "/v1/embeddings":
        digest = hashlib.sha256(reply.encode()).digest()
        vector = [round(b / 255 - 0.5, 4) for b in digest[:8]]
        return {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": vector}], "model": model,
                "usage": {"prompt_tokens": tokens_in, "total_tokens": tokens_in}}
    if endpoint == "/v1/responses":
        rid = engine.hash_token(record["id"], custom_id, "resp", length=32).lower()
        return {
            "id": "resp_" + rid, "object": "response", "created_at": int(record["created_at"]), "status": "completed",
            "model": model, "incomplete_details": None,
            "output": [{"type": "message", "id": "msg_" + rid, "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": reply, "annotations": []}]}],
            "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out, "total_tokens": tokens_in + tokens_out},
        }
    item = openai_item(record, index, entry, engine.SUCCEEDED)
    assert item is not None  # a succeeded request always has an item
    body: dict = item["response"]["body"]
    return body


def result_line(record: dict, index: int, entry: list, outcome: str) -> tuple[str, dict]:
    """``("output" | "error", line)`` for one request of an ended batch."""
    custom_id = entry[0]
    line: dict[str, Any] = {"id": "batch_req_" + engine.hash_token(record["id"], custom_id, "line", length=32).lower(),
                            "custom_id": custom_id, "response": None, "error": None}
    request_id = "req_" + engine.hash_token(record["id"], custom_id, "openai", length=32).lower()
    if outcome == engine.SUCCEEDED:
        line["response"] = {"status_code": 200, "request_id": request_id, "body": _success_body(record, index, entry)}
        return "output", line
    if outcome == engine.ERRORED:
        error = {"message": entry[3], "type": entry[2], "param": None, "code": None}
        line["response"] = {"status_code": _http_status(entry[2], PROVIDER), "request_id": request_id,
                            "body": {"error": error}}
    elif outcome == engine.CANCELED:
        line["error"] = {"code": "batch_cancelled", "message": _CANCELLED_MESSAGE}
    else:
        line["error"] = {"code": "batch_expired", "message": _EXPIRED_MESSAGE}
    return "error", line


def _write_file(ctx: Context, lines: list[bytes], name: str, created_at: float) -> str | None:
    if not lines:
        return None
    files = ctx.store.files(PROVIDER)
    tmp = files.temp_path()
    with open_private(tmp, "wb") as fh:
        for line in lines:
            fh.write(line)
    record = ops.add_file(ctx.store, PROVIDER, tmp, filename=name, mime_type="application/jsonl",
                          size=sum(map(len, lines)), created_at=created_at, downloadable=True,
                          purpose="batch_output", expires_at=created_at + BATCH_FILE_TTL)
    return record["id"]


def materialize(ctx: Context, record: dict, snap: engine.Snapshot) -> dict:
    """Once a batch has ended, write its output and error files (once)."""
    if not snap.done or record.get("files_written"):
        return record

    def change(current: dict) -> dict | None:
        if current.get("files_written"):
            return None
        plan = ops.batch_plan(ctx.store, PROVIDER, current["id"])
        dropped = set(current.get("dropped", []))
        out: dict[str, list[bytes]] = {"output": [], "error": []}
        for index in engine.result_order(current["id"], plan):
            if index in dropped:
                continue
            kind, line = result_line(current, index, plan[index], snap.final_outcome(index))
            out[kind].append((json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n").encode())
        ended = snap.ended_at or ctx.now()
        return {**current, "files_written": True,
                "output_file_id": _write_file(ctx, out["output"], f"{current['id']}_output.jsonl", ended),
                "error_file_id": _write_file(ctx, out["error"], f"{current['id']}_error.jsonl", ended)}

    return ctx.store.batches(PROVIDER).update(record["id"], change) or record


def _batch_view(ctx: Context, record: dict, now: float) -> dict:
    """A batch's answer; a batch not yet looked at is read first, but for the answer to its create."""
    if record.get("unchecked") and now > record["created_at"]:
        record = settle(ctx, record)
    snap = engine.snapshot(record, now)
    return batch_json(materialize(ctx, record, snap), snap, now)


def _materialize_all(ctx: Context) -> None:
    now = ctx.now()
    for record in ctx.store.batches(PROVIDER).all():
        if not record.get("files_written"):
            record = settle(ctx, record)
            materialize(ctx, record, engine.snapshot(record, now))


# ---------------------------------------------------------------- lookups


def _file_or_404(ctx: Context, file_id: str) -> dict:
    record = ops.get_file(ctx.store, PROVIDER, file_id)
    if record is None:
        raise ApiError(404, "invalid_request_error", f"No such File object: {file_id}", details={"param": "id"})
    return record


def _batch_or_404(ctx: Context, batch_id: str) -> dict:
    record = ops.get_batch(ctx.store, PROVIDER, batch_id)
    if record is None:
        raise not_found(f"No batch found with id '{batch_id}'.")
    return settle(ctx, record)


def _upload_or_404(ctx: Context, upload_id: str) -> dict:
    record = ctx.store.collection("uploads", PROVIDER).get(upload_id)
    if record is None:
        raise not_found(f"No such Upload object: {upload_id}")
    return record


def _json_object(req: Request) -> dict:
    body = req.read_json()
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    return body


def _expiry(anchor: Any, seconds: Any, *, param: str) -> int | None:
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise bad_request(f"Invalid value for '{param}.anchor': expected 'created_at'", details={"param": param})
    try:
        value = int(seconds)
    except (TypeError, ValueError):
        raise bad_request(f"Invalid value for '{param}.seconds': expected an integer", details={"param": param}) from None
    if not EXPIRES_RANGE[0] <= value <= EXPIRES_RANGE[1]:
        raise bad_request(f"'{param}.seconds' must be between {EXPIRES_RANGE[0]} and {EXPIRES_RANGE[1]}",
                          details={"param": param})
    return value


def _purpose(value: Any) -> str:
    if value is None or value == "":
        raise bad_request("Missing required parameter: 'purpose'.", details={"param": "purpose"})
    if value not in PURPOSES:
        raise bad_request(f"Invalid value for 'purpose': {value!r}; expected one of {', '.join(PURPOSES)}",
                          details={"param": "purpose"})
    return str(value)


def _file_expiry(created: float, purpose: str, seconds: int | None) -> float | None:
    if seconds is not None:
        return created + seconds
    return created + BATCH_FILE_TTL if purpose == "batch" else None


# ---------------------------------------------------------------- files


def upload_file(ctx: Context, req: Request, flavor: Flavor) -> Response:
    fields, upload = ops.receive_upload(req, ctx.store.files(PROVIDER))
    return store_upload(ctx, req, flavor, fields, upload)


def store_upload(ctx: Context, req: Request, flavor: Flavor, fields: dict[str, str], upload: dict[str, Any]) -> Response:
    """Keep a received multipart upload (``ops.receive_upload``) as an OpenAI file."""
    try:
        flavor.provider(req, fields.get("provider"))
        purpose = _purpose(fields.get("purpose"))
        seconds = None if flavor.ignores_expiry else _expiry(
            fields.get("expires_after[anchor]"), fields.get("expires_after[seconds]"), param="expires_after")
        if upload["size"] > MAX_FILE_BYTES:
            raise bad_request(f"File is too large: {upload['size']} bytes; the maximum is {MAX_FILE_BYTES} bytes "
                              "(use the Uploads API for larger files)")
        mime = ops.guess_mime(upload["filename"], upload["content_type"])
        filename = ops.clean_filename(upload["filename"], mime)
    except ApiError:
        ops.remove_quietly(upload["tmp"])
        raise
    now = ctx.now()
    record = ops.add_file(ctx.store, PROVIDER, upload["tmp"], filename=filename, mime_type=mime, size=upload["size"],
                          created_at=now, downloadable=True, purpose=purpose,
                          expires_at=_file_expiry(now, purpose, seconds))
    return json_response(flavor.shape(file_json(record), "file_upload"))


def list_files(ctx: Context, req: Request, flavor: Flavor) -> Response:
    flavor.provider(req)
    _materialize_all(ctx)
    limit = ops.parse_limit(req.arg("limit"), default=FILE_LIST_DEFAULT, maximum=FILE_LIST_MAX)
    order = req.arg("order") or "desc"
    if order not in ("asc", "desc"):
        raise bad_request("Invalid value for 'order': expected 'asc' or 'desc'", details={"param": "order"})
    # newest first by created_at, as OpenAI orders them (an output file is stored when its batch is
    # first looked at after it ended, but is dated when the batch ended)
    records = sorted(ctx.store.files(PROVIDER).all(), key=lambda r: r.get("created_at") or 0, reverse=True)
    purpose = req.arg("purpose")
    if purpose:
        records = [r for r in records if r.get("purpose") == purpose]
    if order == "asc":
        records.reverse()
    page, has_more = ops.page_of(records, limit=limit, after_id=flavor.cursor(req.arg("after")))
    return json_response(flavor.list_body([file_json(r) for r in page], has_more, "file_list"))


def retrieve_file(ctx: Context, req: Request, flavor: Flavor, file_id: str) -> Response:
    flavor.provider(req)
    return json_response(flavor.shape(file_json(_file_or_404(ctx, file_id)), "file_retrieve"))


def delete_file(ctx: Context, req: Request, flavor: Flavor, file_id: str) -> Response:
    flavor.provider(req)
    _file_or_404(ctx, file_id)
    ops.delete_file(ctx.store, PROVIDER, file_id)
    return json_response(flavor.shape({"id": file_id, "object": "file", "deleted": True}, "file_delete"))


def file_content(ctx: Context, req: Request, flavor: Flavor, file_id: str) -> Response:
    flavor.provider(req)
    record = _file_or_404(ctx, file_id)
    if record.get("purpose") == "assistants":
        raise bad_request("Not allowed to download files of purpose: assistants")
    return stream_file(ctx, PROVIDER, record)


# ---------------------------------------------------------------- uploads


def create_upload(ctx: Context, req: Request, flavor: Flavor) -> Response:
    body = _json_object(req)
    flavor.provider(req, body.get("provider"))
    for key in ("filename", "purpose", "bytes", "mime_type"):
        if key not in body:
            raise bad_request(f"Missing required parameter: '{key}'.", details={"param": key})
    purpose = _purpose(body["purpose"])
    size = body["bytes"]
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_UPLOAD_BYTES:
        raise bad_request(f"'bytes' must be an integer between 1 and {MAX_UPLOAD_BYTES}", details={"param": "bytes"})
    expires = body.get("expires_after") or {}
    seconds = _expiry(expires.get("anchor"), expires.get("seconds"), param="expires_after") if expires else None
    now = ctx.now()
    record = {
        "id": "upload_" + random_token(24), "filename": str(body["filename"]), "purpose": purpose, "bytes": size,
        "mime_type": str(body["mime_type"]), "status": "pending", "created_at": now, "expires_at": now + UPLOAD_TTL,
        "file_expires_after": seconds, "file": None,
    }
    ctx.store.collection("uploads", PROVIDER).create(record)
    return json_response(flavor.shape(upload_json(record, now), "upload_create"))


def _pending(record: dict, now: float) -> None:
    status = upload_json(record, now)["status"]
    if status != "pending":
        raise bad_request(f"Upload {record['id']} is {status}; only a pending upload accepts this")


def add_part(ctx: Context, req: Request, flavor: Flavor, upload_id: str) -> Response:
    record = _upload_or_404(ctx, upload_id)
    _pending(record, ctx.now())
    parts = ctx.store.collection("upload_parts", PROVIDER)
    fields, upload = ops.receive_upload(req, parts, file_field="data")
    try:
        flavor.provider(req, fields.get("provider"))
        if upload["size"] > MAX_PART_BYTES:
            raise bad_request(f"A part can be at most {MAX_PART_BYTES} bytes; this one has {upload['size']}")
    except ApiError:
        ops.remove_quietly(upload["tmp"])
        raise
    now = ctx.now()
    part = {"id": "part_" + random_token(24), "upload_id": upload_id, "size": upload["size"], "created_at": now}
    parts.create(part, blobs={".data": upload["tmp"]})
    return json_response(flavor.shape({"id": part["id"], "object": "upload.part", "created_at": int(now),
                                       "upload_id": upload_id}, "upload_part"))


def complete_upload(ctx: Context, req: Request, flavor: Flavor, upload_id: str) -> Response:
    body = _json_object(req)
    flavor.provider(req, body.get("provider"))
    record = _upload_or_404(ctx, upload_id)
    now = ctx.now()
    _pending(record, now)
    part_ids = body.get("part_ids")
    if not isinstance(part_ids, list) or not all(isinstance(p, str) for p in part_ids):
        raise bad_request("Missing required parameter: 'part_ids'.", details={"param": "part_ids"})
    parts = ctx.store.collection("upload_parts", PROVIDER)
    for part_id in part_ids:
        part = parts.get(part_id)
        if part is None or part.get("upload_id") != upload_id:
            raise bad_request(f"Part {part_id} does not belong to upload {upload_id}", details={"param": "part_ids"})
    files = ctx.store.files(PROVIDER)
    tmp = files.temp_path()
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with open_private(tmp, "wb") as out:
        for part_id in part_ids:
            with open(parts.path_for(part_id, ".data"), "rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
    try:
        if size != record["bytes"]:
            raise bad_request(f"The number of bytes uploaded ({size}) does not match the number of bytes the upload "
                              f"was created with ({record['bytes']})")
        md5 = body.get("md5")
        if md5 and str(md5).lower() != digest.hexdigest():
            raise bad_request(f"The md5 checksum {md5} does not match the uploaded data ({digest.hexdigest()})",
                              details={"param": "md5"})
    except ApiError:
        ops.remove_quietly(tmp)
        raise
    file = ops.add_file(ctx.store, PROVIDER, tmp, filename=ops.clean_filename(record["filename"], record["mime_type"]),
                        mime_type=record["mime_type"], size=size, created_at=now, downloadable=True,
                        purpose=record["purpose"],
                        expires_at=_file_expiry(now, record["purpose"], record.get("file_expires_after")))
    for part_id in part_ids:
        parts.delete(part_id, (".data",))
    done = ctx.store.collection("uploads", PROVIDER).update(
        upload_id, lambda r: {**r, "status": "completed", "file": file_json(file)})
    return json_response(flavor.shape(upload_json(done or record, now), "upload_complete"))


def cancel_upload(ctx: Context, req: Request, flavor: Flavor, upload_id: str) -> Response:
    flavor.provider(req)
    record = _upload_or_404(ctx, upload_id)
    now = ctx.now()
    _pending(record, now)
    done = ctx.store.collection("uploads", PROVIDER).update(upload_id, lambda r: {**r, "status": "cancelled"})
    return json_response(flavor.shape(upload_json(done or record, now), "upload_cancel"))


# ---------------------------------------------------------------- batches


def _error(code: str, message: str, line: int | None, param: str | None = None) -> dict:
    return {"code": code, "message": message, "param": param, "line": line}


def read_input_file(path: Any, endpoint: str) -> tuple[list[dict], list[dict], set[str]]:
    """``(requests, errors, models)`` of a batch input file, checked as OpenAI validates it."""
    requests: list[dict] = []
    errors: list[dict] = []
    models: set[str] = set()
    seen: set[str] = set()

    def fail(code: str, message: str, line: int | None, param: str | None = None) -> None:
        if len(errors) < MAX_REPORTED_ERRORS:
            errors.append(_error(code, message, line, param))

    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                fail("invalid_json_line", "This line is not parseable as valid JSON.", lineno)
                continue
            if not isinstance(item, dict):
                fail("invalid_request", "Each line must be a JSON object.", lineno)
                continue
            custom_id, body = item.get("custom_id"), item.get("body")
            if not isinstance(custom_id, str) or not custom_id:
                fail("missing_required_parameter", "Missing required parameter: 'custom_id'.", lineno, "custom_id")
            elif custom_id in seen:
                fail("duplicate_custom_id", f"The custom_id '{custom_id}' is used more than once.", lineno, "custom_id")
            if item.get("method") != "POST":
                fail("invalid_method", "The 'method' of every request must be 'POST'.", lineno, "method")
            if item.get("url") != endpoint:
                fail("mismatched_endpoint", f"The url '{item.get('url')}' does not match the batch endpoint "
                     f"'{endpoint}'.", lineno, "url")
            if not isinstance(body, dict):
                fail("missing_required_parameter", "Missing required parameter: 'body'.", lineno, "body")
                continue
            if isinstance(body.get("model"), str):
                models.add(body["model"])
            if isinstance(custom_id, str) and custom_id:
                seen.add(custom_id)
                requests.append({"custom_id": custom_id, "url": item.get("url"), "body": body, "line": lineno})
    if not requests and not errors:
        fail("empty_file", "The input file contains no requests.", None)
    if len(requests) > MAX_BATCH_LINES:
        fail("too_many_requests", f"The input file has {len(requests)} requests; a batch holds at most "
             f"{MAX_BATCH_LINES}.", None)
    if len(models) > 1:
        fail("mismatched_model", "The input file holds requests for several models ("
             + ", ".join(sorted(models)) + "); a batch targets one model.", None, "body.model")
    return requests, errors, models


def _fate(requests: list[dict]) -> tuple[str | None, list[dict]]:
    if not requests:
        return None, []
    first = " ".join(_texts(requests[0]["url"], requests[0]["body"]))
    if "[emulator:batch-fail]" in first:
        return "failed", [_error("emulated_failure", "The input file was rejected ([emulator:batch-fail]).",
                                 requests[0]["line"])]
    if "[emulator:batch-expire]" in first:
        return "expired", []
    return None, []


def create_batch(ctx: Context, req: Request, flavor: Flavor) -> Response:
    body = _json_object(req)
    flavor.provider(req, body.get("provider"))
    allowed = {"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after",
               *flavor.extra_body_fields}
    extra = [] if flavor.lenient else sorted(set(body) - allowed)
    if extra:
        raise bad_request(f"Unrecognized request argument supplied: {extra[0]}", details={"param": extra[0]})
    for key in ("input_file_id", "endpoint", "completion_window"):
        if not body.get(key):
            raise bad_request(f"Missing required parameter: '{key}'.", details={"param": key})
    endpoint = body["endpoint"]
    if endpoint not in KNOWN_ENDPOINTS:
        raise bad_request(f"Invalid value for 'endpoint': {endpoint!r}", details={"param": "endpoint"})
    if endpoint not in ENDPOINTS:
        raise bad_request(f"the emulator runs batches only for {', '.join(ENDPOINTS)}", details={"param": "endpoint"})
    if body["completion_window"] != "24h":
        raise bad_request("Invalid value for 'completion_window': only '24h' is supported",
                          details={"param": "completion_window"})
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or len(metadata) > 16 or any(
            not isinstance(v, str) or len(k) > 64 or len(v) > 512 for k, v in metadata.items())):
        raise bad_request("Invalid 'metadata': at most 16 string pairs, keys up to 64 and values up to 512 characters",
                          details={"param": "metadata"})
    record = create_from_file(ctx, str(body["input_file_id"]), endpoint, metadata)
    now = record["created_at"]
    return json_response(flavor.shape(batch_json(record, engine.snapshot(record, now), now), "batch_create"))


def create_from_file(ctx: Context, input_file_id: str, endpoint: str, metadata: dict | None = None) -> dict:
    """Store a batch over an uploaded input file (also the gateway's other routes' way to an OpenAI batch).

    As OpenAI does, the answer comes before the input file is read: the batch is ``validating`` and
    its lines are checked by :func:`settle` when the batch is next looked at (the state is a function
    of the record and the time, so when that happens changes nothing a client can see)."""
    file = ops.get_file(ctx.store, PROVIDER, input_file_id)
    if file is None:
        raise ApiError(404, "invalid_request_error", f"No such File object: {input_file_id}",
                       details={"param": "input_file_id"})
    if file.get("purpose") != "batch":
        raise bad_request(f"The input file {file['id']} must have purpose 'batch', not {file.get('purpose')!r}",
                          details={"param": "input_file_id"})
    now = ctx.now()
    batch_id = ops.new_batch_id(PROVIDER)
    record = engine.new_batch_record(batch_id, PROVIDER, [], created_at=now, batch_seconds=ctx.config.batch_seconds)
    record.update({"input_file_id": file["id"], "endpoint": endpoint, "completion_window": "24h",
                   "metadata": metadata, "errors": None, "dropped": [], "unchecked": True})
    return ctx.store.batches(PROVIDER).create(record, documents={".plan.json": []})


def settle(ctx: Context, record: dict) -> dict:
    """``record`` with its input file read and checked (once; a no-op after the first time)."""
    if not record.get("unchecked"):
        return record
    batches = ctx.store.batches(PROVIDER)

    def change(current: dict) -> dict | None:
        if not current.get("unchecked"):
            return None
        endpoint = current["endpoint"]
        file = ops.get_file(ctx.store, PROVIDER, current["input_file_id"])
        if file is None:  # deleted before the batch was looked at: as if it had been read at once
            requests: list[Any] = []
            models: set[str] = set()
            errors = [_error("file_not_found", "The input file was deleted.", None)]
        elif file["size_bytes"] > MAX_BATCH_FILE_BYTES:
            requests, models = [], set()
            errors = [_error("file_too_large", "The input file is larger than 200 MB.", None)]
        else:
            requests, errors, models = read_input_file(ops.file_data_path(ctx.store, PROVIDER, file["id"]), endpoint)
        fate, fate_errors = (("failed", errors) if errors else _fate(requests))
        errors = errors or fate_errors
        plan = [] if fate == "failed" else [plan_request(r["custom_id"], endpoint, r["body"]) for r in requests]
        dropped = [i for i, r in enumerate(requests) if fate != "failed"
                   and any(_MISSING.search(t) for t in _texts(endpoint, r["body"]))]
        checked = engine.new_batch_record(current["id"], PROVIDER, plan, created_at=current["created_at"],
                                          batch_seconds=current["batch_seconds"], fate=fate,
                                          model=next(iter(models)) if len(models) == 1 else None)
        atomic_write_json(batches.path_for(current["id"], ".plan.json"), plan)  # under the store's lock
        new = {**current, **checked, "errors": errors or None, "dropped": dropped}
        new["cancel_at"] = current.get("cancel_at")
        new.pop("unchecked", None)
        return new

    return batches.update(record["id"], change) or record


def list_batches(ctx: Context, req: Request, flavor: Flavor) -> Response:
    flavor.provider(req)
    limit = ops.parse_limit(req.arg("limit"), default=BATCH_LIST_DEFAULT, maximum=BATCH_LIST_MAX)
    records = ctx.store.batches(PROVIDER).all()
    page, has_more = ops.page_of(records, limit=limit, after_id=flavor.cursor(req.arg("after")))
    now = ctx.now()
    return json_response(flavor.list_body([_batch_view(ctx, r, now) for r in page], has_more, "batch_list"))


def retrieve_batch(ctx: Context, req: Request, flavor: Flavor, batch_id: str) -> Response:
    flavor.provider(req)
    return json_response(flavor.shape(_batch_view(ctx, _batch_or_404(ctx, batch_id), ctx.now()), "batch_retrieve"))


def cancel_batch(ctx: Context, req: Request, flavor: Flavor, batch_id: str) -> Response:
    given = None
    if req.content_length:
        body = req.read_json()
        given = body.get("provider") if isinstance(body, dict) else None
    flavor.provider(req, given)
    now = ctx.now()
    _batch_or_404(ctx, batch_id)
    record = ops.cancel_batch(ctx.store, PROVIDER, batch_id, now)
    return json_response(flavor.shape(_batch_view(ctx, record or {}, now), "batch_cancel"))


ROUTER = Router()
ROUTER.add("POST", r"/files", upload_file)
ROUTER.add("GET", r"/files", list_files)
ROUTER.add("GET", r"/files/(?P<file_id>[^/]+)", retrieve_file)
ROUTER.add("DELETE", r"/files/(?P<file_id>[^/]+)", delete_file)
ROUTER.add("GET", r"/files/(?P<file_id>[^/]+)/content", file_content)
ROUTER.add("POST", r"/uploads", create_upload)
ROUTER.add("POST", r"/uploads/(?P<upload_id>[^/]+)/parts", add_part)
ROUTER.add("POST", r"/uploads/(?P<upload_id>[^/]+)/complete", complete_upload)
ROUTER.add("POST", r"/uploads/(?P<upload_id>[^/]+)/cancel", cancel_upload)
ROUTER.add("POST", r"/batches", create_batch)
ROUTER.add("GET", r"/batches", list_batches)
ROUTER.add("GET", r"/batches/(?P<batch_id>[^/]+)", retrieve_batch)
ROUTER.add("POST", r"/batches/(?P<batch_id>[^/]+)/cancel", cancel_batch)


def authenticate(req: Request) -> None:
    auth = (req.header("authorization") or "").strip()
    if auth[:7].lower() != "bearer " or not auth[7:].strip():
        raise ApiError(401, "authentication_error", "You didn't provide an API key. You need to provide your API key "
                       "in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")


def handle(ctx: Context, req: Request, path: str) -> Response:
    """Serve one request whose path (without :data:`PREFIX`) is ``path``."""
    request_id = "req_" + random_token(32, "0123456789abcdef")
    try:
        authenticate(req)
        handler, params, _ = ROUTER.match(req.method, path)
        if handler is None:
            raise ApiError(404, "invalid_request_error", f"Invalid URL ({req.method} /v1{path})")
        response = handler(ctx, req, NATIVE, **params)
    except ApiError as error:
        response = NATIVE.error(error, "")
    response.add_header("x-request-id", request_id)
    return response
