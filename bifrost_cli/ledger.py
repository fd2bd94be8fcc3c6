"""The local ledger: every batch create and file upload this machine sent, in one SQLite file.

Standard library only (:mod:`sqlite3`), imported only by the commands that create or upload. The
file lives in the user data dir (``ledger.sqlite3``), or where ``BIFROST_LEDGER`` says (so CI can
cache it); ``BIFROST_LEDGER=off`` runs without one. It is created 0600 in a 0700 directory.

A row is written *pending* before the create is sent and completed with the id after, in its own
short transaction each (with a busy timeout, so two processes at once wait for each other instead
of failing); a process killed in between leaves the pending row as evidence. ``find_done`` answers
"was this exact input already submitted to this target with these options?", which is how
``batches create`` run twice makes one batch.

A ledger that cannot be opened (a read-only directory, a corrupt file, a newer schema) stops the
command before anything is sent, with exit code 2, the path and what to do: never a silent skip,
since without the ledger a repeated create is not recognised.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bifrost_cli.errors import UsageError

SCHEMA_VERSION = 3
FILENAME = "ledger.sqlite3"
OFF = ("off", "none", "0", "false", "no")
BUSY_TIMEOUT = 30.0  # seconds another process may hold the ledger before we give up
POLL = 0.5  # seconds between looks at a create in flight in another process
IN_FLIGHT = 600.0
"""Seconds a pending create is taken to be in flight in another process (which the same create
waits for); an older pending row is left over from a process that died before the answer."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,            -- batch | file
    target TEXT NOT NULL,          -- mode:provider:address
    provider TEXT NOT NULL,
    input_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,          -- of the input as sent
    options TEXT NOT NULL,         -- canonical JSON of the options
    token TEXT NOT NULL,           -- the client token
    resource_id TEXT,              -- the batch or file id, once known
    state TEXT NOT NULL,           -- pending | done | unknown | failed
    created_at REAL NOT NULL,
    note TEXT,
    owner TEXT                     -- host:pid of the process that sent it
);
CREATE INDEX IF NOT EXISTS entries_lookup ON entries (kind, target, sha256, options, state);
CREATE TABLE IF NOT EXISTS groups (   -- schema 3: batch groups (`batches create --split`)
    id TEXT PRIMARY KEY,           -- grp-<12 hex>
    target TEXT NOT NULL,
    provider TEXT NOT NULL,
    input_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,          -- of the whole input as checked
    options TEXT NOT NULL,
    parts INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS group_parts (
    group_id TEXT NOT NULL REFERENCES groups (id),
    part INTEGER NOT NULL,         -- 1-based, in input order
    first_line INTEGER NOT NULL,   -- the input line of its first request
    requests INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    batch_id TEXT,                 -- once created
    PRIMARY KEY (group_id, part)
);
"""

HINT = (
    "Set BIFROST_LEDGER to a writable file path (CI: a cached path), or BIFROST_LEDGER=off to run "
    "without the ledger (a repeated create is then not recognised locally)."
)


@dataclass(frozen=True)
class Entry:
    """One create or upload, as recorded."""

    row: int
    kind: str
    target: str
    provider: str
    input_name: str
    sha256: str
    options: str
    token: str
    resource_id: str | None
    state: str
    created_at: float
    note: str | None = None
    owner: str | None = None


@dataclass(frozen=True)
class GroupPart:
    """One batch of a group: where it starts in the input, its size, and its batch once created."""

    part: int
    first_line: int
    requests: int
    bytes: int
    sha256: str
    batch_id: str | None


@dataclass(frozen=True)
class Group:
    """A batch group (``batches create --split``): one input split over several batches."""

    id: str
    target: str
    provider: str
    input_name: str
    sha256: str
    options: str
    requests: int
    created_at: float
    parts: tuple[GroupPart, ...]


def default_path() -> Path:
    import platformdirs

    return platformdirs.user_data_path("bifrost-cli") / FILENAME


def resolve_path(setting: str | None) -> Path | None:
    """The ledger's file from the ``ledger`` setting (``BIFROST_LEDGER``); ``None`` when it is off."""
    if setting is not None and setting.strip().lower() in OFF:
        return None
    return Path(setting).expanduser() if setting else default_path()


class LedgerError(UsageError):
    """The ledger could not be opened or written: exit 2, before anything is sent."""


class Ledger:
    """The ledger file at ``path``; each method opens a short transaction of its own."""

    def __init__(self, path: Path):
        self.path = path
        self._conn = _open(path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise LedgerError(f"the ledger {self.path} cannot be written: {exc}", hint=HINT) from None

    def begin(
        self, *, kind: str, target: str, provider: str, input_name: str, sha256: str, options: str, token: str
    ) -> int:
        """Record a create or upload about to be sent (pending); its row."""
        with self._tx() as conn:
            return self._insert(conn, kind, target, provider, input_name, sha256, options, token)

    @staticmethod
    def _insert(conn: sqlite3.Connection, *values: str) -> int:
        cursor = conn.execute(
            "INSERT INTO entries (kind, target, provider, input_name, sha256, options, token, state, created_at, owner)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (*values, time.time(), OWNER),
        )
        return int(cursor.lastrowid or 0)

    def claim(
        self,
        *,
        kind: str,
        target: str,
        provider: str,
        input_name: str,
        sha256: str,
        options: str,
        token: str,
    ) -> int | Entry:
        """Record a create about to be sent (its row), unless the same create is done (that entry)
        or in flight in another process: then wait for it, and answer as it ends. Check and record
        are one transaction, so two processes at once never both send."""
        key = (kind, target, sha256, options)
        deadline = time.monotonic() + IN_FLIGHT
        while True:
            with self._tx() as conn:
                done = self._rows(
                    conn,
                    "WHERE kind = ? AND target = ? AND sha256 = ? AND options = ? AND state = 'done'"
                    " AND resource_id IS NOT NULL ORDER BY id DESC LIMIT 1",
                    key,
                )
                if done:
                    return done[0]
                owners = conn.execute(
                    "SELECT owner FROM entries WHERE kind = ? AND target = ? AND sha256 = ? AND options = ?"
                    " AND state = 'pending' AND created_at > ?",
                    (*key, time.time() - IN_FLIGHT),
                ).fetchall()
                busy = any(_alive(owner) for (owner,) in owners)
                if not busy or time.monotonic() > deadline:
                    return self._insert(conn, kind, target, provider, input_name, sha256, options, token)
            time.sleep(POLL)

    def finish(
        self, row: int, *, state: str, resource_id: str | None = None, note: str | None = None, sha256: str | None = None
    ) -> None:
        """Complete a row: ``done`` with its id, ``unknown`` (may exist), or ``failed`` (refused);
        ``sha256`` when it is known only once sent (a stream)."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE entries SET state = ?, resource_id = COALESCE(?, resource_id), note = ?,"
                " sha256 = CASE WHEN sha256 = '' THEN COALESCE(?, '') ELSE sha256 END WHERE id = ?",
                (state, resource_id, note, sha256, row),
            )

    def find_done(self, *, kind: str, target: str, sha256: str, options: str) -> Entry | None:
        """The newest completed entry for this exact input, target and options."""
        rows = self._select(
            "WHERE kind = ? AND target = ? AND sha256 = ? AND options = ? AND state = 'done' AND resource_id IS NOT NULL"
            " ORDER BY id DESC LIMIT 1",
            (kind, target, sha256, options),
        )
        return rows[0] if rows else None

    def find_open(self, *, kind: str, target: str, sha256: str, options: str) -> list[Entry]:
        """Entries for this input whose outcome is not known: an answer lost (``unknown``), or
        ``pending`` whose process is gone (killed while sending) or took longer than a create takes."""
        entries = self._select(
            "WHERE kind = ? AND target = ? AND sha256 = ? AND options = ?"
            " AND state IN ('unknown', 'pending') ORDER BY id DESC",
            (kind, target, sha256, options),
        )
        stale = time.time() - IN_FLIGHT
        return [e for e in entries if e.state == "unknown" or e.created_at <= stale or not _alive(e.owner)]

    def entries(self, *, limit: int | None = None, kind: str | None = None) -> list[Entry]:
        """Entries, newest first."""
        where = "WHERE kind = ? " if kind else ""
        params: tuple[object, ...] = (kind,) if kind else ()
        tail = f"ORDER BY id DESC LIMIT {int(limit)}" if limit is not None else "ORDER BY id DESC"
        return self._select(where + tail, params)

    # -- batch groups -----------------------------------------------------------------------------

    def add_group(
        self,
        *,
        group_id: str,
        target: str,
        provider: str,
        input_name: str,
        sha256: str,
        options: str,
        parts: list[tuple[int, int, int, str]],
    ) -> Group:
        """Record a group and its parts (``(first_line, requests, bytes, sha256)`` each), unless one
        with this id exists (the same split run again, maybe by another process at once): the
        group as recorded, either way. One transaction."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO groups (id, target, provider, input_name, sha256, options, parts, requests, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (group_id, target, provider, input_name, sha256, options, len(parts), sum(p[1] for p in parts), time.time()),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO group_parts (group_id, part, first_line, requests, bytes, sha256) VALUES (?, ?, ?, ?, ?, ?)",
                [(group_id, number, *part) for number, part in enumerate(parts, 1)],
            )
            group = self._group(conn, group_id)
        assert group is not None
        return group

    def set_part_batch(self, group_id: str, part: int, batch_id: str) -> None:
        """A part's batch, once created (or found)."""
        with self._tx() as conn:
            conn.execute("UPDATE group_parts SET batch_id = ? WHERE group_id = ? AND part = ?", (batch_id, group_id, part))

    def group(self, group_id: str) -> Group | None:
        """The group with this id, or None."""
        try:
            return self._group(self._conn, group_id)
        except sqlite3.Error as exc:
            raise LedgerError(f"the ledger {self.path} cannot be read: {exc}", hint=HINT) from None

    def groups(self, *, limit: int | None = None) -> list[Group]:
        """Groups, newest first."""
        tail = f" LIMIT {int(limit)}" if limit is not None else ""
        try:
            ids = [row[0] for row in self._conn.execute("SELECT id FROM groups ORDER BY created_at DESC, rowid DESC" + tail)]
            return [g for g in (self._group(self._conn, i) for i in ids) if g is not None]
        except sqlite3.Error as exc:
            raise LedgerError(f"the ledger {self.path} cannot be read: {exc}", hint=HINT) from None

    @staticmethod
    def _group(conn: sqlite3.Connection, group_id: str) -> Group | None:
        row = conn.execute(
            "SELECT id, target, provider, input_name, sha256, options, requests, created_at FROM groups WHERE id = ?",
            (group_id,),
        ).fetchone()
        if row is None:
            return None
        parts = conn.execute(
            "SELECT part, first_line, requests, bytes, sha256, batch_id FROM group_parts WHERE group_id = ? ORDER BY part",
            (group_id,),
        ).fetchall()
        gid, target, provider, input_name, sha256, options, requests, created_at = row
        return Group(
            gid, target, provider, input_name, sha256, options, requests, created_at, tuple(GroupPart(*p) for p in parts)
        )

    def _select(self, tail: str, params: tuple[object, ...]) -> list[Entry]:
        try:
            return self._rows(self._conn, tail, params)
        except sqlite3.Error as exc:
            raise LedgerError(f"the ledger {self.path} cannot be read: {exc}", hint=HINT) from None

    @staticmethod
    def _rows(conn: sqlite3.Connection, tail: str, params: tuple[object, ...]) -> list[Entry]:
        cursor = conn.execute(
            "SELECT id, kind, target, provider, input_name, sha256, options, token, resource_id, state,"
            " created_at, note, owner FROM entries " + tail,
            params,
        )
        return [Entry(*row) for row in cursor.fetchall()]


OWNER = f"{socket.gethostname()}:{os.getpid()}"


def _alive(owner: str | None) -> bool:
    """Whether the process that wrote a pending row may still be sending it: on this host, its
    pid still runs; on another host (a shared ledger), assume so."""
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def open_ledger(setting: str | None) -> Ledger | None:
    """The ledger the ``ledger`` setting names (``None``: off). Raises :class:`LedgerError`."""
    path = resolve_path(setting)
    return Ledger(path) if path is not None else None


def private_dirs(directory: Path) -> None:
    """Create ``directory`` and each missing parent 0700 (``mkdir`` gives parents the default mode)."""
    missing = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            pass


def _open(path: Path) -> sqlite3.Connection:
    try:
        private_dirs(path.parent)
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
            os.close(fd)
    except OSError as exc:
        raise LedgerError(f"the ledger {path} cannot be created: {exc.strerror or exc}", hint=HINT) from None
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    except sqlite3.Error as exc:
        raise LedgerError(f"the ledger {path} cannot be opened: {exc}", hint=HINT) from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"the ledger {path} was written by a newer bifrost-cli (schema {version}; this one knows {SCHEMA_VERSION})",
                hint="Upgrade bifrost-cli, or " + HINT[0].lower() + HINT[1:],
            )
        if version < SCHEMA_VERSION:
            upgrade = "ALTER TABLE entries ADD COLUMN owner TEXT;" if version == 1 else ""  # 1 -> 2: the sender
            # 2 -> 3: the tables of batch groups, made by _SCHEMA (IF NOT EXISTS)
            conn.executescript(f"BEGIN IMMEDIATE; {upgrade} {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        else:
            conn.execute("SELECT count(*) FROM entries").fetchone()
            conn.execute("SELECT count(*) FROM group_parts").fetchone()
    except LedgerError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        raise LedgerError(f"the ledger {path} cannot be used: {exc}", hint=HINT) from None
    return conn
