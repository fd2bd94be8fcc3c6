"""Output that fits the terminal, colour by outcome, and piped tables as tab-separated data
(bifrost_cli.output with bifrost_cli.layout), with the ids every provider really uses."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bifrost_cli.ledger import Entry, Group, GroupPart
from bifrost_cli.models import Batch, File, RequestCounts
from bifrost_cli.output import Output, outcome_style
from bifrost_cli.service import WaitEvent
from bifrost_cli.service.doctor import DoctorReport
from bifrost_cli.service.prune import PruneItem, PruneReport

IDS = {
    "anthropic": "msgbatch_01hJGeqb4HWQCUUMR70EfHcE",
    "openai": "batch_6720a1b2c3d4e5f60718293a4b5c6d7e",
    "gemini": "batches/4ux9j5e1v2nq8kfbw0y3ts6m7cz1",
    "bedrock": "arn:aws:bedrock:ap-southeast-2:123456789012:model-invocation-job/abcd1234efgh",
}
WIDTHS = (80, 100, 120, 200)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CREATED = datetime(2026, 11, 30, 5, 50, 35, tzinfo=UTC)
HEADERS = {"id", "status", "processing", "proc", "succeeded", "ok", "errored", "err", "canceled", "canc", "expired",
           "exp", "total", "created"}


@pytest.fixture(autouse=True)
def plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def terminal(monkeypatch: pytest.MonkeyPatch, width: int) -> tuple[Output, io.StringIO, io.StringIO]:
    monkeypatch.setenv("COLUMNS", str(width))
    out, err = TTY(), TTY()
    return Output("human", stdout=out, stderr=err), out, err


def piped(mode: str = "human") -> tuple[Output, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Output(mode, stdout=out, stderr=err), out, err  # type: ignore[arg-type]


def three(provider: str) -> list[Batch]:
    """Running, ended with every request succeeded, ended with some errored: ids of one provider."""
    base = IDS[provider]
    native = {"anthropic": ("in_progress", "ended"), "openai": ("in_progress", "completed"),
              "gemini": ("JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"), "bedrock": ("InProgress", "Completed")}[provider]
    ids = [base, base[:-2] + "x1", base[:-2] + "x2"]
    return [
        Batch(id=ids[0], status="in_progress", native_status=native[0], created_at=CREATED,
              request_counts=RequestCounts(processing=18, succeeded=2)),
        Batch(id=ids[1], status="ended", native_status=native[1], created_at=CREATED,
              request_counts=RequestCounts(succeeded=20)),
        Batch(id=ids[2], status="ended", native_status=native[1], created_at=CREATED,
              request_counts=RequestCounts(succeeded=16, errored=4)),
    ]


# ------------------------------------------------------------------------------------------------
# tables fit the terminal: ids whole, headers whole words, columns dropped by priority


@pytest.mark.parametrize("provider", list(IDS))
@pytest.mark.parametrize("width", WIDTHS)
def test_batches_list_fits_the_terminal_with_every_id_whole(monkeypatch: pytest.MonkeyPatch, width: int, provider: str) -> None:
    output, out, _ = terminal(monkeypatch, width)
    batches = three(provider)
    output.batches(batches)
    lines = ANSI.sub("", out.getvalue()).splitlines()
    assert all(len(line) <= width for line in lines), lines
    assert all(line == line.rstrip() for line in lines)  # no trailing spaces
    for b in batches:  # each id on one line, unbroken, with its status on its line or the next
        at = next(i for i, line in enumerate(lines) if line.split() and line.split()[0] == b.id)
        assert b.status in lines[at] or lines[at + 1].lstrip().startswith(b.status)
    header = lines[0] if lines[0] != "id" else lines[1]
    assert set(header.split()) <= HEADERS  # no header split mid-word
    assert {"id", "status"} <= set(" ".join(lines[:2]).split()) and ("total" in header or "ok" in header)
    if width == 200:
        assert header.split() == ["id", "status", "processing", "succeeded", "errored", "canceled", "expired", "total",
                                  "created"]
        assert "2026-11-30" in lines[2]


def test_an_id_wider_than_the_terminal_gets_a_line_of_its_own_unbroken(monkeypatch: pytest.MonkeyPatch) -> None:
    arn = "arn:aws:bedrock:ap-southeast-2:123456789012:model-invocation-job/abcd1234efgh-an-id-of-90-characters"
    output, out, _ = terminal(monkeypatch, 80)
    output.batches([Batch(id=arn, status="ended", native_status="Completed", request_counts=RequestCounts(succeeded=3))])
    lines = ANSI.sub("", out.getvalue()).splitlines()
    assert lines[0] == "id" and lines[1].startswith("  status")
    assert arn in lines  # whole, on a line of its own: one string to copy
    details = lines[lines.index(arn) + 1]
    assert details.startswith("  ended (Completed)") and len(details) <= 80


def test_files_list_keeps_id_then_name_then_size_as_the_terminal_narrows(monkeypatch: pytest.MonkeyPatch) -> None:
    f = File(id="file-9xQmB2uT6rLk3VdYp8sWcN4a", filename="requests-for-the-november-evaluation.jsonl", size_bytes=2048,
             purpose="batch", created_at=CREATED)
    output, out, _ = terminal(monkeypatch, 200)
    output.files([f])
    assert ANSI.sub("", out.getvalue()).splitlines()[0].split() == ["id", "filename", "size", "created", "purpose"]
    output, out, _ = terminal(monkeypatch, 80)
    output.files([f])
    lines = ANSI.sub("", out.getvalue()).splitlines()
    # created goes (the name keeps 30 cells or more before it is considered); purpose is short enough to stay
    assert lines[0].split() == ["id", "filename", "size", "purpose"] and all(len(line) <= 80 for line in lines)
    assert lines[2].startswith(f.id + "  requests-for-the-november-") and "\u2026" in lines[2]
    assert lines[2].endswith("2.0 KB  batch")


# ------------------------------------------------------------------------------------------------
# the live wait line: id, status, a shorter bar, counts that fit, elapsed time


def last_frame(raw: str) -> list[str]:
    """The last frame Rich's Live drew: after the last cursor-up-and-erase run, escapes removed."""
    frame = re.split(r"\r(?:\x1b\[2K\x1b\[1A)*\x1b\[2K", raw)[-1]
    return [line for line in ANSI.sub("", frame).split("\n") if line.strip()]


def waited(output: Output, batches: list[Batch]) -> None:
    with output.wait_monitor([b.id for b in batches]) as monitor:
        for b in batches:
            monitor(WaitEvent(b.id, batch=b, elapsed=1.0))


@pytest.mark.parametrize("provider", list(IDS))
@pytest.mark.parametrize("width", WIDTHS)
def test_the_wait_line_keeps_status_bar_counts_and_elapsed_time(monkeypatch: pytest.MonkeyPatch, width: int, provider: str) -> None:
    output, _, err = terminal(monkeypatch, width)
    batches = three(provider)
    waited(output, batches)
    lines = last_frame(err.getvalue())
    assert all(len(line) <= width for line in lines), lines
    for b, done in zip(batches, ("2/20", "20/20", "20/20"), strict=True):
        at = next(i for i, line in enumerate(lines) if line.split()[0] == b.id)  # the id whole, first on its line
        details = lines[at] if len(lines[at].split()) > 1 else lines[at + 1]
        assert Output._status(b) in details and f" {done} " in details
        assert re.search(r"\u2501{10,} +\d+/\d+ ", details), details  # a bar of 10 cells or more
        assert re.search(r" \d:\d\d:\d\d$", details), details  # the elapsed time, last
    errored = next(line for line in lines[lines.index(next(x for x in lines if x.startswith(batches[2].id))):]
                   if "20/20" in line)
    assert "err=4" in errored or "errored=4" in errored  # the requests that did not succeed, in a form that fits
    assert lines[-1].split()[0] == "total" and re.search(r" 42/60 2/3 (batches )?ended$", lines[-1])


def test_the_id_takes_its_own_line_before_the_failed_counts_go(monkeypatch: pytest.MonkeyPatch) -> None:
    # beside the id there is room for a bar or for "err=1 exp=1", not both: the id moves up
    output, _, err = terminal(monkeypatch, 80)
    waited(output, [Batch(id=IDS["openai"], status="ended", native_status="completed",
                          request_counts=RequestCounts(succeeded=1, errored=1, expired=1))])
    first, details = last_frame(err.getvalue())
    assert first == IDS["openai"]
    assert re.fullmatch(r"  ended \(completed\) \u2501{10,} 3/3 succeeded=1 errored=1 expired=1 0:00:00", details), details


def test_below_fifty_columns_the_bar_goes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    output, _, err = terminal(monkeypatch, 48)
    waited(output, [Batch(id="msgbatch_1", status="in_progress", native_status="in_progress",
                          request_counts=RequestCounts(processing=3, succeeded=1))])
    (line,) = last_frame(err.getvalue())
    assert "\u2501" not in line and re.fullmatch(r"msgbatch_1 in_progress +1/4 .*\d:\d\d:\d\d", line), line


# ------------------------------------------------------------------------------------------------
# colour means the outcome


def batch(status: str, native: str, **counts: int) -> Batch:
    return Batch(id="b", status=status, native_status=native, request_counts=RequestCounts(**counts) if counts else None)


@pytest.mark.parametrize(("b", "style"), [
    (batch("in_progress", "in_progress", processing=3, succeeded=1), "dim"),
    (batch("ended", "ended", succeeded=20), "green"),
    (batch("ended", "ended", succeeded=16, errored=4), "yellow"),
    (batch("ended", "ended", succeeded=16, expired=4), "yellow"),
    (batch("ended", "canceled", succeeded=2, canceled=3), "yellow"),
    (batch("ended", "canceled", canceled=3), "yellow"),  # the user's choice: not a failure
    (batch("ended", "ended", errored=20), "red"),  # none succeeded
    (batch("ended", "failed"), "red"),
    (batch("ended", "expired"), "red"),  # expired with none succeeded
    (batch("ended", "Completed"), ""),  # the counts cannot tell: no claim
])
def test_each_outcome_has_its_colour(b: Batch, style: str) -> None:
    assert outcome_style(b) == style


def test_status_words_and_bars_are_coloured_by_outcome_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    output, out, err = terminal(monkeypatch, 120)
    batches = three("anthropic")
    output.batches(batches)
    table = out.getvalue()
    assert "\x1b[2min_progress" in table and "\x1b[32mended" in table and "\x1b[33mended" in table
    output, out, err = terminal(monkeypatch, 120)
    output.batch(batches[2])  # batches get: its status line too
    (status,) = [line for line in out.getvalue().splitlines() if ANSI.sub("", line).startswith("status ")]
    assert "\x1b[33mended" in status
    waited(output, batches)
    drawn = err.getvalue()
    assert "\x1b[33m20/20" in drawn and "\x1b[32m20/20" in drawn  # 20/20 with 4 errored is not green
    assert "\x1b[2m\u2501" in drawn and "\x1b[33m\u2501" in drawn
    assert not re.search(r"\x1b\[(31|91|38;5;197|38;2;249;38;114)m\u2501", drawn)  # no red (Rich's bar.complete) bar


def test_force_color_colours_piped_output_and_no_color_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    batches = three("openai")
    output, out, err = piped()
    output.batches(batches)
    output.warning("careful")
    assert "\x1b[" not in out.getvalue() + err.getvalue()  # the control case: piped, no colour

    monkeypatch.setenv("FORCE_COLOR", "1")
    output, out, err = piped()
    output.batches(batches)
    output.warning("careful")
    assert "\t\x1b[32mended (completed)\x1b[0m\t" in out.getvalue()  # still tab-separated data
    assert "\x1b[33mWarning: careful" in err.getvalue()

    monkeypatch.setenv("NO_COLOR", "1")
    output, out, err = piped()
    output.batches(batches)
    output.warning("careful")
    assert "\x1b[" not in out.getvalue() + err.getvalue()


# ------------------------------------------------------------------------------------------------
# piped tables are data: a header line, then tab-separated values, every column


def entry() -> Entry:
    return Entry(row=1, kind="batch", target="https://api.anthropic.com", provider="anthropic", input_name="in.jsonl",
                 sha256="ab" * 32, options="{}", token="t", resource_id=IDS["anthropic"], state="created",
                 created_at=CREATED.timestamp())


def group() -> Group:
    part = GroupPart(part=1, first_line=1, requests=2, bytes=10, sha256="cd" * 32, batch_id=IDS["anthropic"])
    return Group(id="grp_1", target="https://api.anthropic.com", provider="anthropic", input_name="in\tput.jsonl",
                 sha256="ab" * 32, options="{}", requests=2, created_at=CREATED.timestamp(), parts=(part,))


def doctor() -> DoctorReport:
    report = DoctorReport(provider="anthropic", target="https://api.anthropic.com",
                          settings=[("provider", "anthropic", "default")], operations=[("results", None)])
    report.add("reachable", "ok", "200 in 3 ms")
    return report


TABLES: dict[str, tuple[Any, list[str]]] = {
    "files": (lambda o: o.files([File(id="file_1", filename="a b.jsonl", size_bytes=5, purpose="batch")]),
              ["id\tfilename\tsize\tcreated\tpurpose", "file_1\ta b.jsonl\t5 B\t-\tbatch"]),
    "batches": (lambda o: o.batches(three("gemini")[1:2]),
                ["id\tstatus\tprocessing\tsucceeded\terrored\tcanceled\texpired\ttotal\tcreated",
                 "batches/4ux9j5e1v2nq8kfbw0y3ts6m7cx1\tended (JOB_STATE_SUCCEEDED)\t0\t20\t0\t0\t0\t20\t2026-11-30T05:50:35Z"]),
    "ledger": (lambda o: o.ledger_entries([entry()], "ledger.db", [group()]),
               ["id\tkind\tstate\tprovider\ttarget\tcreated\tinput\tsha256",
                f"{IDS['anthropic']}\tbatch\tcreated\tanthropic\thttps://api.anthropic.com\t2026-11-30T05:50:35Z\tin.jsonl\tabababababab",
                "group\tbatches\trequests\tprovider\ttarget\tcreated\tinput",
                "grp_1\t1/1\t2\tanthropic\thttps://api.anthropic.com\t2026-11-30T05:50:35Z\tin\\tput.jsonl"]),
    "group": (lambda o: o.group(group(), three("anthropic")[:1]),
              ["part\tid\tstatus\tprocessing\tsucceeded\terrored\tcanceled\texpired\ttotal\tfirst line",
               f"1\t{IDS['anthropic']}\tin_progress\t18\t2\t0\t0\t0\t20\t1"]),
    "prune": (lambda o: o.prune(PruneReport(kind="batch", older_than="7d", cutoff=CREATED, dry_run=True, considered=1,
                                            items=[PruneItem(id="b1", name="ended", created_at=CREATED)])),
              ["id\tstatus\tcreated\tresult", "b1\tended\t2026-11-30T05:50:35Z\twould delete"]),
    "doctor": (lambda o: o.doctor(doctor()),
               ["setting\tvalue\tsource", "provider\tanthropic\tdefault", "check\tstatus\tdetail",
                "reachable\tok\t200 in 3 ms", "operation\tsupported\tinstead", "results\tyes\t"]),
}


@pytest.mark.parametrize("kind", list(TABLES))
def test_piped_tables_are_tab_separated_with_a_header_line(kind: str) -> None:
    draw, expected = TABLES[kind]
    output, out, _ = piped()
    draw(output)
    lines = out.getvalue().splitlines()
    assert expected[0] in lines, lines
    assert lines[lines.index(expected[0]):] == expected  # (a group's record, key<TAB>value lines, comes first)
    assert "\u2500" not in out.getvalue() and not any(line.endswith(" ") for line in out.getvalue().splitlines())


def test_a_piped_record_is_key_tab_value() -> None:
    output, out, _ = piped()
    output.batch(three("openai")[2])
    lines = out.getvalue().splitlines()
    assert lines[:4] == [f"id\t{IDS['openai'][:-2]}x2", "status\tended (completed)", "processing\t0", "succeeded\t16"]
