"""Batch groups (bifrost_cli.service.groups): where an input is split (exact limits, in requests
and bytes; a request bigger than a batch), the limits used, and ``create --split`` through the
in-process emulator (a JSON array and stdin split too; the ledger's group record)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bifrost_cli.errors import UsageError
from bifrost_cli.ledger import Ledger
from bifrost_cli.service.groups import LineTooBig, SplitLimits, plan_parts, split_limits
from tests.conftest import invoke


def shape(sizes: list[int], max_requests: int | None, max_bytes: int | None) -> list[tuple[int, int, int]]:
    return [(p.start, p.count, p.size) for p in plan_parts(sizes, SplitLimits(max_requests, max_bytes))]


def test_an_input_at_the_request_limit_is_one_part_one_more_is_two_even_ones() -> None:
    assert shape([10] * 4, 4, None) == [(0, 4, 40)]
    assert shape([10] * 5, 4, None) == [(0, 3, 30), (3, 2, 20)]
    assert shape([10] * 9, 4, None) == [(0, 3, 30), (3, 3, 30), (6, 3, 30)]  # 3 batches needed: 3 each, no stub of 1


def test_an_input_at_the_byte_limit_is_one_part_one_byte_more_is_two() -> None:
    assert shape([10, 20, 30], None, 60) == [(0, 3, 60)]
    assert shape([10, 20, 31], None, 60) == [(0, 2, 30), (2, 1, 31)]
    assert shape([60, 60], None, 60) == [(0, 1, 60), (1, 1, 60)]  # a request exactly the limit fits alone


def test_both_limits_apply_and_order_is_kept() -> None:
    parts = shape([5, 5, 5, 50, 5, 5], 3, 55)
    assert parts == [(0, 3, 15), (3, 2, 55), (5, 1, 5)]
    assert [start for start, _, _ in parts] == sorted(start for start, _, _ in parts)
    assert sum(count for _, count, _ in parts) == 6


def test_a_request_bigger_than_the_byte_limit_is_refused_by_its_place() -> None:
    with pytest.raises(LineTooBig) as info:
        plan_parts([10, 61, 10], SplitLimits(None, 60))
    assert (info.value.index, info.value.size) == (1, 61)


def test_the_limits_are_the_providers_lowered_by_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert split_limits("anthropic").max_requests == 100_000
    assert split_limits("openai").max_requests == 50_000
    assert split_limits("openai").max_bytes is not None and split_limits("openai").max_bytes < 200_000_000  # headroom
    assert split_limits("gemini").max_requests is None
    monkeypatch.setenv("BIFROST_BEDROCK_MAX_RECORDS", "1000")
    assert split_limits("bedrock").max_requests == 1000
    assert split_limits("openai", max_requests=7, max_bytes=99) == SplitLimits(7, 99)
    assert split_limits("openai", max_requests=70_000).max_requests == 50_000  # never above the provider's
    with pytest.raises(UsageError, match="BIFROST_SPLIT_MAX_BYTES must be 1 or more"):
        split_limits("anthropic", max_bytes=0)


def request(i: int) -> dict[str, object]:
    return {"custom_id": f"r{i}", "params": {"model": "m-1", "max_tokens": 5, "messages": [{"role": "user", "content": f"hi {i}"}]}}


def test_a_json_array_from_stdin_splits_into_named_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_SPLIT_MAX_REQUESTS", "2")
    body = json.dumps([request(i) for i in range(3)], indent=1)
    made = invoke("--emulator", "batches", "create", "-", "--split", "--json", input=body)
    assert made.exit_code == 0, made.output
    group = json.loads(made.stdout)
    starts = [n for n, line in enumerate(body.splitlines(), 1) if line == " {"]  # where each request begins
    assert [(p["requests"], p["first_line"]) for p in group["parts"]] == [(2, starts[0]), (1, starts[2])]
    local = json.loads(invoke("--emulator", "batches", "list", "--local", "--json").stdout)
    inputs = sorted(e["input"] for e in local if e["kind"] == "batch")
    assert inputs == ["stdin.part1-of-2.jsonl", "stdin.part2-of-2.jsonl"]
    again = invoke("--emulator", "batches", "create", "-", "--split", "-q", input=body)
    assert again.exit_code == 0 and again.stdout.strip() == group["id"]


def test_new_makes_another_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_SPLIT_MAX_REQUESTS", "1")
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(request(i)) + "\n" for i in range(2)))
    first = invoke("--emulator", "batches", "create", str(path), "--split", "--json")
    fresh = invoke("--emulator", "batches", "create", str(path), "--split", "--new", "--json")
    assert first.exit_code == 0 and fresh.exit_code == 0, fresh.output
    one, two = json.loads(first.stdout), json.loads(fresh.stdout)
    assert one["id"] != two["id"]
    assert not {p["batch_id"] for p in one["parts"]} & {p["batch_id"] for p in two["parts"]}


def test_without_split_an_over_limit_input_is_still_refused_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_SPLIT_MAX_REQUESTS", "1")  # a --split setting only
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(request(i)) + "\n" for i in range(2)))
    made = invoke("--emulator", "batches", "create", str(path), "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["request_counts"]["total"] == 2


def test_a_group_is_recorded_once_whoever_records_it(tmp_path: Path) -> None:
    fields = {"group_id": "grp-0123456789ab", "target": "t", "provider": "p", "input_name": "in.jsonl", "sha256": "s", "options": "{}"}
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        first = ledger.add_group(**fields, parts=[(1, 2, 20, "a"), (3, 1, 10, "b")])
        ledger.set_part_batch(first.id, 1, "batch_1")
        second = ledger.add_group(**fields, parts=[(1, 2, 20, "a"), (3, 1, 10, "b")])
        assert [p.batch_id for p in second.parts] == ["batch_1", None]
        assert second.requests == 3 and [g.id for g in ledger.groups()] == [first.id]


def test_a_line_openai_cannot_take_in_a_late_part_stops_every_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_SPLIT_MAX_REQUESTS", "2")
    lines = [request(i) for i in range(5)]
    lines[4]["params"]["top_k"] = 5  # type: ignore[index]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    refused = invoke("--emulator", "-p", "openai", "batches", "create", str(path), "--split")
    assert refused.exit_code == 2
    assert f"{path}:5:" in refused.stderr and "top_k" in refused.stderr
    listed = invoke("--emulator", "-p", "openai", "batches", "list", "-q")
    assert listed.exit_code == 0 and listed.stdout == ""  # no part was sent


def test_split_and_wait_waits_on_every_batch_and_prints_the_ended_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_SPLIT_MAX_REQUESTS", "2")
    monkeypatch.setenv("BIFROST_EMULATOR_BATCH_SECONDS", "0")
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(request(i)) + "\n" for i in range(3)))
    made = invoke("--emulator", "batches", "create", str(path), "--split", "--wait", "--poll", "0.1", "--json")
    assert made.exit_code == 0, made.output
    group = json.loads(made.stdout)
    assert group["id"].startswith("grp-")
    assert [p["batch"]["status"] for p in group["parts"]] == ["ended", "ended"]
    assert sum(p["batch"]["request_counts"]["succeeded"] for p in group["parts"]) == 3


def test_raw_results_of_a_group_are_each_parts_raw_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_SPLIT_MAX_REQUESTS", "1")
    monkeypatch.setenv("BIFROST_EMULATOR_BATCH_SECONDS", "0")
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(request(i)) + "\n" for i in range(2)))
    made = json.loads(invoke("--emulator", "-p", "openai", "batches", "create", str(path), "--split", "--json").stdout)
    assert invoke("--emulator", "-p", "openai", "batches", "wait", made["id"], "--poll", "0.1").exit_code == 0
    raw = invoke("--emulator", "-p", "openai", "batches", "results", made["id"], "--raw")
    assert raw.exit_code == 0, raw.output
    parts = [invoke("--emulator", "-p", "openai", "batches", "results", p["batch_id"], "--raw").stdout for p in made["parts"]]
    assert raw.stdout == "".join(parts) and len(raw.stdout.splitlines()) == 2
