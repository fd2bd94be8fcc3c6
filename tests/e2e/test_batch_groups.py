"""End to end: ``batches create --split`` makes a batch group (a small limit forced with
BIFROST_SPLIT_MAX_REQUESTS / BIFROST_SPLIT_MAX_BYTES); run again it gives the same group and sends
nothing; ``get``, ``wait``, ``cancel`` and ``results`` take the group id; a part whose create got no
answer is reconciled as a single create is. The installed ``bifrost`` against ``bifrost emulator serve``."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Served, start_emulator, stop_emulator

KEYS = {"ANTHROPIC_API_KEY": "sk-ant-e2e-0001", "OPENAI_API_KEY": "sk-openai-e2e-0001", "GEMINI_API_KEY": "gemini-e2e-0001"}
TARGETS = [("anthropic", "direct"), ("anthropic", "gateway"), ("openai", "direct"), ("openai", "gateway"), ("gemini", "direct"), ("gemini", "gateway")]


def write_input(tmp_path: Path, tag: str, count: int = 5) -> Path:
    """An input of its own for each test (the served emulator is shared by the module)."""
    path = tmp_path / f"{tag}.jsonl"
    with path.open("w") as fp:
        for i in range(count):
            params = {"model": "m-1", "max_tokens": 5, "messages": [{"role": "user", "content": f"{tag} request {i}"}]}
            fp.write(json.dumps({"custom_id": f"req-{i}", "params": params}) + "\n")
    return path


def how(served: Served, provider: str, mode: str) -> tuple[list[str], dict[str, str]]:
    if mode == "gateway":
        return ["--base-url", served.url, "-p", provider], {}
    base = {"anthropic": "/native/anthropic", "openai": "/native/openai/v1", "gemini": "/native/gemini"}[provider]
    return ["-p", provider], {f"{provider.upper()}_BASE_URL": served.url + base, **KEYS}


def runner(served: Served, provider: str, mode: str, ledger: Path, **env: str):  # type: ignore[no-untyped-def]
    flags, base = how(served, provider, mode)

    def run(*args: str) -> subprocess.CompletedProcess:
        result = served.run(*flags, *args, env={**base, "BIFROST_LEDGER": str(ledger), **env})
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


def batch_ids(run) -> set[str]:  # type: ignore[no-untyped-def]
    listed = run("batches", "list", "--all", "-q")
    assert listed.returncode == 0, listed.stderr
    return set(listed.stdout.split())


@pytest.mark.parametrize(("provider", "mode"), TARGETS)
def test_split_makes_one_group_that_every_command_takes(served: Served, tmp_path: Path, provider: str, mode: str) -> None:
    path = write_input(tmp_path, f"group-{provider}-{mode}")
    run = runner(served, provider, mode, tmp_path / "ledger.sqlite3", BIFROST_SPLIT_MAX_REQUESTS="2")
    before = batch_ids(run)

    first = run("batches", "create", str(path), "--split", "--json")
    assert first.returncode == 0, first.stderr
    group = json.loads(first.stdout)
    assert group["id"].startswith("grp-") and group["object"] == "batch_group" and group["complete"]
    assert [(p["part"], p["requests"], p["first_line"]) for p in group["parts"]] == [(1, 2, 1), (2, 2, 3), (3, 1, 5)]
    parts = [p["batch_id"] for p in group["parts"]]
    assert batch_ids(run) - before == set(parts)

    again = run("batches", "create", str(path), "--split", "-q")  # the same split again: the same group, nothing sent
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == group["id"]
    assert "Already submitted as " + group["id"] in again.stderr
    assert batch_ids(run) - before == set(parts)

    waited = run("batches", "wait", group["id"], "--poll", "0.2", "--timeout", "60")
    assert waited.returncode == 0, waited.stderr
    assert all(batch in waited.stderr for batch in parts)

    got = run("batches", "get", group["id"], "--json")
    assert got.returncode == 0, got.stderr
    shown = json.loads(got.stdout)
    assert [p["batch"]["id"] for p in shown["parts"]] == parts
    assert sum(p["batch"]["request_counts"]["succeeded"] for p in shown["parts"]) == 5

    joined = run("batches", "results", group["id"])
    assert joined.returncode == 0, joined.stderr
    one_by_one = "".join(run("batches", "results", batch).stdout for batch in parts)
    assert joined.stdout == one_by_one
    assert sorted(json.loads(line)["custom_id"] for line in joined.stdout.splitlines()) == [f"req-{i}" for i in range(5)]
    assert f"5 results of the batch group {group['id']}" in joined.stderr

    out = tmp_path / "results.jsonl"
    to_file = run("batches", "results", group["id"], "-o", str(out))
    assert to_file.returncode == 0, to_file.stderr
    assert out.read_text() == one_by_one

    local = run("batches", "list", "--local", "--json")
    groups = [e for e in json.loads(local.stdout) if e["kind"] == "group"]
    assert [(g["id"], g["input"], [p["batch_id"] for p in g["parts"]]) for g in groups] == [(group["id"], str(path), parts)]


def test_split_by_bytes_and_a_request_too_big_for_any_batch(served: Served, tmp_path: Path) -> None:
    path = write_input(tmp_path, "bytes", count=4)
    line = len(json.dumps(json.loads(path.read_text().splitlines()[0]), separators=(",", ":"))) + 1
    run = runner(served, "anthropic", "gateway", tmp_path / "ledger.sqlite3", BIFROST_SPLIT_MAX_BYTES=str(2 * line))
    made = run("batches", "create", str(path), "--split", "--json")
    assert made.returncode == 0, made.stderr
    assert [p["requests"] for p in json.loads(made.stdout)["parts"]] == [2, 2]  # exactly two lines a batch

    before = batch_ids(run)
    big = tmp_path / "big.jsonl"
    lines = path.read_text().splitlines()
    params = {"model": "m-1", "max_tokens": 5, "messages": [{"role": "user", "content": "x" * (3 * line)}]}
    big.write_text("\n".join([lines[0], json.dumps({"custom_id": "huge", "params": params}), lines[1]]) + "\n")
    refused = run("batches", "create", str(big), "--split")
    assert refused.returncode == 2
    assert f"{big}:2: request 'huge' is" in refused.stderr and "it cannot be split" in refused.stderr
    assert batch_ids(run) == before  # nothing sent
    assert "grp-" not in run("batches", "list", "--local").stdout.replace(json.loads(made.stdout)["id"], "")


def test_split_needs_the_ledger_and_a_group_id_needs_its_ledger(served: Served, tmp_path: Path) -> None:
    path = write_input(tmp_path, "no-ledger")
    flags, env = how(served, "anthropic", "gateway")
    off = served.run(*flags, "batches", "create", str(path), "--split", env={**env, "BIFROST_LEDGER": "off"})
    assert off.returncode == 2 and "ledger" in off.stderr and "Traceback" not in off.stderr
    unknown = served.run(*flags, "batches", "get", "grp-000000000000", env={**env, "BIFROST_LEDGER": str(tmp_path / "l.sqlite3")})
    assert unknown.returncode == 4 and "no batch group grp-000000000000" in unknown.stderr
    run = runner(served, "anthropic", "gateway", tmp_path / "l.sqlite3", BIFROST_SPLIT_MAX_REQUESTS="3")
    group = run("batches", "create", str(path), "--split", "-q").stdout.strip()
    elsewhere = runner(served, "openai", "gateway", tmp_path / "l.sqlite3")("batches", "wait", group)
    assert elsewhere.returncode == 2 and "was submitted to" in elsewhere.stderr


def post_faults(served: Served, *rules: str) -> None:
    request = urllib.request.Request(
        served.url + "/_emulator/faults", data=json.dumps({"rules": list(rules)}).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


@pytest.fixture(scope="module")
def slow_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = start_emulator(tmp_path_factory.mktemp("slow-state"), "--batch-seconds", "60", "--quiet")
    yield server
    stop_emulator(server)


@pytest.fixture
def slow(slow_served: Served) -> Iterator[Served]:
    """An emulator whose batches run for a minute (to cancel them), shared by this module's tests
    that need one, with no fault armed when a test starts or after it ends."""
    post_faults(slow_served)
    yield slow_served
    post_faults(slow_served)


def test_cancel_a_group_cancels_each_batch(slow: Served, tmp_path: Path) -> None:
    run = runner(slow, "anthropic", "gateway", tmp_path / "ledger.sqlite3", BIFROST_SPLIT_MAX_REQUESTS="2")
    group = run("batches", "create", str(write_input(tmp_path, "cancel")), "--split", "-q").stdout.strip()
    canceled = run("batches", "cancel", group, "--json")
    assert canceled.returncode == 0, canceled.stderr
    statuses = [p["batch"]["native_status"] for p in json.loads(canceled.stdout)["parts"]]
    assert len(statuses) == 3 and all(s in ("canceling", "ended") for s in statuses)


def test_a_part_whose_answer_was_lost_is_found_by_its_token(slow: Served, tmp_path: Path) -> None:
    run = runner(slow, "openai", "gateway", tmp_path / "ledger.sqlite3", BIFROST_SPLIT_MAX_REQUESTS="2")
    before = batch_ids(run)
    post_faults(slow, "batches.create:after=502x1")  # part 1 is created, its answer lost
    made = run("batches", "create", str(write_input(tmp_path, "lost")), "--split", "--json")
    assert made.returncode == 0, made.stderr
    parts = [p["batch_id"] for p in json.loads(made.stdout)["parts"]]
    assert "the batch exists" in made.stderr
    assert batch_ids(run) - before == set(parts) and len(parts) == 3  # none sent twice


def test_a_part_whose_answer_was_lost_without_a_token_is_not_sent_again(slow: Served, tmp_path: Path) -> None:
    run = runner(slow, "anthropic", "gateway", tmp_path / "ledger.sqlite3", BIFROST_SPLIT_MAX_REQUESTS="2")
    path = write_input(tmp_path, "lost-anthropic")
    assert run("batches", "create", str(path), "--split", "-q").returncode == 0  # parts 1-3 made...
    post_faults(slow, "batches.create:after=502x1")
    bigger = write_input(tmp_path, "lost-anthropic-2")
    before = batch_ids(run)
    first = run("batches", "create", str(bigger), "--split", "-q")
    assert first.returncode != 0 and "may have been created" in first.stderr
    assert len(batch_ids(run) - before) == 1  # part 1 made, its answer lost; parts 2-3 not sent
    group = run("batches", "list", "--local", "--json")
    incomplete = [e for e in json.loads(group.stdout) if e["kind"] == "group" and not e["complete"]]
    assert len(incomplete) == 1
    waited = run("batches", "wait", incomplete[0]["id"])
    assert waited.returncode == 5 and "incomplete" in waited.stderr
    again = run("batches", "create", str(bigger), "--split", "-q")
    assert again.returncode == 5 and "may have made a batch" in again.stderr
    assert len(batch_ids(run) - before) == 1  # still nothing sent twice


def test_bedrock_splits_over_its_records_quota(tmp_path: Path) -> None:
    pytest.importorskip("boto3")
    from tests.bedrock_s3 import neutral_lines, quick_stack

    path = tmp_path / "records.jsonl"
    path.write_text(neutral_lines(250))
    env = {"BIFROST_BEDROCK_MAX_RECORDS": "150", "BIFROST_LEDGER": str(tmp_path / "ledger.sqlite3")}  # the quota's own setting
    with quick_stack(tmp_path, "groups") as stack:
        made = stack.run("batches", "create", str(path), "--split", "--json", env=env)
        assert made.returncode == 0, made.stderr
        group = json.loads(made.stdout)
        assert [p["requests"] for p in group["parts"]] == [125, 125]  # even: both over Bedrock's minimum of 100
        again = stack.run("batches", "create", str(path), "--split", "-q", env=env)
        assert again.returncode == 0 and again.stdout.strip() == group["id"]
        waited = stack.run("batches", "wait", group["id"], "--poll", "0.5", "--timeout", "120", env=env)
        assert waited.returncode == 0, waited.stderr
        results = stack.run("batches", "results", group["id"], env=env)
        assert results.returncode == 0, results.stderr
        assert len(results.stdout.splitlines()) == 250
        jobs = stack.run("batches", "list", "--all", "-q", env=env).stdout.split()
        assert sorted(jobs) == sorted(p["batch_id"] for p in group["parts"])


@pytest.mark.parametrize(("provider", "fault"), [("openai", "files.download:cut=1x*"), ("anthropic", "batches.results:cut=1x*")])
def test_results_of_a_group_with_a_part_cut_short_write_nothing(served: Served, tmp_path: Path, provider: str, fault: str) -> None:
    server = served  # the module's emulator; the fault armed below is disarmed at the end
    try:
        run = runner(server, provider, "gateway", tmp_path / "ledger.sqlite3", BIFROST_SPLIT_MAX_REQUESTS="2")
        group = run("batches", "create", str(write_input(tmp_path, "cut", count=4)), "--split", "-q").stdout.strip()
        assert run("batches", "wait", group, "--poll", "0.2", "--timeout", "60").returncode == 0
        post_faults(server, fault)  # every part's results end early, cleanly
        out = tmp_path / "results.jsonl"
        cut = run("batches", "results", group, "-o", str(out))
        assert cut.returncode == 6, cut.stderr
        assert f"part 1 of {group}" in cut.stderr and "nothing was saved" in cut.stderr
        assert not out.exists() and not list(tmp_path.glob(".results.jsonl.*"))
    finally:
        post_faults(server)
