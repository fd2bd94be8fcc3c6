"""End to end for tokens and cost: ``batches results ID --summary`` and ``batches get ID --usage``,
the installed ``bifrost`` against ``bifrost emulator serve``, for Anthropic, OpenAI and Gemini
(directly and through the gateway's routes) and Bedrock (with moto's S3): the tokens shown are the
sums over the result lines the same command gives."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Served, start_emulator, stop_emulator

REQUESTS = EXAMPLES / "requests-with-failures.jsonl"
ENV = {
    "anthropic": {"ANTHROPIC_API_KEY": "sk-ant-usage-test"},
    "openai": {"OPENAI_API_KEY": "sk-openai-test-key-1234"},
    "gemini": {"GEMINI_API_KEY": "gm-test-key-1234"},
}
BASE = {"anthropic": ("ANTHROPIC_BASE_URL", "/native/anthropic"), "openai": ("OPENAI_BASE_URL", "/native/openai/v1"),
        "gemini": ("GEMINI_BASE_URL", "/native/gemini")}

Run = Callable[..., subprocess.CompletedProcess]


def _runner(served: Served, provider: str, how: str) -> Run:
    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        if how == "gateway":
            return served.run("--base-url", served.url, "-p", provider, *args, env=env)
        name, path = BASE[provider]
        return served.run("-p", provider, *args, env={name: served.url + path, **ENV[provider], **(env or {})})

    return run


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _ended_batch(run: Run, path: Path = REQUESTS) -> str:
    created = run("batches", "create", str(path), "--wait", "--poll", "0.5", "--allow-errors", "-q")
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def _sums(results_jsonl: str) -> dict[str, int]:
    """The tokens of the result lines, summed by hand."""
    sums = {"requests": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0}
    for line in results_jsonl.splitlines():
        message = json.loads(line)["result"].get("message")
        if message is None:
            continue
        usage = message.get("usage") or {}
        sums["requests"] += 1
        sums["input_tokens"] += usage.get("input_tokens", 0)
        sums["output_tokens"] += usage.get("output_tokens", 0)
        sums["cache_read_tokens"] += usage.get("cache_read_input_tokens", 0)
    return sums


def _picked(total: dict) -> dict[str, int]:
    return {k: total[k] for k in ("requests", "input_tokens", "output_tokens", "cache_read_tokens")}


@pytest.mark.parametrize(
    ("provider", "how"),
    [("anthropic", "direct"), ("openai", "direct"), ("gemini", "direct"),
     ("anthropic", "gateway"), ("openai", "gateway"), ("gemini", "gateway")],
)
def test_summary_tokens_are_the_sums_over_the_result_lines(served: Served, provider: str, how: str) -> None:
    run = _runner(served, provider, how)
    batch_id = _ended_batch(run)
    lines = _ok(run("batches", "results", batch_id))
    expected = _sums(lines)
    assert expected["requests"] >= 1 and expected["output_tokens"] > 0

    summary = json.loads(_ok(run("batches", "results", batch_id, "--summary", "--json")))
    assert summary["batch_ids"] == [batch_id] and summary["source"] == "results"
    assert _picked(summary["total"]) == expected
    assert sum(summary["results"].values()) == len(lines.splitlines())
    models = {json.loads(x)["result"].get("message", {}).get("model") for x in lines.splitlines()} - {None}
    if models:
        assert {m["model"] for m in summary["models"]} == models
    assert summary["cost"]["estimate"] is True

    # get --usage gives the same numbers, beside the batch
    got = json.loads(_ok(run("batches", "get", batch_id, "--usage", "--json")))
    assert got["id"] == batch_id and _picked(got["tokens"]["total"]) == expected

    # and the table says the same
    table = run("batches", "results", batch_id, "--summary")
    assert table.returncode == 0, table.stderr
    assert f"{expected['output_tokens']:,}" in table.stdout and "cost" in table.stderr


def test_anthropic_summary_prices_at_the_batch_rate(served: Served) -> None:
    pytest.importorskip("genai_prices")
    run = _runner(served, "anthropic", "direct")
    batch_id = _ended_batch(run)
    summary = json.loads(_ok(run("batches", "results", batch_id, "--summary", "--json")))
    (model,) = summary["models"]
    assert model["model"] == "claude-sonnet-4-5"
    assert model["cost"]["rate"] == "batch" and model["cost"]["usd"] > 0
    assert summary["cost"]["complete"] is True and summary["cost"]["total_usd"] == model["cost"]["usd"]
    table = run("batches", "results", batch_id, "--summary")
    assert "an estimate" in table.stderr and "batch rates" in table.stderr


def test_without_the_prices_extra_tokens_are_shown_and_cost_says_what_to_install(served: Served, tmp_path: Path) -> None:
    # a genai_prices that cannot be imported, first on the path: as if the extra were not installed
    shadow = tmp_path / "shadow" / "genai_prices"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('not installed')\n")
    run = _runner(served, "anthropic", "direct")
    batch_id = _ended_batch(run)
    env = {"PYTHONPATH": str(shadow.parent)}
    table = run("batches", "results", batch_id, "--summary", env=env)
    assert table.returncode == 0, table.stderr
    assert "install bifrost-cli[prices]" in table.stderr and "claude-sonnet-4-5" in table.stdout
    data = json.loads(_ok(run("batches", "results", batch_id, "--summary", "--json", env=env)))
    assert data["cost"]["available"] is False and data["cost"]["note"] == "install bifrost-cli[prices]"
    assert data["cost"]["total_usd"] is None and data["total"]["output_tokens"] > 0


def test_summary_options_that_do_not_fit_are_refused(served: Served, tmp_path: Path) -> None:
    run = _runner(served, "anthropic", "direct")
    batch_id = _ended_batch(run)
    out = tmp_path / "results.jsonl"
    refused = run("batches", "results", batch_id, "--summary", "-o", str(out))
    assert refused.returncode == 2 and "--output" in refused.stderr and not out.exists()
    joined = run("batches", "results", batch_id, "--summary", "--join", str(REQUESTS))
    assert joined.returncode == 2 and "--join" in joined.stderr and joined.stdout == ""


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = start_emulator(tmp_path_factory.mktemp("slow-usage"), "--batch-seconds", "60", "--quiet")
    yield server
    stop_emulator(server)


def test_usage_of_a_running_batch_is_a_conflict(slow: Served) -> None:
    run = _runner(slow, "anthropic", "direct")
    created = run("batches", "create", str(REQUESTS), "-q")
    assert created.returncode == 0, created.stderr
    got = run("batches", "get", created.stdout.strip(), "--usage")
    assert got.returncode == 5 and "once it has ended" in got.stderr


def test_bedrock_summary_counts_to_the_job_model(tmp_path: Path) -> None:
    pytest.importorskip("boto3")
    from tests.bedrock_s3 import neutral_lines, quick_stack, write

    with quick_stack(tmp_path, "e2e/usage") as stack:
        path = write(tmp_path, "requests.jsonl", neutral_lines(100, model="amazon.nova-lite-v1:0"))
        job = stack.json("batches", "create", str(path))["id"]
        assert stack.run("batches", "wait", job, "--poll", "0.2", "--timeout", "30").returncode == 0
        lines = stack.run("batches", "results", job)
        assert lines.returncode == 0, lines.stderr
        expected = _sums(lines.stdout.decode() if isinstance(lines.stdout, bytes) else lines.stdout)
        summary = stack.json("batches", "results", job, "--summary")
        assert _picked(summary["total"]) == expected and expected["requests"] == 100
        assert [m["model"] for m in summary["models"]] == ["amazon.nova-lite-v1:0"]


@pytest.mark.parametrize(("provider", "how"), [("anthropic", "direct"), ("openai", "gateway"), ("gemini", "direct")])
def test_a_group_sums_its_batches(served: Served, tmp_path: Path, provider: str, how: str) -> None:
    path = tmp_path / "group.jsonl"
    path.write_text("".join(
        json.dumps({"custom_id": f"req-{i}", "params": {"model": "claude-sonnet-4-5", "max_tokens": 5,
                                                        "messages": [{"role": "user", "content": f"usage group {how} {i}"}]}}) + "\n"
        for i in range(5)
    ))
    base = _runner(served, provider, how)
    env = {"BIFROST_LEDGER": str(tmp_path / "ledger.sqlite3"), "BIFROST_SPLIT_MAX_REQUESTS": "2"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return base(*args, env=env)

    group = json.loads(_ok(run("batches", "create", str(path), "--split", "--json")))
    parts = [p["batch_id"] for p in group["parts"]]
    assert len(parts) == 3
    assert run("batches", "wait", group["id"], "--poll", "0.5", "--timeout", "60").returncode == 0
    per_batch = {bid: _sums(_ok(run("batches", "results", bid))) for bid in parts}

    summary = json.loads(_ok(run("batches", "results", group["id"], "--summary", "--json")))
    assert summary["group_id"] == group["id"] and summary["batch_ids"] == parts
    assert {b["id"]: _picked(b) for b in summary["batches"]} == per_batch
    assert _picked(summary["total"]) == {k: sum(s[k] for s in per_batch.values()) for k in next(iter(per_batch.values()))}
    assert summary["total"]["requests"] == 5

    got = json.loads(_ok(run("batches", "get", group["id"], "--usage", "--json")))
    assert _picked(got["total"]) == _picked(summary["total"])
    table = run("batches", "results", group["id"], "--summary")
    # piped: the table's title (what it counts) on stderr, its rows on stdout
    assert table.returncode == 0 and f"group {group['id']}" in table.stderr and parts[0] in table.stdout
