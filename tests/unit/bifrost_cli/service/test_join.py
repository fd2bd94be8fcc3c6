"""service.join: results joined to their input, the retry file, the table's rows and the options' plan."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from bifrost_cli.errors import InputError, TransferIncomplete, UnavailableError, UsageError
from bifrost_cli.output import Output
from bifrost_cli.service.join import joined_record, join_results, plan_results, result_rows
from tests.unit.bifrost_cli.test_service import FakeTarget, batch


def succeeded(custom_id: str, *texts: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    message = {"type": "message", "content": [{"type": "text", "text": t} for t in texts]}
    message["content"].insert(1, {"type": "tool_use", "id": "t", "name": "f", "input": {}})
    if usage is not None:
        message["usage"] = usage
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}


def failed(custom_id: str, rtype: str = "errored") -> dict[str, Any]:
    body: dict[str, Any] = {"type": rtype}
    if rtype == "errored":
        body["error"] = {"type": "error", "error": {"type": "overloaded_error", "message": "try later"}}
    return {"custom_id": custom_id, "result": body}


def write_input(tmp_path: Path, ids: list[str], *, bom: bool = False, last_newline: bool = True) -> Path:
    path = tmp_path / "in.jsonl"
    lines = [f'{{"custom_id":"{i}",  "params": {{"n": {n}}}}}' for n, i in enumerate(ids)]
    text = "\n".join(lines) + ("\n" if last_newline else "")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.replace("\n", "\n\n", 1).encode())  # a blank line too
    return path


RESULTS = [failed("c", "expired"), succeeded("a", "Hello", " world", usage={"input_tokens": 5, "output_tokens": 2}),
           failed("b"), failed("x", "canceled"), failed("y")]


def test_joined_record_of_each_shape() -> None:
    assert joined_record(RESULTS[1]) == {"custom_id": "a", "status": "succeeded", "output": "Hello world",
                                         "usage": {"input_tokens": 5, "output_tokens": 2}, "error": None}
    assert joined_record(RESULTS[2])["error"] == {"type": "overloaded_error", "message": "try later"}
    assert joined_record(RESULTS[0]) == {"custom_id": "c", "status": "expired", "output": None, "usage": None, "error": None}


def test_join_in_input_order_with_retry_file(tmp_path: Path) -> None:
    source = write_input(tmp_path, ["a", "b", "c", "d"], bom=True, last_newline=False)
    out, retry = tmp_path / "joined.jsonl", tmp_path / "retry.jsonl"
    summary = join_results(FakeTarget(results={"b1": RESULTS}), "b1", input_path=str(source),
                           output=str(out), retry_file=str(retry))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["custom_id"], r["status"]) for r in rows] == [("a", "succeeded"), ("b", "errored"), ("c", "expired"), ("d", "missing")]
    lines = source.read_bytes()[3:].split(b"\n")
    assert retry.read_bytes() == lines[2] + b"\n" + lines[3] + b"\n" + lines[4] + b"\n"  # the last line gains its newline
    assert summary.counts == {"succeeded": 1, "errored": 1, "canceled": 0, "expired": 1, "missing": 1}
    assert (summary.extra, summary.extra_ids, summary.retry_lines) == (2, ["x", "y"], 3)


def test_join_to_stdout_and_duplicates(tmp_path: Path) -> None:
    source = write_input(tmp_path, ["a", "b"])
    sink = io.BytesIO()
    results = [succeeded("b", "first"), succeeded("b", "second"), succeeded("a", "A")]
    summary = join_results(FakeTarget(results={"b1": results}), "b1", input_path=str(source), stdout=sink)
    assert [json.loads(line)["output"] for line in sink.getvalue().splitlines()] == ["A", "first"]
    assert summary.duplicates == 1


def test_missing_results_write_nothing_unless_partial(tmp_path: Path) -> None:
    source = write_input(tmp_path, ["a", "b", "c"])
    ended = batch("b1", "ended", counts={"succeeded": 3})
    out, retry = tmp_path / "j.jsonl", tmp_path / "r.jsonl"
    target = FakeTarget(results={"b1": [succeeded("a", "x")]}, batches={"b1": [ended, ended, ended]})
    with pytest.raises(TransferIncomplete) as info:
        join_results(target, "b1", input_path=str(source), output=str(out), retry_file=str(retry))
    assert "only 1 results of b1 arrived, but the batch has 3 requests" in info.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
    with pytest.raises(TransferIncomplete) as info:
        join_results(target, "b1", input_path=str(source), output=str(out), retry_file=str(retry), allow_partial=True)
    assert not out.exists() and not retry.exists()
    assert len((tmp_path / "j.jsonl.partial").read_text().splitlines()) == 3
    assert len((tmp_path / "r.jsonl.partial").read_text().splitlines()) == 2
    assert "j.jsonl.partial" in info.value.message


def test_results_that_break_off_write_nothing(tmp_path: Path) -> None:
    source = write_input(tmp_path, ["a", "b"])
    sink = io.BytesIO()
    target = FakeTarget(results={"b1": [succeeded("a", "x"), UnavailableError("connection reset", status=None)]})
    with pytest.raises(TransferIncomplete) as info:
        join_results(target, "b1", input_path=str(source), retry_file=str(tmp_path / "r.jsonl"), stdout=sink, restarts=1)
    assert "broke off after 1 lines" in info.value.message
    assert sink.getvalue() == b"" and not (tmp_path / "r.jsonl").exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"custom_id": "a"}\n{"nope": 1}\n', "in.jsonl:2: no custom_id"),
        (b'{"custom_id": "a"}\n{"custom_id": "a"}\n', "in.jsonl:2: custom_id 'a' is also on an earlier line"),
        (b"{oops\n", "in.jsonl:1: not valid JSON"),
    ],
)
def test_a_bad_input_is_refused_before_anything_is_read(tmp_path: Path, content: bytes, words: str) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(content)
    target = FakeTarget(results={"b1": [UnavailableError("must not be read", status=None)]})
    with pytest.raises(InputError) as info:
        join_results(target, "b1", input_path=str(source), stdout=io.BytesIO())
    assert any(words in p for p in info.value.problems), info.value.problems


def test_native_ids_are_read(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"key": "g1", "request": {}}\n{"recordId": "r1", "modelInput": {}}\n')
    sink = io.BytesIO()
    join_results(FakeTarget(results={"b1": [succeeded("r1", "ok")]}), "b1", input_path=str(source), stdout=sink)
    assert [json.loads(line)["status"] for line in sink.getvalue().splitlines()] == ["missing", "succeeded"]


def test_a_json_array_input_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text('[{"custom_id": "a", "params": {}}]\n')
    with pytest.raises(UsageError, match="not a JSON array"):
        join_results(FakeTarget(), "b1", input_path=str(source), stdout=io.BytesIO())


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"retry_file": "r"}, "needs the input"),
        ({"input_path": "i"}, "only for --retry-file"),
        ({"join": "i", "input_path": "i", "retry_file": "r"}, "give the input once"),
        ({"result_format": "table", "output": "o"}, "always JSONL"),
        ({"join": "i", "raw": True}, "--raw"),
        ({"result_format": "csv"}, "unknown --format"),
        ({"input_path": "i", "retry_file": "r", "output": "o"}, "only the retry file"),
    ],
)
def test_plan_refuses(options: dict[str, Any], words: str) -> None:
    base: dict[str, Any] = {"join": None, "retry_file": None, "input_path": None, "result_format": "auto",
                            "output": None, "raw": False, "stdout_tty": False}
    with pytest.raises(UsageError, match=words):
        plan_results(**{**base, **options})


def test_plan_defaults() -> None:
    base: dict[str, Any] = {"join": None, "retry_file": None, "input_path": None, "result_format": "auto",
                            "output": None, "raw": False, "stdout_tty": False}
    assert plan_results(**base).mode == "jsonl"  # piped: JSONL stays the default
    assert plan_results(**{**base, "stdout_tty": True}).mode == "table"  # on a terminal: the table
    assert plan_results(**{**base, "stdout_tty": True, "output": "f"}).mode == "jsonl"
    assert plan_results(**{**base, "stdout_tty": True, "raw": True}).mode == "jsonl"
    assert plan_results(**{**base, "result_format": "jsonl", "stdout_tty": True}).mode == "jsonl"
    joined = plan_results(**{**base, "join": "i", "stdout_tty": True})
    assert (joined.mode, joined.write_join, joined.table) == ("join", True, True)
    alone = plan_results(**{**base, "input_path": "i", "retry_file": "r", "stdout_tty": True})
    assert (alone.mode, alone.write_join, alone.table) == ("join", False, False)


def test_table_rows_piped_are_tab_separated_and_clean() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    out = Output(stdout=stdout, stderr=stderr)
    evil = succeeded("a", "line one\x1b]0;title\x07\nline two", usage={"input_tokens": 3, "output_tokens": 4})
    counts = result_rows(FakeTarget(results={"b1": [evil, failed("b")]}), "b1", out.results_table)
    assert stdout.getvalue().splitlines() == [
        "custom_id\tstatus\tin\tout\toutput or error",  # a header line, then the rows
        "a\tsucceeded\t3\t4\tline one?]0;title?", "b\terrored\t-\t-\toverloaded_error: try later",
    ]
    assert counts == {"succeeded": 1, "errored": 1, "canceled": 0, "expired": 0}
