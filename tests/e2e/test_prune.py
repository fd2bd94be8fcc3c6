"""End to end: ``files prune`` and ``batches prune`` against served emulators sharing one state.

Three emulators serve the same state directory: two with their clock two hours back
(``BIFROST_EMULATOR_CLOCK_OFFSET``), so that what they make is two hours old, one of them with batches
that take ten hours; and one on the real clock, which the prunes go through."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Served, start_emulator, stop_emulator

HOURS_AGO = 2
MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}
DIRECT = {
    "anthropic": ("ANTHROPIC_BASE_URL", "/native/anthropic", "ANTHROPIC_API_KEY", "sk-ant-test-key-1234"),
    "openai": ("OPENAI_BASE_URL", "/native/openai/v1", "OPENAI_API_KEY", "sk-openai-test-key-1234"),
    "gemini": ("GEMINI_BASE_URL", "/native/gemini", "GEMINI_API_KEY", "gm-test-key-1234"),
}
TARGETS = [(p, m) for p in ("anthropic", "openai", "gemini") for m in ("direct", "gateway")]


class Clocks:
    def __init__(self, state: Path):
        past = {"BIFROST_EMULATOR_CLOCK_OFFSET": str(-HOURS_AGO * 3600)}
        self.past = start_emulator(state, "--batch-seconds", "1", "--quiet", env=past)
        self.past_slow = start_emulator(state, "--batch-seconds", "36000", "--quiet", env=past)
        self.now = start_emulator(state, "--batch-seconds", "1", "--quiet")

    def stop(self) -> None:
        for served in (self.past, self.past_slow, self.now):
            stop_emulator(served)


@pytest.fixture(scope="module")
def clocks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clocks]:
    c = Clocks(tmp_path_factory.mktemp("prune-state"))
    yield c
    c.stop()


def cli(served: Served, provider: str, mode: str, *args: str, env: dict[str, str] | None = None,
        input: str | None = None) -> subprocess.CompletedProcess:
    extra = dict(env or {})
    if mode == "direct":
        url_env, path, key_env, key = DIRECT[provider]
        extra.update({url_env: served.url + path, key_env: key})
        return served.run("-p", provider, *args, env=extra, input=input)
    return served.run("--base-url", served.url, "-p", provider, *args, env=extra, input=input)


def ok_json(proc: subprocess.CompletedProcess) -> object:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def upload(served: Served, provider: str, mode: str, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_text('{"a": 1}\n')
    files = ok_json(cli(served, provider, mode, "files", "upload", str(path), "--json"))
    assert isinstance(files, list)
    return str(files[0]["id"])


def requests_file(tmp_path: Path, provider: str) -> str:
    path = tmp_path / f"requests-{provider}.jsonl"
    lines = [{"custom_id": f"r{i}", "params": {"model": MODELS[provider], "max_tokens": 16,
                                                "messages": [{"role": "user", "content": f"hi {i}"}]}} for i in range(2)]
    path.write_text("".join(json.dumps(item) + "\n" for item in lines))
    return str(path)


def listed_ids(clocks: Clocks, provider: str, mode: str, what: str) -> set[str]:
    data = ok_json(cli(clocks.now, provider, mode, what, "list", "--all", "--json"))
    assert isinstance(data, list)
    return {str(item["id"]) for item in data}


@pytest.mark.parametrize(("provider", "mode"), TARGETS)
def test_files_prune_dry_run_lists_then_a_real_run_deletes_only_old_files(
    clocks: Clocks, provider: str, mode: str, tmp_path: Path
) -> None:
    old = upload(clocks.past, provider, mode, tmp_path, "old.jsonl")
    new = upload(clocks.now, provider, mode, tmp_path, "new.jsonl")

    plan = ok_json(cli(clocks.now, provider, mode, "files", "prune", "--older-than", "1h", "--dry-run", "--json"))
    assert isinstance(plan, dict) and plan["dry_run"] is True
    would = {item["id"] for item in plan["would_delete"]}
    assert old in would and new not in would
    assert plan["deleted"] == []
    assert {old, new} <= listed_ids(clocks, provider, mode, "files")  # a dry run deletes nothing

    human = cli(clocks.now, provider, mode, "files", "prune", "--older-than", "1h", "--dry-run")
    assert human.returncode == 0, human.stderr
    assert old in human.stdout and "would delete" in human.stdout and new not in human.stdout
    assert "Dry run" in human.stderr

    done = ok_json(cli(clocks.now, provider, mode, "files", "prune", "--older-than", "1h", "--yes", "--json"))
    assert isinstance(done, dict)
    assert old in {item["id"] for item in done["deleted"]}
    assert new not in {item["id"] for item in done["deleted"]}
    left = listed_ids(clocks, provider, mode, "files")
    assert old not in left and new in left


@pytest.mark.parametrize(("provider", "mode"), [("openai", "direct"), ("openai", "gateway"), ("gemini", "direct")])
def test_files_prune_keeps_the_input_of_an_unfinished_batch(clocks: Clocks, provider: str, mode: str, tmp_path: Path) -> None:
    env = {"BIFROST_GEMINI_INLINE_LIMIT": "0"}  # gemini: the input goes as a file
    batch = ok_json(cli(clocks.past_slow, provider, mode, "batches", "create", requests_file(tmp_path, provider),
                        "--new", "--json", env=env))
    assert isinstance(batch, dict) and batch["status"] == "in_progress"
    details = batch["details"]
    input_id = details.get("input_file_id") or details.get("input_file")
    assert input_id, details
    spare = upload(clocks.past, provider, mode, tmp_path, "spare.jsonl")

    done = ok_json(cli(clocks.now, provider, mode, "files", "prune", "--older-than", "1h", "--yes", "--json"))
    assert isinstance(done, dict)
    kept = {item["id"]: item["reason"] for item in done["kept"]}
    in_use = next(k for k in kept if k.removeprefix("files/") == str(input_id).removeprefix("files/"))
    assert batch["id"] in kept[in_use]
    assert spare in {item["id"] for item in done["deleted"]}
    left = {i.removeprefix("files/") for i in listed_ids(clocks, provider, mode, "files")}
    assert str(input_id).removeprefix("files/") in left


def test_files_prune_by_purpose(clocks: Clocks, tmp_path: Path) -> None:
    old = upload(clocks.past, "openai", "direct", tmp_path, "purpose.jsonl")
    plan = ok_json(cli(clocks.now, "openai", "direct", "files", "prune", "--older-than", "1h", "--purpose",
                       "fine-tune", "--dry-run", "--json"))
    assert isinstance(plan, dict)
    assert old not in {item["id"] for item in plan["would_delete"]}
    plan = ok_json(cli(clocks.now, "openai", "direct", "files", "prune", "--older-than", "1h", "--purpose",
                       "batch", "--dry-run", "--json"))
    assert isinstance(plan, dict)
    assert old in {item["id"] for item in plan["would_delete"]}


def test_without_a_terminal_prune_needs_yes_and_deletes_nothing(clocks: Clocks, tmp_path: Path) -> None:
    old = upload(clocks.past, "anthropic", "direct", tmp_path, "keep-me.jsonl")
    proc = cli(clocks.now, "anthropic", "direct", "files", "prune", "--older-than", "1h", input="y\n")
    assert proc.returncode == 2
    assert "--yes" in proc.stderr and "nothing was listed or deleted" in proc.stderr
    assert old in listed_ids(clocks, "anthropic", "direct", "files")


def test_prune_refuses_before_any_io(tmp_path: Path) -> None:
    from tests.conftest import bifrost_executable, clean_env

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*bifrost_executable(), "--base-url", "http://127.0.0.1:9", *args],
                              env=clean_env(), capture_output=True, text=True, timeout=60)

    # a dead port: any I/O would be exit 6
    no_yes = run("files", "prune", "--older-than", "7d")
    assert no_yes.returncode == 2 and "--dry-run" in no_yes.stderr
    bad_age = run("files", "prune", "--older-than", "7", "--yes")
    assert bad_age.returncode == 2 and "is not an age" in bad_age.stderr
    missing = run("files", "prune", "--yes")
    assert missing.returncode == 2 and "--older-than" in missing.stderr
    for provider, says in (("openai", "OpenAI has no way to delete a batch"), ("bedrock", "Bedrock keeps"),
                           ("anthropic", "the gateway has no route to delete a batch")):
        proc = run("-p", provider, "batches", "prune", "--older-than", "7d", "--yes")
        assert proc.returncode == 2, proc.stderr
        assert says in proc.stderr


def test_a_failed_delete_is_reported_and_sets_the_exit_code(clocks: Clocks, tmp_path: Path) -> None:
    first = upload(clocks.past, "openai", "gateway", tmp_path, "f1.jsonl")
    second = upload(clocks.past, "openai", "gateway", tmp_path, "f2.jsonl")
    arm = urllib.request.Request(clocks.now.url + "/_emulator/faults", method="POST",
                                 data=json.dumps({"rules": ["files.delete:status=404x1"]}).encode(),
                                 headers={"content-type": "application/json"})
    urllib.request.urlopen(arm, timeout=10).close()
    try:
        proc = cli(clocks.now, "openai", "gateway", "files", "prune", "--older-than", "1h", "--yes", "--json")
    finally:
        urllib.request.urlopen(urllib.request.Request(clocks.now.url + "/_emulator/faults", method="DELETE"), timeout=10).close()
    assert proc.returncode == 4, proc.stderr
    assert "could not delete 1 of" in proc.stderr
    report = json.loads(proc.stdout)
    failed = {item["id"] for item in report["failed"]}
    deleted = {item["id"] for item in report["deleted"]}
    assert len(failed) == 1 and failed | deleted >= {first, second}
    left = listed_ids(clocks, "openai", "gateway", "files")
    assert failed <= left and not (deleted & left)


@pytest.mark.parametrize(("provider", "mode"), [("anthropic", "direct"), ("gemini", "direct"), ("gemini", "gateway")])
def test_batches_prune_deletes_old_ended_batches_only(clocks: Clocks, provider: str, mode: str, tmp_path: Path) -> None:
    source = requests_file(tmp_path, provider)
    ended = ok_json(cli(clocks.past, provider, mode, "batches", "create", source, "--new", "--wait", "--poll", "0.2", "--json"))
    running = ok_json(cli(clocks.past_slow, provider, mode, "batches", "create", source, "--new", "--json"))
    recent = ok_json(cli(clocks.now, provider, mode, "batches", "create", source, "--new", "--wait", "--poll", "0.2", "--json"))
    assert isinstance(ended, dict) and isinstance(running, dict) and isinstance(recent, dict)

    plan = ok_json(cli(clocks.now, provider, mode, "batches", "prune", "--older-than", "1h", "--dry-run", "--json"))
    assert isinstance(plan, dict)
    would = {item["id"] for item in plan["would_delete"]}
    kept = {item["id"]: item["reason"] for item in plan["kept"]}
    assert ended["id"] in would
    assert running["id"] not in would and "still running" in kept[running["id"]]
    assert recent["id"] not in would and recent["id"] not in kept

    done = ok_json(cli(clocks.now, provider, mode, "batches", "prune", "--older-than", "1h", "--yes", "--json"))
    assert isinstance(done, dict)
    assert ended["id"] in {item["id"] for item in done["deleted"]}
    assert cli(clocks.now, provider, mode, "batches", "get", ended["id"]).returncode == 4
    assert cli(clocks.now, provider, mode, "batches", "get", running["id"]).returncode == 0
    assert cli(clocks.now, provider, mode, "batches", "get", recent["id"]).returncode == 0


def test_bedrock_files_prune_keeps_a_running_jobs_input(tmp_path: Path) -> None:
    """Bedrock's files are S3 objects, dated by S3 (not the emulator's clock): they are made old by
    waiting past an ``--older-than`` of one second."""
    pytest.importorskip("boto3")
    import time

    from tests.bedrock_s3 import quick_stack, neutral_lines, write

    with quick_stack(tmp_path, "prune", "--batch-seconds", "36000") as stack:
        job = stack.json("batches", "create", str(write(tmp_path, "requests.jsonl", neutral_lines(100))))
        assert isinstance(job, dict) and job["status"] == "in_progress"
        spare = stack.json("files", "upload", str(write(tmp_path, "spare.txt", "x\n")))
        assert isinstance(spare, list)
        time.sleep(2.5)  # S3 dates objects to the second
        done = stack.json("files", "prune", "--older-than", "1s", "--yes")
        assert isinstance(done, dict)
        deleted = {item["id"] for item in done["deleted"]}
        kept = {item["id"]: item["reason"] for item in done["kept"]}
        assert spare[0]["id"] in deleted
        input_uri = stack.json("batches", "get", job["id"])["details"]["input"]  # type: ignore[index]
        assert input_uri not in deleted
        assert job["id"] in kept[input_uri]  # listed among the files (under the prefix), kept, naming the job
        assert any(key.endswith("requests.jsonl") for key in stack.keys())


def test_purpose_where_files_carry_none_warns(clocks: Clocks, tmp_path: Path) -> None:
    upload(clocks.past, "anthropic", "direct", tmp_path, "no-purpose.jsonl")
    proc = cli(clocks.now, "anthropic", "direct", "files", "prune", "--older-than", "1h", "--purpose", "batch", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "matched nothing" in proc.stderr
