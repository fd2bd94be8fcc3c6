"""Serve the emulator's WSGI application over HTTP/1.1 with the standard library.

:func:`make_server` returns a :class:`EmulatorServer` (a ``ThreadingHTTPServer``). Request bodies may
use ``Content-Length`` or ``Transfer-Encoding: chunked``; responses use ``Content-Length`` when the
application gives one and chunked transfer encoding otherwise.

Fault injection's body-level kinds (:mod:`.faults`) leave instructions in the environ under
``faults.WIRE_KEY``, honoured here and never sent: ``close`` ends the body by closing the connection
(no chunked encoding, ``Connection: close``; with a ``Content-Length`` larger than the body sent, the
client sees a reset), ``stream`` sends the headers before the first body byte and flushes every chunk.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from .app import create_app
from .config import EmulatorConfig
from .faults import WIRE_KEY

_MAX_DRAIN = 4 * 1024 * 1024  # unread request bodies larger than this close the connection instead


class ChunkedReader(io.RawIOBase):
    """Decodes a ``Transfer-Encoding: chunked`` request body; ``read()`` returns ``b""`` at the end."""

    def __init__(self, raw: Any) -> None:
        super().__init__()
        self._raw = raw
        self._left = 0  # bytes left in the current chunk
        self._done = False

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> None:
        line = self._raw.readline(65537)
        if not line:
            raise ConnectionError("connection closed inside a chunked body")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ValueError(f"bad chunk size line {line!r}") from None
        if size == 0:
            while True:  # trailer section up to the empty line
                trailer = self._raw.readline(65537)
                if trailer in (b"\r\n", b"\n", b""):
                    break
            self._done = True
        self._left = size

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts: list[bytes] = []
            while True:
                chunk = self.read(1 << 20)
                if not chunk:
                    return b"".join(parts)
                parts.append(chunk)
        if self._done or size == 0:
            return b""
        if self._left == 0:
            self._next_chunk()
            if self._done:
                return b""
        data = self._raw.read(min(size, self._left))
        if not data:
            raise ConnectionError("connection closed inside a chunk")
        self._left -= len(data)
        if self._left == 0:
            self._raw.readline(3)  # CRLF after the chunk data
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        out = bytearray()
        while size is None or size < 0 or len(out) < size:
            ch = self.read(1)
            if not ch:
                break
            out += ch
            if ch == b"\n":
                break
        return bytes(out)


class _LengthReader(io.RawIOBase):
    """A ``Content-Length`` body: reads stop at the declared length."""

    def __init__(self, raw: Any, length: int) -> None:
        super().__init__()
        self._raw = raw
        self.remaining = length

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = self._raw.read(size)
        self.remaining -= len(data)
        if not data:
            self.remaining = 0
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        limit = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self._raw.readline(limit)
        self.remaining -= len(data)
        return data


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    """Turns each HTTP request into a WSGI call."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024  # headers and small bodies leave in one segment (flushed after each response)
    server: EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the default stderr log
        pass

    def handle_expect_100(self) -> bool:
        """Answer ``100 Continue`` at once: the buffered writer would otherwise hold it back and a client
        (boto3's S3 PutObject) would wait out its own timeout before sending the body."""
        self.send_response_only(100)
        self.end_headers()
        self.wfile.flush()
        return True

    def _handle(self) -> None:
        started = time.monotonic()
        status_code = "500"
        try:
            status_code = self._run_app()
        finally:
            log = self.server.log
            if log is not None:
                elapsed = (time.monotonic() - started) * 1000
                log(f"{self.command} {self.path} {status_code} {elapsed:.1f}ms")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def _environ(self, body: Any) -> dict:
        path, _, query = self.path.partition("?")
        if path.startswith(("http://", "https://")):  # absolute-form request target
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        host, port = self.server.server_address[:2]
        environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, encoding="latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": body,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = value
            else:
                http_key = "HTTP_" + key
                environ[http_key] = f"{environ[http_key]},{value}" if http_key in environ else value
        return environ

    def _run_app(self) -> str:
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        if chunked:
            body: Any = ChunkedReader(self.rfile)
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.send_error(400, "bad Content-Length")
                return "400"
            body = _LengthReader(self.rfile, max(0, length))
        environ = self._environ(body)
        if chunked:
            environ.pop("CONTENT_LENGTH", None)

        state: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            if exc_info and state.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            state["status"], state["headers"] = status, headers
            return write

        pending: list[bytes] = []

        def write(data: bytes) -> None:  # legacy WSGI write(); buffered until the body starts
            pending.append(data)

        result = self.server.app(environ, start_response)
        wire = environ.pop(WIRE_KEY, None) or {}
        try:
            self._drain(body)
            self._send(state, pending, result, wire)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return state.get("status", "500").split(" ", 1)[0]

    def _drain(self, body: Any) -> None:
        """Consume what the application left unread so the connection can be reused."""
        remaining = getattr(body, "remaining", None)
        if remaining is not None and remaining > _MAX_DRAIN:
            self.close_connection = True
            return
        drained = 0
        while drained <= _MAX_DRAIN:
            chunk = body.read(65536)
            if not chunk:
                return
            drained += len(chunk)
        self.close_connection = True

    def _send(self, state: dict, pending: list[bytes], result: Iterable[bytes], wire: dict) -> None:
        iterator = iter(result)
        first = b""
        streaming = bool(wire.get("stream"))
        if not streaming:
            for first in iterator:  # run the app's generator up to its first bytes before the headers
                if first:
                    break
        if wire.get("close"):
            self.close_connection = True
        status = state.get("status", "500 Internal Server Error")
        code, _, reason = status.partition(" ")
        headers = state.get("headers", [])
        has_length = any(k.lower() == "content-length" for k, _ in headers)
        use_chunked = (not has_length and self.request_version == "HTTP/1.1" and self.command != "HEAD"
                       and not wire.get("close"))
        self.send_response(int(code), reason)
        for key, value in headers:
            self.send_header(key, value)
        if use_chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif not has_length and self.command != "HEAD":
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if streaming:
            self.wfile.flush()

        def emit(data: bytes) -> None:
            if not data:
                return
            if use_chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self.wfile.write(data)
            if streaming:
                self.wfile.flush()

        for data in pending:
            emit(data)
        emit(first)
        for data in iterator:
            emit(data)
        if use_chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class EmulatorServer(ThreadingHTTPServer):
    """A threaded HTTP server running the emulator app; ``url`` is its base URL."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: Callable, log: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.log = log
        super().__init__(address, EmulatorRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (it timed out on a stall, gave up on a drip) is not an error."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        if ":" in name:
            name = f"[{name}]"
        return f"http://{name}:{port}"


def make_server(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 8080,
                log: Callable[[str], None] | None = None) -> EmulatorServer:
    """Create (but do not start) a server for the emulator; call ``serve_forever()`` to run it."""
    if ":" in host:
        import socket

        class _V6Server(EmulatorServer):
            address_family = socket.AF_INET6

        return _V6Server((host, port), create_app(config), log)
    return EmulatorServer((host, port), create_app(config), log)
