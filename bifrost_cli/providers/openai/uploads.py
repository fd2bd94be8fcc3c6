"""OpenAI's Uploads API, for a file above the single-request limit: create an Upload, add each part
in order, then complete it with the ordered part ids and the MD5 of the whole file. A part is
retried by the client's one retry policy like any request, sent whole again and hashed again from
the digest of the parts before it; an upload that fails is cancelled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from bifrost_cli.errors import BifrostError, UsageError
from bifrost_cli.models import File
from bifrost_cli.providers.base import UPLOAD_CHUNK, Progress, UploadSource, guess_mime, multipart_body
from bifrost_cli.providers.common import parse_file, path_segment
from bifrost_cli.providers.common import MalformedAnswer, shape

if TYPE_CHECKING:
    from bifrost_cli.providers.openai.api import OpenAIAPI

MAX_UPLOAD_BYTES = 8 * 1000 * 1000 * 1000  # an Upload holds at most 8 GB


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def copy(self) -> _Digest: ...

    def hexdigest(self) -> str: ...


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
    """Send each part in order; the part ids, and the MD5 of the whole file."""
    assert source.size is not None
    digest: _Digest = hashlib.md5(usedforsecurity=False)
    part_ids: list[str] = []
    for offset in range(0, source.size, api.part_size):
        part = _Part(source, offset, min(api.part_size, source.size - offset), digest)
        body = multipart_body(api._fields({}), "data", part, progress)  # type: ignore[arg-type]
        answer = api._call("POST", f"/uploads/{path_segment(upload_id)}/parts", body=body)
        if not isinstance(answer, dict) or not answer.get("id"):
            raise MalformedAnswer(f"expected an upload part with an id, got {shape(answer)}")
        digest = part.digest
        part_ids.append(str(answer["id"]))
    return part_ids, digest.hexdigest()


def _cancel(api: OpenAIAPI, upload_id: str) -> None:
    try:
        api._call("POST", f"/uploads/{path_segment(upload_id)}/cancel", json=api._json_body({}))
    except BifrostError:
        pass  # an abandoned upload expires after an hour anyway


class _Part:
    """A byte range of a file on disk, as ``multipart_body`` reads a source. Each reading (one per
    attempt) hashes the bytes into a fresh copy of ``before``, the digest of the parts before this
    one; ``digest`` is the last reading's."""

    def __init__(self, source: UploadSource, offset: int, size: int, before: _Digest):
        assert source.path is not None
        self.source = source
        self.filename = source.filename
        self.mime_type = "application/octet-stream"
        self.path = source.path
        self.offset = offset
        self.size = size
        self.replayable = True
        self._before = before
        self.digest = before.copy()

    def chunks(self, progress: Progress | None = None) -> Iterator[bytes]:
        """The part's bytes; each is hashed in a worker thread while the next one is sent (MD5
        releases the GIL), at most one chunk behind, and the digest is whole before the body ends."""
        from concurrent.futures import Future, ThreadPoolExecutor

        digest = self.digest = self._before.copy()
        left = self.size
        hashing: Future[None] | None = None
        with ThreadPoolExecutor(max_workers=1) as hasher, open(self.path, "rb") as fh:
            fh.seek(self.offset)
            while left > 0:
                chunk = fh.read(min(UPLOAD_CHUNK, left))
                if not chunk:
                    raise UsageError(f"{self.path} got shorter while it was being uploaded")
                self.source.seen(self.offset + self.size - left, chunk)
                left -= len(chunk)
                if hashing is not None:
                    hashing.result()
                hashing = hasher.submit(digest.update, chunk)
                if progress is not None:
                    progress(len(chunk))
                yield chunk
            if hashing is not None:
                hashing.result()
