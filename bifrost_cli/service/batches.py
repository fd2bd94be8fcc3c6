"""batches create / list / get / cancel."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from bifrost_cli.errors import (
    UsageError,
)
from bifrost_cli.models import Batch
from bifrost_cli.providers.base import BatchOptions, CheckedTarget, Target
from bifrost_cli.service.wait import (
    DEFAULT_MAX_POLL_ERRORS,
    NOT_FOUND_GRACE_AFTER_CREATE,
    WaitMonitor,
    WaitOutcome,
    complete_counts,
    wait_for_batches,
)

# ------------------------------------------------------------------------------------------------
# batches


@dataclass
class NewBatch:
    """What ``batches create`` is given: the input (``-``: ``stdin``) and the batch's options."""

    input_path: str
    model: str | None = None
    input_format: str | None = None
    metadata: Sequence[str] = ()  # KEY=VALUE
    timeout_hours: int | None = None
    stdin: BinaryIO | None = None


def create_batch(target: CheckedTarget, new: NewBatch) -> Batch:
    """Validate every input line, then create the batch (nothing is sent if a line is bad; nothing
    is read if the target cannot create batches)."""
    from bifrost_cli.inputs import load_requests

    options = batch_options(metadata=new.metadata, timeout_hours=new.timeout_hours)
    creator = target.check("batches.create")
    with load_requests(new.input_path, model=new.model, stdin=new.stdin, input_format=new.input_format) as requests:
        return creator.create_batch(requests, options)


def create_and_wait(
    target: CheckedTarget,
    new: NewBatch,
    *,
    poll: float = 5.0,
    timeout: float | None = None,
    max_poll_errors: int = DEFAULT_MAX_POLL_ERRORS,
    on_created: Callable[[Batch], None] | None = None,
    monitor: WaitMonitor | None = None,
) -> WaitOutcome:
    """``create_batch``, then ``wait_for_batches`` on it (``on_created`` hears of it in between,
    as soon as it exists). A 404 on its status is tolerated for
    :data:`~bifrost_cli.service.wait.NOT_FOUND_GRACE_AFTER_CREATE` seconds."""
    batch = create_batch(target, new)
    if on_created is not None:
        on_created(batch)
    return wait_for_batches(
        target,
        [batch.id],
        poll=poll,
        timeout=timeout,
        max_poll_errors=max_poll_errors,
        not_found_grace=NOT_FOUND_GRACE_AFTER_CREATE,
        monitor=monitor,
    )


def batch_options(*, metadata: Sequence[str] | None = None, timeout_hours: int | None = None) -> BatchOptions:
    """``BatchOptions`` from the command line (``--metadata KEY=VALUE``...)."""
    pairs: dict[str, str] = {}
    for item in metadata or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--metadata {item!r}: expected KEY=VALUE")
        pairs[key] = value
    return BatchOptions(metadata=pairs, timeout_hours=timeout_hours)


def list_batches(target: Target, *, limit: int | None) -> list[Batch]:
    """Batches, newest first: at most ``limit`` (``None``: every page)."""
    return list(target.list_batches(limit=limit))


def get_batch(target: Target, batch_id: str) -> Batch:
    """The batch; one whose counts leave requests unexplained is counted from its results, as
    ``wait`` counts it."""
    batch = target.get_batch(batch_id)
    return complete_counts(target, batch) if batch.counts_need_results else batch


def cancel_batch(target: Target, batch_id: str) -> Batch:
    """Ask for the cancel; the batch as it stands after the ask."""
    return target.cancel_batch(batch_id)
