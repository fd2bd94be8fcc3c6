"""The one HTTP layer: the only module that imports httpx.

- client construction with connect/read timeouts;
- retries as :mod:`bifrost_cli.http.retry`'s one policy decides (exponential backoff and jitter,
  honouring ``x-should-retry``, ``retry-after-ms`` and ``retry-after``; a request that must not be
  sent twice, a batch create, is retried only when the server cannot have received it);
- mapping of error answers and transport failures onto :mod:`bifrost_cli.errors`;
- secret redaction in the verbose log and in every message built from a server answer;
- credentials are sent only to the configured origin, and never over plain HTTP to a host that is
  not loopback.

:mod:`bifrost_cli.http.wsgi` runs a WSGI application (the built-in emulator) in-process, without sockets.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx

from bifrost_cli.errors import (
    APIError,
    AuthError,
    BifrostError,
    ConflictError,
    ExitCode,
    NotFoundError,
    RateLimitError,
    ResponseError,
    UnavailableError,
    UsageError,
)
from bifrost_cli.http.retry import (
    DEFAULT_MAX_RETRIES,
    BodyBroke,
    Cause,
    ErrorAdvice,
    ErrorStatus,
    FailedAfterSending,
    GiveUp,
    NeverConnected,
    RetryMode,
    RetryPolicy,
)

CHUNK_SIZE = 1024 * 1024
MAX_ERROR_BODY = 64 * 1024  # bytes of an error answer read (a proxy may answer with megabytes)
MAX_MESSAGE = 1000  # characters of a server's error message shown

UNSENT_HINT = (
    "The server may have received the request and acted on it; check (for example with "
    "`bifrost batches list`) before running it again."
)

# Headers that carry credentials whatever the provider (each provider's spec adds its own).
GATEWAY_SECRET_HEADERS = frozenset({"authorization", "x-bf-vk", "x-bf-api-key", "api-key", "cookie"})


# --------------------------------------------------------------------------------------------
# redaction


MIN_SECRET = 8  # shorter values are not keys, and hiding them would garble ordinary words


class Redactor:
    """Replaces known secret values with ``***`` in any text."""

    def __init__(self, secrets: Iterable[str | None] = ()):
        self._secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= MIN_SECRET and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        hidden = sensitive_headers()
        return {k: ("***" if k.lower() in hidden else self(v)) for k, v in headers.items()}


def sensitive_headers() -> frozenset[str]:
    """Headers never shown: the gateway's and every registered provider's credential headers."""
    from bifrost_cli.providers import registry

    return GATEWAY_SECRET_HEADERS | registry.secret_headers()


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


# --------------------------------------------------------------------------------------------
# request bodies


class Body:
    """A request body that can be produced again for each attempt.

    ``factory`` returns a fresh iterable of byte chunks; ``length`` is the total size when known
    (sent as Content-Length; otherwise the body goes chunked). ``replayable=False`` (stdin) makes
    the request ineligible for retry once the body has started to flow.
    """

    def __init__(
        self,
        factory: Callable[[], Iterable[bytes]],
        *,
        length: int | None,
        content_type: str,
        replayable: bool = True,
    ):
        self.factory = factory
        self.length = length
        self.content_type = content_type
        self.replayable = replayable


def json_body(obj: Any) -> Body:
    data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return Body(lambda: [data], length=len(data), content_type="application/json")


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


# --------------------------------------------------------------------------------------------
# error mapping


def _error_details(body: Any) -> tuple[str | None, str | None]:
    """(type, message) from any of the providers' or the gateway's error shapes."""
    if not isinstance(body, dict):
        return None, None
    err = body.get("error")
    if isinstance(err, dict):
        inner = err.get("error")
        if isinstance(inner, dict) and inner.get("message"):  # a doubly nested envelope
            err = inner
        etype = err.get("type") or err.get("status") or err.get("code")
        message = err.get("message")
        return (str(etype) if etype is not None else None), (str(message) if message else None)
    if isinstance(err, str):
        return None, err
    message = body.get("message") or body.get("Message")
    etype = body.get("__type") or body.get("code") or body.get("type")
    return (str(etype) if etype else None), (str(message) if message else None)


def _clip(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


def status_error(
    status: int,
    body: Any,
    *,
    classify_as: int | None = None,
    label: str,
    method: str,
    url: str,
    request_id: str | None,
    redact: Redactor,
    auth_hint: str | None = None,
) -> APIError:
    """The error for an error answer: the class picks the exit code, the text says what happened."""
    etype, message = _error_details(body)
    if message is None and isinstance(body, str) and body.strip():
        message = body.strip()[:300]
    detail = _clip(redact(message or "no error message in the answer"))
    etype = _clip(redact(etype), 100) if etype else etype
    what = f"{label} answered {status}" + (f" {etype}" if etype else "")
    text = f"{what}: {detail}"
    kwargs: dict[str, Any] = {"status": status, "error_type": etype, "request_id": request_id}
    status = classify_as or status  # a target's own reading of an error (Gemini's 400 for a bad key...)
    if status in (401, 403):
        return AuthError(text, hint=auth_hint, **kwargs)
    if status == 404:
        return NotFoundError(text, **kwargs)
    if status == 409:
        return ConflictError(text, **kwargs)
    if status == 429:
        return RateLimitError(text, hint="Still rate-limited after retries; wait and try again, or raise --max-retries.", **kwargs)
    if status == 413:
        return APIError(text, hint="The request is larger than the server accepts; split the input.", **kwargs)
    if status == 408 or status >= 500:
        return UnavailableError(text, **kwargs)
    return APIError(text, **kwargs)


# --------------------------------------------------------------------------------------------
# the client


ErrorHook = Callable[[int, Any], "ErrorAdvice | None"]

_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class _Failure:
    """An attempt that failed: its cause, for the policy; the error to raise when the policy gives
    up; what to release before another attempt."""

    cause: Cause
    error: Callable[[GiveUp], BifrostError]
    release: Callable[[], None] | None = None


def _unsent_hint(error: APIError, decision: GiveUp) -> APIError:
    """The error, telling to check before running again when the server may have acted on it."""
    if decision.may_have_been_received:
        error.hint = UNSENT_HINT
    return error


class HttpClient:
    """An HTTP client bound to one base URL and one set of credentials."""

    def __init__(
        self,
        base_url: str,
        *,
        label: str,
        headers: Mapping[str, str] | None = None,
        auth_headers: Mapping[str, str] | None = None,
        redactor: Redactor | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float | None = None,
        connect_timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        trusted_transport: bool = False,
        log: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        auth_hint: str | None = None,
        error_hook: ErrorHook | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.error_hook = error_hook
        self.label = label
        self.auth_headers = dict(auth_headers or {})
        self.redact = redactor or Redactor()
        for value in self.auth_headers.values():
            self.redact.add(value.removeprefix("Bearer "))
        self.policy = RetryPolicy(max_retries)
        self.log = log
        self.sleep = sleep
        self.auth_hint = auth_hint
        self._trusted = trusted_transport
        read = timeout if timeout is not None else 300.0
        self._client = httpx.Client(
            headers={"user-agent": _user_agent(), **(headers or {})},
            timeout=httpx.Timeout(read, connect=connect_timeout),
            transport=transport,
            follow_redirects=False,
            trust_env=True,
        )

    # -- helpers ------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def _credentials_for(self, url: str) -> dict[str, str]:
        if not self.auth_headers:
            return {}
        if not same_origin(url, self.base_url):
            return {}  # never hand our key to another origin (a results_url elsewhere, say)
        parts = urlsplit(url)
        if parts.scheme == "http" and not self._trusted and not is_loopback(parts.hostname):
            raise UsageError(
                f"refusing to send credentials over plain HTTP to {parts.hostname}",
                hint="Use an https:// URL, or a gateway on a loopback address (127.0.0.1, localhost).",
            )
        return dict(self.auth_headers)

    def _log(self, text: str) -> None:
        if self.log is not None:
            self.log(self.redact(text))

    # -- the request loop ---------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryMode = "idempotent",
        stream: bool = False,
        ok_statuses: Iterable[int] = (),
    ) -> Response:
        """Send a request, retrying as the policy allows; return the answer or raise.

        Error statuses raise :class:`~bifrost_cli.errors.APIError` subclasses, except those in
        ``ok_statuses``. With ``stream=True`` the body is not read: use ``iter_bytes`` and close it.
        """
        if json is not None:
            body = json_body(json)
        url = self.url(path)
        _refuse_dot_segments(method, url, path)
        req_headers = {**self._credentials_for(url), **(headers or {})}
        if body is not None:
            req_headers["content-type"] = body.content_type
            if body.length is not None:
                req_headers["content-length"] = str(body.length)
        query = {k: v for k, v in (params or {}).items() if v is not None}
        target = httpx.URL(url).copy_merge_params(query) if query else url
        accepted = frozenset(ok_statuses)
        replayable = body is None or body.replayable
        attempt = 0
        while True:
            content = body.factory() if body is not None else None
            request = self._client.build_request(method, target, headers=req_headers, content=content)
            outcome = self._attempt(request, url, accepted, stream)
            if isinstance(outcome, Response):
                return outcome
            decision = self.policy.decide(attempt, outcome.cause, mode=retry, replayable=replayable)
            if isinstance(decision, GiveUp):
                raise outcome.error(decision) from None
            if outcome.release is not None:
                outcome.release()
            self.sleep(decision.delay)
            attempt += 1

    def _attempt(self, request: httpx.Request, url: str, accepted: frozenset[int], stream: bool) -> Response | _Failure:
        """Send once: the answer, or why it failed (for the policy) and the error to raise for it."""
        method = request.method
        started = time.monotonic()
        self._log(f"> {method} {request.url} {self.redact.headers(request.headers)}")
        try:
            raw = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            self._log(f"< {type(exc).__name__}: {exc}")
            sent = not isinstance(exc, _CONNECT_ERRORS)
            cause: Cause = FailedAfterSending() if sent else NeverConnected()
            return _Failure(cause, partial(self._transport_error, exc, method, url, sent=sent))
        response = Response(raw, self.redact, self.label)
        self._log(f"< {raw.status_code} {raw.reason_phrase} ({time.monotonic() - started:.2f}s)")
        status = raw.status_code
        if 300 <= status < 400 and status not in accepted:
            raw.close()
            raise self._redirect_error(raw, method, url)
        if status >= 400 and status not in accepted:
            advice = self._advice(response)
            error = partial(self._status_error, response, method, url, advice)
            return _Failure(ErrorStatus(status, raw.headers, advice), error, release=raw.close)
        if not stream:
            try:
                response.read()
            except UnavailableError as exc:
                self._log(f"< the answer broke off: {exc.message}")
                return _Failure(BodyBroke(), partial(_unsent_hint, exc))
        return response

    def _advice(self, response: Response) -> ErrorAdvice | None:
        if self.error_hook is None:
            return None
        try:
            body: Any = json.loads(response.head())
        except ValueError:
            return None
        return self.error_hook(response.status, body)

    def _redirect_error(self, raw: httpx.Response, method: str, url: str) -> APIError:
        """A 3xx answer: redirects are not followed (a key must never follow one to another
        origin), so say where it points and what to set instead."""
        from urllib.parse import urljoin

        location = raw.headers.get("location")
        target = urljoin(url, location) if location else None
        where = f" to {self.redact(target)}" if target else ""
        text = (
            f"{self.label} answered {raw.status_code} {raw.reason_phrase}: {method} {self.redact(url)} "
            f"is redirected{where}, and redirects are not followed"
        )
        hint = "Check the base URL setting (--base-url, or the provider's *_BASE_URL)."
        route = url[len(self.base_url) :].split("?", 1)[0] if url.startswith(self.base_url) else ""
        if target and route and target.split("?", 1)[0].endswith(route):
            new_base = target.split("?", 1)[0][: -len(route)]
            hint = f"Use the address it points to as the base URL: {self.redact(new_base)}"
        return APIError(text, status=raw.status_code, hint=hint)

    def _status_error(
        self, response: Response, method: str, url: str, advice: ErrorAdvice | None, decision: GiveUp
    ) -> APIError:
        data = response.head()
        try:
            body: Any = json.loads(data)
        except ValueError:
            body = data[:2000].decode("utf-8", "replace")
        request_id = (
            response.headers.get("request-id")
            or response.headers.get("x-request-id")
            or response.headers.get("x-amzn-requestid")
        )
        response.close()
        error = status_error(
            response.status,
            body,
            classify_as=advice.status if advice else None,
            label=self.label,
            method=method,
            url=url,
            request_id=request_id,
            redact=self.redact,
            auth_hint=self.auth_hint,
        )
        if decision.server_wait is not None:
            error.hint = f"The server asks to wait {decision.server_wait:.0f} s before trying again."
        return _unsent_hint(error, decision)

    def _transport_error(
        self, exc: httpx.HTTPError, method: str, url: str, decision: GiveUp, *, sent: bool
    ) -> BifrostError:
        text = self.redact(str(exc)) or type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            message = f"{self.label} did not answer in time ({method} {self.redact(url)}): {text}"
        elif isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return UsageError(f"bad URL {self.redact(url)!r}: {text}", hint="Check --base-url / the provider base URL setting.")
        elif not sent:
            message = f"could not connect to {self.label} at {self.redact(self.base_url)}: {text}"
        else:
            message = f"the connection to {self.label} failed during {method} {self.redact(url)}: {text}"
        hint = None if sent else "Is the server running and the URL right? Check --base-url / BIFROST_BASE_URL."
        return _unsent_hint(UnavailableError(message, hint=hint, exit_code=ExitCode.UNAVAILABLE), decision)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _refuse_dot_segments(method: str, url: str, path: str) -> None:
    """A '.' or '..' path segment (an id given as '.' or '..') would be resolved away by the URL
    rules and send the request to another route: refuse it before anything is sent."""
    route = urlsplit(url).path
    if any(segment in (".", "..") for segment in route.split("/")):
        raise UsageError(
            f"refusing to send {method} {path}: a '.' or '..' in it would send it to another address",
            hint="An id is never '.' or '..'; check the id you gave.",
        )


def _user_agent() -> str:
    from bifrost_cli import __version__

    return f"bifrost-cli/{__version__}"
