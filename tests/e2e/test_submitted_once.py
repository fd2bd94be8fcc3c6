"""End to end: ``bifrost batches create`` run twice, or twice at once, makes one batch; ``--new``
makes another; a fresh ledger finds the earlier batch by its client token where the provider keeps
it. The installed ``bifrost`` as subprocesses against ``bifrost emulator serve``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Served, bifrost_executable, clean_env

KEYS = {"ANTHROPIC_API_KEY": "sk-ant-e2e-0001", "OPENAI_API_KEY": "sk-openai-e2e-0001", "GEMINI_API_KEY": "gemini-e2e-0001"}


def write_input(tmp_path: Path, tag: str) -> Path:
    """An input of its own for each test: the served emulator is shared by the module."""
    path = tmp_path / f"{tag}.jsonl"
    params = {"model": "m-1", "max_tokens": 5, "messages": [{"role": "user", "content": f"hello from {tag}"}]}
    path.write_text(json.dumps({"custom_id": "a", "params": params}) + "\n")
    return path


def how(served: Served, provider: str, mode: str) -> tuple[list[str], dict[str, str]]:
    if mode == "gateway":
        return ["--base-url", served.url, "-p", provider], {}
    base = {"anthropic": "/native/anthropic", "openai": "/native/openai/v1", "gemini": "/native/gemini"}[provider]
    return ["-p", provider], {f"{provider.upper()}_BASE_URL": served.url + base, **KEYS}


def run(served: Served, provider: str, mode: str, *args: str, ledger: Path) -> subprocess.CompletedProcess:
    flags, env = how(served, provider, mode)
    return served.run(*flags, *args, env={**env, "BIFROST_LEDGER": str(ledger)})


def batch_ids(served: Served, provider: str, mode: str, ledger: Path) -> list[str]:
    listed = run(served, provider, mode, "batches", "list", "--all", "-q", ledger=ledger)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.split()


@pytest.mark.parametrize(("provider", "mode"), [("anthropic", "direct"), ("openai", "gateway")])
def test_two_processes_at_once_make_one_batch(served: Served, tmp_path: Path, provider: str, mode: str) -> None:
    path = write_input(tmp_path, f"at-once-{provider}-{mode}")
    ledger = tmp_path / "ledger.sqlite3"
    before = set(batch_ids(served, provider, mode, ledger))
    flags, env = how(served, provider, mode)
    full_env = clean_env(**env, BIFROST_LEDGER=str(ledger))
    procs = [
        subprocess.Popen([*bifrost_executable(), *flags, "batches", "create", str(path), "-q"], env=full_env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    ids = {out.strip() for out, _ in outs}
    assert len(ids) == 1
    assert set(batch_ids(served, provider, mode, ledger)) - before == ids
    assert sum("Already submitted" in err for _, err in outs) == 1
    assert not [err for _, err in outs if "Traceback" in err]


@pytest.mark.parametrize(("provider", "mode"), [("openai", "direct"), ("openai", "gateway"), ("gemini", "direct")])
def test_a_fresh_ledger_finds_the_earlier_batch_new_submits_again(served: Served, tmp_path: Path, provider: str, mode: str) -> None:
    path = write_input(tmp_path, f"fresh-{provider}-{mode}")
    first = run(served, provider, mode, "batches", "create", str(path), "-q", ledger=tmp_path / "ci-run-1.sqlite3")
    assert first.returncode == 0, first.stderr
    again = run(served, provider, mode, "batches", "create", str(path), "-q", ledger=tmp_path / "ci-run-2.sqlite3")
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert "client token" in again.stderr and "--new" in again.stderr
    fresh = run(served, provider, mode, "batches", "create", str(path), "-q", "--new", ledger=tmp_path / "ci-run-2.sqlite3")
    assert fresh.returncode == 0 and fresh.stdout != first.stdout
    local = run(served, provider, mode, "batches", "list", "--local", "--json", ledger=tmp_path / "ci-run-2.sqlite3")
    assert [e["id"] for e in json.loads(local.stdout)] == [fresh.stdout.strip(), first.stdout.strip()]


def test_the_ledger_file_is_private_under_a_permissive_umask(served: Served, tmp_path: Path) -> None:
    ledger = tmp_path / "new-dir" / "ledger.sqlite3"
    old = os.umask(0o022)
    try:
        created = run(served, "anthropic", "gateway", "batches", "create", str(write_input(tmp_path, "private")), "-q", ledger=ledger)
    finally:
        os.umask(old)
    assert created.returncode == 0, created.stderr
    assert oct(ledger.stat().st_mode & 0o777) == "0o600" and oct(ledger.parent.stat().st_mode & 0o777) == "0o700"
