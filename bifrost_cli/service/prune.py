"""files prune / batches prune: delete old files or ended batches in bulk, safely.

Nothing is deleted without an age (``--older-than``); a file that an unfinished batch still reads
as its input is never deleted; a batch still running is never deleted; the command asks before
deleting (the CLI's ``confirm``), and every delete is tried, each failure reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from bifrost_cli.hints import suggest
from bifrost_cli.errors import BifrostError, UsageError
from bifrost_cli.providers.base import CheckedTarget

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
AGE_HELP = "a number and a unit: s, m, h, d or w (30m, 12h, 7d, 2w)"

# Where each target names a batch's input file in ``Batch.details``: OpenAI ``input_file_id``,
# Gemini ``input_file`` (``files/...``), Bedrock ``input`` (an S3 URI, which is the file's id).
INPUT_KEYS = ("input_file_id", "input_file", "input")


def parse_age(text: str, option: str = "--older-than") -> timedelta:
    """``7d`` -> 7 days. Raises :class:`UsageError` for anything else (no unit, zero, negative)."""
    match = _AGE.match(text or "")
    if not match:
        raise UsageError(f"{option} {text!r} is not an age", hint=f"Give {AGE_HELP}.")
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds <= 0:
        raise UsageError(f"{option} must be more than nothing, got {text!r}", hint=f"Give {AGE_HELP}.")
    return timedelta(seconds=seconds)


@dataclass
class PruneItem:
    """A file or batch the prune looked at: what it is, and what was (or would be) done with it."""

    id: str
    name: str | None = None
    """A file's name, a batch's status."""
    created_at: datetime | None = None
    size_bytes: int | None = None
    purpose: str | None = None
    outcome: str = "selected"
    """``selected`` (would be deleted), ``deleted``, ``failed``, or ``kept``."""
    reason: str | None = None
    """Why it was kept, or why its delete failed."""
    error: BifrostError | None = field(default=None, repr=False)


@dataclass
class PruneReport:
    kind: Literal["file", "batch"]
    older_than: str
    cutoff: datetime
    dry_run: bool
    purpose: str | None = None
    items: list[PruneItem] = field(default_factory=list)
    """Old enough and allowed: deleted, failed, or (dry run) selected."""
    kept: list[PruneItem] = field(default_factory=list)
    """Old enough but kept (in use by an unfinished batch, still running, age unknown)."""
    considered: int = 0
    """How many the target listed."""
    notes: list[str] = field(default_factory=list)
    """What the user should know of the selection (shown on stderr)."""

    @property
    def deleted(self) -> list[PruneItem]:
        return [i for i in self.items if i.outcome == "deleted"]

    @property
    def failures(self) -> list[PruneItem]:
        return [i for i in self.items if i.outcome == "failed"]

    def verdict(self) -> None:
        """Raise when some deletes failed: one error naming each, with the first failure's exit code."""
        failures = self.failures
        if not failures:
            return
        first = failures[0].error
        detail = "; ".join(f"{i.id}: {i.reason}" for i in failures)
        raise BifrostError(
            f"could not delete {len(failures)} of {len(self.items)} {self.kind}s: {detail}",
            hint=first.hint if first is not None else None,
            exit_code=first.exit_code if first is not None else None,
        )


@dataclass
class Consent:
    """Whether a prune may delete: ``yes`` (``--yes``), or ``ask`` the user, which needs a terminal
    (``interactive``); without either, a prune that is not a dry run is refused before any I/O."""

    yes: bool = False
    interactive: bool = False
    ask: Callable[[PruneReport], bool] | None = None

    def require(self, dry_run: bool) -> None:
        if dry_run or self.yes or (self.interactive and self.ask is not None):
            return
        raise UsageError(
            "prune deletes for good, and there is no terminal to ask on: nothing was listed or deleted",
            hint="Add --dry-run to see what would be deleted, then --yes to delete it.",
        )

    def granted(self, report: PruneReport) -> bool:
        if self.yes:
            return True
        return self.ask is not None and self.interactive and bool(self.ask(report))


class NotConfirmed(BifrostError):
    """The user answered no: nothing was deleted."""


def prune_files(
    target: CheckedTarget,
    *,
    older_than: str,
    purpose: str | None = None,
    dry_run: bool = False,
    consent: Consent,
    now: datetime | None = None,
) -> PruneReport:
    """Delete every file created before ``now - older_than`` (with ``purpose``, when given) that no
    unfinished batch uses as its input; ``consent`` is asked with the plan first (not on a dry run)."""
    age = parse_age(older_than)
    checked = target.check("files.list", "files.delete")
    consent.require(dry_run)
    cutoff = (now or datetime.now(UTC)) - age
    report = PruneReport("file", older_than, cutoff, dry_run, purpose=purpose)
    old: list[PruneItem] = []
    with_purpose = 0
    for f in checked.list_files(limit=None):
        report.considered += 1
        with_purpose += f.purpose is not None
        if purpose and (f.purpose or "").lower() != purpose.lower():
            continue
        item = PruneItem(f.id, f.filename, f.created_at, f.size_bytes, f.purpose)
        if f.created_at is None:
            report.kept.append(_keep(item, "the provider does not say when it was created"))
        elif _aware(f.created_at) < cutoff:
            old.append(item)
    if purpose and report.considered and not with_purpose:
        report.notes.append(
            f"none of the {report.considered} files listed carries a purpose here, so --purpose {purpose} matched "
            "nothing: leave out --purpose to prune by age alone"
        )
    if old:
        in_use = _inputs_in_use(target)
        for item in old:
            batch_id = in_use.get(item.id) or in_use.get(_short_id(item.id))
            if batch_id is not None:
                report.kept.append(_keep(item, f"input of unfinished batch {batch_id}"))
            else:
                report.items.append(item)
    return _carry_out(report, consent, checked.delete_file)


def prune_batches(
    target: CheckedTarget,
    *,
    older_than: str,
    dry_run: bool = False,
    consent: Consent,
    now: datetime | None = None,
) -> PruneReport:
    """Delete every ended batch created before ``now - older_than`` (where the provider can delete
    batches: refused before any I/O otherwise); ``consent`` is asked with the plan first."""
    age = parse_age(older_than)
    checked = target.check("batches.list", "batches.delete")
    consent.require(dry_run)
    cutoff = (now or datetime.now(UTC)) - age
    report = PruneReport("batch", older_than, cutoff, dry_run)
    for b in checked.list_batches(limit=None):
        report.considered += 1
        item = PruneItem(b.id, b.native_status or b.status, b.created_at)
        if b.created_at is None:
            report.kept.append(_keep(item, "the provider does not say when it was created"))
        elif _aware(b.created_at) >= cutoff:
            continue
        elif not b.ended:
            report.kept.append(_keep(item, f"still running: cancel it first (`{suggest('batches cancel', b.id)}`)"))
        else:
            report.items.append(item)
    return _carry_out(report, consent, checked.delete_batch)


def _carry_out(report: PruneReport, consent: Consent, delete: Callable[[str], object]) -> PruneReport:
    if report.dry_run or not report.items:
        return report
    if not consent.granted(report):
        raise NotConfirmed(f"not confirmed: no {report.kind} was deleted")
    for item in report.items:
        try:
            delete(item.id)
        except BifrostError as exc:
            item.outcome, item.reason, item.error = "failed", exc.message, exc
        else:
            item.outcome = "deleted"
    return report


def _inputs_in_use(target: CheckedTarget) -> dict[str, str]:
    """Input file id -> id of the unfinished batch that reads it, from every batch the target lists.
    A target that cannot list batches has none to protect; a listing that fails stops the prune
    (nothing can be deleted safely without it)."""
    if "batches.list" in target.capabilities.unsupported:
        return {}
    in_use: dict[str, str] = {}
    for b in target.list_batches(limit=None):
        if b.ended:
            continue
        for value in _input_ids(b.details):
            in_use.setdefault(value, b.id)
            in_use.setdefault(_short_id(value), b.id)
    return in_use


def _input_ids(details: dict[str, object]) -> Iterable[str]:
    for key in INPUT_KEYS:
        value = details.get(key)
        if isinstance(value, str) and value:
            yield value


def _short_id(file_id: str) -> str:
    """``files/abc`` -> ``abc`` (Gemini names a file both ways)."""
    return file_id.removeprefix("files/")


def _keep(item: PruneItem, reason: str) -> PruneItem:
    item.outcome, item.reason = "kept", reason
    return item


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
