"""The gateway's core between its routes and its upstreams: one neutral view of files and batches.

A real gateway turns every route's request into a provider-neutral ("Bifrost") request, sends it to
the upstream chosen by the route's provider selector, and converts the neutral answer back to the
route's shape. The routes that serve another provider than their own (``/openai`` with ``provider``
= anthropic or gemini, ``/genai`` with ``x-model-provider`` = openai or anthropic) go through here:

* files: :func:`upload`, :func:`files`, :func:`get_file`, :func:`delete_file`, as neutral file dicts
  ``{"id", "filename", "bytes", "created_at", "purpose", "mime_type", "status"}``;
* batches: :func:`create_inline` (Anthropic-style ``{"custom_id", "params"}`` items),
  :func:`create_from_file`, :func:`batches`, :func:`get_batch`, :func:`cancel_batch`, as neutral batch
  dicts ``{"id", "status", "total", "completed", "failed", "created_at", "ended_at", "input_file_id",
  "output_file_id", "error_file_id", "model", "endpoint"}`` whose ``status`` is one of the gateway's
  own: validating, in_progress, finalizing, completed, failed, expired, cancelling, cancelled.

Upstream ids are kept as they are (Gemini's are already the gateway's ``files-``/``batches-`` forms);
each route maps them to its own forms.
"""

from __future__ import annotations

import json
from typing import Any

from . import engine, ops
from .ops import Context
from .store import open_private
from .web import ApiError, bad_request, not_found

STORE_PROVIDERS = ("anthropic", "openai", "gemini")


def _provider(provider: str) -> str:
    if provider not in STORE_PROVIDERS:
        raise bad_request(f"unsupported_operation: provider {provider} is not supported for this operation")
    return provider


# ---------------------------------------------------------------- files


def file_view(record: dict) -> dict:
    return {
        "id": record["id"],
        "filename": record.get("filename") or "",
        "bytes": record.get("size_bytes") or 0,
        "created_at": record.get("created_at") or 0,
        "purpose": record.get("purpose") or "batch",
        "mime_type": record.get("mime_type") or "application/octet-stream",
        "status": "processed",
        "expires_at": record.get("expires_at"),
    }


def upload(ctx: Context, provider: str, tmp: Any, *, size: int, filename: str, mime_type: str,
           purpose: str | None) -> dict:
    """Store an uploaded temporary file with ``provider``'s upstream; returns its neutral view."""
    try:
        _provider(provider)
        filename = ops.clean_filename(filename, mime_type)
    except ApiError:
        ops.remove_quietly(tmp)
        raise
    record = ops.add_file(ctx.store, provider, tmp, filename=filename, mime_type=mime_type, size=size,
                          created_at=ctx.now(), downloadable=provider == "openai", purpose=purpose or "batch")
    return file_view(record)


def upload_bytes(ctx: Context, provider: str, data: bytes, *, filename: str, mime_type: str,
                 purpose: str | None) -> dict:
    tmp = ctx.store.files(_provider(provider)).temp_path()
    with open_private(tmp, "wb") as fh:
        fh.write(data)
    return upload(ctx, provider, tmp, size=len(data), filename=filename, mime_type=mime_type, purpose=purpose)


def file_record(ctx: Context, provider: str, file_id: str) -> dict:
    record = ops.get_file(ctx.store, _provider(provider), file_id)
    if record is None:
        raise not_found(f"file not found: {file_id}")
    return record


def files(ctx: Context, provider: str) -> list[dict]:
    """Newest first."""
    records = sorted(ctx.store.files(_provider(provider)).all(), key=lambda r: r.get("created_at") or 0, reverse=True)
    return [file_view(r) for r in records]


def get_file(ctx: Context, provider: str, file_id: str) -> dict:
    return file_view(file_record(ctx, provider, file_id))


def delete_file(ctx: Context, provider: str, file_id: str) -> None:
    file_record(ctx, provider, file_id)
    ops.delete_file(ctx.store, provider, file_id)


# ---------------------------------------------------------------- batches


def _status(provider: str, snap: engine.Snapshot) -> str:
    """The upstream's state as the gateway's own status."""
    if snap.phase == "canceling":
        return "cancelling"
    if snap.phase == "ended":
        return "cancelled" if snap.canceled else "completed"
    if snap.phase in ("failed", "expired"):
        return snap.phase
    if provider == "openai":
        return snap.phase  # validating | in_progress | finalizing
    return "in_progress"  # Anthropic's in_progress; Gemini's PENDING and RUNNING


def batch_view(ctx: Context, provider: str, record: dict, now: float) -> dict:
    if provider == "openai":
        from .openai_native import _batch_view

        body = _batch_view(ctx, record, now)
        counts = body["request_counts"]
        ended = next((body[k] for k in ("completed_at", "failed_at", "expired_at", "cancelled_at") if body.get(k)), None)
        return {"id": body["id"], "status": body["status"], "total": counts["total"],
                "completed": counts["completed"], "failed": counts["failed"], "created_at": body["created_at"],
                "ended_at": ended, "input_file_id": body["input_file_id"], "output_file_id": body["output_file_id"],
                "error_file_id": body["error_file_id"], "model": body.get("model"), "endpoint": body["endpoint"]}
    snap = engine.snapshot(record, now)
    head = snap.outcomes[: snap.finished]
    return {
        "id": record["id"],
        "status": _status(provider, snap),
        "total": snap.n,
        "completed": head.count(engine.SUCCEEDED),
        "failed": head.count(engine.ERRORED) + head.count(engine.EXPIRED),
        "created_at": int(record["created_at"]),
        "ended_at": int(snap.ended_at) if snap.done and snap.ended_at is not None else None,
        "input_file_id": record.get("input_file_id") or record.get("input_file") or "",
        "output_file_id": None,
        "error_file_id": None,
        "model": record.get("model"),
        "endpoint": record.get("endpoint") or "/v1/chat/completions",
    }


def _openai_lines(requests: list[dict], endpoint: str) -> bytes:
    lines = []
    for item in requests:
        body = {k: v for k, v in item["params"].items() if k != "url"}
        lines.append(json.dumps({"custom_id": item["custom_id"], "method": "POST", "url": endpoint, "body": body}))
    return ("\n".join(lines) + "\n").encode()


def create_inline(ctx: Context, provider: str, requests: Any, *, model: str | None = None,
                  endpoint: str | None = None) -> dict:
    """A batch from inline ``{"custom_id", "params"}`` items; the OpenAI upstream gets an uploaded JSONL
    file first, as the gateway does. Returns the neutral view."""
    from .gateway import validate_gateway_batch

    _provider(provider)
    if provider == "openai":
        if isinstance(requests, list) and endpoint:
            requests = [{**r, "params": {"url": endpoint, **r["params"]}} if isinstance(r, dict)
                        and isinstance(r.get("params"), dict) else r for r in requests]
        items, _ = validate_gateway_batch({"requests": requests}, provider)
        url = endpoint or items[0]["params"]["url"]
        file = upload_bytes(ctx, "openai", _openai_lines(items, url), filename="batch_requests.jsonl",
                            mime_type="application/jsonl", purpose="batch")
        return create_from_file(ctx, "openai", file["id"], endpoint=url)
    if model and isinstance(requests, list):
        requests = [{**r, "params": {"model": model, **r["params"]}} if isinstance(r, dict)
                    and isinstance(r.get("params"), dict) else r for r in requests]
    items, common_model = validate_gateway_batch({"requests": requests}, provider)
    record = ops.create_batch(ctx.store, provider, items, now=ctx.now(), batch_seconds=ctx.config.batch_seconds,
                              model=common_model)
    return batch_view(ctx, provider, record, record["created_at"])


def create_from_file(ctx: Context, provider: str, file_id: str, *, endpoint: str | None = None,
                     model: str | None = None) -> dict:
    """A batch over an uploaded input file in the upstream's own format (OpenAI JSONL, Gemini
    ``{"key","request"}`` lines); Anthropic has no file-based batches."""
    if provider == "openai":
        from .openai_native import create_from_file as openai_create

        record = openai_create(ctx, file_id, endpoint or "/v1/chat/completions")
    elif provider == "gemini":
        from .gemini_native import _file_requests, store_batch

        if not model:
            raise bad_request("model is required for Gemini batches")
        items, input_file = _file_requests(ctx, file_id)
        record = store_batch(ctx, items, model, input_file)
        record = ctx.store.batches("gemini").update(record["id"], lambda r: {**r, "input_file_id": file_id}) or record
    else:
        raise bad_request(f"unsupported_operation: file-based batches are not supported for provider {provider}; "
                          "send the requests inline")
    return batch_view(ctx, provider, record, record["created_at"])


def batch_record(ctx: Context, provider: str, batch_id: str) -> dict:
    record = ops.get_batch(ctx.store, _provider(provider), batch_id)
    if record is None:
        raise not_found(f"batch not found: {batch_id}")
    if _provider(provider) == "openai":
        from .openai_native import settle

        record = settle(ctx, record)
    return record


def batches(ctx: Context, provider: str) -> list[dict]:
    now = ctx.now()
    return [batch_view(ctx, provider, r, now) for r in ctx.store.batches(_provider(provider)).all()]


def get_batch(ctx: Context, provider: str, batch_id: str) -> dict:
    return batch_view(ctx, provider, batch_record(ctx, provider, batch_id), ctx.now())


def cancel_batch(ctx: Context, provider: str, batch_id: str) -> dict:
    batch_record(ctx, provider, batch_id)
    now = ctx.now()
    record = ops.cancel_batch(ctx.store, provider, batch_id, now)
    return batch_view(ctx, provider, record or batch_record(ctx, provider, batch_id), now)


def delete_batch(ctx: Context, provider: str, batch_id: str) -> None:
    batch_record(ctx, provider, batch_id)
    if provider != "gemini":
        raise bad_request(f"unsupported_operation: batch delete is not supported for provider {provider}")
    ops.delete_batch(ctx.store, provider, batch_id)
