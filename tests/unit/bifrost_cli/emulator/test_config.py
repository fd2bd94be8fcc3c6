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
