"""End to end: ``-p bedrock batches results --join/--retry-file`` against the served emulator, S3 by moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bedrock_s3 import Stack, neutral_lines, quick_stack
from tests.bedrock_s3 import write as _write

pytest.importorskip("boto3")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with quick_stack(tmp_path_factory.mktemp("bedrock-join"), "e2e/join") as stack:
        yield stack


def test_join_and_retry_file(stack: Stack, tmp_path: Path) -> None:
    sent = _write(tmp_path, "sent.jsonl", neutral_lines(100, marker={3: "[emulator:error]", 40: "[emulator:error]"}))
    job = stack.json("batches", "create", str(sent))["id"]  # type: ignore[index]
    assert stack.run("batches", "wait", job, "--poll", "0.2", "--timeout", "30").returncode == 7
    lines = sent.read_bytes().splitlines(keepends=True)
    joined_input = _write(tmp_path, "in.jsonl", b"".join(reversed(lines)).decode())  # results meet another order
    out, retry = tmp_path / "joined.jsonl", tmp_path / "retry.jsonl"
    proc = stack.run("batches", "results", job, "--join", str(joined_input), "-o", str(out), "--retry-file", str(retry))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["custom_id"] for r in rows] == [f"req-{i:04d}" for i in reversed(range(100))]
    assert {r["custom_id"] for r in rows if r["status"] == "errored"} == {"req-0003", "req-0040"}
    ok = next(r for r in rows if r["custom_id"] == "req-0007")
    assert ok["output"].endswith("Say hello number 7") and ok["usage"]["output_tokens"] > 0
    assert retry.read_bytes() == lines[40] + lines[3]
