"""A thin, httpx-free view of an answer."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from bifrost_cli.errors import (
    ResponseError,
    UnavailableError,
)
from bifrost_cli.http.secrets import Redactor

CHUNK_SIZE = 1024 * 1024
MAX_ERROR_BODY = 64 * 1024  # bytes of an error answer read (a proxy may answer with megabytes)


# --------------------------------------------------------------------------------------------
# responses


class Response:
    """A thin, httpx-free view of an answer, so adapters never touch httpx types.

    A connection that breaks while the body is read raises :class:`UnavailableError`, never an
    httpx exception.
    """

    def __init__(self, raw: httpx.Response, redact: Redactor, label: str = "the server"):
        self._raw = raw
        self._redact = redact
        self._label = label
        self._head: bytes | None = None

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
        try:
            return self._raw.read()
        except httpx.HTTPError as exc:
            raise self._broken(exc) from None

    def text(self) -> str:
        self.read()
        return self._raw.text

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
                    if len(data) >= limit:
                        break
            except (httpx.HTTPError, httpx.StreamError):
                pass
            self._head = bytes(data[:limit])
        return self._head

    def iter_bytes(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
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
