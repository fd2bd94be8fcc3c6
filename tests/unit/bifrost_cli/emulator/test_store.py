"""The emulator's state on disk is private: files 0600 and directories 0700 whatever the umask."""

from __future__ import annotations

import os
import stat

import httpx
import pytest

from bifrost_cli.emulator import EmulatorConfig
from bifrost_cli.emulator.testing import ManualClock, running_server


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(root):
    found = {}
    for directory, _dirs, files in os.walk(root):
        found[directory] = stat.S_IMODE(os.stat(directory).st_mode)
        for name in files:
            path = os.path.join(directory, name)
            found[path] = stat.S_IMODE(os.stat(path).st_mode)
    return found


def test_state_files_are_0600_and_directories_0700(tmp_path, umask_022):
    state = tmp_path / "data" / "state"  # its missing parent is private too
    clock = ManualClock(1_800_000_000.0)
    config = EmulatorConfig(state_dir=state, batch_seconds=10.0, clock=clock)
    data = b'{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}}\n'
    with running_server(config) as server, httpx.Client(base_url=server.url) as client:
        auth = {"authorization": "Bearer sk-test"}
        uploaded = client.post("/native/openai/v1/files", files={"file": ("in.jsonl", data)},
                               data={"purpose": "batch"}, headers=auth).json()
        batch = client.post("/native/openai/v1/batches", headers=auth, json={
            "input_file_id": uploaded["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}).json()
        clock.advance(11)
        done = client.get(f"/native/openai/v1/batches/{batch['id']}", headers=auth).json()
        assert client.get(f"/native/openai/v1/files/{done['output_file_id']}/content", headers=auth).status_code == 200
        client.post("/native/anthropic/v1/messages/batches", headers={"x-api-key": "k"}, json={"requests": [
            {"custom_id": "a", "params": {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}}]})
        start = client.post("/native/gemini/upload/v1beta/files", headers={
            "x-goog-api-key": "k", "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": "3"}, json={"file": {"display_name": "g"}})
        client.post(start.headers["x-goog-upload-url"], content=b"abc",
                    headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"})
    modes = _modes(tmp_path / "data")
    assert len([p for p in modes if os.path.isfile(p)]) >= 8  # files, batches, plans, uploads, lock, seq
    wrong = {path: oct(mode) for path, mode in modes.items()
             if mode != (0o700 if os.path.isdir(path) else 0o600)}
    assert wrong == {}
