"""The official ``google-genai`` SDK against the emulator's ``/native/gemini`` routes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

genai = pytest.importorskip("google.genai", reason="needs the google-genai SDK (the `test` extra)")
from google.genai import types  # noqa: E402

from bifrost_cli.emulator import EmulatorConfig  # noqa: E402
from bifrost_cli.emulator.testing import ManualClock, running_server  # noqa: E402

MODEL = "gemini-2.5-flash"
BATCH_SECONDS = 10.0


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[tuple[object, ManualClock]]:
    clock = ManualClock()
    config = EmulatorConfig(state_dir=tmp_path / "state", batch_seconds=BATCH_SECONDS, clock=clock)
    with running_server(config) as server:
        client = genai.Client(api_key="sdk-test-key",
                              http_options=types.HttpOptions(base_url=server.url + "/native/gemini", api_version="v1beta"))
        yield client, clock


def test_files(env: tuple) -> None:
    client, _ = env
    data = b'{"key": "a"}\n' * 100
    uploaded = client.files.upload(file=io.BytesIO(data),
                                   config=types.UploadFileConfig(mime_type="application/jsonl", display_name="in.jsonl"))
    assert uploaded.name.startswith("files/")
    assert (uploaded.display_name, uploaded.size_bytes, uploaded.state) == ("in.jsonl", len(data), types.FileState.ACTIVE)
    got = client.files.get(name=uploaded.name)
    assert got.name == uploaded.name and got.source == types.FileSource.UPLOADED
    assert uploaded.name in [f.name for f in client.files.list()]
    client.files.delete(name=uploaded.name)
    with pytest.raises(genai.errors.ClientError) as caught:
        client.files.get(name=uploaded.name)
    assert caught.value.code == 403


def test_inline_batch(env: tuple) -> None:
    client, clock = env
    job = client.batches.create(model=MODEL, src=[
        {"contents": [{"role": "user", "parts": [{"text": "first"}]}], "metadata": {"key": "k1"}},
        {"contents": [{"role": "user", "parts": [{"text": "second [emulator:error]"}]}]},
    ], config={"display_name": "sdk-inline"})
    assert job.name.startswith("batches/")
    assert job.state in (types.JobState.JOB_STATE_PENDING, types.JobState.JOB_STATE_RUNNING)
    clock.advance(BATCH_SECONDS)
    done = client.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    responses = done.dest.inlined_responses
    assert responses[0].response.text == "Emulated reply to: first"
    assert responses[1].error is not None
    assert job.name in [b.name for b in client.batches.list()]
    client.batches.delete(name=job.name)
    with pytest.raises(genai.errors.ClientError):
        client.batches.get(name=job.name)


def test_file_batch_and_cancel(env: tuple) -> None:
    client, clock = env
    lines = [{"key": f"r{i}", "request": {"contents": [{"parts": [{"text": f"q{i}"}]}]}} for i in range(3)]
    src = client.files.upload(file=io.BytesIO("".join(json.dumps(x) + "\n" for x in lines).encode()),
                              config=types.UploadFileConfig(mime_type="application/jsonl", display_name="batch.jsonl"))
    job = client.batches.create(model=MODEL, src=src.name)
    clock.advance(BATCH_SECONDS)
    done = client.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    content = client.files.download(file=done.dest.file_name)
    keys = sorted(json.loads(x)["key"] for x in content.decode().splitlines())
    assert keys == ["r0", "r1", "r2"]

    other = client.batches.create(model=MODEL, src=src.name)
    client.batches.cancel(name=other.name)
    clock.advance(BATCH_SECONDS)
    assert client.batches.get(name=other.name).state == types.JobState.JOB_STATE_CANCELLED
