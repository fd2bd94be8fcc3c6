"""`wait --stuck-after`: a batch whose counts stay still for that long (its status, where the
target gives no counts) is reported once per stall; `--fail-if-stuck` ends the wait with exit 6 and
the resume command; counts that move re-arm the watch. Scripted answers, a fake clock."""

from __future__ import annotations

import pytest

from bifrost_cli import service
from bifrost_cli.errors import BatchStuck, ExitCode, UsageError
from tests.unit.bifrost_cli.test_service import Clock, FakeTarget, batch

STILL = {"processing": 3, "succeeded": 0}
ONE = {"processing": 2, "succeeded": 1}
DONE = {"succeeded": 3}


def run(target: FakeTarget, **options: object) -> tuple[list[service.WaitEvent], object]:
    events: list[service.WaitEvent] = []
    clock = Clock()
    try:
        outcome: object = service.wait_for_batches(
            target, list(target.batches), poll=5, on_event=events.append, sleep=clock.sleep, clock=clock, **options  # type: ignore[arg-type]
        )
    except BatchStuck as exc:
        outcome = exc
    return events, outcome


def test_counts_still_for_too_long_is_one_stuck_event_per_stall() -> None:
    script = [batch("b1", counts=STILL)] * 4 + [batch("b1", counts=ONE)] * 4 + [batch("b1", "ended", counts=DONE)]
    events, outcome = run(FakeTarget(batches={"b1": list(script)}), stuck_after=10)
    stuck = [e for e in events if e.stuck_for is not None]
    # still from 0 s: reported at 10 s; moved at 20 s, still again: reported at 30 s
    assert [(e.elapsed, e.stuck_for) for e in stuck] == [(10, 10), (30, 10)]
    assert isinstance(outcome, service.WaitOutcome) and outcome.batches[0].ended


def test_fail_if_stuck_ends_the_wait_with_exit_6_and_the_resume_command() -> None:
    target = FakeTarget(batches={"b1": [batch("b1", counts=STILL)], "b2": [batch("b2", counts=ONE)]})
    events, outcome = run(target, stuck_after=12, fail_if_stuck=True)
    assert isinstance(outcome, BatchStuck) and outcome.exit_code == ExitCode.UNAVAILABLE
    assert "b1 looks stuck: its counts have not moved for 15 s" in outcome.message
    assert "Resume with: bifrost batches wait b1 b2" in (outcome.hint or "")
    assert [e.batch_id for e in events if e.stuck_for is not None] == ["b1"]


def test_without_counts_the_status_is_the_progress() -> None:
    script = [batch("j", native="Submitted")] * 2 + [batch("j", native="InProgress")] * 3 + [batch("j", "ended", native="Completed", counts=DONE)]
    events, _ = run(FakeTarget(batches={"j": list(script)}), stuck_after=10)
    assert [e.elapsed for e in events if e.stuck_for is not None] == [20]  # InProgress since 10 s


def test_a_batch_that_ends_is_never_stuck() -> None:
    events, _ = run(FakeTarget(batches={"b1": [batch("b1", "ended", counts=DONE)]}), stuck_after=0.1)
    assert all(e.stuck_for is None for e in events)


@pytest.mark.parametrize("options", [{"fail_if_stuck": True}, {"stuck_after": 0}, {"stuck_after": -1}])
def test_bad_stuck_options_are_usage_errors(options: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        run(FakeTarget(batches={"b1": [batch("b1")]}), **options)
