"""bench/compare.py (issue 10's measuring instrument) runs and prints its table: the smallest row only."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_compare_quick_help_row_prints_a_table() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "compare.py"), "--quick", "--rounds", "1", "--only", "help", "--no-out"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("| path | CLI")
    row = next(line for line in lines if line.startswith("| `bifrost --help`"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1].endswith("MiB")  # the CLI's time and peak RSS were measured
    assert "minimal Typer app" in cells[2] and cells[3].endswith("x minimal Typer app")
    assert cells[5] in ("PASS", "FAIL")


def test_compare_rejects_an_unknown_row() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "compare.py"), "--only", "nope"], capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "unknown row(s) nope" in proc.stderr
