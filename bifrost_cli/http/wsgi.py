"""An httpx transport that runs a WSGI application (the built-in emulator) in-process, streaming
request and response bodies both ways, without sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx


class _StreamReader:
    """A file-like ``wsgi.input`` reading lazily from an httpx request stream."""

    def __init__(self, chunks: Iterable[bytes]):
        self._iter = iter(chunks)
        self._buf = bytearray()
        self._done = False

    def _fill(self, n: int | None) -> None:
        while not self._done and (n is None or len(self._buf) < n):
            try:
                self._buf += next(self._iter)
            except StopIteration:
                self._done = True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            self._fill(None)
            n = len(self._buf)
        else:
            self._fill(n)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def readline(self, limit: int = -1) -> bytes:
        while True:
            idx = self._buf.find(b"\n")
            if idx >= 0 and (limit < 0 or idx < limit):
                return self.read(idx + 1)
            if self._done or (0 <= limit <= len(self._buf)):
                return self.read(limit if limit >= 0 else len(self._buf))
            self._fill(len(self._buf) + 65536)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class _WSGIResponseStream(httpx.SyncByteStream):
    def __init__(self, result: Iterable[bytes]):
        self._result = result

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._result:
            if chunk:
                yield chunk

    def close(self) -> None:
        close = getattr(self._result, "close", None)
        if close is not None:
            close()


class WSGIStreamTransport(httpx.BaseTransport):
    """Runs a WSGI app in-process, streaming request and response bodies (httpx's own
    WSGITransport reads whole bodies into memory)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        environ = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url.scheme,
            "wsgi.input": _StreamReader(request.stream),  # type: ignore[arg-type]
            "wsgi.errors": _NullErrors(),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": _unquote_path(url.raw_path.split(b"?", 1)[0]),
            "QUERY_STRING": url.query.decode("ascii"),
            "SERVER_NAME": url.host,
            "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)),
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        for key, value in request.headers.items():
            name = key.upper().replace("-", "_")
            if name == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif name == "CONTENT_LENGTH":
                environ["CONTENT_LENGTH"] = value
            else:
                environ["HTTP_" + name] = value
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = headers
            return lambda data: None

        result = self.app(environ, start_response)
        iterator = iter(result)
        first = b""
        if "status" not in captured:  # a generator app calls start_response on first iteration
            first = next(iterator, b"")
        stream = _WSGIResponseStream(_chain(first, iterator, result))
        return httpx.Response(captured["status"], headers=captured["headers"], stream=stream, request=request)


def _chain(first: bytes, rest: Iterator[bytes], result: Iterable[bytes]) -> Iterator[bytes]:
    try:
        if first:
            yield first
        yield from rest
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _unquote_path(raw: bytes) -> str:
    from urllib.parse import unquote_to_bytes

    return unquote_to_bytes(raw).decode("latin-1")


class _NullErrors:
    def write(self, s: str) -> None:
        pass

    def flush(self) -> None:
        pass
