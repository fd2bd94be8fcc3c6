"""`files upload --expires-after` through the gateway's /openai route: a gateway version that ignores
``expires_after[...]`` (the emulator's legacy gateway) gets a warning that the file will not expire;
one that honours it, none. The in-process emulator as the gateway."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import invoke


@pytest.mark.parametrize("legacy", [False, True])
def test_an_expiry_the_gateway_did_not_keep_is_warned_about(tmp_path: Path, legacy: bool) -> None:
    path = tmp_path / "notes.jsonl"
    path.write_text('{"a": 1}\n')
    env = {"BIFROST_EMULATOR_STATE": str(tmp_path / "state"), "BIFROST_EMULATOR_LEGACY_GATEWAY": "1" if legacy else ""}
    result = invoke("--emulator", "-p", "openai", "files", "upload", str(path), "--expires-after", "3600", env=env)
    assert result.exit_code == 0, result.stderr
    warned = "did not pass --expires-after 3600 on" in result.stderr
    assert warned == legacy, result.stderr
