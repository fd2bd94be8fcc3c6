"""batches create / list / get / cancel."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, BinaryIO

from bifrost_cli.hints import suggest
from bifrost_cli.errors import (
    APIError,
    BifrostError,
    ConflictError,
    ExitCode,
    NotFoundError,
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

if TYPE_CHECKING:
    from bifrost_cli.inputs import RequestSet
    from bifrost_cli.ledger import Entry, Ledger

LOOKBACK_BATCHES = 100
"""How far back the provider's batch list is searched for an earlier create's client token: at
most this many of the newest batches (a few pages) ..."""
LOOKBACK_DAYS = 7
"""... created at most this many days ago."""

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
    fresh: bool = False
    """``--new``: submit again on purpose, even when this input was submitted before."""


@dataclass
class Created:
    """What ``batches create`` did: the batch, whether it was created by this run, and what to tell
    the user about how it was found (on stderr)."""

    batch: Batch
    new: bool = True
    notes: list[str] = field(default_factory=list)


def create_batch(target: CheckedTarget, new: NewBatch, ledger: Ledger | None = None) -> Created:
    """Validate every input line, then create the batch (nothing is sent if a line is bad; nothing
    is read if the target cannot create batches) -- once.

    Unless ``new.fresh``: a batch already made from this input for this target with these options
    is returned instead (from the ``ledger``, else found on the provider's side by its client
    token). A create whose answer was lost is reconciled before anything is sent again.
    """
    from bifrost_cli.inputs import load_requests

    options = batch_options(metadata=new.metadata, timeout_hours=new.timeout_hours)
    creator = target.check("batches.create")
    target.preflight(options)
    with load_requests(new.input_path, model=new.model, stdin=new.stdin, input_format=new.input_format) as requests:
        from bifrost_cli.service.validate import check_set

        mode = target.identity.split(":", 1)[0]
        check_set(requests, target.provider, mode if mode in ("gateway", "emulator") else "direct")  # before any lookup
        return _Submission(target, creator, requests, options, ledger, new.fresh).run()


def requests_sha256(requests: RequestSet) -> str:
    """The sha256 of the request set as sent: each request (after --model) as compact JSON in its
    own key order, ``\n`` after each -- computed while the input was checked (issue 10; before,
    keys were sorted, so a ledger entry of an older version is not found again)."""
    if requests.sha256 is not None:
        return requests.sha256
    digest = hashlib.sha256()
    for chunk in requests.iter_encoded():
        digest.update(chunk)
    return digest.hexdigest()


def canonical_options(options: BatchOptions, requests: RequestSet) -> str:
    """The options that make a create different, as canonical JSON."""
    return json.dumps(
        {
            "completion_window": options.completion_window,
            "input_format": requests.input_format,
            "job_name": options.job_name,
            "metadata": options.metadata,
            "timeout_hours": options.timeout_hours,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def client_token(identity: str, sha256: str, options: str, nonce: str | None = None) -> str:
    """``bifrost-<24 hex>``: the same for the same target, input and options (``nonce``: ``--new``)."""
    seed = "\x00".join((identity, sha256, options, nonce or ""))
    return "bifrost-" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def find_by_token(target: Target, token: str) -> Batch | None:
    """The newest batch carrying ``token`` among the provider's recent batches (bounded: at most
    ``LOOKBACK_BATCHES``, created within ``LOOKBACK_DAYS``)."""
    since = datetime.now(UTC) - timedelta(days=LOOKBACK_DAYS)
    for batch in target.list_batches(limit=LOOKBACK_BATCHES):
        if batch.details.get("client_token") == token:
            return batch
        created = batch.created_at
        if created is not None and (created if created.tzinfo else created.replace(tzinfo=UTC)) < since:
            return None  # newest first: everything after is older still
    return None


def _when(moment: datetime | float) -> str:
    from bifrost_cli.timestamps import rfc3339

    return rfc3339(moment) or ""


class _Submission:
    """One ``batches create``: look for an earlier one, record, send, reconcile."""

    def __init__(
        self,
        target: CheckedTarget,
        creator: Target,
        requests: RequestSet,
        options: BatchOptions,
        ledger: Ledger | None,
        fresh: bool,
    ):
        import secrets

        self.target, self.creator, self.requests, self.options = target, creator, requests, options
        self.ledger = ledger
        self.fresh = fresh
        self.sha256 = requests_sha256(requests)
        self.canonical = canonical_options(options, requests)
        self.identity = target.identity
        self.token = client_token(self.identity, self.sha256, self.canonical, secrets.token_hex(8) if fresh else None)
        self.notes: list[str] = []

    @property
    def _key(self) -> dict[str, str]:
        return {"kind": "batch", "target": self.identity, "sha256": self.sha256, "options": self.canonical}

    def run(self) -> Created:
        if not self.fresh:
            earlier = self._earlier()
            if earlier is not None:
                return earlier
        claimed = self._claim()
        if not isinstance(claimed, int) and claimed is not None:  # made meanwhile by another process
            batch = self.target.get_batch(str(claimed.resource_id))
            note = f"Already submitted on {_when(claimed.created_at)} as {batch.id}; --new submits again."
            return Created(batch, new=False, notes=[note])
        row = claimed
        self.options.client_token = self.token
        try:
            batch = self.creator.create_batch(self.requests, self.options)
        except BifrostError as exc:
            if not exc.may_have_been_received:
                self._finish(row, "failed", note=exc.message)
                raise
            batch = self._reconcile(row, exc)
        except BaseException:  # interrupted while sending: it may exist
            self._finish(row, "unknown", note="interrupted while sending")
            raise
        self._finish(row, "done", batch.id)
        return Created(batch, new=True, notes=self.notes)

    # -- before sending -------------------------------------------------------------------------

    def _earlier(self) -> Created | None:
        """A batch already made from this input, or None; raises when an earlier create of it may
        have made one that cannot be looked for."""
        if self.ledger is not None:
            done = self.ledger.find_done(**self._key)
            if done is not None and done.resource_id:
                try:
                    batch = self.target.get_batch(done.resource_id)
                except NotFoundError:
                    self.ledger.finish(done.row, state="gone", note="no longer found at the provider")
                    self.notes.append(f"The batch {done.resource_id} submitted on {_when(done.created_at)} no longer exists; submitting again.")
                else:
                    note = f"Already submitted on {_when(done.created_at)} as {batch.id}; --new submits again."
                    return Created(batch, new=False, notes=[note])
        if self.target.carries_token:
            try:
                found = find_by_token(self.creator, self.token)
            except UsageError:  # settings the create needs too: its own check says all that is missing
                return None
            if found is not None:
                self._record_found(found)
                when = f" on {_when(found.created_at)}" if found.created_at else ""
                note = (
                    f"Already submitted{when} as {found.id} (found on {self.target.provider} by its client token); "
                    "--new submits again."
                )
                return Created(found, new=False, notes=[note])
            return None
        if self.ledger is not None:
            open_entries = self.ledger.find_open(**self._key)
            if open_entries:
                raise _maybe_created(
                    f"an earlier create of {self.requests.display_name} ({_when(open_entries[0].created_at)}) got no "
                    f"answer ({_no_token(self.target)[:-1]})"
                )
        return None

    # -- after an ambiguous failure -------------------------------------------------------------

    def _reconcile(self, row: int | None, exc: BifrostError) -> Batch:
        """The create may have reached the API: find the batch by its token before sending again."""
        if not self.target.carries_token:
            self._finish(row, "unknown", note=exc.message)
            exc.hint = (
                f"The batch may have been created; check `{suggest('batches list', provider=self.target.provider)}` "
                f"(a batch created around {_when(time.time())}) before running this again; --new submits again on purpose. "
                f"{_no_token(self.target)}"
            )
            raise exc
        try:
            found = find_by_token(self.creator, self.token)
        except BifrostError:
            self._finish(row, "unknown", note=exc.message)
            exc.hint = (
                f"The batch may have been created, and looking for it failed too; check `{suggest('batches list')}` "
                "before running this again (without --new it is looked for again)."
            )
            raise exc from None
        if found is not None:
            self.notes.append(f"The answer to the create was lost, but the batch exists: {found.id}")
            return found
        self.notes.append(f"The answer to the create was lost and no batch carries its token: sending it again ({exc.message})")
        try:
            return self.creator.create_batch(self.requests, self.options)
        except BifrostError as again:
            self._finish(row, "unknown" if again.may_have_been_received else "failed", note=again.message)
            raise

    # -- the ledger -----------------------------------------------------------------------------

    def _begin(self) -> int | None:
        if self.ledger is None:
            return None
        return self.ledger.begin(
            **self._key, provider=self.target.provider, input_name=self.requests.display_name, token=self.token
        )

    def _claim(self) -> int | Entry | None:
        """The ledger row for this create (pending), or the entry of the same create another
        process finished meanwhile (it is waited for while in flight); ``--new`` always records."""
        if self.ledger is None:
            return None
        if self.fresh:
            return self._begin()
        return self.ledger.claim(
            **self._key, provider=self.target.provider, input_name=self.requests.display_name, token=self.token
        )

    def _finish(self, row: int | None, state: str, resource_id: str | None = None, note: str | None = None) -> None:
        if self.ledger is not None and row is not None:
            self.ledger.finish(row, state=state, resource_id=resource_id, note=note)

    def _record_found(self, batch: Batch) -> None:
        if self.ledger is not None:
            self._finish(self._begin(), "done", batch.id, note="found on the provider by its client token")


def _no_token(target: CheckedTarget) -> str:
    if target.provider == "anthropic":
        return "Anthropic batches carry no client token, so it cannot be looked for."
    return f"{target.describe()} does not give a batch's client token back, so it cannot be looked for."


def _maybe_created(text: str) -> BifrostError:
    return BifrostError(
        f"{text}: it may have made a batch",
        hint=f"Check `{suggest('batches list')}` (and `{suggest('batches list --local')}`) for it; "
        "--new submits again on purpose.",
        exit_code=ExitCode.CONFLICT,
    )


def create_and_wait(
    target: CheckedTarget,
    new: NewBatch,
    *,
    poll: float = 5.0,
    timeout: float | None = None,
    max_poll_errors: int = DEFAULT_MAX_POLL_ERRORS,
    on_created: Callable[[Batch], None] | None = None,
    monitor: WaitMonitor | None = None,
    ledger: Ledger | None = None,
    on_note: Callable[[str], None] | None = None,
) -> WaitOutcome:
    """``create_batch``, then ``wait_for_batches`` on it (``on_note`` hears how it was found,
    ``on_created`` of the batch as soon as it exists, in between); an earlier batch for the same
    input is waited on. A 404 on its status is tolerated for
    :data:`~bifrost_cli.service.wait.NOT_FOUND_GRACE_AFTER_CREATE` seconds."""
    created = create_batch(target, new, ledger)
    if on_note is not None:
        for note in created.notes:
            on_note(note)
    if on_created is not None:
        on_created(created.batch)
    return wait_for_batches(
        target,
        [created.batch.id],
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


def local_entries(ledger: Ledger | None, *, limit: int | None) -> list[Entry]:
    """The ledger's creates and uploads, newest first (no network)."""
    return ledger.entries(limit=limit) if ledger is not None else []


def list_batches(target: Target, *, limit: int | None) -> list[Batch]:
    """Batches, newest first: at most ``limit`` (``None``: every page)."""
    return list(target.list_batches(limit=limit))


def get_batch(target: Target, batch_id: str) -> Batch:
    """The batch; one whose counts leave requests unexplained is counted from its results, as
    ``wait`` counts it."""
    batch = target.get_batch(batch_id)
    return complete_counts(target, batch) if batch.counts_need_results else batch


def cancel_batch(target: Target, batch_id: str) -> Batch:
    """Ask for the cancel; the batch as it stands after the ask. A batch that has already ended is
    a conflict (exit 5), whatever error the provider words it with."""
    try:
        return target.cancel_batch(batch_id)
    except APIError as exc:
        ended = _ended_or_none(target, batch_id, exc)
        if ended is None or not ended.ended:
            raise
        raise ConflictError(
            f"batch {batch_id} has already ended ({ended.native_status or ended.status}): there is nothing to cancel",
            status=exc.status,
            error_type=exc.error_type,
            request_id=exc.request_id,
            hint=f"`{suggest('batches results', batch_id)}` reads its results.",
        ) from None


def _ended_or_none(target: Target, batch_id: str, exc: APIError) -> Batch | None:
    """After a refusal that may mean "not in that state" (400, 409, 412), the batch as it stands;
    None for other errors, or when it cannot be read either."""
    if exc.status not in (400, 409, 412) or isinstance(exc, ConflictError):
        return None
    try:
        return target.get_batch(batch_id)
    except BifrostError:
        return None
