"""Tests for bifrost_cli.service: downloads, deletes, results, and waiting on batches."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from bifrost_cli import service
from bifrost_cli.config import resolve
from bifrost_cli.errors import (
    APIError,
    AuthError,
    BifrostError,
    ExitCode,
    NotFoundError,
    RateLimitError,
    ResponseError,
    TransferIncomplete,
    UnavailableError,
    UsageError,
)
from bifrost_cli.models import Batch, BatchResult, DeletedFile, RequestCounts
from bifrost_cli.providers import build_target
from bifrost_cli.service import describe_outcome, safe_filename
from tests.conftest import invoke
from tests.fakes import (
    RESULT_LINE,
    Recorder,
    anthropic_api,
    cut_content,
    cut_results,
    direct_env,
    send_json,
    start_body,
)

KEY = "sk-ant-service-KEY-000111"
CONTENT = b"line one\nline two\n" * 50


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


class FileServer(Recorder):
    """A fake Anthropic Files API serving one downloadable file (content streamed in chunks)."""

    def __init__(self, content: bytes = CONTENT, *, filename: str = "report.csv", size: int | None = None, chunked: bool = False, watch: Path | None = None, content_length: int | None = None):
        super().__init__()
        self.content_length = content_length
        self.content = content
        self.filename = filename
        self.size = len(content) if size is None else size
        self.chunked = chunked
        self.watch = watch
        self.seen_during_stream: list[tuple[bool, bool]] = []

    def answer(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/content"):
            if self.chunked:
                headers = {"content-type": "application/octet-stream"}
                if self.content_length is not None:  # a length header the body does not live up to
                    headers["content-length"] = str(self.content_length)
                return httpx.Response(200, content=self._stream(), headers=headers)
            return httpx.Response(200, content=self.content, headers={"content-type": "application/octet-stream"})
        return httpx.Response(
            200,
            json={"id": "file_1", "type": "file", "filename": self.filename, "mime_type": "text/csv", "size_bytes": self.size,
                  "created_at": "2025-01-01T00:00:00Z", "downloadable": True},
        )

    def _stream(self) -> Iterator[bytes]:
        half = len(self.content) // 2
        yield self.content[:half]
        if self.watch is not None:  # what is on disk while the download is under way
            parts = list(self.watch.parent.glob(f".{self.watch.name}.*.part"))
            self.seen_during_stream.append((len(parts) == 1, self.watch.exists()))
        yield self.content[half:]


def target_for(handler: Any, tmp_path: Path) -> Any:
    s = resolve({"anthropic_api_key": KEY, "max_retries": 0}, environ={}, path=tmp_path / "absent.toml")
    return build_target(s, transport=httpx.MockTransport(handler))


# ------------------------------------------------------------------------------------------------
# download_file


def test_download_writes_through_part_then_renames(tmp_path: Path) -> None:
    dest = tmp_path / "out.csv"
    server = FileServer(chunked=True, watch=dest)
    result = service.download_file(target_for(server, tmp_path), "file_1", output=str(dest))
    assert dest.read_bytes() == CONTENT
    assert result.bytes == len(CONTENT) and result.path == str(dest)
    assert server.seen_during_stream == [(True, False)]  # a temporary .part exists, the destination not yet
    assert list(tmp_path.iterdir()) == [dest]  # and no temporary file is left


def test_download_refuses_an_existing_file_without_force(tmp_path: Path) -> None:
    dest = tmp_path / "out.csv"
    dest.write_bytes(b"keep me")
    server = FileServer()
    with pytest.raises(UsageError) as info:
        service.download_file(target_for(server, tmp_path), "file_1", output=str(dest))
    assert "--force" in (info.value.hint or "")
    assert server.requests == []
    assert dest.read_bytes() == b"keep me"


def test_download_with_force_overwrites(tmp_path: Path) -> None:
    dest = tmp_path / "out.csv"
    dest.write_bytes(b"old")
    service.download_file(target_for(FileServer(), tmp_path), "file_1", output=str(dest), force=True)
    assert dest.read_bytes() == CONTENT


@pytest.mark.parametrize("where", ["dir", "missing_parent"])
def test_download_to_a_bad_destination_sends_nothing(tmp_path: Path, where: str) -> None:
    dest = tmp_path if where == "dir" else tmp_path / "no" / "such" / "f"
    server = FileServer()
    with pytest.raises(UsageError):
        service.download_file(target_for(server, tmp_path), "file_1", output=str(dest))
    assert server.requests == []


def test_download_without_output_uses_a_safe_server_name(tmp_path: Path) -> None:
    server = FileServer(filename="../../etc/passwd")
    result = service.download_file(target_for(server, tmp_path), "file_1", output=None)
    assert result.path == "passwd"
    assert (tmp_path / "passwd").read_bytes() == CONTENT


def test_download_without_output_refuses_an_existing_server_name(tmp_path: Path) -> None:
    (tmp_path / "report.csv").write_bytes(b"mine")
    with pytest.raises(UsageError):
        service.download_file(target_for(FileServer(), tmp_path), "file_1", output=None)
    assert (tmp_path / "report.csv").read_bytes() == b"mine"
    assert not (tmp_path / "report.csv.part").exists()


def test_download_to_stdout(tmp_path: Path) -> None:
    sink = io.BytesIO()
    result = service.download_file(target_for(FileServer(chunked=True), tmp_path), "file_1", output="-", stdout=sink)
    assert sink.getvalue() == CONTENT
    assert result.path == "-" and result.bytes == len(CONTENT)
    assert list(tmp_path.iterdir()) == []


def test_download_progress_counts_every_byte(tmp_path: Path) -> None:
    seen: list[tuple[str, int | None]] = []
    advanced: list[int] = []

    from contextlib import contextmanager

    @contextmanager
    def progress(description: str, total: int | None) -> Iterator[Any]:
        seen.append((description, total))
        yield advanced.append

    service.download_file(target_for(FileServer(), tmp_path), "file_1", output="out.bin", progress=progress)
    assert seen == [("download out.bin", len(CONTENT))]
    assert sum(advanced) == len(CONTENT)


def test_a_failing_stream_leaves_nothing_behind(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/content"):
            def broken() -> Iterator[bytes]:
                yield b"partial"
                raise httpx.ReadError("connection reset")
            return httpx.Response(200, content=broken())
        return FileServer()(request)

    dest = tmp_path / "out.csv"
    with pytest.raises(TransferIncomplete) as info:  # a BifrostError (exit 6), not an httpx exception
        service.download_file(target_for(handler, tmp_path), "file_1", output=str(dest))
    assert info.value.exit_code == 6
    assert "broke off after" in info.value.message and "connection reset" in info.value.message
    assert list(tmp_path.iterdir()) == []  # neither the destination nor a temporary file


@pytest.mark.parametrize("declared_by", ["metadata", "content-length"])
def test_a_short_download_leaves_no_file_at_the_destination(tmp_path: Path, declared_by: str) -> None:
    # 900 bytes announced (by the file's metadata, or the answer's content-length); 500 arrive
    if declared_by == "metadata":
        server = FileServer(CONTENT[:500], size=900, chunked=True)
    else:
        server = FileServer(CONTENT[:500], chunked=True, content_length=900)
    dest = tmp_path / "out.csv"
    with pytest.raises(TransferIncomplete) as info:
        service.download_file(target_for(server, tmp_path), "file_1", output=str(dest))
    assert "500" in info.value.message and "900" in info.value.message
    assert list(tmp_path.iterdir()) == []  # neither the destination nor a temporary file


def test_a_short_download_is_reported(tmp_path: Path) -> None:
    server = FileServer(CONTENT[:500], size=900, chunked=True)
    with pytest.raises(TransferIncomplete) as info:
        service.download_file(target_for(server, tmp_path), "file_1", output=str(tmp_path / "out.csv"))
    assert info.value.exit_code == ExitCode.UNAVAILABLE  # 6: a transfer cut short
    assert "only 500 bytes, but the file holds 900" in info.value.message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.csv", "report.csv"),
        ("../../etc/passwd", "passwd"),
        ("/abs/path/x.txt", "x.txt"),
        ("C:\\x\\y.txt", "y.txt"),
        ("", "file_1"),
        (None, "file_1"),
        ("..", "file_1"),
        (".", "file_1"),
        ("...", "file_1"),
        ("dir/", "file_1"),
        ("a\x1b[31mb.txt", "a_31mb.txt"),
        ("line\nbreak\r.txt", "line_break_.txt"),
        ("tab\there", "tab_here"),
        (" .hidden ", "hidden"),
        ("résumé.pdf", "r_sum_.pdf"),
        ("x" * 300, "x" * 200),
    ],
)
def test_safe_filename_table(name: str | None, expected: str) -> None:
    assert safe_filename(name, "file_1") == expected


@pytest.mark.parametrize(("fallback", "expected"), [("file/../../x", "file_.._.._x"), ("..", "download"), ("", "download")])
def test_safe_filename_fallback_is_safe_too(fallback: str, expected: str) -> None:
    assert safe_filename(None, fallback) == expected


# ------------------------------------------------------------------------------------------------
# fake target for the rest


class FakeTarget:
    """Implements the Target calls the service uses, from scripted answers; no HTTP."""

    provider = "anthropic"

    def __init__(self, batches: dict[str, list[Any]] | None = None, results: dict[str, list[Any]] | None = None):
        self.batches = batches or {}
        self.results = results or {}
        self.polls: list[str] = []
        self.deleted: list[str] = []
        self.delete_errors: dict[str, BifrostError] = {}

    def check(self, *operations: str) -> FakeTarget:
        return self  # can do everything

    def get_batch(self, batch_id: str) -> Batch:
        self.polls.append(batch_id)
        if batch_id not in self.batches:
            raise NotFoundError(f"no batch {batch_id}", status=404)
        script = self.batches[batch_id]
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]:
        for item in self.results.get(batch_id, []):
            if isinstance(item, Exception):
                raise item
            yield BatchResult.model_validate(item)

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        for item in self.results.get(batch_id, []):
            if isinstance(item, Exception):
                raise item
            yield item

    def delete_file(self, file_id: str) -> DeletedFile:
        self.deleted.append(file_id)
        if file_id in self.delete_errors:
            raise self.delete_errors[file_id]
        return DeletedFile(id=file_id)


def batch(bid: str, status: str = "in_progress", native: str | None = None, counts: dict[str, int] | None = None) -> Batch:
    return Batch(
        id=bid,
        status=status,
        native_status=native or status,
        request_counts=RequestCounts(**counts) if counts is not None else None,
    )


def result(custom_id: str, rtype: str) -> dict[str, Any]:
    body: dict[str, Any] = {"type": rtype}
    if rtype == "succeeded":
        body["message"] = {"type": "message", "content": []}
    if rtype == "errored":
        body["error"] = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
    return {"custom_id": custom_id, "result": body}


class Clock:
    """A fake monotonic clock advanced only by the fake sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# ------------------------------------------------------------------------------------------------
# delete_files


def test_delete_continues_after_a_failure_and_reports_all() -> None:
    target = FakeTarget()
    target.delete_errors = {
        "f2": NotFoundError("no file f2", status=404),
        "f4": AuthError("forbidden f4", status=403, hint="check the key"),
    }
    report = service.delete_files(target, ["f1", "f2", "f3", "f4", "f1"])
    assert target.deleted == ["f1", "f2", "f3", "f4"]  # the duplicate is deleted once
    assert [d.id for d in report.deleted] == ["f1", "f3"]
    assert [fid for fid, _ in report.failures] == ["f2", "f4"]
    with pytest.raises(BifrostError) as info:
        report.raise_first()
    err = info.value
    assert err.exit_code == ExitCode.NOT_FOUND
    assert "2 of 4" in err.message
    assert "f2: no file f2" in err.message and "f4: forbidden f4" in err.message


def test_delete_with_no_failure_raises_nothing() -> None:
    report = service.delete_files(FakeTarget(), ["f1"])
    report.raise_first()
    assert report.failures == []


# ------------------------------------------------------------------------------------------------
# write_results


RESULTS = [result("a", "succeeded"), result("b", "errored"), result("c", "expired"), result("d", "succeeded")]


def test_write_results_to_stdout() -> None:
    sink = io.BytesIO()
    summary = service.write_results(FakeTarget(results={"b1": RESULTS}), "b1", output=None, stdout=sink)
    lines = [json.loads(line) for line in sink.getvalue().decode().splitlines()]
    assert [line["custom_id"] for line in lines] == ["a", "b", "c", "d"]
    assert lines[1]["result"]["error"]["error"]["type"] == "invalid_request_error"
    assert summary.counts == {"succeeded": 2, "errored": 1, "expired": 1}
    assert summary.total == 4 and summary.path == "-"


def test_results_missing_from_stdout_are_an_error_saying_what_was_written() -> None:
    ended = batch("b1", "ended", counts={"succeeded": 3, "errored": 1, "expired": 1})  # 5 requests
    sink = io.BytesIO()
    with pytest.raises(TransferIncomplete) as info:
        service.write_results(FakeTarget(results={"b1": RESULTS}, batches={"b1": [ended]}), "b1", output=None, stdout=sink)
    assert info.value.exit_code == 6
    assert "only 4 result lines of b1 arrived, but the batch has 5 requests" in info.value.message
    assert "the 4 result lines that arrived were written to stdout" in info.value.message
    assert len(sink.getvalue().splitlines()) == 4  # what arrived is out: stdout cannot take it back


def test_write_results_to_a_file(tmp_path: Path) -> None:
    dest = tmp_path / "results.jsonl"
    summary = service.write_results(FakeTarget(results={"b1": RESULTS}), "b1", output=str(dest))
    assert [json.loads(line)["custom_id"] for line in dest.read_text().splitlines()] == ["a", "b", "c", "d"]
    assert summary.path == str(dest)
    assert not (tmp_path / "results.jsonl.part").exists()


def test_write_raw_results_counts_lines() -> None:
    sink = io.BytesIO()
    raw_items = [{"custom_id": "x", "anything": [1, "é"]}]
    summary = service.write_results(FakeTarget(results={"b1": raw_items}), "b1", output="-", raw=True, stdout=sink)
    assert [json.loads(sink.getvalue())] == raw_items
    assert "é" in sink.getvalue().decode()
    assert summary.counts == {"line": 1}


def test_write_results_failing_midway_leaves_no_file(tmp_path: Path) -> None:
    dest = tmp_path / "results.jsonl"
    target = FakeTarget(results={"b1": [result("a", "succeeded"), ResponseError("results of b1, line 2: garbled")]})
    with pytest.raises(ResponseError):
        service.write_results(target, "b1", output=str(dest))
    assert list(tmp_path.iterdir()) == []


def test_write_results_refuses_an_existing_file(tmp_path: Path) -> None:
    dest = tmp_path / "results.jsonl"
    dest.write_text("old")
    with pytest.raises(UsageError):
        service.write_results(FakeTarget(results={"b1": RESULTS}), "b1", output=str(dest))
    assert dest.read_text() == "old"
    service.write_results(FakeTarget(results={"b1": RESULTS}), "b1", output=str(dest), force=True)
    assert len(dest.read_text().splitlines()) == 4


# ------------------------------------------------------------------------------------------------
# wait_for_batches


def test_wait_ends_when_every_batch_has_ended() -> None:
    done = {"processing": 0, "succeeded": 3, "errored": 0, "canceled": 0, "expired": 0}
    target = FakeTarget(
        batches={
            "b1": [batch("b1"), batch("b1"), batch("b1", "ended", counts=done)],
            "b2": [batch("b2", "ended", counts=done)],
        }
    )
    clock = Clock()
    events: list[service.WaitEvent] = []
    outcome = service.wait_for_batches(target, ["b1", "b2", "b1"], poll=5, on_event=events.append, sleep=clock.sleep, clock=clock)
    assert not outcome.timed_out
    assert [b.id for b in outcome.batches] == ["b1", "b2"]
    assert all(b.ended for b in outcome.batches)
    assert outcome.pending == [] and outcome.not_fully_succeeded == []
    assert clock.sleeps == [5, 5]
    assert target.polls == ["b1", "b2", "b1", "b1"]  # an ended batch is not polled again
    assert [e.elapsed for e in events if e.batch_id == "b1"] == [0, 5, 10]


@pytest.mark.parametrize("error", [UnavailableError("gateway down", status=503), RateLimitError("slow down", status=429)])
def test_a_transient_poll_failure_is_reported_and_retried(error: BifrostError) -> None:
    target = FakeTarget(batches={"b1": [error, batch("b1", "ended", counts={"succeeded": 1})]})
    clock = Clock()
    events: list[service.WaitEvent] = []
    outcome = service.wait_for_batches(target, ["b1"], poll=2, on_event=events.append, sleep=clock.sleep, clock=clock)
    assert outcome.batches[0].ended
    assert events[0].error is error and events[0].batch is None
    assert events[1].batch is not None and events[1].error is None
    assert len(target.polls) == 2


@pytest.mark.parametrize(
    "error",
    [
        NotFoundError("no batch", status=404),
        AuthError("bad key", status=401),
        APIError("bad request", status=400),
        ResponseError("answered with a web page instead of the API"),
    ],
)
def test_a_permanent_poll_error_ends_the_wait_at_once_with_a_hint(error: BifrostError) -> None:
    target = FakeTarget(batches={"b1": [batch("b1")], "b2": [error]})
    clock = Clock()
    with pytest.raises(type(error)) as raised:
        service.wait_for_batches(target, ["b1", "b2"], not_found_grace=0, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == []
    assert raised.value.exit_code == error.exit_code
    assert "Nothing was canceled" in (raised.value.hint or "") or "check the id" in (raised.value.hint or "")
    assert "bifrost batches wait b1" in (raised.value.hint or "")  # the other batch keeps running


def test_a_404_is_tolerated_for_the_grace_period_then_is_not_found() -> None:
    target = FakeTarget(batches={"b1": [NotFoundError("no batch", status=404)]})
    clock = Clock()
    events: list[service.WaitEvent] = []
    with pytest.raises(NotFoundError) as raised:
        service.wait_for_batches(target, ["b1"], poll=5, not_found_grace=12, on_event=events.append, sleep=clock.sleep, clock=clock)
    assert len(target.polls) == 4  # at 0, 5, 10 s tolerated; at 15 s not found
    assert all(e.not_found_yet for e in events) and len(events) == 3
    assert "still not found 15 s" in (raised.value.hint or "")


def test_a_404_after_the_grace_then_success_waits_on() -> None:
    target = FakeTarget(
        batches={"b1": [NotFoundError("no batch", status=404), NotFoundError("no batch", status=404), batch("b1", "ended", counts={"succeeded": 1})]}
    )
    clock = Clock()
    outcome = service.wait_for_batches(target, ["b1"], poll=5, not_found_grace=30, sleep=clock.sleep, clock=clock)
    assert outcome.batches[0].ended


def test_a_404_once_the_batch_was_seen_ends_the_wait_at_once() -> None:
    target = FakeTarget(batches={"b1": [batch("b1"), NotFoundError("no batch", status=404)]})
    clock = Clock()
    with pytest.raises(NotFoundError):
        service.wait_for_batches(target, ["b1"], poll=5, not_found_grace=1000, sleep=clock.sleep, clock=clock)
    assert len(target.polls) == 2


def test_transient_poll_errors_give_up_after_max_poll_errors_in_a_row() -> None:
    down = UnavailableError("gateway down", status=503)
    target = FakeTarget(batches={"b1": [down]})
    clock = Clock()
    events: list[service.WaitEvent] = []
    with pytest.raises(UnavailableError) as raised:
        service.wait_for_batches(target, ["b1"], poll=1, max_poll_errors=3, on_event=events.append, sleep=clock.sleep, clock=clock)
    assert len(target.polls) == 4
    assert [e.failures for e in events] == [1, 2, 3]
    assert raised.value.exit_code == 6
    assert "4 times in a row" in raised.value.message and "gateway down" in raised.value.message
    assert "bifrost batches wait b1" in (raised.value.hint or "")


def test_a_successful_poll_resets_the_failure_count() -> None:
    down = UnavailableError("gateway down", status=503)
    running = batch("b1")
    target = FakeTarget(batches={"b1": [down, down, running, down, down, batch("b1", "ended", counts={"succeeded": 1})]})
    clock = Clock()
    events: list[service.WaitEvent] = []
    outcome = service.wait_for_batches(target, ["b1"], poll=1, max_poll_errors=2, on_event=events.append, sleep=clock.sleep, clock=clock)
    assert outcome.batches[0].ended
    assert [e.failures for e in events if e.error] == [1, 2, 1, 2]


def test_max_poll_errors_0_never_gives_up() -> None:
    down = UnavailableError("gateway down", status=503)
    target = FakeTarget(batches={"b1": [down] * 30 + [batch("b1", "ended", counts={"succeeded": 1})]})
    clock = Clock()
    outcome = service.wait_for_batches(target, ["b1"], poll=1, max_poll_errors=0, sleep=clock.sleep, clock=clock)
    assert outcome.batches[0].ended and len(target.polls) == 31


def test_wait_times_out() -> None:
    target = FakeTarget(batches={"b1": [batch("b1")], "b2": [batch("b2", "ended", counts={"succeeded": 1})]})
    clock = Clock()
    outcome = service.wait_for_batches(target, ["b1", "b2"], poll=4, timeout=10, sleep=clock.sleep, clock=clock)
    assert outcome.timed_out
    assert outcome.pending == ["b1"]
    assert clock.sleeps == [4, 4, 2]  # the last nap is cut to the time left
    assert clock.now - 1000.0 == 10


def test_wait_rejects_a_zero_poll() -> None:
    with pytest.raises(UsageError):
        service.wait_for_batches(FakeTarget(), ["b1"], poll=0)


def test_wait_counts_from_results_when_the_target_gives_none() -> None:
    target = FakeTarget(
        batches={"b1": [batch("b1", "ended")]},
        results={"b1": [result("a", "succeeded"), result("b", "errored"), result("c", "succeeded")]},
    )
    outcome = service.wait_for_batches(target, ["b1"], sleep=lambda s: None, clock=Clock())
    counts = outcome.batches[0].request_counts
    assert counts is not None
    assert (counts.succeeded, counts.errored, counts.total) == (2, 1, 3)
    assert outcome.not_fully_succeeded == outcome.batches


@pytest.mark.parametrize(
    ("b", "results", "expected_counts"),
    [
        (batch("b1", "ended"), [result("a", "succeeded")], {"succeeded": 1}),
        (batch("b1", "ended", counts={}), [result("a", "expired")], {"expired": 1}),  # all-zero counts
        (batch("b1", "ended", counts={"succeeded": 5}), [result("a", "errored")], {"succeeded": 5}),  # kept
        (batch("b1", "ended", native="failed"), [result("a", "succeeded")], None),  # failed as a whole
        (batch("b1", "in_progress"), [result("a", "succeeded")], None),  # not ended
        (batch("b1", "ended"), [UnavailableError("down")], None),  # results unavailable
        (batch("b1", "ended"), [], None),  # no results
    ],
)
def test_complete_counts_table(b: Batch, results: list[Any], expected_counts: dict[str, int] | None) -> None:
    out = service.complete_counts(FakeTarget(results={"b1": results}), b)
    if expected_counts is None:
        assert out.request_counts == b.request_counts
    else:
        assert out.request_counts == RequestCounts(**expected_counts)


@pytest.mark.parametrize(
    ("b", "text"),
    [
        (batch("b1", "ended", counts={"succeeded": 4}), "b1 ended: 4 succeeded"),
        (batch("b1", "ended", counts={"succeeded": 1, "errored": 3, "canceled": 1}), "b1 ended: 3 errored, 1 canceled"),
        (batch("b1", "ended", native="expired", counts={"expired": 2}), "b1 ended (expired): 2 expired"),
        (batch("b1", "ended", native="failed"), "b1 ended (failed); request counts unknown"),
        (batch("b1", "ended"), "b1 ended; request counts unknown"),
    ],
)
def test_describe_outcome(b: Batch, text: str) -> None:
    assert describe_outcome(b) == text


# ------------------------------------------------------------------------------------------------
# upload_files


def test_upload_checks_every_path_before_sending(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("{}\n")
    sent: list[str] = []

    class Uploader(FakeTarget):
        def upload_file(self, source: Any, *, purpose: Any, progress: Any = None) -> Any:
            sent.append(source.filename)
            return source.filename

    with pytest.raises(UsageError) as info:
        list(service.upload_files(Uploader(), ["a.jsonl", "missing.jsonl"], purpose=None))
    assert "missing.jsonl" in info.value.message
    assert sent == []


def test_upload_from_stdin_needs_a_name() -> None:
    with pytest.raises(UsageError) as info:
        list(service.upload_files(FakeTarget(), ["-"], purpose=None, stdin=io.BytesIO(b"x")))
    assert "--filename" in info.value.message


# ------------------------------------------------------------------------------------------------
# through the CLI: uploads, where results can be written, what cannot be uploaded


def test_uploads_that_landed_are_still_shown_when_a_later_one_fails(loopback, tmp_path: Path) -> None:
    count = [0]

    def route(h: BaseHTTPRequestHandler) -> None:
        count[0] += 1
        if count[0] == 1:
            send_json(h, {"id": "file_first", "type": "file", "filename": "a.jsonl", "size_bytes": 2, "created_at": "2026-01-01T00:00:00Z"})
        else:
            send_json(h, {"type": "error", "error": {"type": "api_error", "message": "disk full"}}, 500)

    server = loopback(route)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("{}")
    b.write_text("{}")
    result = invoke("--max-retries", "0", "files", "upload", str(a), str(b), "-q", env=direct_env(server))
    assert result.exit_code == 6
    assert result.stdout == "file_first\n"
    assert "disk full" in result.stderr


def test_results_to_a_path_under_a_file_is_a_usage_error_before_sending(loopback, tmp_path: Path) -> None:
    server = loopback(anthropic_api(content=cut_content, results=cut_results))
    (tmp_path / "afile").write_text("")
    result = invoke("batches", "results", "msgbatch_1", "-o", str(tmp_path / "afile" / "r.jsonl"), env=direct_env(server))
    assert result.exit_code == 2
    assert "no such directory" in result.stderr
    assert server.requests == []


def test_a_planted_part_directory_neither_blocks_nor_receives_the_results(loopback, tmp_path: Path) -> None:
    body = RESULT_LINE * 3

    def results(h: BaseHTTPRequestHandler) -> None:
        start_body(h, "application/binary", body, content_length=str(len(body)))

    server = loopback(anthropic_api(content=cut_content, results=results))
    (tmp_path / "r.jsonl.part").mkdir()  # the old fixed .part name is taken by a directory
    result = invoke("batches", "results", "msgbatch_1", "-o", str(tmp_path / "r.jsonl"), env=direct_env(server))
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert (tmp_path / "r.jsonl").read_bytes().count(b"\n") == 3
    assert (tmp_path / "r.jsonl.part").is_dir() and not any((tmp_path / "r.jsonl.part").iterdir())  # not ours: left alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.jsonl", "r.jsonl.part"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_uploading_a_fifo_says_to_pipe_it(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = invoke("--emulator", "files", "upload", str(fifo))
    assert result.exit_code == 2
    assert "not a regular file" in result.stderr
    assert "files upload - --filename NAME" in result.stderr
