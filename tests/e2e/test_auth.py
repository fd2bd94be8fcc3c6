"""``auth set`` and ``config set`` end to end: the installed program saves a key (from a pipe, or
typed on a terminal without echo) and the settings, and the next command talks to a served
emulator that takes only that key."""

from __future__ import annotations

import os
import select
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Served, bifrost_executable, clean_env, start_emulator, stop_emulator

GEMINI_KEY = "gm-e2e-right-key-000000000042"
VIRTUAL_KEY = "sk-bf-e2e-virtual-key-000017"
EMULATOR_KEYS = {"BIFROST_EMULATOR_GEMINI_API_KEY": GEMINI_KEY, "BIFROST_EMULATOR_VIRTUAL_KEY": VIRTUAL_KEY}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A served emulator whose Gemini API and gateway routes each take one key only."""
    server = start_emulator(tmp_path_factory.mktemp("keyed-state"), "--quiet", env=EMULATOR_KEYS)
    yield server
    stop_emulator(server)


def config_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "config.toml"  # BIFROST_CONFIG_DIR of every test (conftest)


def test_a_piped_key_is_saved_private_never_shown_and_used(keyed: Served, tmp_path: Path) -> None:
    seen = ""
    gemini_url = keyed.run("config", "set", "gemini_base_url", keyed.url + "/native/gemini")
    assert gemini_url.returncode == 0, gemini_url.stderr
    wrong = keyed.run("auth", "set", "gemini", input="gm-e2e-wrong-key-0000000000\n")
    assert wrong.returncode == 0, wrong.stderr
    refused = keyed.run("-p", "gemini", "files", "list")
    assert refused.returncode == 3, refused.stderr  # the emulator takes only its own key: the saved one was sent
    saved = keyed.run("auth", "set", "gemini", input=GEMINI_KEY + "\n")
    assert saved.returncode == 0, saved.stderr
    assert "Saved the gemini key" in saved.stderr
    listed = keyed.run("-p", "gemini", "files", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    shown = keyed.run("config", "show")
    for result in (saved, listed, shown):
        seen += result.stdout + result.stderr
    assert GEMINI_KEY not in seen
    config = config_file(tmp_path)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert GEMINI_KEY in config.read_text()


def test_the_gateway_s_virtual_key_in_a_profile(keyed: Served) -> None:
    assert keyed.run("config", "set", "base_url", keyed.url, "--profile", "gw").returncode == 0
    assert keyed.run("--profile", "gw", "batches", "list").returncode == 3  # no virtual key yet
    saved = keyed.run("--profile", "gw", "auth", "set", "gateway", input=VIRTUAL_KEY + "\n")
    assert saved.returncode == 0, saved.stderr
    listed = keyed.run("--profile", "gw", "batches", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert VIRTUAL_KEY not in saved.stdout + saved.stderr + listed.stdout + listed.stderr


@pytest.mark.skipif(os.name != "posix", reason="a pseudo-terminal")
def test_a_key_typed_on_a_terminal_is_not_echoed(tmp_path: Path) -> None:
    key = "sk-ant-typed-on-a-terminal-0001"
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [*bifrost_executable(), "auth", "set", "anthropic"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
        start_new_session=True,  # no controlling terminal: the prompt goes to stderr, the key is read from stdin
    )
    os.close(slave)
    try:
        assert proc.stderr is not None and proc.stdout is not None
        prompt = b""
        deadline = time.monotonic() + 60
        while b"Paste" not in prompt and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 1)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 1024)
                if not chunk:
                    break
                prompt += chunk
        assert b"Paste the anthropic API key" in prompt, prompt
        os.write(master, key.encode() + b"\n")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        echoed = _drain(master)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert key.encode() not in echoed + prompt + out + err
    assert b"Saved the anthropic key" in err
    assert f'anthropic_api_key = "{key}"' in config_file(tmp_path).read_text()


def _drain(fd: int) -> bytes:
    """What the terminal showed (its echo): everything readable on the master side now."""
    os.set_blocking(fd, False)
    data = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except (BlockingIOError, OSError):  # EIO on Linux once the other side is closed
            return data
        if not chunk:
            return data
        data += chunk


def test_completion_offers_setting_names_and_key_holders() -> None:
    from tests.e2e.test_completions import _bash_complete

    assert _bash_complete("bifrost config set max_", 3) == ["max_retries"]
    assert set(_bash_complete("bifrost config unset openai_", 3)) >= {"openai_api_key", "openai_base_url"}
    assert _bash_complete("bifrost auth set g", 3) == ["gemini", "gateway"]
