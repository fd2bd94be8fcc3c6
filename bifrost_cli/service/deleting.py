"""files delete / batches delete: every id tried, one report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bifrost_cli.hints import suggest
from bifrost_cli.errors import (
    APIError,
    BifrostError,
    ConflictError,
)
from bifrost_cli.models import DeletedBatch
from bifrost_cli.providers.base import CheckedTarget


@dataclass
class DeleteReport:
    deleted: list[Any] = field(default_factory=list)
    failures: list[tuple[str, BifrostError]] = field(default_factory=list)

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


def _delete_each(ids: Sequence[str], delete: Callable[[str], Any]) -> DeleteReport:
    report = DeleteReport()
    for item_id in dict.fromkeys(ids):
        try:
            report.deleted.append(delete(item_id))
        except BifrostError as exc:
            report.failures.append((item_id, exc))
    return report
