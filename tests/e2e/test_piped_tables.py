"""Piped tables are data: the installed `bifrost` in a shell pipeline against the in-process
emulator prints a header line and tab-separated rows, so `cut -f1` and `awk '{print $1}'` give
ids; FORCE_COLOR colours them anyway, NO_COLOR wins."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from tests.conftest import bifrost_executable, clean_env

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def shell(pipeline: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``pipeline`` in sh, with ``bifrost`` the installed executable (on the in-process emulator,
    its state in the test's own directory)."""
    command = f"bifrost() {{ {shlex.join(bifrost_executable())} --emulator \"$@\"; }}; {pipeline}"
    environment = clean_env(BIFROST_EMULATOR_STATE_DIR=os.environ["BIFROST_EMULATOR_STATE_DIR"], **env)
    for name in [k for k, v in env.items() if v == ""]:
        environment.pop(name)
    return subprocess.run(["sh", "-c", command], env=environment, capture_output=True, text=True, timeout=120)


def test_piped_lists_give_ids_to_cut_and_awk() -> None:
    created = shell(
        f"bifrost batches create {EXAMPLES / 'requests.jsonl'} -q"
        f" && bifrost batches create {EXAMPLES / 'requests-with-failures.jsonl'} -q"
        f" && bifrost -p openai batches create {EXAMPLES / 'requests.jsonl'} -m gpt-4o-mini -q"
        f" && bifrost files upload {EXAMPLES / 'requests.jsonl'} -q"
    )
    assert created.returncode == 0, created.stderr
    first, second, openai, file_id = created.stdout.split()

    listed = shell("bifrost batches list | cut -f1")
    assert listed.returncode == 0, listed.stderr
    header, *ids = listed.stdout.splitlines()
    assert header == "id" and sorted(ids) == sorted([first, second])

    full = shell("bifrost -p openai batches list")
    head, row = full.stdout.splitlines()
    assert head == "id\tstatus\tprocessing\tsucceeded\terrored\tcanceled\texpired\ttotal\tcreated"  # every column
    assert row.startswith(openai + "\t") and row.count("\t") == head.count("\t") and row == row.rstrip()
    assert "\x1b" not in full.stdout + full.stderr

    files = shell("bifrost files list | awk 'NR > 1 {print $1}'")
    assert files.stdout.split() == [file_id]


def test_force_color_colours_piped_output_and_no_color_wins() -> None:
    created = shell(f"bifrost batches create {EXAMPLES / 'requests.jsonl'} -q", BIFROST_EMULATOR_BATCH_SECONDS="600")
    assert created.returncode == 0, created.stderr
    forced = shell("bifrost batches list", FORCE_COLOR="1", NO_COLOR="")
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.startswith("id\tstatus\t") and "\t\x1b[2min_progress\x1b[0m\t" in forced.stdout
    both = shell("bifrost batches list", FORCE_COLOR="1", NO_COLOR="1")
    assert both.stdout.startswith("id\tstatus\t") and "\x1b" not in both.stdout
