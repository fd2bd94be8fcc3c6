"""The emulator's settings from the environment (``emulator/config.py``)."""

from __future__ import annotations

from bifrost_cli.emulator import EmulatorConfig


def test_config_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("BIFROST_EMULATOR_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("BIFROST_EMULATOR_BATCH_SECONDS", "2.5")
    monkeypatch.setenv("BIFROST_EMULATOR_VIRTUAL_KEY", "sk-bf-x")
    monkeypatch.setenv("BIFROST_EMULATOR_FLAKY_EVERY", "4")
    monkeypatch.setenv("BIFROST_EMULATOR_LEGACY_GATEWAY", "true")
    config = EmulatorConfig.from_env()
    assert (config.state_dir, config.batch_seconds, config.virtual_key, config.flaky_every, config.legacy_gateway) == (
        tmp_path, 2.5, "sk-bf-x", 4, True)
    assert EmulatorConfig.from_env(state_dir=tmp_path / "other").state_dir == tmp_path / "other"


def test_clock_offset_dates_what_is_made_in_the_past(monkeypatch, tmp_path):
    from bifrost_cli.emulator.ops import Context
    from bifrost_cli.emulator.store import Store

    monkeypatch.setenv("BIFROST_EMULATOR_CLOCK_OFFSET", "-864000")
    config = EmulatorConfig.from_env(tmp_path)
    config.clock = lambda: 2_000_000_000.0
    assert Context(config, Store(tmp_path)).now() == 2_000_000_000.0 - 864000


def test_a_bad_clock_offset_is_refused(monkeypatch, tmp_path):
    import pytest

    for bad in ("ten days", "nan", "inf"):
        monkeypatch.setenv("BIFROST_EMULATOR_CLOCK_OFFSET", bad)
        with pytest.raises(ValueError, match="CLOCK_OFFSET|clock_offset"):
            EmulatorConfig.from_env(tmp_path)
