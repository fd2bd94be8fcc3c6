"""batches wait: poll until every batch ended, a timeout, or Ctrl-C.

A poll that fails is judged here, in one place (:func:`judge_poll_error`): an error that cannot go
away (a refused key, a bad request, a web page or an answer that is not the API's, a batch still not
found after a grace period) ends the wait at once with its own exit code; one that may pass
(connection, 5xx, 429, a timeout, an answer cut off) is retried at the next tick, with a visible
count, until ``max_poll_errors`` failures in a row of one batch (exit 6, with a resume hint).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from bifrost_cli.errors import (
    BatchIncomplete,
    BatchStuck,
    BifrostError,
    Interrupted,
    NotFoundError,
    RateLimitError,
    UnavailableError,
    UsageError,
    WaitTimeout,
    stop_code,
)
from bifrost_cli.hints import suggest
from bifrost_cli.models import Batch, counts_from_results
from bifrost_cli.providers.base import Target

# ------------------------------------------------------------------------------------------------
# waiting

TRANSIENT = (UnavailableError, RateLimitError)
"""Poll errors that may pass: no connection, 5xx, 408, 429, a timeout, an answer cut off. Every
other error is permanent (401/403, 400, a web page or an answer that is not the API's...)."""
MAX_NAP = 86400.0  # longest single sleep between polls
DEFAULT_MAX_POLL_ERRORS = 10
NOT_FOUND_GRACE_AFTER_CREATE = 30.0
"""Seconds a batch this process just created may still answer 404 (providers are eventually
consistent: a new batch may not be visible to every server at once)."""
NOT_FOUND_GRACE = 10.0
"""The same for ``wait ID`` (a batch created by another command, maybe a moment ago)."""


@dataclass
class WaitEvent:
    """What ``wait`` reports: a batch's new state, or a poll that failed and will be retried."""

    batch_id: str
    batch: Batch | None = None
    error: BifrostError | None = None
    elapsed: float = 0.0
    failures: int = 0  # polls of this batch that failed in a row (with ``error``)
    not_found_yet: bool = False  # ``error`` is a 404 within the grace period
    stuck_for: float | None = None
    """Set on a ``stuck`` event: seconds the batch's counts have not moved (``--stuck-after``)."""


WaitMonitor = Callable[[Sequence[str]], AbstractContextManager[Callable[[WaitEvent], None]]]
"""``monitor(batch_ids)`` -> a context manager, open while waiting, yielding where events go."""


@dataclass
class WaitOutcome:
    batches: list[Batch]
    timed_out: bool = False
    unanswered: list[str] = field(default_factory=list)  # ids whose every poll failed
    timeout: float | None = None  # the --timeout that ran out

    @property
    def pending(self) -> list[str]:
        """Ids of the batches not known to have ended."""
        return [b.id for b in self.batches if not b.ended] + self.unanswered

    @property
    def not_fully_succeeded(self) -> list[Batch]:
        return [b for b in self.batches if b.ended and b.fully_succeeded is not True]

    def verdict(self, allow_errors: bool = False) -> None:
        """Return when the wait succeeded; else raise what ends the command: :class:`WaitTimeout`
        (exit 6) when the timeout ran out, :class:`BatchIncomplete` (exit 7) when a batch ended
        without every request succeeding (``allow_errors``: that is a success too)."""
        if self.timed_out:
            raise WaitTimeout(
                f"timed out after {self.timeout or 0:g} s; still running: {', '.join(self.pending)}",
                hint="The batches keep running; wait again later.",
            )
        bad = self.not_fully_succeeded
        if bad and not allow_errors:
            raise BatchIncomplete(
                "not every request succeeded: " + "; ".join(describe_outcome(b) for b in bad),
                hint=f"`{suggest('batches results', bad[0].id if len(bad) == 1 else 'ID')}` shows each request's result; "
                "--allow-errors makes this exit 0.",
            )


def wait_for_batches(
    target: Target,
    batch_ids: Sequence[str],
    *,
    poll: float = 5.0,
    timeout: float | None = None,
    max_poll_errors: int = DEFAULT_MAX_POLL_ERRORS,
    not_found_grace: float = NOT_FOUND_GRACE,
    on_event: Callable[[WaitEvent], None] | None = None,
    monitor: WaitMonitor | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    stuck_after: float | None = None,
    fail_if_stuck: bool = False,
) -> WaitOutcome:
    """Poll every batch until all have ended, or until ``timeout`` seconds have passed.

    A poll that fails is judged by :func:`judge_poll_error`: retried at the next tick (and
    reported, with the count of failures in a row) or the end of the wait, raising the error.
    Batches whose counts the target does not give are counted from their results once ended.
    Events go to ``on_event``, or to what ``monitor`` yields, open for the whole wait. Ctrl-C (or
    SIGTERM, SIGHUP) stops waiting, never the batches: :class:`~bifrost_cli.errors.Interrupted`,
    naming the command that resumes, with the exit code of the stop (130, 143, 129).

    ``stuck_after``: a batch not ended whose counts (its native status where it gives no counts)
    have not moved for that many seconds of this wait gets one ``stuck`` event (``stuck_for`` set)
    per stall; ``fail_if_stuck`` then ends the wait with :class:`~bifrost_cli.errors.BatchStuck`
    (exit 6, nothing canceled, the resume command in its hint).
    """
    if poll <= 0:
        raise UsageError("--poll must be more than 0 seconds")
    if max_poll_errors < 0:
        raise UsageError("--max-poll-errors must be 0 (no limit) or more")
    if stuck_after is not None and stuck_after <= 0:
        raise UsageError("--stuck-after must be more than 0 seconds")
    if fail_if_stuck and stuck_after is None:
        raise UsageError("--fail-if-stuck needs --stuck-after SECONDS (how long counts may stay still)")
    ids = list(dict.fromkeys(batch_ids))
    rules = _PollRules(
        max_poll_errors=max_poll_errors, not_found_grace=not_found_grace, ids=ids,
        stuck_after=stuck_after, fail_if_stuck=fail_if_stuck,
    )
    try:
        with _watching(monitor, ids, on_event) as report:
            return _poll(target, ids, rules, poll=poll, timeout=timeout, on_event=report, sleep=sleep, clock=clock)
    except KeyboardInterrupt as stop:
        raise Interrupted(
            "stopped waiting; nothing was canceled",
            hint="Resume with: " + resume_command(batch_ids),
            exit_code=stop_code(stop),
        ) from None


@contextmanager
def _watching(
    monitor: WaitMonitor | None, ids: Sequence[str], on_event: Callable[[WaitEvent], None] | None
) -> Iterator[Callable[[WaitEvent], None] | None]:
    if monitor is None:
        yield on_event
        return
    with monitor(ids) as shown:
        if on_event is None:
            yield shown
            return

        def both(event: WaitEvent) -> None:
            shown(event)
            on_event(event)

        yield both


def resume_command(batch_ids: Sequence[str]) -> str:
    """The wait to paste, with the run's target options (:mod:`bifrost_cli.hints`)."""
    return suggest("batches wait", *dict.fromkeys(batch_ids))


@dataclass(frozen=True)
class _PollRules:
    max_poll_errors: int
    not_found_grace: float
    ids: Sequence[str]
    stuck_after: float | None = None
    fail_if_stuck: bool = False


def judge_poll_error(
    exc: BifrostError,
    batch_id: str,
    *,
    failures: int,
    seen: bool,
    since_start: float,
    rules: _PollRules,
) -> BifrostError | None:
    """The one place deciding what a failed poll means: ``None`` to retry it at the next tick, or
    the error that ends the wait.

    ``failures``: polls of this batch that failed in a row, this one included; ``seen``: the batch
    answered at least once during this wait; ``since_start``: seconds since the wait began.
    """
    if isinstance(exc, UsageError):  # the id itself is wrong (another provider's): as it is
        return exc
    others = [i for i in rules.ids if i != batch_id]
    resume = f" The other batches keep running; resume with: {resume_command(others)}" if others else ""
    if isinstance(exc, NotFoundError):
        if not seen and since_start < rules.not_found_grace:
            return None  # not visible yet: providers are eventually consistent
        after = "" if seen else f" (still not found {since_start:.0f} s after the wait began)"
        exc.hint = (
            f"No batch {batch_id} for these credentials on this target{after}: check the id, and that "
            "the target options (-p/--provider, --base-url) are those it was created with." + resume
        )
        return exc
    if isinstance(exc, TRANSIENT):
        if rules.max_poll_errors and failures > rules.max_poll_errors:
            return UnavailableError(
                f"gave up waiting for {batch_id}: its status check failed {failures} times in a row; "
                f"last error: {exc.message}",
                hint="Nothing was canceled; the batch keeps running. When the target is back, resume with: "
                f"{resume_command(rules.ids)} (--max-poll-errors N allows more failures; 0: no limit).",
            )
        return None
    check = (
        ""
        if seen
        else f"Check that {batch_id} is a batch of this provider and target (-p/--provider, --base-url). "
    )
    exc.hint = check + (f"{exc.hint} " if exc.hint else "") + "Nothing was canceled." + resume
    return exc


def _poll(
    target: Target,
    ids: list[str],
    rules: _PollRules,
    *,
    poll: float,
    timeout: float | None,
    on_event: Callable[[WaitEvent], None] | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> WaitOutcome:
    start = clock()
    latest: dict[str, Batch] = {}
    failures: Counter[str] = Counter()
    stalls = _Stalls(rules)
    while True:
        for batch_id in ids:
            if batch_id in latest and latest[batch_id].ended:
                continue
            try:
                batch = target.get_batch(batch_id)
            except BifrostError as exc:
                failures[batch_id] += 1
                elapsed = clock() - start
                final = judge_poll_error(
                    exc, batch_id, failures=failures[batch_id], seen=batch_id in latest, since_start=elapsed, rules=rules
                )
                if final is not None:
                    raise final from None
                if on_event:
                    on_event(
                        WaitEvent(
                            batch_id,
                            error=exc,
                            elapsed=elapsed,
                            failures=failures[batch_id],
                            not_found_yet=isinstance(exc, NotFoundError),
                        )
                    )
                continue
            failures[batch_id] = 0  # a success resets the count
            if batch.ended:
                batch = complete_counts(target, batch)
            latest[batch_id] = batch
            if on_event:
                on_event(WaitEvent(batch_id, batch=batch, elapsed=clock() - start))
            stalls.check(batch, clock() - start, on_event)
        if len(latest) == len(ids) and all(b.ended for b in latest.values()):
            return WaitOutcome([latest[i] for i in ids])
        elapsed = clock() - start
        if timeout is not None and elapsed >= timeout:
            return WaitOutcome(
                [latest[i] for i in ids if i in latest],
                timed_out=True,
                unanswered=[i for i in ids if i not in latest],
                timeout=timeout,
            )
        nap = poll if timeout is None else min(poll, max(timeout - elapsed, 0.0))
        while nap > 0:  # in slices: the system's sleep refuses a huge --poll
            sleep(min(nap, MAX_NAP))
            nap -= MAX_NAP


class _Stalls:
    """``--stuck-after``: when each batch's progress last moved, and which stalls were reported."""

    def __init__(self, rules: _PollRules):
        self.rules = rules
        self.moved: dict[str, tuple[object, float]] = {}
        self.reported: set[str] = set()

    def check(self, batch: Batch, elapsed: float, on_event: Callable[[WaitEvent], None] | None) -> None:
        limit = self.rules.stuck_after
        if limit is None or batch.ended:
            return
        progress = progress_signature(batch)
        last = self.moved.get(batch.id)
        if last is None or last[0] != progress:
            self.moved[batch.id] = (progress, elapsed)
            self.reported.discard(batch.id)
            return
        still = elapsed - last[1]
        if still < limit or batch.id in self.reported:
            return
        self.reported.add(batch.id)
        if on_event:
            on_event(WaitEvent(batch.id, batch=batch, elapsed=elapsed, stuck_for=still))
        if self.rules.fail_if_stuck:
            raise BatchStuck(
                f"{batch.id} looks stuck: {stuck_text(batch, still)}",
                hint="Nothing was canceled; the batch keeps running. Resume with: "
                + resume_command(self.rules.ids)
                + f" (or `{suggest('batches cancel', 'ID')}`).",
            )


def progress_signature(batch: Batch) -> object:
    """What must change for a batch to count as moving: its request counts, or its native
    status when the target gives no counts while it runs."""
    counts = batch.request_counts
    if counts is None:
        return ("status", batch.native_status or batch.status)
    return ("counts", counts.processing, counts.succeeded, counts.errored, counts.canceled, counts.expired)


def stuck_text(batch: Batch, still: float) -> str:
    """``its counts have not moved for 602 s (in_progress, finalizing)``."""
    what = "counts" if batch.request_counts is not None else "status"
    native = f", {batch.native_status}" if batch.native_status and batch.native_status != batch.status else ""
    return f"its {what} have not moved for {still:.0f} s ({batch.status}{native})"


def complete_counts(target: Target, batch: Batch) -> Batch:
    """An ended batch whose target gave no counts gets them from its results."""
    if not batch.ended or batch.failed_as_whole:
        return batch
    if batch.request_counts is not None and batch.request_counts.total > 0:
        return batch
    try:
        tally: Counter[str] = Counter(r.result.type for r in target.iter_results(batch.id))
    except BifrostError:
        return batch
    if not tally:
        if batch.request_counts is not None and not batch.counts_need_results:
            # zero counts and no results: a batch of no requests, not one of failures
            return batch.model_copy(update={"no_requests": True})
        return batch
    return batch.model_copy(update={"request_counts": counts_from_results(tally), "counts_need_results": False})


def describe_outcome(batch: Batch) -> str:
    """How a batch ended, in a few words: ``msgbatch_x ended (expired): 3 errored, 1 canceled``."""
    native = f" ({batch.native_status})" if batch.native_status and batch.native_status != batch.status else ""
    if batch.failed_as_whole and batch.message:
        native += f" [{batch.message}]"
    counts = batch.request_counts
    if counts is None:
        return f"{batch.id} ended{native}; request counts unknown"
    if batch.no_requests:
        return f"{batch.id} ended{native} with no requests"
    parts = [
        f"{getattr(counts, k)} {k}" for k in ("errored", "canceled", "expired", "processing") if getattr(counts, k)
    ]
    return f"{batch.id} ended{native}: " + (", ".join(parts) if parts else f"{counts.succeeded} succeeded")
