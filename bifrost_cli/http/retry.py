"""The one retry policy: whether a failed attempt is sent again, and after how long.

Pure: no httpx, no I/O, no sleeping. The caller says what went wrong (a :data:`Cause`), how the
request may be repeated (its :data:`RetryMode`, and whether its body can be produced again) and how
many retries it has made; :meth:`RetryPolicy.decide` answers :class:`Retry` (after so many seconds)
or :class:`GiveUp` (saying whether the server may have received and acted on the request).

- A connection that was never made is retried whatever the mode: the server cannot have the request.
- A failure once the request may have been sent (the transport broke, or a success answer's body
  stopped arriving) is retried only for an ``idempotent`` request whose body can be sent again.
- An error status is retried when its status is retryable for the mode (``x-should-retry: true`` /
  ``false`` overrides), and never with a body that cannot be sent again. For an ``unsent`` request
  (one that creates something) that means a 429/503/529 *proven* to be the provider's own refusal
  (:attr:`ErrorStatus.proven_unsent`: its error shape and request id, as its spec's
  ``refusal_proof`` says); a bare 503 from something in front of the API may come after the API
  acted, so it is never sent again. The wait is the server's
  (an :class:`ErrorAdvice`, else ``retry-after-ms``, else ``retry-after`` in seconds or as an HTTP
  date); longer than :data:`MAX_RETRY_AFTER` gives up instead of blocking; none: exponential backoff
  with jitter.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

RetryMode = Literal["idempotent", "unsent"]
"""``idempotent``: any failure may be retried. ``unsent``: retry only when the server cannot have
acted on the request (connection never made, or a 429/503/529 refusal proven to be the provider's
own: see :attr:`ErrorStatus.proven_unsent`)."""

RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
UNSENT_RETRY_STATUSES = frozenset({429, 503, 529})
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
DEFAULT_MAX_RETRIES = 2


class ErrorAdvice:
    """What a target's ``error_hook`` says of an error answer the generic rules would misread:
    ``status`` to classify it as (Gemini's 400 for a bad key is really a 401), and ``retry_after``
    seconds (Gemini puts RetryInfo.retryDelay in the body, not in a header)."""

    def __init__(self, status: int | None = None, retry_after: float | None = None):
        self.status = status
        self.retry_after = retry_after


# -- causes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NeverConnected:
    """The connection was never made: the server cannot have the request."""


@dataclass(frozen=True)
class FailedAfterSending:
    """The transport failed once the request may have reached the server."""


@dataclass(frozen=True)
class BodyBroke:
    """A success answer whose body stopped arriving while it was read."""


@dataclass(frozen=True)
class ErrorStatus:
    """An error answer. ``headers`` is looked up with lower-case names (the HTTP layer's mapping
    ignores case)."""

    status: int
    headers: Mapping[str, str]
    advice: ErrorAdvice | None = None
    proven_unsent: bool = False
    """The answer proves the request was refused before the API acted on it: the provider's own
    error shape with its request id (the client asks the provider's spec)."""


Cause = NeverConnected | FailedAfterSending | BodyBroke | ErrorStatus


# -- decisions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retry:
    """Send the request again after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True)
class GiveUp:
    """Raise the error. ``may_have_been_received``: the server may have acted on a request that
    must not be sent twice, so the user should check before running it again. ``server_wait``: the
    wait the server asked for, worth telling the user (a rate limit, or longer than we block for)."""

    may_have_been_received: bool = False
    server_wait: float | None = None


Decision = Retry | GiveUp


class RetryPolicy:
    """At most ``max_retries`` retries; ``rand`` draws the jitter, ``now`` reads the clock for a
    ``retry-after`` given as an HTTP date."""

    def __init__(
        self,
        max_retries: int = DEFAULT_MAX_RETRIES,
        *,
        rand: Callable[[], float] = random.random,
        now: Callable[[], float] = time.time,
    ):
        self.max_retries = max(0, max_retries)
        self.rand = rand
        self.now = now

    def decide(self, attempt: int, cause: Cause, *, mode: RetryMode = "idempotent", replayable: bool = True) -> Decision:
        """What to do after attempt number ``attempt`` (0 for the first sending) failed with ``cause``."""
        if isinstance(cause, ErrorStatus):
            return self._after_status(attempt, cause, mode, replayable)
        if isinstance(cause, NeverConnected):
            may_retry = True
        else:  # the server may have it: only a request that may be sent twice, whole, is sent again
            may_retry = mode == "idempotent" and replayable
        if may_retry and attempt < self.max_retries:
            return Retry(self.backoff(attempt))
        return GiveUp(may_have_been_received=mode == "unsent" and not isinstance(cause, NeverConnected))

    def backoff(self, attempt: int) -> float:
        """Exponential backoff: 0.5 s, 1 s, 2 s ... capped at 8 s, shortened by up to 25 % jitter."""
        return backoff_delay(attempt, self.rand)

    def _after_status(self, attempt: int, cause: ErrorStatus, mode: RetryMode, replayable: bool) -> Decision:
        advice = cause.advice
        wait = advice.retry_after if advice and advice.retry_after is not None else parse_retry_after(cause.headers, self.now)
        if attempt < self.max_retries and replayable and self._retryable(cause, mode):
            if wait is None:
                return Retry(self.backoff(attempt))
            if wait <= MAX_RETRY_AFTER:
                return Retry(wait)
            # the server asks for longer than we block for: surface the error instead
        told = wait if wait is not None and (cause.status == 429 or wait > MAX_RETRY_AFTER) else None
        received = mode == "unsent" and not cause.proven_unsent and (cause.status >= 500 or cause.status in (408, 429))
        return GiveUp(may_have_been_received=received, server_wait=told)

    @staticmethod
    def _retryable(cause: ErrorStatus, mode: RetryMode) -> bool:
        should = cause.headers.get("x-should-retry")
        if mode == "unsent":  # only a refusal proven to be the API's own: it did not act on it
            return should != "false" and cause.proven_unsent and cause.status in UNSENT_RETRY_STATUSES
        if should in ("true", "false"):
            return should == "true"
        status = cause.advice.status if cause.advice and cause.advice.status else cause.status
        return status in RETRY_STATUSES


def backoff_delay(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff: 0.5 s, 1 s, 2 s ... capped at 8 s, shortened by up to 25 % jitter."""
    return min(INITIAL_RETRY_DELAY * 2.0**attempt, MAX_RETRY_DELAY) * (1 - 0.25 * rand())


def parse_retry_after(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        seconds = _finite(ms)
        if seconds is not None:
            return max(seconds / 1000.0, 0.0)
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _finite(value)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - now(), 0.0)


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
