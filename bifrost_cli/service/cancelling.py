"""batches cancel ID...: every id tried, one report, the worst exit code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bifrost_cli.errors import BifrostError, UnsupportedError
from bifrost_cli.models import Batch
from bifrost_cli.providers.base import Target
from bifrost_cli.service.batches import cancel_batch


@dataclass
class CancelReport:
    """Each id asked for, in order: the batch after the ask, or the error that refused it."""

    canceled: list[Batch] = field(default_factory=list)
    failures: list[tuple[str, BifrostError]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    def raise_worst(self) -> None:
        """Raise one error naming every failure, with the worst (highest) of their exit codes."""
        if not self.failures:
            return
        worst = max(self.failures, key=lambda item: int(item[1].exit_code))[1]
        total = len(self.failures) + len(self.canceled)
        detail = "; ".join(f"{bid}: {err.message}" for bid, err in self.failures)
        raise BifrostError(
            f"could not cancel {len(self.failures)} of {total}: {detail}",
            hint=worst.hint,
            exit_code=worst.exit_code,
        )


def cancel_batches(target: Target, batch_ids: Sequence[str]) -> CancelReport:
    """Ask for the cancel of every batch (each once, in order); a failure does not stop the others
    (a target that cannot cancel is refused once)."""
    report = CancelReport()
    for batch_id in dict.fromkeys(batch_ids):
        report.order.append(batch_id)
        try:
            report.canceled.append(cancel_batch(target, batch_id))
        except UnsupportedError:
            raise  # the target cannot cancel at all: the same for every id, said once
        except BifrostError as exc:
            report.failures.append((batch_id, exc))
    return report
