"""Minimal WSGI plumbing shared by every route: request wrapper, responses, API errors.

Standard library only; nothing here imports an HTTP server.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs

CHUNK_SIZE = 256 * 1024
MAX_JSON_BODY = 256 * 1024 * 1024 + 64 * 1024  # batch create allows 256 MB

_REASONS = {
    200: "OK",
    204: "No Content",
    206: "Partial Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Request Entity Too Large",
    416: "Range Not Satisfiable",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Site Overloaded",
}

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_token(length: int, alphabet: str = _B62) -> str:
    """A random string over ``alphabet`` (used for object ids)."""
    raw = os.urandom(length)
    return "".join(alphabet[b % len(alphabet)] for b in raw)


class ApiError(Exception):
    """An error answer; each API surface renders it in its own JSON shape."""

    def __init__(self, status: int, type_: str, message: str, *, details: dict | None = None,
                 headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.details = details
        self.headers = headers or []


def bad_request(message: str, **kw: Any) -> ApiError:
    return ApiError(400, "invalid_request_error", message, **kw)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found_error", message)


class LimitedReader:
    """Reads at most ``remaining`` bytes from a WSGI input stream (PEP 3333 forbids reading past it)."""

    def __init__(self, stream: Any, length: int) -> None:
        self._stream = stream
        self.remaining = length

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = self._stream.read(size)
        self.remaining -= len(data)
        if not data:
            self.remaining = 0
        return data


class Request:
    """The parts of a WSGI environ the routes need."""

    def __init__(self, environ: dict) -> None:
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or "/"
        try:  # PEP 3333: PATH_INFO holds bytes decoded as latin-1
            path = path.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        self.path = path
        self.query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        self.content_type = environ.get("CONTENT_TYPE", "") or ""
        raw_length = (environ.get("CONTENT_LENGTH") or "").strip()
        self.content_length: int | None = int(raw_length) if raw_length.isdigit() else None
        stream = environ.get("wsgi.input")
        if stream is None:
            self.body: Any = LimitedReader(None, 0)
        elif self.content_length is not None:
            self.body = LimitedReader(stream, self.content_length)
        else:
            self.body = stream  # chunked: the server's reader returns b"" at the end

    def header(self, name: str, default: str | None = None) -> str | None:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            value = self.environ.get(key)
        else:
            value = self.environ.get("HTTP_" + key)
        return default if value is None else value

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    @property
    def base_url(self) -> str:
        scheme = self.environ.get("wsgi.url_scheme", "http")
        host = self.environ.get("HTTP_HOST")
        if not host:
            host = self.environ.get("SERVER_NAME", "localhost")
            port = str(self.environ.get("SERVER_PORT", ""))
            if port and port not in ("80", "443"):
                host = f"{host}:{port}"
        return f"{scheme}://{host}"

    def read_body(self, limit: int = MAX_JSON_BODY) -> bytes:
        """Read the whole (small) body in chunks, refusing more than ``limit`` bytes."""
        if self.content_length is not None and self.content_length > limit:
            raise ApiError(413, "request_too_large", f"Request exceeds the maximum allowed size of {limit} bytes")
        parts: list[bytes] = []
        total = 0
        while True:
            chunk = self.body.read(CHUNK_SIZE)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise ApiError(413, "request_too_large", f"Request exceeds the maximum allowed size of {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    def read_json(self) -> Any:
        raw = self.read_body()
        if not raw.strip():
            raise bad_request("Request body is empty; expected a JSON object")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request(f"Request body is not valid JSON: {exc}") from None

    def drain(self) -> None:
        """Discard any unread request body."""
        try:
            while self.body.read(CHUNK_SIZE):
                pass
        except Exception:  # noqa: BLE001 - best effort
            pass


class Response:
    """A WSGI response: status, headers and an iterable of bytes."""

    def __init__(self, status: int = 200, body: Iterable[bytes] | bytes = b"",
                 headers: list[tuple[str, str]] | None = None, content_type: str | None = None,
                 length: int | None = None) -> None:
        self.status = status
        self.etag: str | None = None
        """Set on byte-stream answers (file content, results JSONL): they then honour ``Range``."""
        self.headers: list[tuple[str, str]] = list(headers or [])
        if content_type:
            self.headers.append(("Content-Type", content_type))
        if isinstance(body, bytes):
            self.headers.append(("Content-Length", str(len(body))))
            self.body: Iterable[bytes] = [body]
        else:
            if length is not None:
                self.headers.append(("Content-Length", str(length)))
            self.body = body

    def add_header(self, name: str, value: str) -> None:
        self.headers.append((name, value))

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    def remove_header(self, name: str) -> None:
        lower = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != lower]

    def close(self) -> None:
        """Release the body (an open file) of an answer that will not be sent."""
        close = getattr(self.body, "close", None)
        if close is not None:
            close()

    def __call__(self, start_response: Any) -> Iterable[bytes]:
        reason = _REASONS.get(self.status, "Unknown")
        start_response(f"{self.status} {reason}", self.headers)
        return self.body


def json_response(data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(status, body, headers, content_type="application/json")


class FileStream:
    """Streams a file's bytes in chunks; the file is opened at once (so a later delete cannot break it)."""

    def __init__(self, path: Any, chunk_size: int = CHUNK_SIZE) -> None:
        self._fh = open(path, "rb")
        self._chunk_size = chunk_size
        self._left: int | None = None

    def limit(self, start: int, length: int) -> FileStream:
        """Serve only ``length`` bytes from offset ``start`` (a byte range)."""
        self._fh.seek(start)
        self._left = length
        return self

    def __iter__(self) -> Iterator[bytes]:
        try:
            while True:
                size = self._chunk_size if self._left is None else min(self._chunk_size, self._left)
                chunk = self._fh.read(size) if size > 0 else b""
                if not chunk:
                    return
                if self._left is not None:
                    self._left -= len(chunk)
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self._fh.close()


class Router:
    """Method + regular-expression routes; named groups become handler keyword arguments."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, Any, Any, str]] = []

    def add(self, method: str, pattern: str, handler: Any, name: str = "") -> None:
        self._routes.append((method, re.compile(f"^{pattern}$"), handler, name or handler.__name__))

    def match(self, method: str, path: str) -> tuple[Any, dict[str, str], str]:
        """``(handler, params, name)``; on no match ``(None, {}, "")``."""
        for route_method, regex, handler, name in self._routes:
            found = regex.match(path)
            if found and route_method == method:
                return handler, found.groupdict(), name
        return None, {}, ""


# ---------------------------------------------------------------- byte ranges (RFC 9110 section 14)

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def _slice(body: Iterable[bytes], start: int, length: int) -> Iterator[bytes]:
    skip, left = start, length
    try:
        for chunk in body:
            if skip:
                if len(chunk) <= skip:
                    skip -= len(chunk)
                    continue
                chunk, skip = chunk[skip:], 0
            if left <= 0:
                return
            yield chunk[:left]
            left -= min(len(chunk), left)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def apply_range(req: Request, response: Response) -> Response:
    """Make a byte-stream answer (``response.etag`` set, ``Content-Length`` known) honour ``Range``.

    Adds ``Accept-Ranges: bytes`` and the ``ETag``; ``Range: bytes=START-``, ``START-END`` or ``-SUFFIX``
    answers 206 with ``Content-Range``; a range starting past the end answers 416 with
    ``Content-Range: bytes */SIZE``; an ``If-Range`` that is not the current ETag (or several ranges, or a
    malformed header) answers the whole content (200).
    """
    etag = response.etag
    if etag is None or response.status != 200 or req.method not in ("GET", "HEAD"):
        return response
    response.add_header("Accept-Ranges", "bytes")
    response.add_header("ETag", etag)
    raw = req.header("range")
    length_text = response.header("Content-Length")
    if not raw or length_text is None or not length_text.isdigit():
        return response
    if_range = req.header("if-range")
    if if_range is not None and if_range.strip() != etag:
        return response
    found = _RANGE.match(raw)
    if not found or not (found.group(1) or found.group(2)):
        return response
    size = int(length_text)
    first, last = found.group(1), found.group(2)
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
        if last and int(last) < start:
            return response  # syntactically invalid: ignored
    else:
        start, end = max(0, size - int(last)), size - 1
        if int(last) == 0:
            start = size
    if start >= size:
        response.close()
        answer = Response(416, b"", headers=[("Content-Range", f"bytes */{size}"), ("Accept-Ranges", "bytes"),
                                              ("ETag", etag)])
        return answer
    length = end - start + 1
    if isinstance(response.body, FileStream):
        body: Iterable[bytes] = response.body.limit(start, length)
    else:
        body = _slice(response.body, start, length)
    response.status = 206
    response.body = body
    response.remove_header("Content-Length")
    response.add_header("Content-Length", str(length))
    response.add_header("Content-Range", f"bytes {start}-{end}/{size}")
    return response
