"""Operations shared by the emulator's surfaces: files, batches and their results.

Every surface (each provider's native API and each gateway route) stores into the same emulated
upstreams (``anthropic``, ``openai``, ``gemini``; Bedrock's jobs keep their data in S3 and are in
``bedrock_native``); the surfaces only differ in how they shape requests and answers.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import engine
from .multipart import MultipartError, MultipartReader, boundary_from_content_type
from .store import Collection, Store, atomic_write_bytes, open_private
from .web import Request, bad_request, random_token

if TYPE_CHECKING:
    from .config import EmulatorConfig

PROVIDERS = ("anthropic", "openai", "gemini")

_LOWER = "0123456789abcdefghijklmnopqrstuvwxyz"
_HEX = "0123456789abcdef"

_FILENAME_FORBIDDEN = set('<>:"|?*\\/') | {chr(c) for c in range(32)}
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_BATCH_REQUESTS = 100_000
BATCH_LIFETIME = 24 * 3600


@dataclass
class Context:
    """What a route handler needs: the configuration and the state store."""

    config: EmulatorConfig
    store: Store

    def now(self) -> float:
        return float(self.config.clock()) + self.config.clock_offset


def new_file_id(provider: str) -> str:
    if provider == "openai":
        return "file-" + random_token(24)
    if provider == "gemini":
        return "files-" + random_token(12, _LOWER)
    return "file_011" + random_token(22)


def new_batch_id(provider: str) -> str:
    if provider == "openai":
        return "batch_" + random_token(32, _HEX)
    if provider == "gemini":
        return "batches-" + random_token(12, _LOWER)
    return "msgbatch_01" + random_token(22)


def rfc3339(ts: float, *, micros: bool = True) -> str:
    moment = datetime.fromtimestamp(ts, tz=UTC)
    if micros:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- files


def clean_filename(raw: str | None, mime_type: str) -> str:
    """Keep the last path component; reject names Anthropic rejects; name empty ones ``unnamed``."""
    name = (raw or "").rsplit("/", 1)[-1]
    if not name:
        import mimetypes

        return "unnamed" + (mimetypes.guess_extension(mime_type) or "")
    if len(name) > 255:
        raise bad_request("Invalid filename: must be between 1 and 255 characters")
    bad = sorted({ch for ch in name if ch in _FILENAME_FORBIDDEN})
    if bad:
        shown = ", ".join(repr(ch) if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in bad)
        raise bad_request(f"Invalid filename {name!r}: must not contain {shown}")
    return name


def guess_mime(filename: str | None, declared: str | None) -> str:
    declared = (declared or "").split(";", 1)[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    if filename:
        import mimetypes

        guessed, _ = mimetypes.guess_type(filename)
        if guessed:
            return guessed
        if filename.lower().endswith(".jsonl"):
            return "application/jsonl"
    return declared or "application/octet-stream"


def receive_upload(req: Request, files: Collection, file_field: str = "file") -> tuple[dict[str, str], dict[str, Any]]:
    """Stream a multipart upload: the ``file`` part (or ``file_field``) goes to a temporary file, small
    fields are returned.

    Returns ``(fields, upload)`` where upload has ``tmp``, ``filename``, ``content_type`` and ``size``.
    """
    boundary = boundary_from_content_type(req.content_type)
    if boundary is None:
        raise bad_request("Expected a multipart/form-data body with a boundary")
    fields: dict[str, str] = {}
    upload: dict[str, Any] | None = None
    tmp = files.temp_path()
    try:
        for part in MultipartReader(req.body, boundary):
            if part.name == file_field and upload is None:
                with open_private(tmp, "wb") as fh:
                    size = part.save_to(fh)
                upload = {"tmp": tmp, "filename": part.filename, "content_type": part.content_type, "size": size}
            elif part.name and part.filename is None:
                fields[part.name] = part.read(64 * 1024).decode("utf-8", "replace")
            else:
                part.discard()
    except MultipartError as exc:
        remove_quietly(tmp)
        raise bad_request(f"Malformed multipart body: {exc}") from None
    except BaseException:
        remove_quietly(tmp)
        raise
    if upload is None:
        remove_quietly(tmp)
        raise bad_request(f"{file_field}: Field required")
    return fields, upload


def store_stream_as_file(stream: Any, files: Collection) -> tuple[Any, int]:
    """Copy a raw body stream to a temporary file in chunks; returns ``(tmp_path, size)``."""
    tmp = files.temp_path()
    size = 0
    try:
        with open_private(tmp, "wb") as fh:
            while True:
                chunk = stream.read(256 * 1024)
                if not chunk:
                    break
                fh.write(chunk)
                size += len(chunk)
    except BaseException:
        remove_quietly(tmp)
        raise
    return tmp, size


def remove_quietly(path: Any) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def add_file(store: Store, provider: str, tmp: Any, *, filename: str, mime_type: str, size: int,
             created_at: float, downloadable: bool, purpose: str | None = None, **extra: Any) -> dict:
    files = store.files(provider)
    if "sha256" not in extra:
        extra["sha256"] = sha256_b64(tmp)
    record = {
        **extra,
        "id": new_file_id(provider),
        "provider": provider,
        "filename": filename,
        "mime_type": mime_type,
        "size_bytes": size,
        "created_at": created_at,
        "downloadable": downloadable,
        "purpose": purpose,
    }
    try:
        return files.create(record, blobs={".data": tmp})
    except BaseException:
        remove_quietly(tmp)
        raise


def sha256_b64(path: Any) -> str:
    """Base64 of the SHA-256 of a file's content (Gemini's ``sha256Hash``; also the files' ETag)."""
    import base64
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def file_etag(record: dict) -> str:
    """A strong ETag for a stored file's content: its SHA-256 in hex (or its id and size for old records)."""
    import base64

    raw = record.get("sha256")
    if raw:
        try:
            return '"' + base64.b64decode(raw).hex() + '"'
        except ValueError:
            pass
    return f'"{record["id"]}-{record.get("size_bytes", 0)}"'


def get_file(store: Store, provider: str, file_id: str) -> dict | None:
    return store.files(provider).get(file_id)


def file_data_path(store: Store, provider: str, file_id: str) -> Any:
    return store.files(provider).path_for(file_id, ".data")


def delete_file(store: Store, provider: str, file_id: str) -> bool:
    return store.files(provider).delete(file_id, (".data",))


# ---------------------------------------------------------------- paging


def parse_limit(raw: str | None, *, default: int, maximum: int = 1000, strict: bool = True) -> int:
    """Parse a page size; ``strict`` answers 400 for bad values, otherwise ``default`` is used."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        if strict:
            raise bad_request(f"limit: Input should be a valid integer, unable to parse {raw!r}") from None
        return default
    if strict and not 1 <= value <= maximum:
        raise bad_request(f"limit: Input should be between 1 and {maximum}")
    return max(1, min(value, maximum))


def page_of(records: list[dict], *, limit: int, after_id: str | None = None,
            before_id: str | None = None) -> tuple[list[dict], bool]:
    """Slice a newest-first list after/before a cursor id. Returns ``(page, has_more)``.

    An unknown cursor gives an empty page.
    """
    ids = [r["id"] for r in records]
    if after_id:
        if after_id not in ids:
            return [], False
        rest = records[ids.index(after_id) + 1:]
        return rest[:limit], len(rest) > limit
    if before_id:
        if before_id not in ids:
            return [], False
        head = records[: ids.index(before_id)]
        return head[-limit:], len(head) > limit
    return records[:limit], len(records) > limit


# ---------------------------------------------------------------- batches


def validate_anthropic_batch_body(body: Any) -> list[dict]:
    """Synchronous validation of a Message Batches create body, like the real API."""
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    extra = sorted(set(body) - {"requests"})
    if extra:
        raise bad_request(f"{extra[0]}: Extra inputs are not permitted")
    requests = body.get("requests")
    if requests is None:
        raise bad_request("requests: Field required")
    if not isinstance(requests, list):
        raise bad_request("requests: Input should be a valid list")
    if not requests:
        raise bad_request("requests: List should have at least 1 item after validation, not 0")
    if len(requests) > MAX_BATCH_REQUESTS:
        raise bad_request(f"requests: List should have at most {MAX_BATCH_REQUESTS} items after validation, "
                          f"not {len(requests)}")
    seen: set[str] = set()
    for index, item in enumerate(requests):
        where = f"requests.{index}"
        if not isinstance(item, dict):
            raise bad_request(f"{where}: Input should be a valid dictionary")
        extra = sorted(set(item) - {"custom_id", "params"})
        if extra:
            raise bad_request(f"{where}.{extra[0]}: Extra inputs are not permitted")
        if "custom_id" not in item:
            raise bad_request(f"{where}.custom_id: Field required")
        if "params" not in item:
            raise bad_request(f"{where}.params: Field required")
        custom_id = item["custom_id"]
        if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
            raise bad_request(f"{where}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
        if custom_id in seen:
            raise bad_request(f"Duplicate custom_id {custom_id!r}: custom_id values must be unique within a batch")
        seen.add(custom_id)
        if not isinstance(item["params"], dict):
            raise bad_request(f"{where}.params: Input should be a valid dictionary")
    return requests


def create_batch(store: Store, provider: str, requests: list[dict], *, now: float, batch_seconds: float,
                 model: str | None = None) -> dict:
    batch_id = new_batch_id(provider)
    plan = [engine.plan_request(batch_id, str(item.get("custom_id", f"request-{i + 1}")), item.get("params"))
            for i, item in enumerate(requests)]
    record = engine.new_batch_record(batch_id, provider, plan, created_at=now, batch_seconds=batch_seconds,
                                     fate=engine.batch_fate(provider, requests), model=model)
    return store.batches(provider).create(record, documents={".plan.json": plan})


def get_batch(store: Store, provider: str, batch_id: str) -> dict | None:
    return store.batches(provider).get(batch_id)


def cancel_batch(store: Store, provider: str, batch_id: str, now: float) -> dict | None:
    """Ask for cancellation (idempotent while canceling); an ended batch cannot be canceled (400)."""
    state: dict[str, Any] = {}

    def change(record: dict) -> dict | None:
        snap = engine.snapshot(record, now)
        if snap.done:
            state["done"] = snap.phase
            return None
        if record.get("cancel_at") is not None:
            return None
        return {**record, "cancel_at": now}

    record = store.batches(provider).update(batch_id, change)
    if record is not None and "done" in state:
        raise bad_request(f"Batch {batch_id} cannot be canceled: its processing has already {state['done']}")
    return record


RESULTS_SUFFIX = ".results.jsonl"
RESULTS_ETAG_SUFFIX = ".results.etag"


def delete_batch(store: Store, provider: str, batch_id: str) -> bool:
    return store.batches(provider).delete(batch_id, (".plan.json", RESULTS_SUFFIX, RESULTS_ETAG_SUFFIX))


def stored_results(store: Store, provider: str, batch_id: str, lines: Callable[[], Iterable[bytes]]) -> tuple[Any, int, str]:
    """An ended batch's results body as a file in its state directory: ``(path, size, etag)``.

    An ended batch's results never change, so the body is built from ``lines`` once (on the first
    request) and then served as stored bytes. The ETag (the body's SHA-256) is written before the body
    is put in place; a body without one (a crash between the two) has it computed again."""
    import hashlib

    batches = store.batches(provider)
    path = batches.path_for(batch_id, RESULTS_SUFFIX)
    etag_path = batches.path_for(batch_id, RESULTS_ETAG_SUFFIX)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        digest = hashlib.sha256()
        size = 0
        tmp = batches.temp_path()
        try:
            with open_private(tmp, "wb") as fh:
                for line in lines():
                    digest.update(line)
                    size += len(line)
                    fh.write(line)
            etag = '"' + digest.hexdigest() + '"'
            atomic_write_bytes(etag_path, etag.encode())
            os.replace(tmp, path)
        finally:
            remove_quietly(tmp)
        return path, size, etag
    try:
        etag = etag_path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        etag = ""
    if not etag:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        etag = '"' + digest.hexdigest() + '"'
        atomic_write_bytes(etag_path, etag.encode())
    return path, size, etag


def batch_plan(store: Store, provider: str, batch_id: str) -> list[list]:
    return store.batches(provider).read_document(batch_id, ".plan.json") or []


def ordered_results(store: Store, record: dict, snap: engine.Snapshot) -> list[tuple[list, str]]:
    """``(plan_entry, final_outcome)`` pairs in the (deterministic, not input) result order."""
    plan = batch_plan(store, record["provider"], record["id"])
    return [(plan[i], snap.final_outcome(i)) for i in engine.result_order(record["id"], plan)]


