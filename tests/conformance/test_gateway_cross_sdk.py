"""The official SDKs against the gateway's routes for providers other than the route's own, as the
real gateway routes them: the ``openai`` SDK on ``/openai`` with ``provider`` = anthropic or gemini,
``google-genai`` (pinned to ``v1beta``) on ``/genai`` with ``x-model-provider`` = openai or anthropic,
and the fixes that let the gateway's own SDK scenarios pass (provider-qualified Gemini models, lenient
batch bodies, RUNNING instead of PENDING, one-request resumable uploads)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

openai = pytest.importorskip("openai")
genai = pytest.importorskip("google.genai", reason="needs the google-genai SDK (the `test` extra)")
from google.genai import types  # noqa: E402

from bifrost_cli.emulator.config import EmulatorConfig  # noqa: E402
from bifrost_cli.emulator.testing import ManualClock, running_server  # noqa: E402

BATCH_SECONDS = 10.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_750_000_000.0)


@pytest.fixture
def server(tmp_path, clock) -> Iterator[Any]:
    config = EmulatorConfig(state_dir=tmp_path / "state", batch_seconds=BATCH_SECONDS, clock=clock)
    with running_server(config) as srv:
        yield srv


@pytest.fixture
def oai(server) -> Any:
    return openai.OpenAI(api_key="sk-bf-test", base_url=server.url + "/openai/v1", max_retries=0)


def _genai(server: Any, provider: str | None = None) -> Any:
    headers = {"x-model-provider": provider} if provider else None
    return genai.Client(api_key="sk-bf-test", http_options=types.HttpOptions(
        base_url=server.url + "/genai", api_version="v1beta", headers=headers))


def _anthropic_requests(n: int) -> list[dict]:
    return [{"custom_id": f"req-{i}", "params": {"model": "claude-3-5-haiku-latest", "max_tokens": 16,
             "messages": [{"role": "user", "content": f"hello {i}"}]}} for i in range(n)]


# ---------------------------------------------------------------- openai SDK, /openai, other providers


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_openai_sdk_files_for_another_provider(oai, provider) -> None:
    extra = {"provider": provider}
    created = oai.files.create(file=("in.jsonl", io.BytesIO(b'{"a": 1}\n')), purpose="batch", extra_body=extra)
    assert created.object == "file" and created.bytes == 9 and created.filename == "in.jsonl"
    if provider == "gemini":
        assert created.id.startswith("files-")  # the gateway's form of files/<id>
    else:
        assert created.id.startswith("file_")
    assert created.id in [f.id for f in oai.files.list(extra_query=extra)]
    assert oai.files.retrieve(created.id, extra_query=extra).filename == "in.jsonl"
    # the upstreams are separate: OpenAI does not know the file
    with pytest.raises(openai.NotFoundError):
        oai.files.retrieve(created.id)
    deleted = oai.files.delete(created.id, extra_query=extra)
    assert deleted.deleted and deleted.id == created.id
    with pytest.raises(openai.NotFoundError):
        oai.files.retrieve(created.id, extra_query=extra)


def test_openai_sdk_inline_anthropic_batch(server, oai, clock) -> None:
    extra = {"provider": "anthropic"}
    batch = oai.batches.create(input_file_id="", endpoint="/v1/chat/completions", completion_window="24h",
                               extra_body={**extra, "requests": _anthropic_requests(3)})
    assert batch.id.startswith("msgbatch_") and batch.status == "in_progress"
    assert batch.request_counts.total == 3
    assert batch.id in [b.id for b in oai.batches.list(extra_query=extra)]
    clock.advance(BATCH_SECONDS)
    done = oai.batches.retrieve(batch.id, extra_query=extra)
    assert done.status == "completed" and done.request_counts.completed == 3 and done.completed_at
    # the same batch through the Anthropic-compatible route
    native = httpx.get(f"{server.url}/anthropic/v1/messages/batches/{batch.id}")
    assert native.json()["processing_status"] == "ended"

    other = oai.batches.create(input_file_id="", endpoint="/v1/chat/completions", completion_window="24h",
                               extra_body={**extra, "requests": _anthropic_requests(2)})
    cancelled = oai.batches.cancel(other.id, extra_body=extra)
    assert cancelled.status == "cancelling"
    clock.advance(BATCH_SECONDS)
    assert oai.batches.retrieve(other.id, extra_query=extra).status == "cancelled"


def test_openai_sdk_gemini_batch_from_a_file(server, oai, clock) -> None:
    extra = {"provider": "gemini"}
    lines = "".join(json.dumps({"key": f"k{i}", "request": {"contents": [{"parts": [{"text": f"q{i}"}]}]}}) + "\n"
                    for i in range(3))
    file = oai.files.create(file=("in.jsonl", io.BytesIO(lines.encode())), purpose="batch", extra_body=extra)
    batch = oai.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h",
                               extra_body={**extra, "model": "gemini-2.5-flash"})
    assert batch.id.startswith("batches-") and batch.status == "in_progress" and batch.input_file_id == file.id
    clock.advance(BATCH_SECONDS)
    done = oai.batches.retrieve(batch.id, extra_query=extra)
    assert done.status == "completed" and done.request_counts.total == 3 and done.request_counts.completed == 3
    # the gateway's batches-<id> is Gemini's batches/<id> on /genai
    gemini = _genai(server)  # kept: a client that is garbage-collected closes its connections
    native = gemini.batches.get(name="batches/" + batch.id.removeprefix("batches-"))
    assert native.state == types.JobState.JOB_STATE_SUCCEEDED


def test_openai_batches_accept_the_gateways_extra_fields(oai) -> None:
    file = oai.files.create(file=("in.jsonl", io.BytesIO(json.dumps({
        "custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}).encode() + b"\n")),
        purpose="batch")
    batch = oai.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h",
                               extra_body={"provider": "openai", "role_arn": "arn:aws:iam::1:role/x",
                                           "output_s3_uri": "s3://b/out/", "job_name": "j", "unknown": 1})
    assert batch.id.startswith("batch_") and batch.input_file_id == file.id


def test_an_unknown_provider_is_refused(oai) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.files.list(extra_query={"provider": "mistral"})
    assert "mistral" in caught.value.message


def test_anthropic_has_no_file_based_batches(oai) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.batches.create(input_file_id="file_011x", endpoint="/v1/chat/completions", completion_window="24h",
                           extra_body={"provider": "anthropic"})
    assert "inline" in caught.value.message or "requests" in caught.value.message


# ---------------------------------------------------------------- google-genai SDK, /genai


def test_genai_provider_qualified_model_and_running_state(server) -> None:
    client = _genai(server)
    job = client.batches.create(model="gemini/gemini-2.5-flash", src=[
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}])
    # the gateway never shows PENDING: a just-created batch (still validating upstream) reads RUNNING
    assert job.state == types.JobState.JOB_STATE_RUNNING
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_RUNNING


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_genai_sdk_files_for_another_provider(server, provider) -> None:
    client = _genai(server, provider)
    data = b'{"a": 1}\n'
    uploaded = client.files.upload(file=io.BytesIO(data),
                                   config=types.UploadFileConfig(mime_type="application/jsonl", display_name="in.jsonl"))
    assert uploaded.name.startswith("files/") and uploaded.size_bytes == len(data)
    file_id = uploaded.name.removeprefix("files/")
    assert file_id.startswith("file-" if provider == "openai" else "file_")
    assert client.files.get(name=uploaded.name).display_name == "in.jsonl"
    assert uploaded.name in [f.name for f in client.files.list()]
    # not a Gemini file
    gemini = _genai(server)
    with pytest.raises(genai.errors.ClientError):
        gemini.files.get(name=uploaded.name)
    client.files.delete(name=uploaded.name)
    with pytest.raises(genai.errors.ClientError):
        client.files.get(name=uploaded.name)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_genai_sdk_inline_batch_for_another_provider(server, clock, provider) -> None:
    client = _genai(server, provider)
    model = "gpt-4o-mini" if provider == "openai" else "claude-3-5-haiku-latest"
    job = client.batches.create(model=model, src=[
        {"contents": [{"role": "user", "parts": [{"text": "first"}]}], "metadata": {"key": "k1"}},
        {"contents": [{"role": "user", "parts": [{"text": "second"}]}]},
    ])
    assert job.name.startswith("batches/") and job.state == types.JobState.JOB_STATE_RUNNING
    clock.advance(BATCH_SECONDS)
    done = client.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.name in [b.name for b in client.batches.list()]

    other = client.batches.create(model=model, src=[{"contents": [{"role": "user", "parts": [{"text": "x"}]}]}])
    client.batches.cancel(name=other.name)
    clock.advance(BATCH_SECONDS)
    assert client.batches.get(name=other.name).state == types.JobState.JOB_STATE_CANCELLED


def test_genai_sdk_openai_batch_from_an_openai_file(server, clock) -> None:
    client = _genai(server, "openai")
    lines = "".join(json.dumps({"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}}) + "\n" for i in range(2))
    src = client.files.upload(file=io.BytesIO(lines.encode()),
                              config=types.UploadFileConfig(mime_type="application/jsonl", display_name="b.jsonl"))
    job = client.batches.create(model="gpt-4o-mini", src=src.name)
    clock.advance(BATCH_SECONDS)
    done = client.batches.get(name=job.name)
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    # the OpenAI upstream's own view of it: its output file holds both answers
    oai = openai.OpenAI(api_key="sk-bf-test", base_url=server.url + "/openai/v1", max_retries=0)
    batch = oai.batches.retrieve(job.name.removeprefix("batches/"))
    assert batch.request_counts.completed == 2
    out = oai.files.content(batch.output_file_id).read().decode().splitlines()
    assert sorted(json.loads(line)["custom_id"] for line in out) == ["c0", "c1"]


def test_genai_upload_step_two_is_the_whole_file_whatever_the_command(server) -> None:
    start = httpx.post(server.url + "/genai/upload/v1beta/files", json={"file": {"display_name": "x.jsonl"}},
                       headers={"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
                                "X-Goog-Upload-Header-Content-Type": "application/jsonl"})
    url = start.headers["X-Goog-Upload-URL"]
    done = httpx.post(url, content=b"abc\n", headers={"X-Goog-Upload-Command": "upload"})
    assert done.status_code == 200 and done.json()["file"]["sizeBytes"] == "4"
    # the gateway deleted the session
    again = httpx.post(url, content=b"more", headers={"X-Goog-Upload-Command": "upload, finalize"})
    assert again.status_code == 404
