"""files delete / batches delete: every id tried, one report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bifrost_cli.hints import suggest
from bifrost_cli.errors import (
    APIError,
    AuthError,
    BifrostError,
    ConflictError,
    NotFoundError,
    RateLimitError,
)
from bifrost_cli.models import DeletedBatch
from bifrost_cli.providers.base import CheckedTarget


@dataclass
class DeleteReport:
    deleted: list[Any] = field(default_factory=list)
    failures: list[tuple[str, BifrostError]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    def to_json(self) -> list[dict[str, Any]]:
        """One object per id, in the order given: ``{"id", "deleted": true}``, or ``{"id",
        "deleted": false, "error": {"type", "message", "exit_code"}}`` (:func:`error_json`)."""
        done = {d.id: d for d in self.deleted}
        failed = dict(self.failures)
        entries: list[dict[str, Any]] = []
        for item_id in self.order:
            if item_id in failed:
                entries.append({"id": item_id, "deleted": False, "error": error_json(failed[item_id])})
            elif item_id in done:
                entries.append(done[item_id].model_dump(mode="json"))
        return entries

    def raise_first(self) -> None:
        """Raise one error naming every failure, with the exit code of the first."""
        if not self.failures:
            return
        first = self.failures[0][1]
        total = len(self.failures) + len(self.deleted)
        detail = "; ".join(f"{fid}: {err.message}" for fid, err in self.failures)
        raise BifrostError(
            f"could not delete {len(self.failures)} of {total}: {detail}", hint=first.hint, exit_code=first.exit_code
        )


def delete_files(target: CheckedTarget, file_ids: Sequence[str]) -> DeleteReport:
    """Delete every file; a failure does not stop the others (a target that cannot delete files
    is refused once, before any)."""
    return _delete_each(file_ids, target.check("files.delete").delete_file)


def delete_batches(target: CheckedTarget, batch_ids: Sequence[str]) -> DeleteReport:
    """Delete every batch; a failure does not stop the others (a target that cannot delete batches
    is refused once, before any)."""
    deleter = target.check("batches.delete")

    def delete(batch_id: str) -> DeletedBatch:
        try:
            deleter.delete_batch(batch_id)
        except APIError as exc:
            if exc.status not in (400, 409, 412) or isinstance(exc, ConflictError):
                raise
            try:
                batch = target.get_batch(batch_id)
            except BifrostError:
                raise exc from None
            if batch.ended:
                raise
            raise ConflictError(
                f"batch {batch_id} is still running ({batch.native_status or batch.status}): it cannot be deleted yet",
                status=exc.status,
                error_type=exc.error_type,
                request_id=exc.request_id,
                hint=f"Cancel it first (`{suggest('batches cancel', batch_id)}`), then delete it once it has ended.",
            ) from None
        return DeletedBatch(id=batch_id)

    return _delete_each(batch_ids, delete)


def error_json(exc: BifrostError) -> dict[str, Any]:
    """A failure as JSON: ``type`` in the errored results' vocabulary (from the HTTP status, else
    what the error is), ``native_type`` the server's own where it named one, ``message``, and the
    ``exit_code`` it alone would give."""
    from bifrost_cli.providers.common import error_detail

    status = getattr(exc, "status", None)
    native = getattr(exc, "error_type", None)
    by_class = {NotFoundError: "not_found", AuthError: "authentication", RateLimitError: "rate_limit"}
    fallback = next((name for cls, name in by_class.items() if isinstance(exc, cls)), None)
    detail = error_detail(native, exc.message, fallback, status=status)
    if native is None:
        detail.pop("native_type", None)
    return {**detail, "exit_code": int(exc.exit_code)}


def _delete_each(ids: Sequence[str], delete: Callable[[str], Any]) -> DeleteReport:
    report = DeleteReport()
    report.order = list(dict.fromkeys(ids))
    for item_id in report.order:
        try:
            report.deleted.append(delete(item_id))
        except BifrostError as exc:
            report.failures.append((item_id, exc))
    return report
