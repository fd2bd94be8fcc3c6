"""files upload / list / get / download."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bifrost_cli.hints import suggest
from bifrost_cli.errors import (
    BifrostError,
    UnsupportedError,
    TransferIncomplete,
    UnavailableError,
    UsageError,
)
from bifrost_cli.models import File
from bifrost_cli.providers.base import EXPIRES_AFTER, CheckedTarget, OpenDownload, Target, UploadSource
from bifrost_cli.service.writing import (
    ProgressFactory,
    check_destination,
    progress_of,
    safe_filename,
    to_stdout,
    write_atomically,
)

if TYPE_CHECKING:
    from bifrost_cli.ledger import Ledger
    from bifrost_cli.providers.base import Progress

CLOCK_SKEW = 300.0
"""Seconds a file listed after a lost upload answer may seem to predate the upload (clocks differ)."""
RECONCILE_LOOKBACK = 100
"""How many of the newest files are searched for an upload whose answer was lost."""

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
    ledger: Ledger | None = None,
    on_note: Callable[[str], None] | None = None,
) -> Iterator[Any]:
    """Upload each path (``-`` is stdin, named by ``filename``); yields each File as it lands.

    Every path is checked before the first byte is sent; an upload (or an option) the target cannot
    do is refused before any path is. Each upload is recorded in the ``ledger`` (pending before,
    its id after); one whose answer was lost is looked for among the files before it is sent again
    (``on_note`` hears what was done). Uploads are not deduplicated: the same file uploaded twice
    makes two files, as asked.
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
            hint = None if path.is_dir() else f"Pipe it in instead: ... | {suggest('files upload - --filename NAME')}"
            raise UsageError(f"{raw}: not a regular file", hint=hint)
        if not os.access(path, os.R_OK):
            raise UsageError(f"{raw}: not readable")
        sources.append(UploadSource.from_path(path, filename if len(paths) == 1 else None))
    if paths.count("-") > 1:
        raise UsageError("stdin (-) can be uploaded only once per command")
    identity = getattr(target, "identity", target.provider)
    for source in sources:
        hashed = _HashedSource.of(source)
        row = None
        if ledger is not None:
            ledger_options = json.dumps({"expires_after": expires_after, "purpose": purpose}, sort_keys=True)
            row = ledger.begin(
                kind="file", target=identity, provider=target.provider, input_name=source.filename,
                sha256="", options=ledger_options, token="",
            )
        with progress_of(progress, f"upload {source.filename}", source.size) as advance:
            started = time.time()
            try:
                file = uploader.upload_file(hashed, purpose=purpose, progress=advance, expires_after=expires_after)
            except BifrostError as exc:
                if not exc.may_have_been_received:
                    _finish(ledger, row, "failed", None, hashed, exc.message)
                    raise
                try:
                    file = _reconcile_upload(target, uploader, hashed, exc, started, purpose, advance, expires_after, on_note)
                except BifrostError as again:
                    _finish(ledger, row, "unknown" if again.may_have_been_received else "failed", None, hashed, again.message)
                    raise
        _finish(ledger, row, "done", file.id, hashed, None)
        yield file


def _finish(ledger: Ledger | None, row: int | None, state: str, file_id: str | None, source: _HashedSource, note: str | None) -> None:
    if ledger is not None and row is not None:
        ledger.finish(row, state=state, resource_id=file_id, note=note, sha256=source.sha256)


def _reconcile_upload(
    target: CheckedTarget,
    uploader: Any,
    source: _HashedSource,
    exc: BifrostError,
    started: float,
    purpose: str | None,
    advance: Progress | None,
    expires_after: int | None,
    on_note: Callable[[str], None] | None,
) -> Any:
    """An upload whose answer was lost: the one file listed with its name and size created since
    the upload began is it; none: send it again (a file on disk), once; several: say so."""
    try:
        listed = list(target.check("files.list").list_files(limit=RECONCILE_LOOKBACK))
    except UnsupportedError:
        raise exc from None
    since = datetime.fromtimestamp(started - CLOCK_SKEW, UTC)
    matches = [
        f
        for f in listed
        if f.filename == source.filename
        and (source.size is None or f.size_bytes == source.size)
        and (f.created_at is None or (f.created_at if f.created_at.tzinfo else f.created_at.replace(tzinfo=UTC)) >= since)
    ]
    note = (lambda text: on_note(text)) if on_note is not None else (lambda text: None)
    if len(matches) == 1:
        note(f"The answer to the upload of {source.filename} was lost, but the file exists: {matches[0].id}")
        return matches[0]
    if matches:
        exc.hint = (
            f"{len(matches)} files named {source.filename} of this size were created since the upload began "
            f"({', '.join(f.id for f in matches[:5])}): one may be this upload. Check with `{suggest('files list')}`, "
            "delete the extra ones, and do not upload it again."
        )
        raise exc
    if not source.replayable:
        exc.hint = f"No file named {source.filename} is listed yet; stdin cannot be sent again: upload it again from a file."
        raise exc
    note(f"The answer to the upload of {source.filename} was lost and no such file is listed: sending it again ({exc.message})")
    return uploader.upload_file(source, purpose=purpose, progress=advance, expires_after=expires_after)


@dataclass
class _HashedSource(UploadSource):
    """An upload source whose sha256 (for the ledger) is taken from its bytes as they are read to be
    sent, whoever reads them (``seen``): never a separate pass over the file before sending.
    Bytes read again (a retry, a resumed upload) are hashed once; what was never read (an upload
    cut short whose answer turned up anyway) is read from the file when the digest is asked for."""

    _tap: _Tap = field(default_factory=lambda: _Tap(), repr=False)

    @classmethod
    def of(cls, source: UploadSource) -> _HashedSource:
        return cls(source.filename, source.path, source.stream, source.size, source.mime_type)

    @property
    def sha256(self) -> str | None:
        return self._tap.hexdigest(self.path, self.size)

    def seen(self, offset: int, data: bytes) -> None:
        self._tap.feed(offset, data)


class _Tap:
    """The sha256 of bytes fed in file order, each byte once; hashed in a worker thread (hashlib
    lets go of the GIL) at most one chunk behind the sending, so it costs the sender no time."""

    def __init__(self) -> None:
        import threading

        self.digest = hashlib.sha256()
        self.at = 0
        self._lock = threading.Lock()
        self._pending: Any = None
        self._pool: Any = None

    def feed(self, offset: int, data: bytes) -> None:
        with self._lock:
            end = offset + len(data)
            if offset > self.at or end <= self.at:
                return  # a gap (read out of order), or bytes already hashed
            piece = data if offset == self.at else memoryview(data)[self.at - offset :]
            self.at = end
            if len(piece) < 1 << 16:  # not worth a thread
                self._settle()
                self.digest.update(piece)
                return
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
            self._settle()
            self._pending = self._pool.submit(self.digest.update, piece)

    def _settle(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def hexdigest(self, path: Path | None, size: int | None) -> str | None:
        """The digest of everything: a file's bytes never read to be sent are read now; a
        stream's digest is of what was read (``None`` if nothing was)."""
        with self._lock:
            self._settle()
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
            if path is not None and size is not None and self.at < size:
                try:
                    with open(path, "rb") as fh:
                        fh.seek(self.at)
                        while chunk := fh.read(1 << 20):
                            self.digest.update(chunk)
                            self.at += len(chunk)
                except OSError:
                    return None
            if path is None and self.at == 0:
                return None
            return self.digest.hexdigest()


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
    allow_partial: bool = False,
    stdout: IO[bytes] | None = None,
    progress: ProgressFactory | None = None,
) -> DownloadResult:
    """Stream a file to ``output`` (``-``: stdout) through a temporary file renamed into place
    only when complete: as many bytes as the provider says the file holds, and the provider's
    checksum where it gives one; otherwise :class:`~bifrost_cli.errors.TransferIncomplete` and
    nothing in place (``allow_partial``: what arrived is kept as ``OUTPUT.partial``)."""
    downloader = target.check("files.download")
    if output is not None and output != "-":
        check_destination(Path(output), force)
    with downloader.open_download(file_id) as download:
        verified = _Verified(file_id, download)
        if output == "-":
            import sys

            sink = stdout or sys.stdout.buffer
            try:
                with progress_of(progress, f"download {file_id}", download.size) as advance:
                    for chunk in verified.chunks():
                        sink.write(chunk)
                        if advance:
                            advance(len(chunk))
                sink.flush()
                verified.check(verified.arrived)
            except TransferIncomplete as exc:
                raise to_stdout(exc, f"the {verified.arrived} bytes that arrived were written to stdout") from None
            return DownloadResult(file_id, "-", verified.arrived)
        dest = Path(output) if output else Path(safe_filename(download.filename, file_id))
        check_destination(dest, force)
        partial = dest.with_name(dest.name + ".partial") if allow_partial else None
        with progress_of(progress, f"download {dest.name}", download.size) as advance:
            written = write_atomically(dest, verified.chunks(), advance, check=verified.check, partial=partial)
    return DownloadResult(file_id, str(dest), written)


class _Verified:
    """A download's bytes, counted and hashed on the way; ``check`` says whether all arrived."""

    def __init__(self, file_id: str, download: OpenDownload):
        self.file_id = file_id
        self.download = download
        self.arrived = 0
        checksum = download.checksum
        self._hash = hashlib.new(checksum.algorithm) if checksum is not None else None

    def chunks(self) -> Iterator[bytes]:
        try:
            for chunk in self.download.chunks():
                self.arrived += len(chunk)
                if self._hash is not None:
                    self._hash.update(chunk)
                yield chunk
        except UnavailableError as exc:
            raise TransferIncomplete(
                f"the download of {self.file_id} broke off after {self.arrived} bytes: {exc.message}; nothing was saved",
                hint=exc.hint or "Run the command again.",
            ) from None

    def check(self, written: int) -> None:
        size = self.download.size
        if size is not None and written != size:
            fewer = "only " if written < size else ""
            raise TransferIncomplete(
                f"the download of {self.file_id} ended after {fewer}{written} bytes, but the file holds {size}; nothing was saved",
                hint="Run the command again; --allow-partial keeps what arrives.",
            )
        checksum = self.download.checksum
        if checksum is not None and self._hash is not None and self._hash.digest() != checksum.digest:
            raise TransferIncomplete(
                f"the download of {self.file_id} does not match its {checksum.source} "
                f"({checksum.algorithm} of what arrived differs); nothing was saved",
                hint="Run the command again; --allow-partial keeps what arrives.",
            )
