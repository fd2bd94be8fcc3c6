"""One service call per command: lists, gets and cancels go through the service like everything
else, and what a wait's outcome means for the exit code is decided there (``verdict``), Ctrl-C
included."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bifrost_cli import service
from bifrost_cli.config import resolve
from bifrost_cli.errors import BatchIncomplete, ExitCode, Interrupted, WaitTimeout
from bifrost_cli.models import Batch, RequestCounts
from bifrost_cli.providers import build_target
from bifrost_cli.providers.base import CheckedTarget
from bifrost_cli.service import WaitEvent, WaitOutcome

API = "https://api.anthropic.com/v1"


def message_batch(bid: str, status: str = "in_progress", **counts: int) -> dict[str, Any]:
    return {"id": bid, "type": "message_batch", "processing_status": status,
            "request_counts": {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0, **counts}}


class Anthropic:
    """Files and batches as Anthropic serves them; ``polls`` answers for the batch in turn."""

    def __init__(self, polls: Sequence[dict[str, Any]] = ()) -> None:
        self.polls = list(polls)
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1")
        self.requests.append(f"{request.method} {path}")
        if path == "/files":
            after = request.url.params.get("after_id")
            page = [{"id": f"file_{i}", "type": "file", "filename": f"{i}.jsonl"} for i in ((3, 4) if after else (1, 2))]
            return httpx.Response(200, json={"data": page, "has_more": not after, "last_id": page[-1]["id"]})
        if path == "/files/file_1":
            return httpx.Response(200, json={"id": "file_1", "type": "file", "filename": "in.jsonl", "size_bytes": 7})
        if path == "/messages/batches" and request.method == "GET":
            return httpx.Response(200, json={"data": [message_batch(f"msgbatch_{i}") for i in (1, 2, 3)], "has_more": False})
        if path == "/messages/batches" and request.method == "POST":
            return httpx.Response(200, json=message_batch("msgbatch_new", processing=1))
        if path == "/messages/batches/msgbatch_1/cancel":
            return httpx.Response(200, json=message_batch("msgbatch_1", "canceling", processing=1))
        if path.startswith("/messages/batches/"):
            answer = self.polls.pop(0) if len(self.polls) > 1 else self.polls[0]
            return httpx.Response(200, json=answer)
        raise AssertionError(f"unexpected {request.method} {request.url}")


def target(tmp_path: Path, server: Anthropic) -> CheckedTarget:
    settings = resolve({"anthropic_api_key": "sk-ant-x", "max_retries": 0}, environ={}, path=tmp_path / "absent.toml")
    return build_target(settings, transport=httpx.MockTransport(server))


def test_lists_gets_and_cancels_answer_what_the_provider_said(tmp_path: Path) -> None:
    server = Anthropic([message_batch("msgbatch_1", "ended", succeeded=2)])
    t = target(tmp_path, server)
    assert [f.id for f in service.list_files(t, limit=3)] == ["file_1", "file_2", "file_3"]
    assert [f.id for f in service.list_files(t, limit=None)] == ["file_1", "file_2", "file_3", "file_4"]
    assert service.get_file(t, "file_1").size_bytes == 7
    assert [b.id for b in service.list_batches(t, limit=2)] == ["msgbatch_1", "msgbatch_2"]
    got = service.get_batch(t, "msgbatch_1")
    assert got.status == "ended" and got.request_counts is not None and got.request_counts.succeeded == 2
    canceled = service.cancel_batch(t, "msgbatch_1")
    assert canceled.status == "canceling"
    assert server.requests[-1] == "POST /messages/batches/msgbatch_1/cancel"


def ended(bid: str, **counts: int) -> Batch:
    return Batch(id=bid, status="ended", native_status="ended", request_counts=RequestCounts(**counts))


def test_verdict_of_a_wait_where_every_request_succeeded_is_success() -> None:
    WaitOutcome([ended("b1", succeeded=3)]).verdict()


def test_verdict_of_a_batch_with_failed_requests_is_exit_7_unless_errors_are_allowed() -> None:
    outcome = WaitOutcome([ended("b1", succeeded=1, errored=2), ended("b2", succeeded=1)])
    with pytest.raises(BatchIncomplete) as info:
        outcome.verdict()
    assert info.value.exit_code == ExitCode.BATCH_FAILED == 7
    assert info.value.message == "not every request succeeded: b1 ended: 2 errored"
    assert "--allow-errors" in (info.value.hint or "")
    outcome.verdict(allow_errors=True)


def test_verdict_of_a_timed_out_wait_is_exit_6_naming_what_still_runs() -> None:
    running = Batch(id="b1", status="in_progress")
    outcome = WaitOutcome([running, ended("b2", errored=1)], timed_out=True, unanswered=["b3"], timeout=2.5)
    for allow_errors in (False, True):
        with pytest.raises(WaitTimeout) as info:
            outcome.verdict(allow_errors)
        assert info.value.exit_code == ExitCode.UNAVAILABLE == 6
        assert info.value.message == "timed out after 2.5 s; still running: b1, b3"
        assert info.value.hint == "The batches keep running; wait again later."


def test_a_wait_that_times_out_says_so_in_its_verdict(tmp_path: Path) -> None:
    t = target(tmp_path, Anthropic([message_batch("msgbatch_1", processing=3)]))
    clock = iter(range(100))
    outcome = service.wait_for_batches(t, ["msgbatch_1"], poll=1, timeout=3, sleep=lambda s: None, clock=lambda: float(next(clock)))
    with pytest.raises(WaitTimeout, match="timed out after 3 s; still running: msgbatch_1"):
        outcome.verdict()


def test_ctrl_c_while_waiting_stops_the_wait_not_the_batches_and_says_how_to_resume(tmp_path: Path) -> None:
    server = Anthropic([message_batch("msgbatch_1", processing=3)])

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        service.wait_for_batches(target(tmp_path, server), ["msgbatch_1", "msgbatch_2"], sleep=interrupted)
    assert info.value.exit_code == ExitCode.INTERRUPTED == 130
    assert info.value.message == "stopped waiting; nothing was canceled"
    assert info.value.hint == "Resume with: bifrost batches wait msgbatch_1 msgbatch_2"
    assert not [r for r in server.requests if r.startswith("POST")]


class Monitor:
    """What the output layer's wait display would be given."""

    def __init__(self) -> None:
        self.opened: list[list[str]] = []
        self.events: list[WaitEvent] = []
        self.closed = False

    @contextmanager
    def __call__(self, batch_ids: Sequence[str]) -> Iterator[Any]:
        self.opened.append(list(batch_ids))
        try:
            yield self.events.append
        finally:
            self.closed = True


def test_create_and_wait_reports_the_new_batch_then_waits_for_it(tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    requests.write_text('{"custom_id": "a", "params": {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}}\n')
    server = Anthropic([message_batch("msgbatch_new", processing=1), message_batch("msgbatch_new", "ended", errored=1)])
    created: list[Batch] = []
    monitor = Monitor()
    outcome = service.create_and_wait(target(tmp_path, server), service.NewBatch(str(requests)), poll=0.01, on_created=created.append, monitor=monitor)
    assert [b.id for b in created] == ["msgbatch_new"] and created[0].status == "in_progress"
    assert monitor.opened == [["msgbatch_new"]] and monitor.closed
    assert [e.batch.status for e in monitor.events if e.batch] == ["in_progress", "ended"]
    assert [b.id for b in outcome.batches] == ["msgbatch_new"]
    with pytest.raises(BatchIncomplete, match="msgbatch_new ended: 1 errored"):
        outcome.verdict()


def test_create_and_wait_interrupted_names_the_new_batch_to_resume(tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    requests.write_text('{"custom_id": "a", "params": {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}}\n')

    class Interrupting(Monitor):
        @contextmanager
        def __call__(self, batch_ids: Sequence[str]) -> Iterator[Any]:
            def stop(event: WaitEvent) -> None:
                raise KeyboardInterrupt

            yield stop

    with pytest.raises(Interrupted) as info:
        service.create_and_wait(target(tmp_path, Anthropic([message_batch("msgbatch_new")])), service.NewBatch(str(requests)), monitor=Interrupting())
    assert info.value.hint == "Resume with: bifrost batches wait msgbatch_new"
