"""Writing what the server sends to local files: never half-written, never through a planted link."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bifrost_cli.errors import (
    BifrostError,
    TransferIncomplete,
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
    dest: Path,
    chunks: Iterable[bytes],
    advance: Progress | None = None,
    *,
    check: Callable[[int], None] | None = None,
    partial: Path | None = None,
    mode: int | None = None,
    hint: str = "Choose another -o PATH.",
) -> int:
    """Write ``chunks`` to a new temporary file next to ``dest`` and rename it over ``dest`` only
    once everything arrived and ``check(bytes_written)`` (which raises when the transfer is not
    complete) passed.

    The temporary file is created exclusively (``O_CREAT|O_EXCL|O_NOFOLLOW``, a random name, mode
    0600), so no planted file or link is ever written through; it gets the mode a new file would
    have only once complete (``mode``: that mode instead). On any failure, Ctrl-C and SIGTERM included, it is removed, except that
    a :class:`~bifrost_cli.errors.TransferIncomplete` with ``partial`` given renames what arrived
    to ``partial`` (``--allow-partial``)."""
    import tempfile

    try:
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name[:100]}.", suffix=".part")
    except OSError as exc:
        raise _local_error(dest, exc, hint) from None
    tmp = Path(name)
    written = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                try:
                    fh.write(chunk)
                except OSError as exc:
                    raise _local_error(dest, exc, hint) from None
                written += len(chunk)
                if advance:
                    advance(len(chunk))
            try:
                fh.flush()
                os.fsync(fh.fileno())
                os.fchmod(fh.fileno(), 0o666 & ~_umask() if mode is None else mode)
            except OSError as exc:
                raise _local_error(dest, exc, hint) from None
        if check is not None:
            check(written)
        try:
            os.replace(tmp, dest)
        except OSError as exc:
            raise _local_error(dest, exc, hint) from None
    except TransferIncomplete as exc:
        if partial is None or not _keep(tmp, partial):
            _discard(tmp)
            raise
        exc.message = f"{exc.message.removesuffix('; nothing was saved')}; the {written} bytes that arrived are in {partial}"
        raise
    except BaseException:
        _discard(tmp)
        raise
    return written


def to_stdout(exc: TransferIncomplete, what_arrived: str) -> TransferIncomplete:
    """A transfer cut short on its way to stdout, which cannot be taken back: say what was written."""
    exc.message = f"{exc.message.removesuffix('; nothing was saved')}; {what_arrived}"
    return exc


def _keep(tmp: Path, partial: Path) -> bool:
    """What arrived, renamed to ``partial`` (a link there is replaced, never followed)."""
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, partial)
    except OSError:
        return False
    return True


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass  # never hide the failure that got us here behind one of the clean-up


def _umask() -> int:
    """The process's umask (read by setting it, then put back at once)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _local_error(path: Path, exc: OSError, hint: str = "Choose another -o PATH.") -> BifrostError:
    """A file that cannot be written: a usage error when the path or its permissions are wrong,
    a general one otherwise (a full disk...)."""
    text = f"cannot write {path}: {exc.strerror or exc}"
    if isinstance(exc, PermissionError | NotADirectoryError | IsADirectoryError | FileNotFoundError) or exc.errno == errno.ENAMETOOLONG:
        return UsageError(text, hint=hint)
    return BifrostError(text + "; nothing was saved")
