"""Incremental ``multipart/form-data`` parser.

The body is read from a file-like object in fixed-size chunks and each part's data is handed out
chunk by chunk, so a multi-gigabyte upload can be streamed to disk in constant memory. A boundary may
fall anywhere across read chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

READ_SIZE = 256 * 1024
MAX_HEADER_BYTES = 16 * 1024
MAX_PREAMBLE_BYTES = 1024 * 1024


class MultipartError(ValueError):
    """The body is not valid multipart/form-data."""


def _split_params(value: str) -> list[str]:
    """Split a header value on ``;`` outside quoted strings."""
    parts, current, quoted, escaped = [], [], False, False
    for ch in value:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            quoted = not quoted
        elif ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
        out, escaped = [], False
        for ch in value:
            if escaped:
                out.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            else:
                out.append(ch)
        return "".join(out)
    return value


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """``'form-data; name="file"; filename="a.txt"'`` -> ``('form-data', {'name': 'file', 'filename': 'a.txt'})``."""
    items = _split_params(value)
    main = items[0].lower() if items else ""
    params: dict[str, str] = {}
    for item in items[1:]:
        if "=" not in item:
            continue
        key, _, raw = item.partition("=")
        key = key.strip().lower()
        if key.endswith("*"):  # RFC 5987: charset'lang'percent-encoded
            from urllib.parse import unquote

            charset, _, rest = raw.strip().partition("'")
            _, _, encoded = rest.partition("'")
            try:
                params[key[:-1]] = unquote(encoded, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeDecodeError):
                continue
        else:
            params.setdefault(key, _unquote(raw))
    return main, params


def boundary_from_content_type(content_type: str) -> bytes | None:
    kind, params = parse_header_params(content_type or "")
    if kind != "multipart/form-data":
        return None
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        return None
    return boundary.encode("latin-1", "replace")


class Part:
    """One part of the body; read its data (``chunks``/``read``/``save_to``) before moving to the next."""

    def __init__(self, reader: MultipartReader, headers: dict[str, str]) -> None:
        self._reader = reader
        self.headers = headers
        _, disposition = parse_header_params(headers.get("content-disposition", ""))
        self.name: str | None = disposition.get("name")
        self.filename: str | None = disposition.get("filename")
        self.content_type: str | None = headers.get("content-type")
        self._consumed = False

    def chunks(self) -> Iterator[bytes]:
        if self._consumed:
            return
        self._consumed = True
        yield from self._reader._part_data()

    def read(self, limit: int = 1024 * 1024) -> bytes:
        """The whole part (for small form fields); MultipartError beyond ``limit`` bytes."""
        out = bytearray()
        for chunk in self.chunks():
            out += chunk
            if len(out) > limit:
                raise MultipartError(f"form field {self.name!r} is too large")
        return bytes(out)

    def save_to(self, fh: Any) -> int:
        size = 0
        for chunk in self.chunks():
            fh.write(chunk)
            size += len(chunk)
        return size

    def discard(self) -> None:
        for _ in self.chunks():
            pass


class MultipartReader:
    """Iterate over the parts of a multipart body read from ``stream``."""

    def __init__(self, stream: Any, boundary: bytes, read_size: int = READ_SIZE) -> None:
        self._stream = stream
        self._read_size = read_size
        self._delimiter = b"\r\n--" + boundary
        # a leading CRLF lets the first delimiter be found like every later one
        self._buf = bytearray(b"\r\n")
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._stream.read(self._read_size)
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _take_until(self, token: bytes, limit: int, what: str) -> bytes:
        start = 0
        while True:
            index = self._buf.find(token, start)
            if index >= 0:
                out = bytes(self._buf[:index])
                del self._buf[: index + len(token)]
                return out
            if len(self._buf) > limit:
                raise MultipartError(f"multipart {what} too large")
            start = max(0, len(self._buf) - len(token) + 1)
            if not self._fill():
                raise MultipartError(f"unexpected end of multipart body (in {what})")

    def _ensure(self, count: int) -> None:
        while len(self._buf) < count and self._fill():
            pass

    def _part_data(self) -> Iterator[bytes]:
        token = self._delimiter
        keep = len(token) - 1
        while True:
            index = self._buf.find(token)
            if index >= 0:
                if index:
                    yield bytes(self._buf[:index])
                del self._buf[: index + len(token)]
                return
            if len(self._buf) > keep:
                yield bytes(self._buf[:-keep])
                del self._buf[:-keep]
            if not self._fill():
                raise MultipartError("unexpected end of multipart body (missing closing boundary)")

    def __iter__(self) -> Iterator[Part]:
        self._take_until(self._delimiter, MAX_PREAMBLE_BYTES, "preamble")
        while True:
            self._ensure(2)
            if self._buf[:2] == b"--":
                return  # closing delimiter; the epilogue is ignored
            padding = self._take_until(b"\r\n", 1024, "delimiter line")
            if padding.strip(b" \t"):
                raise MultipartError("malformed multipart delimiter")
            self._buf[0:0] = b"\r\n"  # so an empty header section is found like any other
            raw_headers = self._take_until(b"\r\n\r\n", MAX_HEADER_BYTES, "part headers")
            headers: dict[str, str] = {}
            for line in raw_headers.split(b"\r\n"):
                if not line.strip():
                    continue
                name, sep, value = line.partition(b":")
                if not sep:
                    raise MultipartError("malformed multipart part header")
                try:
                    text = value.decode("utf-8")
                except UnicodeDecodeError:
                    text = value.decode("latin-1")
                headers[name.decode("latin-1").strip().lower()] = text.strip()
            part = Part(self, headers)
            yield part
            part.discard()
