"""OpenAI's Uploads API, for a file above the single-request limit: create an Upload, add each part
two at a time, then complete it with the part ids in file order and the MD5 of the whole file,
hashed in order beside the sending. A part is retried by the client's one retry policy like any
request, sent whole again (a part is idempotent: only the ids given to complete count); the create
and the complete are never sent twice blindly; an upload that fails is cancelled.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from bifrost_cli.errors import BifrostError, UsageError
from bifrost_cli.models import File
from bifrost_cli.providers.base import UPLOAD_CHUNK, Progress, UploadSource, guess_mime, multipart_body
from bifrost_cli.providers.common import parse_file, path_segment
from bifrost_cli.providers.common import MalformedAnswer, shape

if TYPE_CHECKING:
    from bifrost_cli.providers.openai.api import OpenAIAPI

MAX_UPLOAD_BYTES = 8 * 1000 * 1000 * 1000  # an Upload holds at most 8 GB
PARTS_IN_FLIGHT = 2
"""Parts sent at once, each on its own connection."""


def upload_in_parts(
    api: OpenAIAPI, source: UploadSource, purpose: str, progress: Progress | None, expires_after: int | None
) -> File:
    """Upload ``source`` (a file on disk) through the Uploads API; the file it becomes."""
    assert source.size is not None
    if source.path is None:
        raise UsageError("a stream this large cannot be uploaded in parts; upload it from a file")
    if source.size > MAX_UPLOAD_BYTES:
        raise UsageError(f"{source.filename} is {source.size:,} bytes; OpenAI takes at most 8 GB per file")
    create: dict[str, object] = {
        "filename": source.filename,
        "purpose": purpose,
        "bytes": source.size,
        "mime_type": source.mime_type or guess_mime(source.filename),
    }
    if expires_after is not None:
        create["expires_after"] = {"anchor": "created_at", "seconds": expires_after}
    upload = api._call("POST", "/uploads", json=api._json_body(create), retry="unsent")
    upload_id = str(upload.get("id") or "") if isinstance(upload, dict) else ""
    if not upload_id:
        raise MalformedAnswer(f"expected an upload object with an id, got {shape(upload)}")
    try:
        part_ids, md5 = _add_parts(api, upload_id, source, progress)
        done = api._call(
            "POST",
            f"/uploads/{path_segment(upload_id)}/complete",
            json=api._json_body({"part_ids": part_ids, "md5": md5}),
            retry="unsent",
        )
    except BaseException:
        _cancel(api, upload_id)
        raise
    file = done.get("file") if isinstance(done, dict) else None
    if not isinstance(file, dict):
        raise MalformedAnswer(f"the completed upload {upload_id} holds no file (got {shape(done)})")
    return parse_file(file, api.provider)


def _add_parts(api: OpenAIAPI, upload_id: str, source: UploadSource, progress: Progress | None) -> tuple[list[str], str]:
    """Send the parts, ``PARTS_IN_FLIGHT`` at a time (each on its own connection, each retried by
    the client's one policy), while the whole file is hashed in order beside them; the part ids in
    file order, and the MD5 of the whole file. A part that fails for good stops the others (at
    their next chunk) and is the error raised."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    assert source.size is not None
    stop = threading.Event()
    advance = _locked(progress)
    path = f"/uploads/{path_segment(upload_id)}/parts"

    def send(offset: int) -> str:
        part = _Part(source, offset, min(api.part_size, source.size - offset), stop)  # type: ignore[operator]
        answer = api._call("POST", path, body=multipart_body(api._fields({}), "data", part, advance))  # type: ignore[arg-type]
        if not isinstance(answer, dict) or not answer.get("id"):
            raise MalformedAnswer(f"expected an upload part with an id, got {shape(answer)}")
        return str(answer["id"])

    hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="md5")
    senders = ThreadPoolExecutor(max_workers=PARTS_IN_FLIGHT, thread_name_prefix="part")
    hashing = hasher.submit(_md5_of, source, stop)
    futures = [senders.submit(send, offset) for offset in range(0, source.size, api.part_size)]
    try:
        wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f.done() and not f.cancelled() and f.exception() is not None]
        part_ids = [future.result() for future in (failed[:1] or futures)]
        return part_ids, hashing.result()
    except BaseException:
        stop.set()  # the parts in flight end at their next chunk; those not begun never begin
        for future in (*futures, hashing):
            future.cancel()
        wait([*futures, hashing])
        raise
    finally:
        senders.shutdown()
        hasher.shutdown()


class _Stopped(BaseException):
    """Ends a part's body when another part failed (never retried: not an error of the request)."""


def _locked(progress: Progress | None) -> Progress | None:
    if progress is None:
        return None
    lock = threading.Lock()

    def advance(n: int) -> None:
        with lock:
            progress(n)

    return advance


def _md5_of(source: UploadSource, stop: threading.Event) -> str:
    """The MD5 of the whole file, read in order beside the parts being sent (MD5 lets go of the
    GIL); the bytes are also handed to ``source.seen`` in order (the ledger's sha256)."""
    assert source.path is not None and source.size is not None
    digest = hashlib.md5(usedforsecurity=False)
    offset = 0
    with open(source.path, "rb") as fh:
        while offset < source.size:
            if stop.is_set():
                raise _Stopped
            chunk = fh.read(min(UPLOAD_CHUNK, source.size - offset))
            if not chunk:
                raise UsageError(f"{source.path} got shorter while it was being uploaded")
            digest.update(chunk)
            source.seen(offset, chunk)
            offset += len(chunk)
    return digest.hexdigest()


def _cancel(api: OpenAIAPI, upload_id: str) -> None:
    try:
        api._call("POST", f"/uploads/{path_segment(upload_id)}/cancel", json=api._json_body({}))
    except BifrostError:
        pass  # an abandoned upload expires after an hour anyway


class _Part:
    """A byte range of a file on disk, as ``multipart_body`` reads a source, read afresh for each
    attempt; ``stop`` ends it at the next chunk."""

    def __init__(self, source: UploadSource, offset: int, size: int, stop: threading.Event):
        assert source.path is not None
        self.filename = source.filename
        self.mime_type = "application/octet-stream"
        self.path = source.path
        self.offset = offset
        self.size = size
        self.replayable = True
        self._stop = stop

    def chunks(self, progress: Progress | None = None) -> Iterator[bytes]:
        left = self.size
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            while left > 0:
                if self._stop.is_set():
                    raise _Stopped
                chunk = fh.read(min(UPLOAD_CHUNK, left))
                if not chunk:
                    raise UsageError(f"{self.path} got shorter while it was being uploaded")
                left -= len(chunk)
                if progress is not None:
                    progress(len(chunk))
                yield chunk
