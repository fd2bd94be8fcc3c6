"""The one retry policy (bifrost_cli.http.retry), on its own: every cause in every mode, with a body
that can or cannot be sent again; ``x-should-retry``; every form of the server's wait and its 60 s
cap; the jitter's bounds. The policy is pure, so no request is sent and nothing sleeps."""

from __future__ import annotations

import ast
import email.utils
import math
from pathlib import Path

import pytest

from bifrost_cli.http import retry
from bifrost_cli.http.retry import (
    BodyBroke,
    Cause,
    ErrorAdvice,
    ErrorStatus,
    FailedAfterSending,
    GiveUp,
    NeverConnected,
    Retry,
    RetryMode,
    RetryPolicy,
)

NOW = 1_000_000.0
MODES: list[RetryMode] = ["idempotent", "unsent"]


def policy(max_retries: int = 2, rand: float = 0.0) -> RetryPolicy:
    return RetryPolicy(max_retries, rand=lambda: rand, now=lambda: NOW)


def status(code: int, headers: dict[str, str] | None = None, advice: ErrorAdvice | None = None) -> ErrorStatus:
    return ErrorStatus(code, headers or {}, advice)


def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(NOW + seconds_from_now, usegmt=True)


# ------------------------------------------------------------------------------------------------
# transport failures and a body that broke off


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("replayable", [True, False])
def test_a_connection_never_made_is_retried_in_every_mode_and_with_any_body(mode: RetryMode, replayable: bool) -> None:
    decide = policy().decide
    assert decide(0, NeverConnected(), mode=mode, replayable=replayable) == Retry(0.5)
    assert decide(1, NeverConnected(), mode=mode, replayable=replayable) == Retry(1.0)
    assert decide(2, NeverConnected(), mode=mode, replayable=replayable) == GiveUp(may_have_been_received=False)


@pytest.mark.parametrize("cause", [FailedAfterSending(), BodyBroke()])
def test_a_failure_once_sent_is_retried_for_an_idempotent_replayable_request(cause: Cause) -> None:
    decide = policy().decide
    assert decide(0, cause, mode="idempotent") == Retry(0.5)
    assert decide(1, cause, mode="idempotent") == Retry(1.0)
    assert decide(2, cause, mode="idempotent") == GiveUp(may_have_been_received=False)


@pytest.mark.parametrize("cause", [FailedAfterSending(), BodyBroke()])
def test_a_failure_once_sent_is_never_retried_with_a_body_that_cannot_be_sent_again(cause: Cause) -> None:
    assert policy().decide(0, cause, mode="idempotent", replayable=False) == GiveUp(may_have_been_received=False)


@pytest.mark.parametrize("cause", [FailedAfterSending(), BodyBroke()])
@pytest.mark.parametrize("replayable", [True, False])
def test_a_failure_once_sent_gives_up_at_once_in_unsent_mode_and_says_it_may_have_arrived(
    cause: Cause, replayable: bool
) -> None:
    assert policy().decide(0, cause, mode="unsent", replayable=replayable) == GiveUp(may_have_been_received=True)


# ------------------------------------------------------------------------------------------------
# error statuses


@pytest.mark.parametrize("code", [408, 409, 429, 500, 502, 503, 504, 529, 599])
def test_idempotent_mode_retries_timeouts_conflicts_rate_limits_and_server_errors(code: int) -> None:
    assert policy().decide(0, status(code)) == Retry(0.5)
    assert policy().decide(2, status(code)) == GiveUp(may_have_been_received=False)


@pytest.mark.parametrize("code", [400, 401, 403, 404, 413, 422])
@pytest.mark.parametrize("mode", MODES)
def test_client_errors_are_not_retried(code: int, mode: RetryMode) -> None:
    assert policy().decide(0, status(code), mode=mode) == GiveUp(may_have_been_received=False)


def proven(code: int, headers: dict[str, str] | None = None) -> ErrorStatus:
    return ErrorStatus(code, headers or {}, None, proven_unsent=True)


@pytest.mark.parametrize("code", [429, 503, 529])
def test_unsent_mode_retries_only_refusals_proven_to_be_the_apis_own(code: int) -> None:
    assert policy().decide(0, proven(code), mode="unsent") == Retry(0.5)


@pytest.mark.parametrize("code", [429, 503, 529])
def test_unsent_mode_never_retries_a_bare_refusal_and_says_it_may_have_arrived(code: int) -> None:
    """A 503 from a proxy in front of the API may come after the API created the batch."""
    assert policy().decide(0, status(code), mode="unsent") == GiveUp(may_have_been_received=True)


@pytest.mark.parametrize("code", [500, 502, 504, 408])
def test_unsent_mode_proof_covers_only_the_refusal_statuses(code: int) -> None:
    assert isinstance(policy().decide(0, proven(code), mode="unsent"), GiveUp)


def test_unsent_mode_out_of_retries_on_a_proven_refusal_says_it_was_not_received() -> None:
    assert policy().decide(2, proven(503), mode="unsent") == GiveUp(may_have_been_received=False)


def test_unsent_mode_proven_refusal_still_obeys_x_should_retry_false() -> None:
    assert isinstance(policy().decide(0, proven(503, {"x-should-retry": "false"}), mode="unsent"), GiveUp)


@pytest.mark.parametrize(("code", "received"), [(500, True), (502, True), (504, True), (408, True), (409, False)])
def test_unsent_mode_gives_up_on_what_the_server_may_have_acted_on(code: int, received: bool) -> None:
    assert policy().decide(0, status(code), mode="unsent") == GiveUp(may_have_been_received=received)


@pytest.mark.parametrize("code", [503, 529])
def test_unsent_mode_out_of_retries_on_a_refusal_still_says_it_may_have_arrived_for_5xx(code: int) -> None:
    assert policy().decide(2, status(code), mode="unsent") == GiveUp(may_have_been_received=True)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("code", [429, 503])
def test_an_error_status_is_never_retried_with_a_body_that_cannot_be_sent_again(mode: RetryMode, code: int) -> None:
    assert isinstance(policy().decide(0, status(code), mode=mode, replayable=False), GiveUp)


@pytest.mark.parametrize(
    ("code", "header", "mode", "retried"),
    [
        (503, "false", "idempotent", False),  # a retryable status the server says not to retry
        (429, "false", "unsent", False),
        (400, "true", "idempotent", True),  # a non-retryable status the server says to retry
        (404, "true", "idempotent", True),
        (500, "true", "unsent", False),  # a create is re-sent only on proof it was not acted on
        (503, "true", "unsent", False),
        (500, "maybe", "idempotent", True),  # anything else: the status decides
        (500, "maybe", "unsent", False),
        (400, "TRUE", "idempotent", False),  # only the exact words count
    ],
)
def test_x_should_retry_overrides_the_status(code: int, header: str, mode: RetryMode, retried: bool) -> None:
    decision = policy().decide(0, status(code, {"x-should-retry": header}), mode=mode)
    assert isinstance(decision, Retry) is retried


def test_x_should_retry_does_not_lift_the_retry_budget() -> None:
    assert isinstance(policy().decide(2, status(400, {"x-should-retry": "true"})), GiveUp)


def test_x_should_retry_does_not_resend_a_body_that_cannot_be_sent_again() -> None:
    cause = status(400, {"x-should-retry": "true"})
    assert isinstance(policy().decide(0, cause, replayable=False), GiveUp)


def test_an_error_hooks_status_classifies_the_answer() -> None:
    assert policy().decide(0, status(400, advice=ErrorAdvice(status=503))) == Retry(0.5)
    assert isinstance(policy().decide(0, status(503, advice=ErrorAdvice(status=401))), GiveUp)


def test_the_may_have_arrived_hint_follows_the_status_the_server_sent() -> None:
    """The hook's reading picks whether to retry; the hint speaks of what came over the wire."""
    decision = policy().decide(0, status(500, advice=ErrorAdvice(status=401)), mode="unsent")
    assert decision == GiveUp(may_have_been_received=True)


# ------------------------------------------------------------------------------------------------
# the server's wait


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "30"}, 0.25),  # -ms wins
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-5"}, 0.0),
        ({"retry-after-ms": "-5"}, 0.0),
        ({"retry-after-ms": "junk", "retry-after": "2"}, 2.0),  # a bad -ms falls back
        ({"retry-after": http_date(20)}, 20.0),
        ({"retry-after": http_date(-30)}, 0.0),  # a date in the past
        ({"retry-after": "60"}, 60.0),  # the cap itself is still waited for
        ({"retry-after-ms": "60000"}, 60.0),
    ],
)
def test_the_servers_wait_is_the_delay_without_jitter(headers: dict[str, str], wait: float) -> None:
    assert policy(rand=1.0).decide(0, status(429, headers)) == Retry(wait)


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "not a date"},
        {"retry-after": ""},
        {"retry-after-ms": ""},
        {"retry-after": "nan"},
        {"retry-after-ms": "NaN", "retry-after": "inf"},
    ],
)
def test_an_unreadable_wait_falls_back_to_backoff(headers: dict[str, str]) -> None:
    assert policy().decide(1, status(503, headers)) == Retry(1.0)


@pytest.mark.parametrize(
    "headers",
    [{"retry-after": "120"}, {"retry-after": "60.5"}, {"retry-after-ms": "61000"}, {"retry-after": http_date(3600)}],
)
def test_a_wait_over_the_cap_gives_up_and_says_how_long(headers: dict[str, str]) -> None:
    decision = policy().decide(0, status(503, headers))
    assert isinstance(decision, GiveUp)
    assert decision.server_wait is not None and decision.server_wait > retry.MAX_RETRY_AFTER


def test_a_rate_limit_out_of_retries_says_the_wait_even_under_the_cap() -> None:
    assert policy().decide(2, status(429, {"retry-after": "5"})) == GiveUp(server_wait=5.0)


def test_another_status_out_of_retries_keeps_a_short_wait_to_itself() -> None:
    assert policy().decide(2, status(503, {"retry-after": "5"})) == GiveUp(server_wait=None)


def test_a_refused_replay_still_says_the_wait() -> None:
    decision = policy().decide(0, status(429, {"retry-after": "120"}), replayable=False)
    assert decision == GiveUp(server_wait=120.0)


def test_an_error_hooks_wait_wins_over_the_headers() -> None:
    advice = ErrorAdvice(retry_after=7.0)
    assert policy().decide(0, status(429, {"retry-after": "2"}, advice)) == Retry(7.0)
    assert policy().decide(0, status(429, {}, ErrorAdvice(retry_after=90.0))) == GiveUp(server_wait=90.0)


def test_an_error_hook_without_a_wait_leaves_the_headers_to_say_it() -> None:
    assert policy().decide(0, status(429, {"retry-after": "2"}, ErrorAdvice(status=429))) == Retry(2.0)


def test_an_http_date_is_read_against_the_policys_clock() -> None:
    header = {"retry-after": email.utils.formatdate(100.0, usegmt=True)}
    at_40 = RetryPolicy(2, now=lambda: 40.0).decide(0, status(429, header))
    assert at_40 == Retry(60.0)


# ------------------------------------------------------------------------------------------------
# backoff and its jitter


def test_backoff_doubles_from_half_a_second_up_to_eight() -> None:
    steady = RetryPolicy(99, rand=lambda: 0.0)
    assert [steady.backoff(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert [steady.decide(n, NeverConnected()) for n in range(3)] == [Retry(0.5), Retry(1.0), Retry(2.0)]
    assert RetryPolicy(99, rand=lambda: 1.0).backoff(4) == 6.0  # the most jitter takes a quarter off


@pytest.mark.parametrize("attempt", range(8))
def test_jitter_only_shortens_the_wait_and_by_at_most_a_quarter(attempt: int) -> None:
    full = min(0.5 * 2**attempt, 8.0)
    real = RetryPolicy(99)  # the real random source
    for _ in range(200):
        delay = real.backoff(attempt)
        assert 0.75 * full <= delay <= full
        assert math.isfinite(delay)


def test_the_jitter_is_drawn_for_each_decision() -> None:
    draws = iter([0.0, 1.0, 0.5])
    p = RetryPolicy(5, rand=lambda: next(draws))
    delays = [p.decide(0, FailedAfterSending()) for _ in range(3)]
    assert delays == [Retry(0.5), Retry(0.375), Retry(0.4375)]


@pytest.mark.parametrize(("given", "kept"), [(-3, 0), (0, 0), (4, 4)])
def test_max_retries_is_never_negative(given: int, kept: int) -> None:
    p = RetryPolicy(given)
    assert p.max_retries == kept
    assert isinstance(p.decide(0, NeverConnected()), GiveUp if kept == 0 else Retry)


# ------------------------------------------------------------------------------------------------
# purity


def test_the_policy_imports_no_http_stack_and_does_no_io() -> None:
    tree = ast.parse(Path(retry.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "email", "math", "random", "time", "collections", "dataclasses", "typing"}
    called = {node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    assert not called & {"sleep", "open", "request", "send"}
