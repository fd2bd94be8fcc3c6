"""The local ledger (bifrost_cli.ledger) and what the commands do with it: private file, versioned
schema, a ledger that cannot be used stops the command before anything is sent (exit 2, the path,
the BIFROST_LEDGER hint), ``batches create`` twice gives one batch, ``batches list --local``."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from bifrost_cli.ledger import Ledger, LedgerError
from tests.conftest import invoke

LINE = {"custom_id": "a", "params": {"model": "m-1", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}}


def write_input(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(LINE) + "\n")
    return path


def record(ledger: Ledger, **extra: str) -> int:
    fields = {"kind": "batch", "target": "t", "provider": "openai", "input_name": "in.jsonl", "sha256": "ab", "options": "{}", "token": "bifrost-x"}
    return ledger.begin(**{**fields, **extra})


def test_the_ledger_is_private(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "ledger.sqlite3"
    Ledger(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700  # a missing parent too


def test_rows_go_pending_then_done_newest_first(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        first = record(ledger)
        second = record(ledger, sha256="cd")
        ledger.finish(first, state="done", resource_id="batch_1")
        entries = ledger.entries()
    assert [(e.row, e.state, e.resource_id) for e in entries] == [(second, "pending", None), (first, "done", "batch_1")]


def test_claim_gives_the_finished_create_instead_of_a_new_row(tmp_path: Path) -> None:
    key = {"kind": "batch", "target": "t", "provider": "p", "input_name": "i", "sha256": "s", "options": "{}", "token": "k"}
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        row = ledger.claim(**key)
        assert isinstance(row, int)
        ledger.finish(row, state="done", resource_id="batch_1")
        again = ledger.claim(**key)
    assert not isinstance(again, int) and again.resource_id == "batch_1"


@pytest.mark.parametrize("damage", ["garbage", "directory", "newer"])
def test_a_ledger_that_cannot_be_used_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "l.sqlite3"
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 100)
    elif damage == "directory":
        path.mkdir()
    else:
        Ledger(path).close()
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA user_version = 99")
    with pytest.raises(LedgerError) as info:
        Ledger(path)
    assert str(path) in info.value.message and "BIFROST_LEDGER" in (info.value.hint or "")
    assert info.value.exit_code == 2


def test_create_with_a_broken_ledger_exits_2_and_sends_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"not sqlite" * 200)
    monkeypatch.setenv("BIFROST_LEDGER", str(broken))
    result = invoke("--emulator", "batches", "create", str(write_input(tmp_path)))
    assert result.exit_code == 2, result.output
    assert str(broken) in result.stderr and "BIFROST_LEDGER" in result.stderr
    assert "Traceback" not in result.stderr
    monkeypatch.setenv("BIFROST_LEDGER", "off")
    assert invoke("--emulator", "batches", "list", "-q").stdout == ""  # nothing was sent


def test_create_twice_prints_the_same_id_and_says_so_new_submits_again(tmp_path: Path) -> None:
    path = str(write_input(tmp_path))
    first = invoke("--emulator", "-p", "openai", "batches", "create", path, "-q")
    second = invoke("--emulator", "-p", "openai", "batches", "create", path, "-q")
    assert first.exit_code == second.exit_code == 0
    assert second.stdout == first.stdout and first.stdout.startswith("batch_")
    assert "Already submitted on" in second.stderr and first.stdout.strip() in second.stderr and "--new" in second.stderr
    fresh = invoke("--emulator", "-p", "openai", "batches", "create", path, "-q", "--new")
    assert fresh.exit_code == 0 and fresh.stdout != first.stdout
    listed = invoke("--emulator", "-p", "openai", "batches", "list", "-q").stdout.split()
    assert sorted(listed) == sorted([first.stdout.strip(), fresh.stdout.strip()])


def test_create_wait_on_an_input_already_submitted_waits_on_that_batch(tmp_path: Path) -> None:
    path = str(write_input(tmp_path))
    first = invoke("--emulator", "batches", "create", path, "-q")
    waited = invoke("--emulator", "batches", "create", path, "--wait", "--poll", "0.2", "--json")
    assert waited.exit_code == 0, waited.output
    assert json.loads(waited.stdout)["id"] == first.stdout.strip()
    assert "Already submitted" in waited.stderr


def test_list_local_shows_the_ledger_newest_first_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(write_input(tmp_path))
    created = [invoke("--emulator", "-p", p, "batches", "create", path, "-q").stdout.strip() for p in ("anthropic", "openai")]
    monkeypatch.setenv("BIFROST_BASE_URL", "http://127.0.0.1:9")  # nothing listens: any request would fail
    local = invoke("batches", "list", "--local", "--json")
    assert local.exit_code == 0, local.output
    entries = json.loads(local.stdout)
    assert [e["id"] for e in entries] == created[::-1]
    assert [e["provider"] for e in entries] == ["openai", "anthropic"]
    assert all(e["state"] == "done" and e["kind"] == "batch" and len(e["sha256"]) == 64 for e in entries)
    assert entries[0]["target"].startswith("emulator:openai:") and entries[0]["client_token"].startswith("bifrost-")
    assert invoke("batches", "list", "--local", "-q").stdout.split() == created[::-1]
    human = invoke("batches", "list", "--local")
    assert created[0] in human.stdout and "in.jsonl" in human.stdout and entries[0]["sha256"][:12] in human.stdout


def test_list_local_with_the_ledger_off_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_LEDGER", "off")
    result = invoke("batches", "list", "--local")
    assert result.exit_code == 0 and "ledger is off" in result.stderr


def test_a_pending_create_of_a_process_that_died_is_open_not_waited_for(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    key = {"kind": "batch", "target": "t", "sha256": "s", "options": "{}"}
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        row = ledger.begin(**key, provider="p", input_name="i", token="k")
        with sqlite3.connect(tmp_path / "l.sqlite3") as conn:
            conn.execute("UPDATE entries SET owner = ? WHERE id = ?", (f"{socket.gethostname()}:{dead.stdout.strip()}", row))
        assert [e.row for e in ledger.find_open(**key)] == [row]
        claimed = ledger.claim(**key, provider="p", input_name="i", token="k")  # returns at once
        assert isinstance(claimed, int) and claimed != row
        assert ledger.find_open(**key)[-1].row == row  # its own pending row is not "open" to itself


def test_an_anthropic_create_killed_while_sending_stops_the_next_run_with_exit_5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    path = write_input(tmp_path)
    ledger_path = Path(os.environ["BIFROST_LEDGER"])
    first = invoke("--emulator", "batches", "create", str(path), "-q")
    assert first.exit_code == 0
    with sqlite3.connect(ledger_path) as conn:  # what a create killed between record and answer leaves
        conn.execute("UPDATE entries SET state = 'pending', resource_id = NULL, owner = 'elsewhere:1', created_at = 0")
    again = invoke("--emulator", "batches", "create", str(path), "-q")
    assert again.exit_code == 5 and again.stdout == ""
    assert "may have made a batch" in again.stderr and "--new" in again.stderr
    assert invoke("--emulator", "batches", "list", "-q").stdout.split() == [first.stdout.strip()]


def test_a_recorded_batch_that_no_longer_exists_is_submitted_again_saying_so(tmp_path: Path) -> None:
    path = str(write_input(tmp_path))
    first = invoke("--emulator", "-p", "gemini", "batches", "create", path, "-q").stdout.strip()
    assert invoke("--emulator", "-p", "gemini", "batches", "cancel", first).exit_code == 0
    import time

    for _ in range(50):  # a canceled Gemini batch can be deleted once it has ended
        if invoke("--emulator", "-p", "gemini", "batches", "delete", first).exit_code == 0:
            break
        time.sleep(0.1)
    again = invoke("--emulator", "-p", "gemini", "batches", "create", path, "-q")
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() != first and "no longer exists; submitting again" in again.stderr
    third = invoke("--emulator", "-p", "gemini", "batches", "create", path, "-q")
    assert third.stdout == again.stdout


def test_a_schema_2_ledger_is_upgraded_in_place_keeping_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    path.touch(mode=0o600)
    with sqlite3.connect(path) as conn:  # the schema of the version before batch groups
        conn.executescript(
            "CREATE TABLE entries (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, target TEXT NOT NULL,"
            " provider TEXT NOT NULL, input_name TEXT NOT NULL, sha256 TEXT NOT NULL, options TEXT NOT NULL,"
            " token TEXT NOT NULL, resource_id TEXT, state TEXT NOT NULL, created_at REAL NOT NULL, note TEXT, owner TEXT);"
            "INSERT INTO entries (kind, target, provider, input_name, sha256, options, token, resource_id, state, created_at)"
            " VALUES ('batch', 't', 'openai', 'in.jsonl', 'ab', '{}', 'bifrost-x', 'batch_1', 'done', 1.0);"
            "PRAGMA user_version = 2;"
        )
    with Ledger(path) as ledger:
        assert [e.resource_id for e in ledger.entries()] == ["batch_1"]
        assert ledger.groups() == []
        ledger.add_group(group_id="grp-000000000001", target="t", provider="openai", input_name="in.jsonl", sha256="ab",
                         options="{}", parts=[(1, 1, 10, "ab")])
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
