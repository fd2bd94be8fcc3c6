"""A body that resumes with HTTP Range when it breaks off: the one way every download is read.

:func:`open_ranged` sends a GET and gives a :class:`Ranged`, which reads like a
:class:`~bifrost_cli.http.Response` (``status``, ``headers``, ``json()``, ``iter_bytes()``,
``iter_lines()``). When the body stops arriving (the connection breaks, a read times out, fewer
bytes than its Content-Length came) and the server said it serves ranges (``Accept-Ranges: bytes``
or an ETag), the rest is asked for with ``Range: bytes=N-`` (and ``If-Range: ETAG`` when the ETag
is a strong one, else ``If-Range: LAST-MODIFIED`` when the server gave a date), N being the bytes
already handed on:

- a ``206`` whose ``Content-Range`` starts at N continues the stream, so a reader sees every byte
  once (and a line reader every line once: lines are cut from the bytes, never from a response);
- a ``200`` (the server ignored the range, or the content changed since) starts over only while
  nothing was handed on yet; after that it is :class:`~bifrost_cli.errors.TransferIncomplete`.

How many times, and after how long, is the one retry policy's answer for a body that broke
(:class:`~bifrost_cli.http.retry.BodyBroke`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from bifrost_cli.errors import ResponseError, TransferIncomplete, UnavailableError
from bifrost_cli.http.response import Response
from bifrost_cli.http.retry import BodyBroke, GiveUp, RetryPolicy

if TYPE_CHECKING:
    from bifrost_cli.http.client import HttpClient

Reopen = Callable[[Mapping[str, str]], Response]
"""Send the request again with these extra headers (``Range``, ``If-Range``)."""

CHUNK_SIZE: int | None = None
"""Bytes handed on at a time: None hands on each read as it arrived (one socket read, at most
64 KiB), without copying it through a buffer; what is lost (and asked for again) when the body
breaks off is at most one such read."""

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


def open_ranged(
    http: HttpClient,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Ranged:
    """GET ``path`` as a body that resumes with Range where the server allows it."""

    def reopen(extra: Mapping[str, str]) -> Response:
        return http.request("GET", path, params=params, headers={**(headers or {}), **extra}, stream=True)

    return Ranged(reopen, reopen({}), policy=http.policy, sleep=http.sleep, label=http.label)


class Ranged:
    """A streamed body read across as many responses as it takes (see the module's doc)."""

    def __init__(
        self,
        reopen: Reopen,
        first: Response,
        *,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
        label: str = "the server",
    ):
        self._reopen = reopen
        self._first = first
        self._current = first
        self._policy = policy
        self._sleep = sleep
        self._label = label
        self.handed = 0  # bytes handed on to the reader
        self.resumes = 0  # how many times the body was resumed with Range
        self._etag = first.headers.get("etag")
        encoding = (first.headers.get("content-encoding") or "identity").strip().lower()
        ranges = (first.headers.get("accept-ranges") or "").strip().lower()
        # A coded body (gzip...) is counted in decoded bytes, and ranges count coded ones.
        self._resumable = (
            first.status == 200 and encoding == "identity" and ranges != "none" and (ranges == "bytes" or bool(self._etag))
        )
        self.total = first.content_length if encoding == "identity" else None

    # -- what a Response says ----------------------------------------------------------------

    @property
    def status(self) -> int:
        return self._first.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._first.headers

    @property
    def url(self) -> str:
        return self._first.url

    @property
    def content_type(self) -> str:
        return self._first.content_type

    @property
    def is_html(self) -> bool:
        return self._first.is_html

    @property
    def content_length(self) -> int | None:
        return self._first.content_length

    @property
    def etag(self) -> str | None:
        return self._etag

    def read(self) -> bytes:
        return b"".join(self.iter_bytes())

    def json(self) -> Any:
        data = self.read()
        if not data.strip():
            raise ResponseError(f"{self._label} answered {self.status} with an empty body, not JSON")
        try:
            return json.loads(data)
        except ValueError:
            raise ResponseError(f"{self._label} answered {self.status} with something that is not JSON") from None

    def close(self) -> None:
        self._current.close()

    def __enter__(self) -> Ranged:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the bytes -----------------------------------------------------------------------------

    def iter_bytes(self, chunk_size: int | None = CHUNK_SIZE) -> Iterator[bytes]:
        attempt = 0
        while True:
            try:
                for chunk in self._current.iter_bytes(chunk_size):
                    if chunk:
                        self.handed += len(chunk)
                        yield chunk
                if self.total is None or self.handed >= self.total:
                    return
                broke = UnavailableError(
                    f"{self._label} ended the answer after {self.handed} of the {self.total} bytes it announced",
                    hint="Run the command again.",
                )
            except UnavailableError as exc:
                broke = exc
            self._current.close()
            if not self._resumable:
                raise broke
            decision = self._policy.decide(attempt, BodyBroke())
            if isinstance(decision, GiveUp):
                raise broke
            self._sleep(decision.delay)
            attempt += 1
            self._current = self._resume(broke)

    def _resume(self, broke: UnavailableError) -> Response:
        """The rest of the body from byte ``handed``, or the error that says why not."""
        extra = {"range": f"bytes={self.handed}-"}
        modified = self._first.headers.get("last-modified")
        if self._etag and not self._etag.startswith("W/"):
            extra["if-range"] = self._etag
        elif modified:
            extra["if-range"] = modified  # no strong ETag: the date says whether the file is the same
        response = self._reopen(extra)
        self.resumes += 1
        if response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("content-range") or "")
            total = match.group(3) if match else None
            whole = int(total) if total and total.isdigit() else None
            if match is None or int(match.group(1)) != self.handed or (self.total is not None and whole not in (None, self.total)):
                response.close()
                raise TransferIncomplete(
                    f"the answer from {self._label} broke off after {self.handed} bytes, and the rest it sent "
                    f"does not continue from there (Content-Range: {(response.headers.get('content-range') or '')[:80]!r}); "
                    "nothing was saved",
                    hint="Run the command again.",
                )
            return response
        if response.status == 200 and self.handed == 0:
            self.total = response.content_length
            self._etag = response.headers.get("etag") or self._etag
            return response  # nothing was handed on yet: starting over loses nothing
        response.close()
        if response.status == 200:
            raise TransferIncomplete(
                f"the answer from {self._label} broke off after {self.handed} bytes, and it sent the whole body again "
                "instead of the rest (it ignored the Range request, or the content changed meanwhile); nothing was saved",
                hint="Run the command again.",
            )
        raise broke

    def iter_lines(self) -> Iterator[str]:
        """Lines of the body (UTF-8, without line endings), cut from the bytes across resumes."""
        pending = b""
        for chunk in self.iter_bytes():
            pending += chunk
            if b"\n" not in chunk:
                continue
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.rstrip(b"\r").decode("utf-8", "replace")
        if pending:
            yield pending.rstrip(b"\r").decode("utf-8", "replace")


class ChunkReader:
    """A file-like ``read(n)`` over chunks of bytes (what a streaming parser reads from)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._pending = chunk
        if size < 0 or size >= len(self._pending):
            data, self._pending = self._pending, b""
        else:
            data, self._pending = self._pending[:size], self._pending[size:]
        return data
