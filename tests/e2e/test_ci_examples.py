"""End to end: the CI recipes in ``examples/`` run as written against the served emulator.

The GitHub Actions workflow's ``run:`` steps run one after another in bash (``$GITHUB_ENV`` carried
between them as Actions does), with the job's ``env`` pointed at the emulator; the GitLab job's
``script:`` lines run as one shell script. Steps that install the package, and steps or lines whose
``bifrost`` command or option this version lacks, are skipped by name (so they turn on when the
command lands); submit, wait and results always run.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Served, bifrost_executable, clean_env

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
REQUIRED = ("batches create", "batches wait", "batches results")
_CALL = re.compile(r"\bbifrost((?:\s+[a-z][a-z-]*)*)([^\n|;&>]*)")


def bin_dir(tmp_path: Path) -> Path:
    """A directory holding a ``bifrost`` that runs this checkout's program, first on PATH."""
    where = tmp_path / "bin"
    where.mkdir(exist_ok=True)
    shim = where / "bifrost"
    shim.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(part) for part in bifrost_executable()) + ' "$@"\n')
    shim.chmod(0o755)
    return where


@functools.cache
def _help(command: str) -> str | None:
    proc = subprocess.run([*bifrost_executable(), *command.split(), "--help"], env=clean_env(),
                          capture_output=True, text=True, timeout=60)
    return proc.stdout if proc.returncode == 0 else None


def missing_in(script: str) -> list[str]:
    """The ``bifrost`` commands and options ``script`` uses that this version does not have."""
    missing = []
    for match in _CALL.finditer(script):
        command = " ".join(match.group(1).split())
        text = _help(command)
        if text is None:
            missing.append(f"bifrost {command}")
            continue
        missing += [f"bifrost {command} {opt}" for opt in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", match.group(2))
                    if opt not in text]
    return missing


def job_env(served: Served, tmp_path: Path, declared: dict[str, Any], input_path: Path) -> dict[str, str]:
    env = clean_env(**{k: str(v) for k, v in declared.items() if "${{" not in str(v)})
    env.update(
        BIFROST_BASE_URL=served.url,
        BIFROST_PROVIDER="anthropic",
        INPUT=str(input_path),
        PATH=f"{bin_dir(tmp_path)}{os.pathsep}{env.get('PATH', '')}",
    )
    env.pop("BIFROST_VIRTUAL_KEY", None)
    return env


def run_github_workflow(served: Served, tmp_path: Path, input_path: Path) -> tuple[list[str], list[str], int]:
    """Run the workflow's steps; returns (names run, names skipped with why, exit code of the first
    failing step or 0)."""
    workflow = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    (job,) = workflow["jobs"].values()
    env = job_env(served, tmp_path, job.get("env") or {}, input_path)
    github_env = tmp_path / "github_env"
    github_env.write_text("")
    env["GITHUB_ENV"] = str(github_env)
    ran: list[str] = []
    skipped: list[str] = []
    for step in job["steps"]:
        script = step.get("run")
        if script is None:
            continue  # `uses:` steps (checkout, setup-python, upload-artifact) are the runner's
        name = step.get("name", script.splitlines()[0])
        if "pip install" in script:
            skipped.append(f"{name}: installs the package (this checkout is used)")
            continue
        missing = missing_in(script)
        if missing:
            skipped.append(f"{name}: not in this version yet: {', '.join(missing)}")
            continue
        proc = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        for line in github_env.read_text().splitlines():
            key, _, value = line.partition("=")
            env[key] = value
        ran.append(name)
        if proc.returncode != 0:
            return ran, skipped, proc.returncode
    return ran, skipped, 0


def test_github_workflow_succeeds_on_a_good_input(served: Served, tmp_path: Path) -> None:
    ran, skipped, code = run_github_workflow(served, tmp_path, EXAMPLES / "requests.jsonl")
    print("skipped:", *skipped, sep="\n  ")  # shown with -s: which steps wait for their command
    assert code == 0, (ran, skipped)
    assert {"Check the target", "Submit", "Wait", "Results", "Fail on errors"} <= set(ran), (ran, skipped)
    results = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(results) == len((EXAMPLES / "requests.jsonl").read_text().splitlines())
    assert (tmp_path / "batch-id.txt").read_text().strip()


def test_github_workflow_fails_with_exit_7_when_requests_fail(served: Served, tmp_path: Path) -> None:
    ran, skipped, code = run_github_workflow(served, tmp_path, EXAMPLES / "requests-with-failures.jsonl")
    assert code == 7, (ran, skipped)
    assert ran[-1] == "Fail on errors"  # results were still fetched before failing
    assert "Results" in ran and (tmp_path / "results.jsonl").exists()
    if "Retry file" in ran:
        assert (tmp_path / "retry.jsonl").read_text().strip()


def test_github_workflow_stops_at_the_check_when_the_gateway_is_down(tmp_path: Path) -> None:
    class Dead:
        url = "http://127.0.0.1:9"

    ran, _, code = run_github_workflow(Dead(), tmp_path, EXAMPLES / "requests.jsonl")  # type: ignore[arg-type]
    assert code == 6 and ran == ["Check the target"]


@pytest.mark.parametrize(("input_name", "expected"), [("requests.jsonl", 0), ("requests-with-failures.jsonl", 7)])
def test_gitlab_job_script(served: Served, tmp_path: Path, input_name: str, expected: int) -> None:
    job = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())["batch"]
    env = job_env(served, tmp_path, job.get("variables") or {}, EXAMPLES / input_name)
    lines = [line for line in job["script"] if not missing_in(line)]
    skipped = [line for line in job["script"] if missing_in(line)]
    for word in REQUIRED:
        assert any(word in line for line in lines), (word, skipped)
    proc = subprocess.run(["bash", "-e", "-c", "\n".join(lines)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == expected, proc.stderr
    assert (tmp_path / "results.jsonl").exists()
