"""A thin, httpx-free view of an answer."""

from __future__ import annotations

import json
import socket
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

DIRECT_MIN = 1024 * 1024
"""Bodies at least this long are read straight from the socket (see :func:`_direct_body`)."""


def _direct_body(raw: httpx.Response) -> tuple[socket.socket, bytes, int, float | None] | None:
    """The socket, the body bytes h11 already received, the body's length and the read timeout of
    an answer whose body can be read straight from the socket; None when it cannot, and httpx
    reads it.

    h11 copies every read through its receive buffer twice more before httpx hands it on: for a
    large download that is as much time as the socket reads themselves. Only a body framed by
    Content-Length alone (no Transfer-Encoding, no Content-Encoding), of a GET answered 200 or 206
    over HTTP/1.x, not yet read, on a plain or TLS socket of httpcore's own (not a TLS-in-TLS
    proxy tunnel, not an in-process transport), is read so; anything unexpected on the way to the
    socket means httpx reads it."""
    headers = raw.headers
    if raw.request.method != "GET" or raw.status_code not in (200, 206) or raw.http_version not in ("HTTP/1.1", "HTTP/1.0"):
        return None
    if "transfer-encoding" in headers or (headers.get("content-encoding") or "identity").strip().lower() != "identity":
        return None
    lengths = headers.get_list("content-length")
    if len(lengths) != 1 or not lengths[0].strip().isdigit() or int(lengths[0]) < DIRECT_MIN:
        return None
    if raw.is_stream_consumed or raw.is_closed or raw.num_bytes_downloaded:
        return None
    try:
        import h11
        from httpcore._backends.sync import SyncStream
        from httpcore._sync.http11 import HTTP11ConnectionByteStream

        stream: Any = raw.stream
        stream = getattr(stream, "_stream", None)  # httpx's BoundSyncStream
        stream = getattr(stream, "_httpcore_stream", None)  # httpx's transport's ResponseStream
        stream = getattr(stream, "_stream", None)  # httpcore's pool's PoolByteStream
        if not isinstance(stream, HTTP11ConnectionByteStream):
            return None
        connection = stream._connection
        state = connection._h11_state
        network = connection._network_stream
        if type(network) is not SyncStream or not isinstance(state, h11.Connection):
            return None
        if state.our_state is not h11.DONE or state.their_state is not h11.SEND_BODY:
            return None
        sock = network.get_extra_info("socket")
        leftover, closed = state.trailing_data
        timeout = (raw.request.extensions.get("timeout") or {}).get("read")
    except (ImportError, AttributeError, TypeError):
        return None
    if not isinstance(sock, socket.socket) or closed:
        return None
    return sock, leftover, int(lengths[0]), timeout


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
        through a buffer to cut it to a size; given, pieces of that size).

        A large plain body (see :func:`_direct_body`) is read straight from the socket, each read
        handed on as it came; anything else goes through httpx."""
        direct = _direct_body(self._raw) if chunk_size is None else None
        if direct is not None:
            yield from self._iter_direct(*direct)
            return
        try:
            yield from self._raw.iter_bytes(chunk_size)
        except httpx.HTTPError as exc:
            raise self._broken(exc) from None

    def _iter_direct(self, sock: socket.socket, leftover: bytes, length: int, timeout: float | None) -> Iterator[bytes]:
        """``length`` bytes of body: what h11 already holds, then reads of the socket. The
        connection is left mid-answer as far as httpcore knows, so closing the answer closes it
        (never handed back to the pool); a connection that breaks or a read that times out is
        the same :class:`UnavailableError` as through httpx."""
        raw = self._raw
        raw.is_stream_consumed = True  # a second iteration is httpx's StreamConsumed, never a hang
        remaining = length
        if leftover:
            piece = leftover[:remaining]
            remaining -= len(piece)
            yield piece
        recv = sock.recv
        try:
            sock.settimeout(timeout)
            while remaining:
                data = recv(READ_SIZE if remaining > READ_SIZE else remaining)
                if not data:
                    raise httpx.RemoteProtocolError(
                        f"peer closed connection without sending complete message body: "
                        f"received {length - remaining} bytes, expected {length}"
                    )
                remaining -= len(data)
                yield data
        except TimeoutError as exc:
            raise self._broken(httpx.ReadTimeout(str(exc) or "timed out")) from None
        except OSError as exc:
            raise self._broken(httpx.ReadError(str(exc) or type(exc).__name__)) from None
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
