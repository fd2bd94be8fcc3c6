"""On-disk state shared by every emulator process.

Layout under ``state_dir``::

    .lock                         flock'ed around every read-modify-write
    seq                           monotonic counter (orders objects newest first)
    files/<provider>/<id>.json    file metadata
    files/<provider>/<id>.data    file content
    batches/<provider>/<id>.json  batch record (small; progress is computed from the clock)
    batches/<provider>/<id>.plan.json  precomputed per-request results

``<provider>`` is ``anthropic``, ``openai`` or ``gemini`` (the emulated upstream). Every write goes to a
temporary file first and is moved into place with ``os.replace``, so readers never see half a file.
The state is private whatever the umask: directories are made 0700 and files created 0600
(:func:`make_private_dir`, :func:`open_private`).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX platforms: in-process locking only
    fcntl = None  # type: ignore[assignment]

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_THREAD_LOCK = threading.RLock()


PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def open_private(path: Any, mode: str = "wb") -> Any:
    """Open ``path`` for writing (``"wb"``, ``"ab"`` or ``"a+b"``), creating it 0600 whatever the umask."""
    flags = {"wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
             "a+b": os.O_RDWR | os.O_CREAT | os.O_APPEND}[mode]
    fd = os.open(path, flags, PRIVATE_FILE)  # the umask can only remove bits: 0600 stays 0600 or less
    try:
        return os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        raise


def make_private_dir(directory: Path) -> None:
    """Create ``directory``, and each missing parent, 0700 (the umask can only remove bits; ``mkdir``
    would give parents the default mode); an existing one is left as it is."""
    missing = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            pass


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open_private(tmp) as fh:
        fh.write(data)
    os.replace(tmp, path)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _read_json(path: Path) -> Any | None:
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read())
    except FileNotFoundError:
        return None


class Collection:
    """JSON records (one file per id) in one directory, ordered by their ``_seq`` field."""

    def __init__(self, store: Store, directory: Path) -> None:
        self.store = store
        self.dir = directory

    def _meta_path(self, obj_id: str) -> Path | None:
        if not _SAFE_ID.match(obj_id):
            return None
        return self.dir / f"{obj_id}.json"

    def path_for(self, obj_id: str, suffix: str) -> Path:
        if not _SAFE_ID.match(obj_id):
            raise ValueError(f"unsafe id {obj_id!r}")
        return self.dir / f"{obj_id}{suffix}"

    def get(self, obj_id: str) -> dict | None:
        path = self._meta_path(obj_id)
        return None if path is None else _read_json(path)

    def all(self) -> list[dict]:
        """Every record, newest first."""
        records = []
        try:
            entries = list(os.scandir(self.dir))
        except FileNotFoundError:
            return []
        for entry in entries:
            name = entry.name
            if name.startswith(".") or not name.endswith(".json") or name.count(".") != 1:
                continue
            record = _read_json(Path(entry.path))
            if record is not None:
                records.append(record)
        records.sort(key=lambda r: r.get("_seq", 0), reverse=True)
        return records

    def create(self, record: dict, blobs: dict[str, Path] | None = None,
               documents: dict[str, Any] | None = None) -> dict:
        """Store a new record; ``blobs`` are files moved in (suffix -> temp path), ``documents`` JSON side files."""
        obj_id = record["id"]
        with self.store.locked():
            record["_seq"] = self.store._next_seq_locked()
            for suffix, tmp in (blobs or {}).items():
                os.replace(tmp, self.path_for(obj_id, suffix))
            for suffix, doc in (documents or {}).items():
                atomic_write_json(self.path_for(obj_id, suffix), doc)
            atomic_write_json(self.path_for(obj_id, ".json"), record)
        return record

    def update(self, obj_id: str, change: Callable[[dict], dict | None]) -> dict | None:
        """Read-modify-write under the lock; ``change`` returns the new record (or None to keep it)."""
        path = self._meta_path(obj_id)
        if path is None:
            return None
        with self.store.locked():
            record = _read_json(path)
            if record is None:
                return None
            new = change(record)
            if new is not None:
                atomic_write_json(path, new)
                record = new
            return record

    def delete(self, obj_id: str, side_suffixes: tuple[str, ...] = ()) -> bool:
        path = self._meta_path(obj_id)
        if path is None:
            return False
        with self.store.locked():
            try:
                os.remove(path)
            except FileNotFoundError:
                return False
            for suffix in side_suffixes:
                try:
                    os.remove(self.path_for(obj_id, suffix))
                except FileNotFoundError:
                    pass
        return True

    def read_document(self, obj_id: str, suffix: str) -> Any | None:
        return _read_json(self.path_for(obj_id, suffix))

    def temp_path(self) -> Path:
        """A fresh temporary path in this directory (for streaming an upload before it has an id)."""
        make_private_dir(self.dir)
        return self.dir / f".upload-{os.getpid()}-{threading.get_ident()}-{os.urandom(6).hex()}.tmp"


class Store:
    """Entry point to the state directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        make_private_dir(self.root)
        self._lock_path = self.root / ".lock"
        self._local = threading.local()

    def files(self, provider: str) -> Collection:
        return self._collection("files", provider)

    def batches(self, provider: str) -> Collection:
        return self._collection("batches", provider)

    def collection(self, kind: str, provider: str) -> Collection:
        """Any other kind of record (``uploads``, ``upload_parts``...) under ``<kind>/<provider>``."""
        return self._collection(kind, provider)

    def _collection(self, kind: str, provider: str) -> Collection:
        directory = self.root / kind / provider
        make_private_dir(self.root / kind)
        make_private_dir(directory)
        return Collection(self, directory)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across threads (RLock) and processes (flock on ``.lock``)."""
        with _THREAD_LOCK:
            depth = getattr(self._local, "depth", 0)
            if depth or fcntl is None:  # re-entered: this thread already holds the file lock
                self._local.depth = depth + 1
                try:
                    yield
                finally:
                    self._local.depth = depth
                return
            with open_private(self._lock_path, "a+b") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                self._local.depth = 1
                try:
                    yield
                finally:
                    self._local.depth = 0
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _next_seq_locked(self) -> int:
        path = self.root / "seq"
        try:
            current = int(path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            current = 0
        atomic_write_bytes(path, str(current + 1).encode())
        return current + 1
