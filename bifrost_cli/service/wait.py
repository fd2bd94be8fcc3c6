"""batches wait: poll until every batch ended, a timeout, or Ctrl-C."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from bifrost_cli.errors import (
    BatchIncomplete,
    BifrostError,
    Interrupted,
    NotFoundError,
    RateLimitError,
    ResponseError,
    UnavailableError,
    UsageError,
    WaitTimeout,
)
from bifrost_cli.models import Batch, counts_from_results
from bifrost_cli.providers.base import Target

# ------------------------------------------------------------------------------------------------
# waiting

TRANSIENT = (UnavailableError, RateLimitError, ResponseError)
MAX_NAP = 86400.0  # longest single sleep between polls


@dataclass
class WaitEvent:
    """What ``wait`` reports: a batch's new state, or a poll that failed and will be retried."""

    batch_id: str
    batch: Batch | None = None
    error: BifrostError | None = None
    elapsed: float = 0.0


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
                hint="`batches results ID` (with the same target options) shows each request's result; "
                "--allow-errors makes this exit 0.",
            )


def wait_for_batches(
    target: Target,
    batch_ids: Sequence[str],
    *,
    poll: float = 5.0,
    timeout: float | None = None,
    on_event: Callable[[WaitEvent], None] | None = None,
    monitor: WaitMonitor | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> WaitOutcome:
    """Poll every batch until all have ended, or until ``timeout`` seconds have passed.

    A poll that fails for a passing reason (network, 5xx, rate limit, a garbled answer) is reported
    and retried at the next tick; a batch that does not exist, or refused credentials, end the wait.
    Batches whose counts the target does not give are counted from their results once ended.
    Events go to ``on_event``, or to what ``monitor`` yields, open for the whole wait. Ctrl-C stops
    waiting, never the batches: :class:`~bifrost_cli.errors.Interrupted`, naming the command that
    resumes.
    """
    if poll <= 0:
        raise UsageError("--poll must be more than 0 seconds")
    ids = list(dict.fromkeys(batch_ids))
    try:
        with _watching(monitor, ids, on_event) as report:
            return _poll(target, ids, poll=poll, timeout=timeout, on_event=report, sleep=sleep, clock=clock)
    except KeyboardInterrupt:
        raise Interrupted(
            "stopped waiting; nothing was canceled",
            hint="Resume with: bifrost batches wait " + " ".join(batch_ids),
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


def _poll(
    target: Target,
    ids: list[str],
    *,
    poll: float,
    timeout: float | None,
    on_event: Callable[[WaitEvent], None] | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> WaitOutcome:
    start = clock()
    latest: dict[str, Batch] = {}
    while True:
        for batch_id in ids:
            if batch_id in latest and latest[batch_id].ended:
                continue
            try:
                batch = target.get_batch(batch_id)
            except NotFoundError:
                raise
            except TRANSIENT as exc:
                if on_event:
                    on_event(WaitEvent(batch_id, error=exc, elapsed=clock() - start))
                continue
            if batch.ended:
                batch = complete_counts(target, batch)
            latest[batch_id] = batch
            if on_event:
                on_event(WaitEvent(batch_id, batch=batch, elapsed=clock() - start))
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
    parts = [
        f"{getattr(counts, k)} {k}" for k in ("errored", "canceled", "expired", "processing") if getattr(counts, k)
    ]
    return f"{batch.id} ended{native}: " + (", ".join(parts) if parts else f"{counts.succeeded} succeeded")
