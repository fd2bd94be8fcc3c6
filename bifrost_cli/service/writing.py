"""Writing what the server sends to local files: never half-written, never through a planted link."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bifrost_cli.errors import (
    BifrostError,
    ResponseError,
    UsageError,
)
from bifrost_cli.providers.base import Progress

ProgressFactory = Callable[[str, int | None], Any]
"""``factory(description, total_bytes)`` -> a context manager yielding a ``Progress`` callback."""


@contextmanager
def progress_of(factory: ProgressFactory | None, description: str, total: int | None) -> Iterator[Progress | None]:
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


def check_destination(dest: Path, force: bool) -> None:
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
