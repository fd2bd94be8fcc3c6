"""The README's guarantees, proved under faults: the installed ``bifrost`` as a subprocess against
``bifrost emulator serve`` with its fault injection armed (``POST /_emulator/faults``), for every
provider directly and through the gateway.

Each case arms one fault class for one operation, runs the command, and asserts what a user relies
on: the exit code, that no partial file is in place, and that the server holds exactly one batch or
file (never two, never a lost one).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import Served, start_emulator, stop_emulator

KEYS = {
    "anthropic": ("ANTHROPIC_BASE_URL", "/native/anthropic", "ANTHROPIC_API_KEY", "sk-ant-guarantees-key-0001"),
    "openai": ("OPENAI_BASE_URL", "/native/openai/v1", "OPENAI_API_KEY", "sk-openai-guarantees-key-0001"),
    "gemini": ("GEMINI_BASE_URL", "/native/gemini", "GEMINI_API_KEY", "gemini-guarantees-key-0001"),
}


@dataclass(frozen=True)
class Target:
    provider: str
    mode: str  # "direct" or "gateway"

    @property
    def name(self) -> str:
        return f"{self.provider}-{self.mode}"

    def args(self, served: Served) -> list[str]:
        args = ["-p", self.provider]
        if self.mode == "gateway":
            args = ["--base-url", served.url, *args]
        return args

    def env(self, served: Served) -> dict[str, str]:
        if self.mode == "gateway":
            return {}
        url_env, path, key_env, key = KEYS[self.provider]
        return {url_env: served.url + path, key_env: key}


TARGETS = [Target(p, m) for p in ("anthropic", "openai", "gemini") for m in ("direct", "gateway")]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = start_emulator(tmp_path_factory.mktemp("guarantees"), "--batch-seconds", "1", "--quiet")
    yield server
    stop_emulator(server)


class Bench:
    """One target on the served emulator, with its faults and its own ledger."""

    def __init__(self, served: Served, target: Target, tmp_path: Path):
        self.served = served
        self.target = target
        self.tmp = tmp_path
        self.env = {**target.env(served), "BIFROST_LEDGER": str(tmp_path / "ledger.sqlite3")}
        if target.provider == "gemini":  # the requests go as a file, and the results come back as one
            self.env["BIFROST_GEMINI_INLINE_LIMIT"] = "100"
        httpx.delete(served.url + "/_emulator/faults")

    def arm(self, *rules: str) -> None:
        answer = httpx.post(self.served.url + "/_emulator/faults", json={"rules": list(rules)})
        assert answer.status_code == 200, answer.text

    def armed(self) -> list[dict]:
        return httpx.get(self.served.url + "/_emulator/faults").json()["rules"]

    def fired(self) -> bool:
        """Every armed rule that fires a counted number of times has fired them all."""
        return all(rule["remaining"] in (0, "*") for rule in self.armed())

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
        return self.served.run(*self.target.args(self.served), *args, env={**self.env, **(env or {})}, timeout=timeout)

    def json(self, *args: str) -> object:
        proc = self.run(*args, "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def batch_ids(self) -> set[str]:
        return {b["id"] for b in self.json("batches", "list", "--all")}  # type: ignore[union-attr]

    def file_ids(self) -> set[str]:
        return {f["id"] for f in self.json("files", "list", "--all")}  # type: ignore[union-attr]

    def requests(self, n: int = 3) -> Path:
        """An input no other case sends (the ledger and the provider's tokens must not match it)."""
        tag = uuid.uuid4().hex[:8]
        path = self.tmp / f"requests-{tag}.jsonl"
        model = {"anthropic": "claude-haiku-4-5", "openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}[self.target.provider]
        lines = [
            json.dumps({"custom_id": f"r{i}", "params": {"model": model, "max_tokens": 16,
                        "messages": [{"role": "user", "content": f"{tag} question {i}"}]}})
            for i in range(n)
        ]
        path.write_text("\n".join(lines) + "\n")
        return path

    def downloadable(self, size: int = 200_000) -> tuple[str, bytes]:
        """A file the target can download (made through the emulator's admin route), and its bytes."""
        if self.target.provider == "gemini" and self.target.mode == "gateway":
            pytest.skip("the gateway serves no Gemini file contents (refused before sending, exit 2)")
        data = b"".join(b'{"line": %d, "pad": "%s"}\n' % (i, b"x" * 40) for i in range(size // 60))
        answer = httpx.post(
            self.served.url + "/_emulator/files",
            params={"filename": "out.jsonl", "provider": self.target.provider},
            content=data,
        )
        assert answer.status_code == 200, answer.text
        file_id = answer.json()["id"]
        return file_id, data

    def results_op(self) -> str:
        """The operation that fetches results: the gateway's one results document (Anthropic's, and
        Gemini's through the gateway), Anthropic's results JSONL, else an output file's content."""
        if self.target.provider == "anthropic" or self.target.name == "gemini-gateway":
            return "batches.results"
        return "files.download"

    def ended_batch(self, n: int = 40) -> str:
        proc = self.run("batches", "create", str(self.requests(n)), "--wait", "--poll", "0.2", "--timeout", "60", "-q")
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()[0]


@pytest.fixture(params=TARGETS, ids=lambda t: t.name)
def bench(request: pytest.FixtureRequest, emulator: Served, tmp_path: Path) -> Bench:
    return Bench(emulator, request.param, tmp_path)


def _no_partial(tmp: Path, name: str) -> None:
    left = [p.name for p in tmp.iterdir() if p.name.startswith(name)]
    assert left == [], f"left behind: {left}"


# -- creates: sent once ------------------------------------------------------------------------------


def test_a_create_refused_in_the_providers_own_shape_is_retried_into_one_batch(bench: Bench) -> None:
    before = bench.batch_ids()
    bench.arm("batches.create:status=529,retry-after=0x1")
    proc = bench.run("batches", "create", str(bench.requests()), "-q")
    assert bench.fired(), proc.stderr
    created = bench.batch_ids() - before
    if proc.returncode == 0:
        assert created == {proc.stdout.strip()}
    else:  # the refusal could not be proved (a gateway's answer): stopped, with the check-first hint
        assert proc.returncode in (5, 6), proc.stderr
        assert created == set()
        assert "batches list" in proc.stderr


def test_a_create_done_then_answered_by_a_proxy_makes_one_batch_at_most(bench: Bench) -> None:
    before = bench.batch_ids()
    bench.arm("batches.create:after=503")
    proc = bench.run("batches", "create", str(bench.requests()), "-q")
    assert bench.fired(), proc.stderr
    created = bench.batch_ids() - before
    assert len(created) == 1, (created, proc.stderr)  # the first send reached the API; never a second batch
    if proc.returncode == 0:
        assert proc.stdout.strip() == next(iter(created))
        assert "exists" in proc.stderr  # it says what it did
    else:  # no token to look for (Anthropic, the /genai gateway route): stopped, saying so
        assert proc.returncode in (5, 6), proc.stderr
        assert "batches list" in proc.stderr


def test_a_create_refused_by_a_proxy_before_the_api_is_sent_again_only_after_looking(bench: Bench) -> None:
    before = bench.batch_ids()
    bench.arm("batches.create:status=503,shape=bare")  # no provider shape, no request id: unproven
    proc = bench.run("batches", "create", str(bench.requests()), "-q")
    assert bench.fired(), proc.stderr
    created = bench.batch_ids() - before
    if proc.returncode == 0:  # looked for by its token, not found, sent again once
        assert created == {proc.stdout.strip()}
        assert "again" in proc.stderr
    else:  # nothing to look for it by: stopped before a second send
        assert proc.returncode in (5, 6), proc.stderr
        assert created == set()
        assert "batches list" in proc.stderr


def test_the_same_create_twice_is_one_batch(bench: Bench) -> None:
    before = bench.batch_ids()
    path = bench.requests()
    first = bench.run("batches", "create", str(path), "-q")
    second = bench.run("batches", "create", str(path), "-q")
    assert first.returncode == second.returncode == 0, second.stderr
    assert first.stdout == second.stdout
    assert "Already submitted" in second.stderr
    assert bench.batch_ids() - before == {first.stdout.strip()}
    again = bench.run("batches", "create", str(path), "-q", "--new")
    assert again.returncode == 0 and again.stdout != first.stdout
    assert len(bench.batch_ids() - before) == 2


# -- uploads: sent once ------------------------------------------------------------------------------


def test_an_upload_stored_then_answered_by_a_proxy_is_one_file(bench: Bench) -> None:
    if bench.target.provider == "gemini" and bench.target.mode == "gateway":
        pytest.skip("the gateway's /genai routes list no files to reconcile against")
    path = bench.requests()
    before = bench.file_ids()
    bench.arm("files.upload:after=503")
    proc = bench.run("files", "upload", str(path), "-q")
    assert bench.fired(), proc.stderr
    added = bench.file_ids() - before
    assert len(added) == 1, (added, proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == next(iter(added))


def test_an_upload_refused_in_the_providers_own_shape_is_one_file(bench: Bench) -> None:
    if bench.target.provider == "gemini" and bench.target.mode == "gateway":
        pytest.skip("the gateway's /genai routes list no files to reconcile against")
    path = bench.requests()
    before = bench.file_ids()
    bench.arm("files.upload:status=529,retry-after=0")
    proc = bench.run("files", "upload", str(path), "-q")
    assert bench.fired(), proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert bench.file_ids() - before == {proc.stdout.strip()}


# -- downloads and results: complete or refused ------------------------------------------------------


# sizes: a small file (read through httpx) and one large enough to be read straight from the socket
SIZES = pytest.mark.parametrize("size", [200_000, 3_000_000], ids=["small", "large"])


@SIZES
@pytest.mark.parametrize("fault", ["cut=40%", "cut-length=40%"])
def test_a_download_cut_short_is_exit_6_and_nothing_in_place(bench: Bench, fault: str, size: int) -> None:
    file_id, _ = bench.downloadable(size)
    bench.arm(f"files.download:{fault}x*")
    dest = bench.tmp / "got.jsonl"
    proc = bench.run("files", "download", file_id, "-o", str(dest))
    assert proc.returncode == 6, proc.stderr
    _no_partial(bench.tmp, "got.jsonl")


@SIZES
def test_a_download_reset_midway_resumes_into_the_whole_file(bench: Bench, size: int) -> None:
    file_id, data = bench.downloadable(size)
    bench.arm("files.download:reset=50%")
    dest = bench.tmp / "got.jsonl"
    proc = bench.run("files", "download", file_id, "-o", str(dest))
    assert bench.fired(), proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert dest.read_bytes() == data


@SIZES
def test_a_download_that_stalls_is_resumed_or_retried_into_the_whole_file(bench: Bench, size: int) -> None:
    file_id, data = bench.downloadable(size)
    bench.arm("files.download:stall=4")
    dest = bench.tmp / "got.jsonl"
    proc = bench.run("files", "download", file_id, "-o", str(dest), env={"BIFROST_TIMEOUT": "1"})
    assert bench.fired(), proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert dest.read_bytes() == data


@SIZES
def test_allow_partial_keeps_what_arrived_under_a_partial_name(bench: Bench, size: int) -> None:
    file_id, data = bench.downloadable(size)
    bench.arm("files.download:cut=40%x*")
    dest = bench.tmp / "got.jsonl"
    proc = bench.run("files", "download", file_id, "-o", str(dest), "--allow-partial")
    assert not dest.exists()
    kept = [p for p in bench.tmp.iterdir() if p.name.startswith("got.jsonl") and "partial" in p.name]
    assert len(kept) == 1, proc.stderr
    assert 0 < len(kept[0].read_bytes()) < len(data) and data.startswith(kept[0].read_bytes())


@pytest.mark.parametrize("fault", ["cut=50%", "cut-length=50%"])
def test_results_cut_short_are_exit_6_and_nothing_in_place(bench: Bench, fault: str) -> None:
    batch = bench.ended_batch()
    op = bench.results_op()
    bench.arm(f"{op}:{fault}x*")
    dest = bench.tmp / "results.jsonl"
    proc = bench.run("batches", "results", batch, "-o", str(dest))
    assert proc.returncode == 6, proc.stderr
    _no_partial(bench.tmp, "results.jsonl")


def test_results_reset_midway_arrive_whole(bench: Bench) -> None:
    batch = bench.ended_batch()
    whole = bench.run("batches", "results", batch)
    assert whole.returncode == 0, whole.stderr
    bench.arm(f"{bench.results_op()}:reset=50%")
    dest = bench.tmp / "results.jsonl"
    proc = bench.run("batches", "results", batch, "-o", str(dest))
    assert bench.fired(), proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert sorted(dest.read_text().splitlines()) == sorted(whole.stdout.splitlines())
    if bench.target.mode == "gateway" and bench.results_op() == "batches.results":
        # the gateway's one JSON document is served without Range: fetched again from the start
        assert "fetched again from the start" in proc.stderr


# -- never stuck -------------------------------------------------------------------------------------


def test_a_dripped_answer_ends_at_the_deadline(bench: Bench) -> None:
    batch = bench.ended_batch(3)
    bench.arm("batches.get:drip=0.3x*")
    proc = bench.run("batches", "get", batch, env={"BIFROST_TIMEOUT": "1", "BIFROST_MAX_RETRIES": "0"}, timeout=60)
    assert proc.returncode == 6, proc.stderr
    assert "Traceback" not in proc.stderr


def test_wait_gives_up_on_a_poll_error_that_cannot_go_away(bench: Bench) -> None:
    batch = bench.ended_batch(3)
    bench.arm("batches.get:status=400x*")
    proc = bench.run("batches", "wait", batch, "--poll", "0.1", timeout=60)
    assert proc.returncode not in (0, 6), proc.stderr
    assert proc.stderr.count("\n") < 20  # one error and its hint, not a line per poll


def test_wait_gives_up_after_bounded_transient_errors(bench: Bench) -> None:
    batch = bench.ended_batch(3)
    bench.arm("batches.get:status=503,retry-after=0x*")
    proc = bench.run("batches", "wait", batch, "--poll", "0.1", "--max-poll-errors", "3",
                     env={"BIFROST_MAX_RETRIES": "0"}, timeout=60)
    assert proc.returncode == 6, proc.stderr



# -- Bedrock: jobs on the emulated control plane, data in moto's S3 ----------------------------------


@pytest.fixture(scope="module")
def bedrock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    pytest.importorskip("boto3")
    from tests.bedrock_s3 import quick_stack

    with quick_stack(tmp_path_factory.mktemp("bedrock-guarantees"), "guarantees") as stack:
        yield stack


@pytest.mark.parametrize("mode", ["direct", "gateway"])
@pytest.mark.parametrize("rule", ["batches.create:after=503", "batches.create:status=503,shape=bare"])
def test_a_bedrock_create_that_failed_on_the_way_back_is_one_job(bedrock: object, tmp_path: Path, mode: str, rule: str) -> None:
    from tests.bedrock_s3 import Stack, neutral_lines, write

    assert isinstance(bedrock, Stack)
    url = bedrock.served.url
    extra = {"BIFROST_LEDGER": str(tmp_path / "ledger.sqlite3")}
    if mode == "gateway":  # the gateway's /bedrock routes, no AWS credentials of our own
        extra.update(AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="", AWS_ENDPOINT_URL_BEDROCK="")

    def run(*args: str) -> subprocess.CompletedProcess:
        head = ["--base-url", url] if mode == "gateway" else []
        return bedrock.served.run(*head, "-p", "bedrock", "--s3-uri", bedrock.s3_uri, *args,
                                  env={**bedrock.env(), **extra}, timeout=120)

    def jobs() -> set[str]:
        listed = run("batches", "list", "--all", "--json")
        if listed.returncode != 0:  # the gateway lists jobs only on newer builds: count on the native API
            listed = bedrock.run("batches", "list", "--all", "--json")
        assert listed.returncode == 0, listed.stderr
        return {b["id"] for b in json.loads(listed.stdout)}

    tag = uuid.uuid4().hex[:8]
    path = write(tmp_path, f"bedrock-{tag}.jsonl", neutral_lines(100).replace("Say hello", f"{tag} say hello"))
    before = jobs()
    assert httpx.post(url + "/_emulator/faults", json={"rules": [rule]}).status_code == 200
    try:
        proc = run("batches", "create", str(path), "-q")
        fired = httpx.get(url + "/_emulator/faults").json()["rules"]
    finally:
        httpx.delete(url + "/_emulator/faults")
    assert all(r["remaining"] == 0 for r in fired), proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert jobs() - before == {proc.stdout.strip()}
