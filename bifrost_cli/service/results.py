"""batches results: stream the results to stdout or a file."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bifrost_cli.errors import (
    BifrostError,
    TransferIncomplete,
    UnavailableError,
)
from bifrost_cli.providers.base import CheckedTarget, Target
from bifrost_cli.service.writing import check_destination, to_stdout, write_atomically


@dataclass
class ResultsSummary:
    counts: Counter[str] = field(default_factory=Counter)
    path: str = "-"
    expected: int | None = None  # the batch's request count, when the target says
    restarts: int = 0  # times the results were fetched again from the start (a body that broke off)

    @property
    def missing(self) -> int:
        """Requests the batch counts that no result line accounted for."""
        return max((self.expected or 0) - self.total, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


_BATCH = 512  # result lines per write


def result_chunks(reader: Target, batch_id: str, *, raw: bool, counts: Counter[str]) -> Iterator[bytes]:
    """A batch's results as JSONL, in chunks of up to ``_BATCH`` lines (one write each), counted in
    ``counts`` by result type (``line`` with ``raw``: the provider's own lines, as they came).

    The chunk being gathered when the results break off (or a line is refused) still goes out
    before the error: what arrived is never held back."""
    pending: list[bytes] = []
    try:
        if raw:
            own_lines = getattr(reader, "iter_raw_lines", None)
            if own_lines is not None:  # the provider's own lines, byte for byte
                for line in own_lines(batch_id):
                    counts["line"] += 1
                    yield line.encode() + b"\n"
                return
            for item in reader.iter_raw_results(batch_id):
                counts["line"] += 1
                yield (json.dumps(item, ensure_ascii=False) + "\n").encode()
            return
        texts = getattr(reader, "iter_result_texts", None)
        if texts is not None:
            # the fast path: lines already in the normalised shape are not rebuilt as models
            # (byte-identical to dump_result of the model, see providers/results.py)
            append = pending.append
            for rtype, text in texts(batch_id):
                counts[rtype] += 1
                append(text)
                if len(pending) >= _BATCH:
                    chunk = b"\n".join(pending) + b"\n"
                    pending.clear()
                    yield chunk
            if pending:
                chunk = b"\n".join(pending) + b"\n"
                pending.clear()
                yield chunk
            return
        from bifrost_cli.providers.results import dump_result

        for result in reader.iter_results(batch_id):
            counts[result.result.type] += 1
            yield dump_result(result) + b"\n"
    except GeneratorExit:
        raise
    except BaseException:
        if pending:
            chunk = b"\n".join(pending) + b"\n"
            pending.clear()
            yield chunk
        raise


def write_results(
    target: CheckedTarget,
    batch_id: str,
    *,
    output: str | None,
    raw: bool = False,
    force: bool = False,
    allow_partial: bool = False,
    restarts: int = 2,
    stdout: IO[bytes] | None = None,
) -> ResultsSummary:
    """Stream the batch's results as JSONL to stdout or (atomically) to ``output``.

    Results that do not account for every request the batch counts (where the target's counts
    can be trusted: :func:`_request_total`) are :class:`~bifrost_cli.errors.TransferIncomplete`,
    and ``output`` is not put in place (``allow_partial``: what arrived is kept as ``OUTPUT.partial``).
    Results going to a file whose body broke off where it could not be resumed with Range are
    fetched again from the start, at most ``restarts`` times (the retry setting).
    """
    reader = target.check("batches.results")
    summary = ResultsSummary(path=output or "-")
    broke: list[bool] = []

    def lines() -> Iterator[bytes]:
        try:
            yield from result_chunks(reader, batch_id, raw=raw, counts=summary.counts)
        except UnavailableError as exc:
            broke.append(True)
            raise TransferIncomplete(
                f"the results of {batch_id} broke off after {summary.total} lines: {exc.message}; nothing was saved",
                hint=exc.hint or "Run the command again.",
            ) from None

    def check(_written: int) -> None:
        if raw:
            return
        summary.expected = _request_total(reader, batch_id)
        if summary.missing:
            raise TransferIncomplete(
                f"only {summary.total} result lines of {batch_id} arrived, but the batch has {summary.expected} "
                f"requests: {summary.missing} are missing; nothing was saved",
                hint="Run the command again; --allow-partial keeps what arrives.",
            )

    if output and output != "-":
        dest = Path(output)
        check_destination(dest, force)
        partial = dest.with_name(dest.name + ".partial") if allow_partial else None
        for attempt in range(max(restarts, 0) + 1):
            summary.counts.clear()
            broke.clear()
            try:
                write_atomically(dest, lines(), check=check, partial=partial)
                break
            except TransferIncomplete:
                # a body that broke off where it could not be resumed (no Range: the gateway's one
                # results document) is fetched again from the start: nothing of it was put in place
                if not broke or attempt >= restarts:
                    raise
                summary.restarts += 1
                if partial is not None:
                    partial.unlink(missing_ok=True)
    else:
        results_to_stdout(lines(), stdout, lambda: summary.total, finish=lambda: check(0))
    return summary


def results_to_stdout(
    chunks: Iterator[bytes], stdout: IO[bytes] | None, total: Callable[[], int], *, finish: Callable[[], None] = lambda: None
) -> None:
    """Write result chunks to stdout as they come, then ``finish`` (a completeness check); a
    :class:`TransferIncomplete` says how many lines did reach stdout (they cannot be taken back)."""
    import sys

    sink = stdout or sys.stdout.buffer
    try:
        for chunk in chunks:
            sink.write(chunk)
        sink.flush()
        finish()
    except TransferIncomplete as exc:
        sink.flush()
        raise to_stdout(exc, f"the {total()} result lines that arrived were written to stdout") from None


def _request_total(target: Target, batch_id: str) -> int | None:
    """How many requests the batch holds, where the target's counts say so exactly (a check that
    no result went missing); ``None`` when they cannot tell: no counts, counts that leave requests
    unexplained, or a target whose counts are another provider's passed through in part
    (``result_counts_exact = False``). The batch as the target reports it: read once its results
    were, so that both describe the ended batch."""
    if not getattr(target, "result_counts_exact", True):
        return None
    try:
        batch = target.get_batch(batch_id)
    except BifrostError:
        return None
    counts = batch.request_counts
    if counts is None or batch.counts_need_results or not counts.total:
        return None
    return counts.total
