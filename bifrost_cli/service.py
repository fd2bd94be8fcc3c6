"""Operations the commands call: one function per command, no printing, no typer or rich.

Each command parses its options, makes one call here and hands the result to the output layer;
progress and status reach that layer through callbacks. What an outcome means for the exit code is
decided here too (``WaitOutcome.verdict``, ``DeleteReport.raise_first``).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

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
from bifrost_cli.models import Batch, DeletedBatch, File, counts_from_results
from bifrost_cli.providers.base import EXPIRES_AFTER, BatchOptions, CheckedTarget, Progress, Target, UploadSource

ProgressFactory = Callable[[str, int | None], Any]
"""``factory(description, total_bytes)`` -> a context manager yielding a ``Progress`` callback."""


# ------------------------------------------------------------------------------------------------
# files


def list_files(target: Target, *, limit: int | None) -> list[File]:
    """Files, newest first: at most ``limit`` (``None``: every page)."""
    return list(target.list_files(limit=limit))


def get_file(target: Target, file_id: str) -> File:
    return target.get_file(file_id)


def upload_files(
    target: CheckedTarget,
    paths: Sequence[str],
    *,
    purpose: str | None,
    filename: str | None = None,
    expires_after: int | None = None,
    stdin: IO[bytes] | None = None,
    progress: ProgressFactory | None = None,
) -> Iterator[Any]:
    """Upload each path (``-`` is stdin, named by ``filename``); yields each File as it lands.

    Every path is checked before the first byte is sent; an upload (or an option) the target cannot
    do is refused before any path is.
    """
    uploader = target.check("files.upload", *([EXPIRES_AFTER] if expires_after is not None else []))
    sources: list[UploadSource] = []
    for raw in paths:
        if raw == "-":
            if not filename:
                raise UsageError("uploading from stdin needs a name: add --filename NAME")
            import sys

            sources.append(UploadSource.from_stream(stdin or sys.stdin.buffer, filename))
            continue
        path = Path(raw)
        if not path.exists():
            raise UsageError(f"{raw}: no such file")
        if not path.is_file():
            hint = None if path.is_dir() else "Pipe it in instead: ... | bifrost files upload - --filename NAME"
            raise UsageError(f"{raw}: not a regular file", hint=hint)
        if not os.access(path, os.R_OK):
            raise UsageError(f"{raw}: not readable")
        sources.append(UploadSource.from_path(path, filename if len(paths) == 1 else None))
    if paths.count("-") > 1:
        raise UsageError("stdin (-) can be uploaded only once per command")
    for source in sources:
        with _progress(progress, f"upload {source.filename}", source.size) as advance:
            yield uploader.upload_file(source, purpose=purpose, progress=advance, expires_after=expires_after)


@contextmanager
def _progress(factory: ProgressFactory | None, description: str, total: int | None) -> Iterator[Progress | None]:
    if factory is None:
        yield None
        return
    with factory(description, total) as advance:
        yield advance


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_filename(name: str | None, fallback: str) -> str:
    """A server-given filename reduced to a plain name in the current directory (never a path)."""
    if name:
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        base = _UNSAFE_NAME.sub("_", base).strip(" .")
        if base and base not in (".", ".."):
            return base[:200]
    return _UNSAFE_NAME.sub("_", fallback).strip(" .") or "download"


@dataclass
class DownloadResult:
    file_id: str
    path: str  # "-" for stdout
    bytes: int


def download_file(
    target: CheckedTarget,
    file_id: str,
    *,
    output: str | None,
    force: bool = False,
    stdout: IO[bytes] | None = None,
    progress: ProgressFactory | None = None,
) -> DownloadResult:
    """Stream a file to ``output`` (``-``: stdout) through ``OUTPUT.part`` and an atomic rename."""
    downloader = target.check("files.download")
    if output is not None and output != "-":
        _check_destination(Path(output), force)
    with downloader.open_download(file_id) as download:
        if output == "-":
            import sys

            sink = stdout or sys.stdout.buffer
            written = 0
            with _progress(progress, f"download {file_id}", download.size) as advance:
                for chunk in download.chunks():
                    sink.write(chunk)
                    written += len(chunk)
                    if advance:
                        advance(len(chunk))
            sink.flush()
            if download.size is not None and written != download.size:
                raise ResponseError(f"the download of {file_id} stopped after {written} of {download.size} bytes")
            return DownloadResult(file_id, "-", written)
        dest = Path(output) if output else Path(safe_filename(download.filename, file_id))
        _check_destination(dest, force)
        with _progress(progress, f"download {dest.name}", download.size) as advance:
            written = write_atomically(dest, download.chunks(), advance, expected_size=download.size, what=file_id)
    return DownloadResult(file_id, str(dest), written)


def _check_destination(dest: Path, force: bool) -> None:
    if dest.is_dir():
        raise UsageError(f"{dest} is a directory", hint="Give a file name with -o PATH.")
    if dest.exists() and not force:
        raise UsageError(f"{dest} already exists", hint="Add --force to overwrite it, or choose another -o PATH.")
    if not dest.parent.is_dir():
        raise UsageError(f"{dest.parent}: no such directory")


def write_atomically(
    dest: Path, chunks: Any, advance: Progress | None = None, *, expected_size: int | None = None, what: str = ""
) -> int:
    """Write chunks to ``DEST.part`` and rename it over ``dest`` only once everything arrived
    (and, when ``expected_size`` is known, only if that many bytes did)."""
    part = dest.with_name(dest.name + ".part")
    written = 0
    try:
        try:
            fh = open(part, "wb")
        except OSError as exc:
            raise _local_error(part, exc) from None
        with fh:
            for chunk in chunks:
                try:
                    fh.write(chunk)
                except OSError as exc:
                    raise _local_error(part, exc) from None
                written += len(chunk)
                if advance:
                    advance(len(chunk))
            try:
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as exc:
                raise _local_error(part, exc) from None
        if expected_size is not None and written != expected_size:
            raise ResponseError(
                f"the download of {what or dest.name} stopped after {written} of {expected_size} bytes; nothing was saved",
                hint="Run the command again.",
            )
        try:
            os.replace(part, dest)
        except OSError as exc:
            raise _local_error(dest, exc) from None
    except BaseException:
        try:
            part.unlink(missing_ok=True)
        except OSError:
            pass  # never hide the failure that got us here behind one of the clean-up
        raise
    return written


def _local_error(path: Path, exc: OSError) -> BifrostError:
    """A file that cannot be written: a usage error when the path or its permissions are wrong,
    a general one otherwise (a full disk...)."""
    text = f"cannot write {path}: {exc.strerror or exc}"
    if isinstance(exc, PermissionError | NotADirectoryError | IsADirectoryError | FileNotFoundError):
        return UsageError(text, hint="Choose another -o PATH.")
    return BifrostError(text + "; nothing was saved")


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
        deleter.delete_batch(batch_id)
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
    on_created: Callable[[Batch], None] | None = None,
    monitor: WaitMonitor | None = None,
) -> WaitOutcome:
    """``create_batch``, then ``wait_for_batches`` on it (``on_created`` hears of it in between)."""
    batch = create_batch(target, new)
    if on_created is not None:
        on_created(batch)
    return wait_for_batches(target, [batch.id], poll=poll, timeout=timeout, monitor=monitor)


def batch_options(*, metadata: Sequence[str] | None = None, timeout_hours: int | None = None) -> BatchOptions:
    """``BatchOptions`` from the command line (``--metadata KEY=VALUE``...)."""
    pairs: dict[str, str] = {}
    for item in metadata or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--metadata {item!r}: expected KEY=VALUE")
        pairs[key] = value
    return BatchOptions(metadata=pairs, timeout_hours=timeout_hours)


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
        _check_destination(dest, force)
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
    parts = [f"{getattr(counts, k)} {k}" for k in ("errored", "canceled", "expired", "processing") if getattr(counts, k)]
    return f"{batch.id} ended{native}: " + (", ".join(parts) if parts else f"{counts.succeeded} succeeded")


# ------------------------------------------------------------------------------------------------
# the emulator, served


def serve_emulator(
    *,
    host: str,
    port: int,
    state_dir: Path | None,
    batch_seconds: float | None,
    virtual_key: str | None,
    flaky_every: int | None,
    legacy_gateway: bool,
    on_ready: Callable[[str, Path], None],
    log: Callable[[str], None] | None,
) -> None:
    """Serve the emulator until interrupted (Ctrl-C ends it cleanly)."""
    import dataclasses

    from bifrost_cli.emulator import EmulatorConfig
    from bifrost_cli.emulator.server import make_server

    try:
        config = EmulatorConfig.from_env(state_dir)
    except ValueError as exc:
        raise UsageError(f"emulator settings: {exc}") from None
    changes: dict[str, Any] = {}
    if batch_seconds is not None:
        changes["batch_seconds"] = batch_seconds
    if virtual_key is not None:
        changes["virtual_key"] = virtual_key
    if flaky_every is not None:
        changes["flaky_every"] = flaky_every
    if legacy_gateway:
        changes["legacy_gateway"] = True
    config = dataclasses.replace(config, **changes)
    try:
        server = make_server(config, host=host, port=port, log=log)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint="Choose another --port (0 picks a free one).") from None
    on_ready(server.url, config.state_dir)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
