"""End to end: ``batches results --join INPUT``, ``--retry-file PATH`` and ``--format table`` with the
installed ``bifrost`` against the served emulator, for Anthropic, OpenAI and Gemini, directly and
through the gateway."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Served, bifrost_executable, clean_env

MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}
TARGETS = [(p, m) for p in MODELS for m in ("direct", "gateway")]


def direct_env(served: Served, provider: str) -> dict[str, str]:
    return {
        "anthropic": {"ANTHROPIC_BASE_URL": served.url + "/native/anthropic", "ANTHROPIC_API_KEY": "sk-ant-test-key"},
        "openai": {"OPENAI_BASE_URL": served.url + "/native/openai/v1", "OPENAI_API_KEY": "sk-test-key-1234"},
        "gemini": {"GEMINI_BASE_URL": served.url + "/native/gemini", "GEMINI_API_KEY": "gm-test-key-1234"},
    }[provider]


class CLI:
    def __init__(self, served: Served, provider: str, mode: str):
        self.served, self.provider, self.mode = served, provider, mode

    def args(self, *args: str) -> list[str]:
        head = ["-p", self.provider] if self.mode == "direct" else ["--base-url", self.served.url, "-p", self.provider]
        return [*head, *args]

    def env(self) -> dict[str, str]:
        return direct_env(self.served, self.provider) if self.mode == "direct" else {}

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        return self.served.run(*self.args(*args), env=self.env())

    def batch(self, path: Path) -> str:
        proc = self("batches", "create", str(path), "--new", "--wait", "--poll", "0.5", "--allow-errors", "-q")
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip().splitlines()[-1]


def request(provider: str, custom_id: str, text: str) -> dict:
    return {"custom_id": custom_id, "params": {"model": MODELS[provider], "max_tokens": 16,
                                               "messages": [{"role": "user", "content": text}]}}


def write_lines(path: Path, items: list[dict]) -> Path:
    # spaced differently from json.dumps's default: the retry file must keep the input's own bytes
    path.write_text("".join(json.dumps(item, separators=(", ", ":")) + "\n" for item in items))
    return path


@pytest.fixture(params=TARGETS, ids=[f"{p}-{m}" for p, m in TARGETS])
def cli(request: pytest.FixtureRequest, served: Served) -> CLI:
    provider, mode = request.param
    return CLI(served, provider, mode)


def test_join_and_retry(cli: CLI, tmp_path: Path) -> None:
    p = cli.provider
    submitted = [
        request(p, "ok-1", "first question"),
        request(p, "bad-2", "this one fails [emulator:error]"),
        request(p, "ok-3", "third question"),
        request(p, "late-4", "this one expires [emulator:expire]"),
        request(p, "stray-5", "sent, but left out of the joined input"),
    ]
    batch_id = cli.batch(write_lines(tmp_path / "sent.jsonl", submitted))
    # the input joined: its lines in another order than sent, one never sent, one sent left out
    joined_input = write_lines(tmp_path / "input.jsonl", [submitted[2], submitted[1], request(p, "never-6", "never sent"),
                                                          submitted[3], submitted[0]])
    retry = tmp_path / "retry.jsonl"
    out = tmp_path / "joined.jsonl"
    proc = cli("batches", "results", batch_id, "--join", str(joined_input), "--retry-file", str(retry), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["custom_id"], r["status"]) for r in rows] == [
        ("ok-3", "succeeded"), ("bad-2", "errored"), ("never-6", "missing"), ("late-4", "expired"), ("ok-1", "succeeded"),
    ]
    assert "third question" in rows[0]["output"]
    assert rows[0]["usage"]["input_tokens"] > 0 and rows[0]["usage"]["output_tokens"] > 0
    assert rows[0]["error"] is None
    assert rows[1]["output"] is None and rows[1]["error"]["message"]
    assert rows[2] == {"custom_id": "never-6", "status": "missing", "output": None, "usage": None, "error": None}
    # the retry file: the input's own lines, byte for byte, of every request that did not succeed
    lines = joined_input.read_bytes().splitlines(keepends=True)
    assert retry.read_bytes() == lines[1] + lines[2] + lines[3]
    # the id in the results but not in the joined input is reported
    assert "1 results of" in proc.stderr and "stray-5" in proc.stderr
    assert "3 requests to retry written to" in proc.stderr
    # the retry file is ready for batches create
    again = cli("batches", "create", str(retry), "--new", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["id"]


def test_json_summary_and_stdout(cli: CLI, tmp_path: Path) -> None:
    if cli.mode == "gateway" and cli.provider != "anthropic":
        pytest.skip("the summary's shape does not depend on the target")
    p = cli.provider
    sent = write_lines(tmp_path / "sent.jsonl", [request(p, "a", "one"), request(p, "b", "two [emulator:error]")])
    batch_id = cli.batch(sent)
    proc = cli("batches", "results", batch_id, "--input", str(sent), "--retry-file", str(tmp_path / "r.jsonl"), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["counts"] == {"succeeded": 1, "errored": 1, "canceled": 0, "expired": 0, "missing": 0}
    assert (summary["retry_lines"], summary["extra_results"], summary["extra_ids"]) == (1, 0, [])
    assert (tmp_path / "r.jsonl").read_bytes() == sent.read_bytes().splitlines(keepends=True)[1]
    # --join without -o: the joined lines on stdout, the JSON summary on stderr
    joined = cli("batches", "results", batch_id, "--join", str(sent), "--json")
    assert joined.returncode == 0, joined.stderr
    assert [json.loads(line)["custom_id"] for line in joined.stdout.splitlines()] == ["a", "b"]
    assert json.loads(joined.stderr)["counts"]["errored"] == 1
    # piped, --format table is tab-separated with a header line: id, status, tokens in and out, first line of output or error
    table = cli("batches", "results", batch_id, "--format", "table")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split("\t") == ["custom_id", "status", "in", "out", "output or error"]
    cells = {line.split("\t")[0]: line.split("\t") for line in rows}
    assert cells["a"][1] == "succeeded" and cells["a"][4].startswith("Emulated reply")
    assert cells["b"][1:4] == ["errored", "-", "-"] and "emulated failure" in cells["b"][4]


def test_refused_before_anything_is_sent(served: Served, tmp_path: Path) -> None:
    sent = write_lines(tmp_path / "in.jsonl", [request("anthropic", "a", "x")])
    existing = tmp_path / "retry.jsonl"
    existing.write_text("keep me\n")
    cases = [
        (["--retry-file", str(existing), "--join", str(sent)], "already exists"),
        (["--retry-file", str(tmp_path / "r.jsonl")], "--retry-file needs the input"),
        (["--join", str(sent), "-o", str(sent), "--force"], "is the input itself"),
        (["--join", "-"], "not stdin"),
        (["--format", "table", "-o", str(tmp_path / "t.txt")], "-o FILE is always JSONL"),
        (["--format", "wide"], "unknown --format"),
    ]
    for extra, words in cases:
        proc = served.gateway("batches", "results", "msgbatch_nope", *extra)
        assert proc.returncode == 2, (extra, proc.stderr)
        assert words in proc.stderr, (extra, proc.stderr)
    assert existing.read_text() == "keep me\n"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"custom_id": "a", "params": {}}\nnot json\n{"custom_id": "a", "params": {}}\n')
    proc = served.gateway("batches", "results", "msgbatch_nope", "--join", str(bad))
    assert proc.returncode == 2
    assert f"{bad}:2: not valid JSON" in proc.stderr and f"{bad}:3: custom_id 'a' is also on an earlier line" in proc.stderr


def test_table_on_an_80_column_terminal(served: Served, tmp_path: Path) -> None:
    cli = CLI(served, "anthropic", "gateway")
    long_text = "a question whose reply is far too long for one row of an eighty column terminal " * 2
    sent = write_lines(tmp_path / "in.jsonl", [
        request("anthropic", "first", long_text),
        request("anthropic", "second", "fails [emulator:error]"),
        request("anthropic", "third", "\x1b]0;pwned\x07 title"),
    ])
    batch_id = cli.batch(sent)
    main, child = pty.openpty()
    proc = subprocess.Popen([*bifrost_executable(), *cli.args("batches", "results", batch_id, "--join", str(sent))],
                            stdout=child, stderr=subprocess.PIPE, env=clean_env(COLUMNS="80", TERM="dumb", NO_COLOR="1"))
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    os.close(main)
    raw = b"".join(chunks)
    assert b"\x1b]0;" not in raw and b"\x07" not in raw  # the server's text is cleaned, never an escape
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw.decode())
    lines = [line.rstrip() for line in text.replace("\r", "").splitlines() if line.strip()]
    assert all(len(line) <= 80 for line in lines), lines
    assert lines[0].split() == ["custom_id", "status", "in", "out", "output", "or", "error"]
    first = next(line for line in lines if line.startswith("first"))
    assert "succeeded" in first and first.endswith("…")  # the long reply cut to the row
    second = next(line for line in lines if line.startswith("second"))
    assert "errored" in second and "emulated fail" in second
    third = next(line for line in lines if line.startswith("third"))
    assert "?]0;pwned? title" in third
