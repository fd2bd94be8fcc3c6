"""files upload / list / get / download."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bifrost_cli.errors import (
    ResponseError,
    UsageError,
)
from bifrost_cli.models import File
from bifrost_cli.providers.base import EXPIRES_AFTER, CheckedTarget, Target, UploadSource
from bifrost_cli.service.writing import ProgressFactory, check_destination, progress_of, safe_filename, write_atomically

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
    stdout: IO[bytes] | None = None,
    progress: ProgressFactory | None = None,
) -> DownloadResult:
    """Stream a file to ``output`` (``-``: stdout) through ``OUTPUT.part`` and an atomic rename."""
    downloader = target.check("files.download")
    if output is not None and output != "-":
        check_destination(Path(output), force)
    with downloader.open_download(file_id) as download:
        if output == "-":
            import sys

            sink = stdout or sys.stdout.buffer
            written = 0
            with progress_of(progress, f"download {file_id}", download.size) as advance:
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
        check_destination(dest, force)
        with progress_of(progress, f"download {dest.name}", download.size) as advance:
            written = write_atomically(dest, download.chunks(), advance, expected_size=download.size, what=file_id)
    return DownloadResult(file_id, str(dest), written)
