"""``batches list --status/--since``, ``files list --purpose/--since``: filters applied here, over
the target's newest-first pages.

Providers filter little or nothing on their side (the gateway ignores Bedrock's ``statusEquals``),
so every filter is applied to the unified models, for every target alike. The walk is lazy: it
stops at ``limit`` matching items, and, with ``since``, once items created before it come (lists
are newest first: everything after them is older still), so history is never walked to its end.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Generic, TypeVar

from bifrost_cli.errors import UsageError
from bifrost_cli.models import Batch, File

if TYPE_CHECKING:
    from bifrost_cli.ledger import Entry, Ledger
    from bifrost_cli.providers.base import Target

T = TypeVar("T")

# ------------------------------------------------------------------------------------------------
# status words


def _cancelled(b: Batch) -> bool:
    native = (b.native_status or "").lower()
    if not b.ended or native in ("failed", "expired"):
        return False
    return native in ("canceled", "cancelled", "stopped") or b.cancel_initiated_at is not None


def _partial(b: Batch) -> bool:
    counts = b.request_counts
    return (
        b.ended
        and not b.failed_as_whole
        and b.cancel_initiated_at is None
        and counts is not None
        and counts.not_succeeded > 0
    )


STATUS_WORDS: dict[str, tuple[str, Callable[[Batch], bool]]] = {
    "running": ("not ended and not being canceled (unified status in_progress)", lambda b: b.status == "in_progress"),
    "canceling": ("a cancel was asked and the batch has not ended yet", lambda b: b.status == "canceling"),
    "ended": ("ended, however it ended", lambda b: b.ended),
    "succeeded": ("ended, and its counts say every request succeeded", lambda b: b.fully_succeeded is True),
    "partial": (
        "ended (not canceled, not failed as a whole) with requests that errored or expired",
        _partial,
    ),
    "failed": ("the batch itself failed (native failed/Failed)", lambda b: b.ended and (b.native_status or "").lower() == "failed"),
    "canceled": ("ended after a cancel (native cancelled, Stopped, or Anthropic's ended after a cancel)", _cancelled),
    "expired": ("the batch itself expired (native expired/Expired)", lambda b: b.ended and (b.native_status or "").lower() == "expired"),
}
STATUS_ALIASES = {"in_progress": "running", "cancelled": "canceled", "cancelling": "canceling", "stopped": "canceled"}


def parse_statuses(values: Sequence[str] | None) -> list[str]:
    """The ``--status`` words (repeatable, or comma-separated), checked; ``[]`` when none."""
    words: list[str] = []
    for value in values or ():
        for raw in value.split(","):
            word = raw.strip().lower()
            if not word:
                continue
            word = STATUS_ALIASES.get(word, word)
            if word not in STATUS_WORDS:
                raise UsageError(
                    f"--status {raw.strip()!r} is not a status this command knows",
                    hint="Use one or more of: " + ", ".join(STATUS_WORDS) + " (repeat --status, or separate them with commas).",
                )
            if word not in words:
                words.append(word)
    return words


def status_matches(batch: Batch, words: Sequence[str]) -> bool:
    """Whether ``batch`` is any of the ``--status`` ``words`` (no words: every batch)."""
    return not words or any(STATUS_WORDS[w][1](batch) for w in words)


# ------------------------------------------------------------------------------------------------
# --since

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str | None, *, now: datetime | None = None, option: str = "--since") -> datetime | None:
    """``2d``, ``36h``, ``90m``, ``1w``, ``30s`` ago, or an RFC 3339 date or date-time
    (``2026-11-01``, ``2026-11-01T08:00:00Z``; no offset: UTC). ``None`` when not given."""
    if text is None:
        return None
    value = text.strip()
    match = _DURATION.fullmatch(value.lower())
    if match:
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00")) if value else None
    except ValueError:
        when = None
    if when is None:
        raise UsageError(
            f"{option} {text!r} is neither a duration nor a date",
            hint=f"Give a duration back from now ({option} 2d; units s, m, h, d, w) or an RFC 3339 date "
            f"({option} 2026-11-01 or {option} 2026-11-01T08:00:00Z).",
        )
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------------------------
# the walk


@dataclass
class Filtered(Generic[T]):
    """What a filtered list found, and what to tell the user about it (on stderr)."""

    items: list[T]
    notes: list[str] = field(default_factory=list)


def take(
    items: Iterable[T],
    keep: Callable[[T], bool],
    created: Callable[[T], datetime | None],
    *,
    limit: int | None,
    since: datetime | None,
) -> Iterator[T]:
    """The ``items`` that ``keep`` accepts, in their order, at most ``limit``; with ``since``, only
    those created since then (one without a creation time is not shown), and the walk ends at the
    second item in a row created before it, as long as the list has come newest first (a list
    seen out of that order is walked to its end instead: nothing newer is missed)."""
    left = limit
    if left is not None and left <= 0:
        return
    newest_first, last_when, last_older = True, None, False
    for item in items:
        if since is not None:
            when = _aware(created(item))
            if when is None:
                continue
            if last_when is not None and when > last_when:
                newest_first = False
            last_when = when
            if when < since:
                if newest_first and last_older:
                    return  # newest first: the rest is older still; stop paging
                last_older = True
                continue
            last_older = False
        if not keep(item):
            continue
        yield item
        if left is not None:
            left -= 1
            if left <= 0:
                return


LIST_COUNTED = 5
"""``batches list``: at most this many listed batches whose counts leave requests unexplained
(``Batch.counts_need_results``: an OpenAI batch that completed with requests in neither file) are
counted from their results, as ``batches get`` counts them; each costs reading its results (an
OpenAI batch: its output and error files, about four requests). The others show no counts, with a note."""


def list_batches_filtered(
    target: Target,
    *,
    limit: int | None,
    status: Sequence[str] | None = None,
    since: str | None = None,
    on_note: Callable[[str], None] | None = None,
) -> list[Batch]:
    """``batches list`` with filters (``--status`` words, ``--since`` as typed; both checked before
    anything is sent): at most ``limit`` batches that match (``None``: all), with counts as ``get``
    gives them (up to :data:`LIST_COUNTED` counted from their results; ``on_note`` says when more are not)."""
    statuses = parse_statuses(status)
    cutoff = parse_since(since)
    if not statuses and cutoff is None:
        return _counted(target, list(target.list_batches(limit=limit)), on_note)
    return _counted(
        target,
        list(
            take(
                target.list_batches(limit=None),
                lambda b: status_matches(b, statuses),
                lambda b: b.created_at,
                limit=limit,
                since=cutoff,
            )
        ),
        on_note,
    )


def _counted(target: Target, batches: list[Batch], on_note: Callable[[str], None] | None) -> list[Batch]:
    from bifrost_cli.service.wait import complete_counts

    need = [n for n, b in enumerate(batches) if b.counts_need_results]
    for n in need[:LIST_COUNTED]:
        batches[n] = complete_counts(target, batches[n])
    left = len(need) - LIST_COUNTED
    if left > 0 and on_note is not None:
        noun = "batch has" if left == 1 else "batches have"
        on_note(f"{left} more ended {noun} counts only their results can give (shown as -): `batches get ID` counts them")
    return batches


def list_files_filtered(
    target: Target, *, limit: int | None, purpose: str | None = None, since: str | None = None
) -> Filtered[File]:
    """``files list`` with filters: at most ``limit`` files that match (``None``: all). Files of
    targets that keep no purpose (Anthropic direct, Gemini, Bedrock) never match ``--purpose``:
    a note says so when nothing matched for that reason."""
    cutoff = parse_since(since)
    if purpose is not None and not purpose.strip():
        raise UsageError("--purpose is empty", hint="Give a purpose, e.g. --purpose batch.")
    if purpose is None and cutoff is None:
        return Filtered(list(target.list_files(limit=limit)))
    wanted = purpose.strip().lower() if purpose is not None else None
    any_purpose = False

    def keep(f: File) -> bool:
        nonlocal any_purpose
        if wanted is None:
            return True
        any_purpose = any_purpose or bool(f.purpose)
        return (f.purpose or "").lower() == wanted

    found = list(take(target.list_files(limit=None), keep, lambda f: f.created_at, limit=limit, since=cutoff))
    notes = []
    if wanted is not None and not found and not any_purpose:
        notes.append(f"No file listed here has a purpose (the target keeps none), so none matches --purpose {purpose}.")
    return Filtered(found, notes)


def local_entries_filtered(ledger: Ledger | None, *, limit: int | None, since: str | None) -> list[Entry]:
    """``batches list --local --since``: the ledger's entries (newest first) recorded since then."""
    cutoff = parse_since(since)
    if ledger is None:
        return []
    if cutoff is None:
        return ledger.entries(limit=limit)
    return list(
        take(ledger.entries(), lambda e: True, lambda e: datetime.fromtimestamp(e.created_at, UTC), limit=limit, since=cutoff)
    )
