"""The emulator's batch timeline (``emulator/engine.py``)."""

from __future__ import annotations

from bifrost_cli.emulator import engine


def test_engine_timeline():
    record = engine.new_batch_record("b", "anthropic", [engine.plan_request("b", f"r{i}", {
        "model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}) for i in range(3)],
        created_at=100.0, batch_seconds=8.0)
    assert engine.snapshot(record, 100.0).finished == 0
    assert engine.snapshot(record, 102.0).finished == 1  # request 0 done at 100 + 8*1/4
    assert engine.snapshot(record, 106.0).phase == "finalizing"
    final = engine.snapshot(record, 108.0)
    assert final.phase == "ended" and sum(final.counts().values()) == 3 and final.counts()["succeeded"] == 3
