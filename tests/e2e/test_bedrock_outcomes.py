"""How ``-p bedrock`` jobs end, seen through the installed ``bifrost``: a job that failed as a whole,
one that expired before it started, one partially completed. Bedrock's control plane is
``bifrost emulator serve`` and S3 is moto's server; nothing can reach real AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bedrock_s3 import Stack, quick_stack, neutral_lines, write as _write

pytest.importorskip("boto3")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with quick_stack(tmp_path_factory.mktemp("bedrock-outcomes"), "outcomes") as stack:
        yield stack


def test_wait_exits_7_when_a_job_ends_otherwise_than_completed(stack: Stack, tmp_path: Path) -> None:
    cases = {  # marker, and in which record
        "Failed": ("[emulator:batch-fail]", 0),  # the job as a whole failed
        "Expired": ("[emulator:batch-expire]", 0),  # scheduled, but never started before its timeout
        "PartiallyCompleted": ("[emulator:expire]", 40),  # some records were not processed in time
    }
    jobs = {}
    for native, (marker, index) in cases.items():
        path = _write(tmp_path, f"{native}.jsonl", neutral_lines(100, marker={index: marker}))
        jobs[native] = stack.json("batches", "create", str(path))["id"]
    waited = stack.run("batches", "wait", *jobs.values(), "--poll", "0.2", "--timeout", "30")
    assert waited.returncode == 7, waited.stderr
    for native, job in jobs.items():
        assert f"{job} ended ({native})" in waited.stderr
    assert stack.run("batches", "wait", *jobs.values(), "--allow-errors", "--poll", "0.2").returncode == 0
    listed = {b["id"]: b for b in stack.json("batches", "list", "--all")}
    assert {native: listed[job]["native_status"] for native, job in jobs.items()} == {n: n for n in cases}
    assert "batch-fail" in listed[jobs["Failed"]]["message"]

    failed = [json.loads(line)["result"] for line in stack.run("batches", "results", jobs["Failed"]).stdout.splitlines()]
    assert len(failed) == 100 and {r["error"]["error"]["type"] for r in failed} == {"missing_result"}
    expired = [json.loads(line)["result"] for line in stack.run("batches", "results", jobs["Expired"]).stdout.splitlines()]
    assert len(expired) == 100 and {r["type"] for r in expired} == {"expired"}


