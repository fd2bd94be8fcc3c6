"""The HTTP client: one request loop, one retry policy."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx

from bifrost_cli.errors import (
    APIError,
    BifrostError,
    ExitCode,
    UnavailableError,
    UsageError,
)
from bifrost_cli.http.body import Body, json_body
from bifrost_cli.http.errors import _unsent_hint, status_error
from bifrost_cli.http.response import Response
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
    UNSENT_RETRY_STATUSES,
)
from bifrost_cli.http.secrets import (
    Redactor,
    loopback_mounts,
    no_cookies,
    plain_http_host,
    same_origin,
    take_userinfo,
)
from bifrost_cli.http.tls import LazyTLSContext
# --------------------------------------------------------------------------------------------
# the client


ErrorHook = Callable[[int, Any], "ErrorAdvice | None"]
RefusalProof = Callable[[Mapping[str, str], Any], bool]
"""A provider spec's ``refusal_proof``: whether an error answer (headers, JSON body) is the API's own
refusal, so that a request that creates something was not acted on and may be sent again."""

_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class _Failure:
    """An attempt that failed: its cause, for the policy; the error to raise when the policy gives
    up; what to release before another attempt."""

    cause: Cause
    error: Callable[[GiveUp], BifrostError]
    release: Callable[[], None] | None = None





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
        allow_insecure_http: bool = False,
        warn: Callable[[str], None] | None = None,
        refusal_proof: RefusalProof | None = None,
    ):
        self.redact = redactor or Redactor()
        self.auth_headers = dict(auth_headers or {})
        base_url, basic = take_userinfo(base_url, self.redact)
        if basic is not None:
            if any(k.lower() == "authorization" for k in self.auth_headers):
                raise UsageError(
                    f"the base URL {self.redact(base_url)} holds a user name and password, and {label} "
                    "already takes its key in the Authorization header",
                    hint="Remove the user:password@ part of the URL.",
                )
            self.auth_headers["Authorization"] = basic
        self.base_url = base_url.rstrip("/")
        self.refusal_proof = refusal_proof
        self.error_hook = error_hook
        self.label = label
        for value in self.auth_headers.values():
            self.redact.add(value.removeprefix("Bearer ").removeprefix("Basic "))
        self.policy = RetryPolicy(max_retries)
        self.log = log
        self.warn: Callable[[str], None] = warn or (lambda text: None)
        """Tell the user something went other than asked (an option a gateway did not honour), on stderr."""
        self.sleep = sleep
        self.auth_hint = auth_hint
        self._trusted = trusted_transport
        self._insecure_ok = allow_insecure_http
        host = plain_http_host(self.base_url)
        if host is not None and not trusted_transport and self.auth_headers:
            if not allow_insecure_http:
                raise UsageError(
                    f"refusing to send credentials over plain HTTP to {host} ({label}): anyone on the way can read them",
                    hint="Use an https:// URL or a gateway on a loopback address (127.0.0.1, localhost); for a "
                    "gateway in a private network, allow it with --allow-insecure-http (or BIFROST_ALLOW_INSECURE_HTTP=1).",
                )
            if warn is not None:
                warn(f"sending credentials over plain HTTP to {host} (--allow-insecure-http): anyone on the network path can read them")
        read = timeout if timeout is not None else 300.0
        self.timeout = read  # each read's, and a whole answer's (see _attempt)
        self._client = httpx.Client(
            headers={"user-agent": _user_agent(), **(headers or {})},
            timeout=httpx.Timeout(read, connect=connect_timeout),
            transport=transport,
            mounts=loopback_mounts(self.base_url),
            cookies=no_cookies(),
            follow_redirects=False,
            trust_env=True,
            verify=LazyTLSContext(),  # certificates loaded on the first TLS connection
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
        host = plain_http_host(url)
        if host is not None and not self._trusted and not self._insecure_ok:
            raise UsageError(
                f"refusing to send credentials over plain HTTP to {host}",
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
            outcome = self._attempt(request, url, accepted, stream, long_body=body is not None and not _short(body))
            if isinstance(outcome, Response):
                return outcome
            decision = self.policy.decide(attempt, outcome.cause, mode=retry, replayable=replayable)
            if isinstance(decision, GiveUp):
                raise outcome.error(decision) from None
            if outcome.release is not None:
                outcome.release()
            self.sleep(decision.delay)
            attempt += 1

    def _attempt(
        self, request: httpx.Request, url: str, accepted: frozenset[int], stream: bool, *, long_body: bool = False
    ) -> Response | _Failure:
        """Send once: the answer, or why it failed (for the policy) and the error to raise for it.

        The answer is read (unless ``stream``) within the timeout counted from the sending, or, for
        a ``long_body`` (an upload, whose sending may rightly take long), from the answer's headers.
        A streamed answer keeps only the per-read timeout; an error answer's body is always bounded.
        """
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
        clock_from = time.monotonic() if long_body else started
        response = Response(raw, self.redact, self.label, deadline=clock_from + self.timeout, timeout=self.timeout)
        self._log(f"< {raw.status_code} {raw.reason_phrase} ({time.monotonic() - started:.2f}s)")
        status = raw.status_code
        if 300 <= status < 400 and status not in accepted:
            raw.close()
            raise self._redirect_error(raw, method, url)
        if status >= 400 and status not in accepted:
            advice = self._advice(response)
            error = partial(self._status_error, response, method, url, advice)
            proven = self._proven_unsent(response)
            return _Failure(ErrorStatus(status, raw.headers, advice, proven), error, release=raw.close)
        if not stream:
            try:
                response.read()
            except UnavailableError as exc:
                self._log(f"< the answer broke off: {exc.message}")
                return _Failure(BodyBroke(), partial(_unsent_hint, exc))
        else:
            response.deadline = None  # a transfer: per-read timeouts only
        return response

    def _proven_unsent(self, response: Response) -> bool:
        """Whether a 429/503/529 is the API's own refusal (its spec's ``refusal_proof``), so a
        request that creates something was not acted on. No proof without a rule (a gateway)."""
        if self.refusal_proof is None or response.status not in UNSENT_RETRY_STATUSES:
            return False
        try:
            body: Any = json.loads(response.head())
        except ValueError:
            return False
        try:
            return bool(self.refusal_proof(response.headers, body))
        except Exception:  # a rule that trips over a strange answer proves nothing
            return False

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


SHORT_BODY = 1024 * 1024
"""A request body up to this size counts in the answer's deadline; a longer one (an upload) does not."""


def _short(body: Body) -> bool:
    return body.length is not None and body.length <= SHORT_BODY


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
