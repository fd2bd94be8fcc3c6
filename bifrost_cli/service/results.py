"""batches results: stream the results to stdout or a file."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bifrost_cli.errors import (
    BifrostError,
)
from bifrost_cli.providers.base import CheckedTarget, Target
from bifrost_cli.service.writing import check_destination, write_atomically


@dataclass
class ResultsSummary:
    counts: Counter[str] = field(default_factory=Counter)
    path: str = "-"
    expected: int | None = None  # the batch's request count, when the target says

    @property
    def missing(self) -> int:
        """Requests the batch counts that no result line accounted for."""
        return max((self.expected or 0) - self.total, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def write_results(
    target: CheckedTarget,
    batch_id: str,
    *,
    output: str | None,
    raw: bool = False,
    force: bool = False,
    stdout: IO[bytes] | None = None,
) -> ResultsSummary:
    """Stream the batch's results as JSONL to stdout or (atomically) to ``output``."""
    reader = target.check("batches.results")
    summary = ResultsSummary(path=output or "-")

    def lines() -> Iterator[bytes]:
        if raw:
            for item in reader.iter_raw_results(batch_id):
                summary.counts["line"] += 1
                yield (json.dumps(item, ensure_ascii=False) + "\n").encode()
            return
        for result in reader.iter_results(batch_id):
            summary.counts[result.result.type] += 1
            yield (json.dumps(result.to_json_dict(), ensure_ascii=False) + "\n").encode()

    if output and output != "-":
        dest = Path(output)
        check_destination(dest, force)
        write_atomically(dest, lines())
    else:
        import sys

        sink = stdout or sys.stdout.buffer
        for line in lines():
            sink.write(line)
        sink.flush()
    if not raw:
        summary.expected = _request_total(target, batch_id)
    return summary


def _request_total(target: Target, batch_id: str) -> int | None:
    """How many requests the batch holds, if the target says (a check that no result went missing).
    The batch as the target reports it: its results were just read, and are never read twice."""
    try:
        counts = target.get_batch(batch_id).request_counts
    except BifrostError:
        return None
    return counts.total if counts is not None and counts.total else None
