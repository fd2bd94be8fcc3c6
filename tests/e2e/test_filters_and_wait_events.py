"""Filters, ``wait --json`` events, stuck batches and the cancel of several ids: the installed
``bifrost`` against ``bifrost emulator serve``, for Anthropic, OpenAI and Gemini, directly and
through the gateway. A batch of the ``still`` emulator takes ten minutes and its counts do not move
for the first 150 s: a batch stuck as a user would see one."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import Served, start_emulator, stop_emulator

PROVIDERS = ("anthropic", "openai", "gemini")
HOWS = ("direct", "gateway")
MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}
UNKNOWN = {"anthropic": "msgbatch_01NoSuchBatchHere000000", "openai": "batch_nosuchbatch", "gemini": "batches/nosuchbatch"}
DIRECT = {
    "anthropic": lambda url: {"ANTHROPIC_BASE_URL": url + "/native/anthropic", "ANTHROPIC_API_KEY": "sk-ant-test-key-1234"},
    "openai": lambda url: {"OPENAI_BASE_URL": url + "/native/openai/v1", "OPENAI_API_KEY": "sk-openai-test-key-1234"},
    "gemini": lambda url: {"GEMINI_BASE_URL": url + "/native/gemini", "GEMINI_API_KEY": "gm-test-key-1234"},
}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Batches end 2 s after their creation, their counts moving on the way."""
    server = start_emulator(tmp_path_factory.mktemp("quick-state"), "--batch-seconds", "2", "--quiet")
    yield server
    stop_emulator(server)


@pytest.fixture(scope="module")
def still(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Batches take 600 s; the first of three requests finishes after 150 s."""
    server = start_emulator(tmp_path_factory.mktemp("still-state"), "--batch-seconds", "600", "--quiet")
    yield server
    stop_emulator(server)


class Cli:
    def __init__(self, served: Served, provider: str, how: str):
        self.served, self.provider, self.how = served, provider, how

    def __call__(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess:
        env = {"BIFROST_LEDGER": "off"}
        if self.how == "gateway":
            return self.served.run("--base-url", self.served.url, "-p", self.provider, *args, env=env, **kwargs)  # type: ignore[arg-type]
        env.update(DIRECT[self.provider](self.served.url))
        return self.served.run("-p", self.provider, *args, env=env, **kwargs)  # type: ignore[arg-type]

    def ok(self, *args: str) -> subprocess.CompletedProcess:
        proc = self(*args)
        assert proc.returncode == 0, proc.stderr
        return proc

    def ids(self, *args: str) -> list[str]:
        return self.ok(*args, "-q").stdout.split()

    def create(self, requests: str) -> str:
        return self.ok("batches", "create", requests, "--new", "-q").stdout.strip()


def requests_file(tmp_path: Path, provider: str, n: int = 3) -> str:
    path = tmp_path / f"{provider}.jsonl"
    lines = [
        {"custom_id": f"req-{i}", "params": {"model": MODELS[provider], "max_tokens": 16,
                                             "messages": [{"role": "user", "content": f"question {i}"}]}}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return str(path)


def events_of(proc: subprocess.CompletedProcess) -> list[dict]:
    """Every stdout line is one JSON object (nothing else is there)."""
    lines = proc.stdout.splitlines()
    assert lines, proc.stderr
    return [json.loads(line) for line in lines]


combos = pytest.mark.parametrize(("provider", "how"), [(p, h) for p in PROVIDERS for h in HOWS])


# -- batches list --status / --since ---------------------------------------------------------------


@combos
def test_status_and_since_filters(still: Served, provider: str, how: str, tmp_path: Path) -> None:
    cli = Cli(still, provider, how)
    requests = requests_file(tmp_path, provider)
    canceled = cli.create(requests)
    cli.ok("batches", "cancel", canceled)
    assert cli("batches", "wait", canceled, "--poll", "0.2", "--timeout", "30").returncode == 7  # ended, canceled
    running = cli.create(requests)

    assert cli.ids("batches", "list", "--status", "running", "--limit", "1") == [running]  # N that match
    assert canceled in cli.ids("batches", "list", "--all", "--status", "canceled")
    both = cli.ids("batches", "list", "--all", "--status", "running,canceled", "--status", "failed", "--since", "1h")
    assert {canceled, running} <= set(both)
    ended = cli.ids("batches", "list", "--all", "--status", "succeeded,ended")
    assert canceled in ended and running not in ended
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cli.ids("batches", "list", "--all", "--since", tomorrow) == []
    cli.ok("batches", "cancel", running)


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--status", "sleeping", "running, canceling, ended"),
    ("--since", "last tuesday", "RFC 3339"),
])
def test_bad_filters_are_refused_before_anything_is_sent(quick: Served, option: str, value: str, says: str) -> None:
    proc = quick.run("--base-url", "http://127.0.0.1:9", "batches", "list", option, value)  # nothing listens there
    assert proc.returncode == 2
    assert value in proc.stderr and says in proc.stderr


@pytest.mark.parametrize("how", HOWS)
def test_files_list_purpose_and_since(quick: Served, how: str, tmp_path: Path) -> None:
    cli = Cli(quick, "openai", how)
    uploaded = json.loads(cli.ok("files", "upload", requests_file(tmp_path, "openai"), "--json").stdout)[0]["id"]
    assert uploaded in cli.ids("files", "list", "--all", "--purpose", "batch")
    assert uploaded not in cli.ids("files", "list", "--all", "--purpose", "batch_output")
    assert uploaded in cli.ids("files", "list", "--all", "--since", "10m")
    assert uploaded not in cli.ids("files", "list", "--all", "--since", "2099-01-01")


def test_files_without_a_purpose_say_why_nothing_matches(quick: Served, tmp_path: Path) -> None:
    cli = Cli(quick, "gemini", "direct")
    cli.ok("files", "upload", requests_file(tmp_path, "gemini"))
    proc = cli.ok("files", "list", "--purpose", "batch", "--json")
    assert json.loads(proc.stdout) == []
    assert "no purpose" in proc.stderr.lower() or "has a purpose" in proc.stderr


# -- wait --json ------------------------------------------------------------------------------------


@combos
def test_wait_json_prints_one_event_per_change_then_the_end(quick: Served, provider: str, how: str, tmp_path: Path) -> None:
    cli = Cli(quick, provider, how)
    batch_id = cli.create(requests_file(tmp_path, provider))
    proc = cli("batches", "wait", batch_id, "--json", "--poll", "0.2", "--timeout", "60")
    assert proc.returncode == 0, proc.stderr
    events = events_of(proc)
    *changes, end = events
    assert changes and all(e["event"] == "status" for e in changes)
    for e in changes:
        assert e["id"] == batch_id
        assert {"status", "native_status", "counts", "elapsed"} <= e.keys()
    assert changes[-1]["status"] == "ended"
    assert [e["elapsed"] for e in changes] == sorted(e["elapsed"] for e in changes)
    states = [(e["status"], e["native_status"], json.dumps(e["counts"])) for e in changes]
    assert len(states) == len(set(states))  # only changes are printed
    assert end["event"] == "end" and end["outcome"] == "succeeded" and end["exit_code"] == 0
    assert end["batches"][0]["id"] == batch_id and end["batches"][0]["request_counts"]["succeeded"] == 3
    assert not proc.stderr.strip().startswith("{")


def test_wait_json_end_event_of_a_batch_with_failures(quick: Served, tmp_path: Path) -> None:
    cli = Cli(quick, "anthropic", "direct")
    path = tmp_path / "failing.jsonl"
    path.write_text(json.dumps({"custom_id": "bad", "params": {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": [
        {"role": "user", "content": "[emulator:error]"}]}}) + "\n")
    batch_id = cli.create(str(path))
    proc = cli("batches", "wait", batch_id, "--json", "--poll", "0.2")
    assert proc.returncode == 7
    end = events_of(proc)[-1]
    assert end["outcome"] == "incomplete" and end["exit_code"] == 7 and "not every request succeeded" in end["message"]
    allowed = cli("batches", "wait", batch_id, "--json", "--allow-errors")
    assert allowed.returncode == 0
    assert events_of(allowed)[-1]["outcome"] == "allowed_errors"


def test_wait_json_end_event_of_an_unknown_batch(quick: Served) -> None:
    cli = Cli(quick, "openai", "direct")
    proc = cli("batches", "wait", "batch_nosuchbatch", "--json", "--poll", "5")
    assert proc.returncode == 4
    end = events_of(proc)[-1]
    assert end == {**end, "event": "end", "outcome": "error", "exit_code": 4, "batches": []}


# -- stuck batches ----------------------------------------------------------------------------------


@combos
def test_fail_if_stuck_ends_the_wait_with_exit_6(still: Served, provider: str, how: str, tmp_path: Path) -> None:
    cli = Cli(still, provider, how)
    batch_id = cli.create(requests_file(tmp_path, provider))
    proc = cli("batches", "wait", batch_id, "--json", "--poll", "0.2", "--stuck-after", "1", "--fail-if-stuck")
    assert proc.returncode == 6, proc.stderr
    events = events_of(proc)
    stuck = [e for e in events if e["event"] == "stuck"]
    assert len(stuck) == 1 and stuck[0]["id"] == batch_id and stuck[0]["stuck_for"] >= 1
    assert stuck[0]["status"] == "in_progress"
    end = events[-1]
    assert end["event"] == "end" and end["outcome"] == "stuck" and end["exit_code"] == 6
    options = f"--base-url {still.url} -p {provider}" if how == "gateway" else f"-p {provider}"
    resume = f"bifrost {options} batches wait {batch_id}"  # the same target options: it can be pasted
    assert resume in end["hint"]
    assert "looks stuck" in proc.stderr and f"Resume with: {resume}" in proc.stderr
    # nothing was canceled
    assert json.loads(cli.ok("batches", "get", batch_id, "--json").stdout)["status"] == "in_progress"
    cli.ok("batches", "cancel", batch_id)


def test_stuck_after_alone_warns_and_keeps_waiting(still: Served, tmp_path: Path) -> None:
    cli = Cli(still, "anthropic", "gateway")
    batch_id = cli.create(requests_file(tmp_path, "anthropic"))
    proc = cli("batches", "wait", batch_id, "--poll", "0.2", "--stuck-after", "0.5", "--timeout", "2")
    assert proc.returncode == 6  # the --timeout, not the stall
    assert "looks stuck" in proc.stderr and "timed out" in proc.stderr
    assert proc.stderr.count("looks stuck") == 1  # once per stall
    cli.ok("batches", "cancel", batch_id)


def test_fail_if_stuck_needs_stuck_after(still: Served) -> None:
    proc = Cli(still, "anthropic", "direct")("batches", "wait", "msgbatch_x", "--fail-if-stuck")
    assert proc.returncode == 2 and "--stuck-after" in proc.stderr


# -- cancel ID... -----------------------------------------------------------------------------------


@combos
def test_cancel_three_ids_one_unknown(still: Served, provider: str, how: str, tmp_path: Path) -> None:
    cli = Cli(still, provider, how)
    requests = requests_file(tmp_path, provider)
    first, second = cli.create(requests), cli.create(requests)
    proc = cli("batches", "cancel", first, UNKNOWN[provider], second, "--json")
    assert proc.returncode == 4, proc.stderr  # the unknown id's not found
    report = json.loads(proc.stdout)
    assert [e["id"] for e in report] == [first, UNKNOWN[provider], second]
    assert [e["ok"] for e in report] == [True, False, True]
    assert report[1]["exit_code"] == 4 and report[1]["error"]["exit_code"] == 4
    assert report[1]["error"]["type"] == "not_found_error" and report[1]["error"]["message"]  # the same on every provider
    assert {report[0]["batch"]["status"], report[2]["batch"]["status"]} <= {"canceling", "ended"}
    assert UNKNOWN[provider] in proc.stderr and "could not cancel 1 of 3" in proc.stderr
    # Gemini has no canceling state: a batch being canceled reads RUNNING until it ends
    settled = {"canceling", "ended"} | ({"in_progress"} if provider == "gemini" else set())
    for batch_id in (first, second):  # both were canceled, the failure between them stopped nothing
        got = json.loads(cli.ok("batches", "get", batch_id, "--json").stdout)
        assert got["status"] in settled


def test_cancel_exit_code_is_the_worst(still: Served, tmp_path: Path) -> None:
    cli = Cli(still, "anthropic", "direct")
    ended = cli.create(requests_file(tmp_path, "anthropic"))
    cli.ok("batches", "cancel", ended)
    assert cli("batches", "wait", ended, "--poll", "0.2", "--timeout", "30").returncode == 7
    running = cli.create(requests_file(tmp_path, "anthropic"))
    # not found (4) and already ended (5): the exit code is 5; the running one is canceled anyway
    proc = cli("batches", "cancel", UNKNOWN["anthropic"], ended, running)
    assert proc.returncode == 5
    assert "could not cancel 2 of 3" in proc.stderr
    assert running in proc.stdout  # the table of what was canceled
