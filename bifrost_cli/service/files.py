"""files upload / list / get / download."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bifrost_cli.errors import (
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
        with progress_of(progress, f"upload {source.filename}", source.size) as advance:
            yield uploader.upload_file(source, purpose=purpose, progress=advance, expires_after=expires_after)


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
