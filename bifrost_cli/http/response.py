"""A thin, httpx-free view of an answer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from bifrost_cli.errors import (
    ResponseError,
    UnavailableError,
)
from bifrost_cli.http.secrets import Redactor

CHUNK_SIZE = 1024 * 1024
READ_SIZE = 1024 * 1024
"""Bytes asked of the socket per read. httpcore's own 64 KiB makes a large download spend more
time in h11's per-read bookkeeping than in moving bytes (measured: a 1 GiB download to tmpfs
took 2-3x curl's time with 64 KiB reads, 1.2x with 1 MiB); a read returns what has arrived, so
a small answer is not held back."""


def _tune_reads() -> None:
    import httpcore._sync.http11 as http11

    if getattr(http11.HTTP11Connection, "READ_NUM_BYTES", READ_SIZE) < READ_SIZE:
        http11.HTTP11Connection.READ_NUM_BYTES = READ_SIZE


_tune_reads()
MAX_ERROR_BODY = 64 * 1024  # bytes of an error answer read (a proxy may answer with megabytes)


# --------------------------------------------------------------------------------------------
# responses


class Response:
    """A thin, httpx-free view of an answer, so adapters never touch httpx types.

    A connection that breaks while the body is read raises :class:`UnavailableError`, never an
    httpx exception. ``deadline`` (a ``time.monotonic()`` instant; ``timeout`` the seconds it
    stands for, for the message) bounds :meth:`read` and :meth:`head` as a whole: a server that
    drips its answer is cut off at the deadline (checked as each piece arrives, so it ends at
    most one read timeout later) with the same error as a read that timed out. Streamed reads
    (:meth:`iter_bytes`, :meth:`iter_lines`) have no overall deadline, only the per-read timeout.
    """

    def __init__(
        self,
        raw: httpx.Response,
        redact: Redactor,
        label: str = "the server",
        *,
        deadline: float | None = None,
        timeout: float | None = None,
    ):
        self._raw = raw
        self._redact = redact
        self._label = label
        self._head: bytes | None = None
        self._content: bytes | None = None
        self.deadline = deadline
        self._timeout = timeout

    @property
    def status(self) -> int:
        return self._raw.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._raw.headers

    @property
    def url(self) -> str:
        return str(self._raw.url)

    @property
    def content_type(self) -> str:
        return self._raw.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def is_html(self) -> bool:
        return self.content_type in ("text/html", "application/xhtml+xml")

    @property
    def content_length(self) -> int | None:
        value = self._raw.headers.get("content-length")
        return int(value) if value and value.isdigit() else None

    def read(self) -> bytes:
        if self._content is not None:
            return self._content
        if self.deadline is None:
            try:
                self._content = self._raw.read()
            except httpx.HTTPError as exc:
                raise self._broken(exc) from None
            return self._content
        data = bytearray()
        try:
            for chunk in self._raw.iter_bytes():
                data += chunk
                if time.monotonic() > self.deadline:
                    self._raw.close()
                    raise self._late()
        except httpx.HTTPError as exc:
            raise self._broken(exc) from None
        self._content = bytes(data)
        return self._content

    def text(self) -> str:
        return self.read().decode(self._raw.encoding or "utf-8", "replace")

    def json(self) -> Any:
        data = self.read()
        if not data.strip():
            raise ResponseError(f"{self._redact(self.url)} answered {self.status} with an empty body, not JSON")
        try:
            return json.loads(data)
        except ValueError:
            snippet = self._redact(data[:200].decode("utf-8", "replace"))
            raise ResponseError(
                f"{self._redact(self.url)} answered {self.status} with something that is not JSON: {snippet!r}"
            ) from None

    def head(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """At most ``limit`` bytes of the body (an error answer's: enough for any message), read
        once; a connection that breaks meanwhile leaves what arrived."""
        if self._head is None:
            data = bytearray()
            try:
                for chunk in self._raw.iter_bytes():
                    data += chunk
                    if len(data) >= limit or (self.deadline is not None and time.monotonic() > self.deadline):
                        break
            except (httpx.HTTPError, httpx.StreamError):
                pass
            self._head = bytes(data[:limit])
        return self._head

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The body's bytes as they arrive (``chunk_size`` None: each read as it is, never copied
        through a buffer to cut it to a size; given, pieces of that size)."""
        try:
            yield from self._raw.iter_bytes(chunk_size)
        except httpx.HTTPError as exc:
            raise self._broken(exc) from None

    def iter_lines(self) -> Iterator[str]:
        """Lines of a text body, decoded as UTF-8, without their line endings, streamed."""
        try:
            yield from self._raw.iter_lines()
        except httpx.HTTPError as exc:
            raise self._broken(exc) from None

    def _late(self) -> UnavailableError:
        """The error for an answer still arriving at the deadline (a server dripping it)."""
        request = self._raw.request
        where = f"{request.method} {self._redact(str(request.url))}"
        within = f" within {self._timeout:g} s" if self._timeout is not None else " in time"
        return UnavailableError(
            f"{self._label} did not finish sending the answer to {where}{within} (timed out)",
            hint="Run the command again; if the server is only slow, raise BIFROST_TIMEOUT.",
        )

    def _broken(self, exc: httpx.HTTPError) -> UnavailableError:
        """The error for a body that stopped arriving (the connection broke, or timed out)."""
        request = self._raw.request
        where = f"{request.method} {self._redact(str(request.url))}"
        detail = self._redact(str(exc)) or type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            message = f"{self._label} stopped sending the answer to {where} (timed out): {detail}"
        else:
            message = f"the connection to {self._label} broke while reading the answer to {where}: {detail}"
        return UnavailableError(message, hint="Run the command again.")

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
