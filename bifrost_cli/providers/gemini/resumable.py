"""Gemini's resumable upload protocol: ``start`` gives an upload URL; the bytes go in chunks, each
with its offset, the last one with ``finalize``; ``query`` says how many bytes the server holds.

A chunk lost on the way, or refused for a wrong offset, is sent again from the offset the server
reports, as often and after such waits as the client's :class:`~bifrost_cli.http.retry.RetryPolicy`
allows: resent from the server's own offset a chunk is never held twice, so it is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from bifrost_cli.errors import APIError, ResponseError, UnavailableError, UsageError
from bifrost_cli.http import Body, HttpClient, Response
from bifrost_cli.http.retry import FailedAfterSending, GiveUp
from bifrost_cli.providers.base import Progress, UploadSource

UPLOAD_CHUNK = 8 * 1024 * 1024  # a stream's chunk: a multiple of the protocol's 256 KiB granularity
FILE_READ = 1024 * 1024  # a file's read size as it streams

ReadAnswer = Callable[[Response, str, str], object]
"""Reads an answer's JSON (``response, method, path``); the adapter's own, which knows its routes."""


def start(http: HttpClient, path: str, source: UploadSource) -> str:
    """Open an upload of ``source`` at ``path``; the URL to send its bytes to, on the configured
    origin (the key is only ever sent there)."""
    headers = {
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Type": source.mime_type or "application/octet-stream",
    }
    if source.size is not None:
        headers["X-Goog-Upload-Header-Content-Length"] = str(source.size)
    answer = http.request(
        "POST", path, json={"file": {"display_name": source.filename}}, headers=headers, retry="unsent"
    )
    url = answer.headers.get("x-goog-upload-url")
    if not url:
        raise ResponseError(f"{http.label} did not give an upload URL (no X-Goog-Upload-URL header)")
    parts, base = urlsplit(url), urlsplit(http.base_url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


def send(http: HttpClient, url: str, source: UploadSource, progress: Progress | None, read: ReadAnswer) -> object:
    """Send the bytes; the server's answer to the finalized upload (the file). A file on disk goes
    as one streamed request (``upload, finalize``), resumed from the server's offset by reading
    the file again from there; a stream goes in chunks held in memory, one at a time."""
    if source.path is not None and source.size is not None:
        held = _Chunk(http, url, read, _FileRange(source, progress), 0, True).send()
        if not held.finalized:
            raise ResponseError(f"{http.label} did not finalize the upload of {source.filename}")
        return held.answer
    fh = source.stream
    assert fh is not None
    offset = 0
    chunk = fh.read(UPLOAD_CHUNK)
    while True:
        # A stream is read one chunk ahead: the next chunk says whether this one is the last.
        following = b"" if not chunk else fh.read(UPLOAD_CHUNK)
        last = not following
        source.seen(offset, chunk)
        held = _Chunk(http, url, read, _Memory(chunk, offset), offset, last).send()
        del chunk  # held by nothing now: at most two chunks are in memory
        if progress is not None and held.offset > offset:
            progress(held.offset - offset)
        if held.finalized:
            return held.answer
        offset = held.offset
        if last:
            raise ResponseError(f"{http.label} did not finalize the upload of {source.filename}")
        chunk = following


@dataclass(frozen=True)
class _Held:
    """Where the upload stands after a chunk: the offset reached, and once the server finalized
    the upload, its answer."""

    offset: int
    finalized: bool = False
    answer: object = None


class _Payload(Protocol):
    """What one request of the upload sends: its bytes from an offset on, to its end."""

    end: int

    def body(self, offset: int) -> Body: ...


class _Chunk:
    """One request's worth of the upload, from offset ``start``."""

    def __init__(self, http: HttpClient, url: str, read: ReadAnswer, payload: _Payload, start: int, last: bool):
        self.http, self.url, self.read = http, url, read
        self.payload, self.start, self.last = payload, start, last
        self.end = payload.end

    def send(self) -> _Held:
        """Send the chunk; what was lost on the way is sent again from the server's offset."""
        offset = self.start
        attempt = 0
        while True:
            try:
                response = self._post(offset)
            except (UnavailableError, APIError) as exc:
                resumed = self._resume(exc, offset, attempt)
                if isinstance(resumed, _Held):
                    return resumed
                offset = resumed
                attempt += 1
                continue
            status = (response.headers.get("x-goog-upload-status") or "").lower()
            if status == "final" or (self.last and status != "active"):
                return _Held(self.end, finalized=True, answer=self.read(response, "POST", self.url))
            response.close()
            return _Held(self.end)

    def _post(self, offset: int) -> Response:
        command = "upload, finalize" if self.last else "upload"
        return self.http.request(
            "POST",
            self.url,
            body=self.payload.body(offset),
            headers={"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)},
            retry="unsent",
        )

    def _resume(self, exc: APIError, offset: int, attempt: int) -> int | _Held:
        """After the chunk sent from ``offset`` failed with ``exc`` (lost on the way, or refused
        for a wrong offset): the offset the server holds, to send it again from once the policy's
        wait is over; or the upload, if the server finalized it. Raises ``exc`` when it cannot."""
        lost = isinstance(exc, UnavailableError)
        if not (lost or exc.status == 400):
            raise exc
        decision = self.http.policy.decide(attempt, FailedAfterSending(), mode="idempotent")
        if isinstance(decision, GiveUp):
            raise exc
        status, held, answer = self._query()
        if status == "final":
            return _Held(self.end, finalized=True, answer=answer)
        if not lost and held == offset:
            raise exc  # the refusal was not about the offset
        if not self.start <= held <= self.end:
            raise ResponseError(
                f"the upload cannot resume: the server holds {held} bytes, this chunk starts at {self.start}",
                hint="Upload the file again.",
            ) from None
        self.http.sleep(decision.delay)
        return held

    def _query(self) -> tuple[str, int, object]:
        """Ask the server how much of the upload it holds (``X-Goog-Upload-Command: query``);
        once finalized, its answer is the file."""
        response = self.http.request("POST", self.url, headers={"X-Goog-Upload-Command": "query"})
        status = (response.headers.get("x-goog-upload-status") or "").lower()
        received = _int(response.headers.get("x-goog-upload-size-received"))
        answer = self.read(response, "POST", self.url)
        if received is None and status != "final":
            raise ResponseError("the server did not say how much of the upload it holds (X-Goog-Upload-Size-Received)")
        return status, received or 0, answer


class _Memory:
    """A chunk of a stream, held in memory from offset ``start``."""

    def __init__(self, data: bytes, start: int):
        self.data, self.start = data, start
        self.end = start + len(data)

    def body(self, offset: int) -> Body:
        data = self.data[offset - self.start :]
        return Body(_Bytes(data), length=len(data), content_type="application/octet-stream")


class _FileRange:
    """A file on disk from an offset to its end, read afresh for each request (never held whole);
    progress hears each byte once however often it is sent."""

    def __init__(self, source: UploadSource, progress: Progress | None):
        assert source.path is not None and source.size is not None
        self.source, self.progress = source, progress
        self.end = source.size
        self.reported = 0

    def body(self, offset: int) -> Body:
        return Body(lambda: self._read(offset), length=self.end - offset, content_type="application/octet-stream")

    def _read(self, offset: int) -> Iterator[bytes]:
        source, progress = self.source, self.progress
        assert source.path is not None
        with open(source.path, "rb") as fh:
            fh.seek(offset)
            while offset < self.end:
                chunk = fh.read(min(FILE_READ, self.end - offset))
                if not chunk:
                    raise UsageError(f"{source.path} got shorter while it was being uploaded")
                source.seen(offset, chunk)
                offset += len(chunk)
                if progress is not None and offset > self.reported:
                    progress(offset - self.reported)
                    self.reported = offset
                yield chunk


class _Bytes:
    """A body factory for bytes held in memory: the same bytes on every attempt. Each attempt's
    body is a generator, which lets go of the bytes once sent: the HTTP layer keeps a sent
    request (and its body) in reference cycles that only the garbage collector frees, and a
    list would keep every chunk alive until then (measured: 256 MiB peak for a 1 GiB upload)."""

    def __init__(self, data: bytes):
        self.data = data

    def __call__(self) -> Iterator[bytes]:
        data = self.data
        yield data


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
