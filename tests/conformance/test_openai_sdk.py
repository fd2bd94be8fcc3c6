"""The official ``openai`` SDK against the served emulator: OpenAI's own routes
(``/native/openai/v1``) and the gateway's ``/openai/v1`` routes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

openai = pytest.importorskip("openai")

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
def client(server) -> Any:
    return openai.OpenAI(api_key="sk-test", base_url=server.url + "/native/openai/v1", max_retries=0)


def _line(cid: str, text: str) -> bytes:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], "max_completion_tokens": 20}
    return (json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": body}) + "\n").encode()


def test_files(client) -> None:
    created = client.files.create(file=("data.jsonl", io.BytesIO(b'{"a": 1}\n')), purpose="batch",
                                  expires_after={"anchor": "created_at", "seconds": 3600})
    assert created.id.startswith("file-") and created.object == "file" and created.bytes == 9
    assert created.purpose == "batch" and created.expires_at == created.created_at + 3600
    other = client.files.create(file=("notes.txt", io.BytesIO(b"x")), purpose="user_data")
    assert other.expires_at is None

    page = client.files.list(limit=1)
    assert [f.id for f in page.data] == [other.id] and page.has_more
    assert [f.id for f in page] == [other.id, created.id]  # the SDK follows `after`
    assert [f.id for f in client.files.list(purpose="batch")] == [created.id]
    assert client.files.retrieve(created.id).filename == "data.jsonl"
    assert client.files.content(created.id).read() == b'{"a": 1}\n'

    deleted = client.files.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (created.id, "file", True)
    with pytest.raises(openai.NotFoundError) as caught:
        client.files.retrieve(created.id)
    assert caught.value.body["type"] == "invalid_request_error"


def test_missing_key_is_refused(server) -> None:
    import httpx

    answer = httpx.get(server.url + "/native/openai/v1/files")
    assert answer.status_code == 401 and "API key" in answer.json()["error"]["message"]


def test_uploads_in_parts(client, tmp_path) -> None:
    data = bytes((i * 7) % 251 for i in range(10_240))  # three parts
    upload = client.uploads.create(filename="big.jsonl", purpose="batch", bytes=len(data), mime_type="application/jsonl")
    assert upload.status == "pending" and upload.object == "upload" and upload.expires_at == upload.created_at + 3600
    parts = [client.uploads.parts.create(upload.id, data=data[i:i + 4096]) for i in range(0, len(data), 4096)]
    assert all(p.object == "upload.part" and p.upload_id == upload.id for p in parts)

    import hashlib

    with pytest.raises(openai.BadRequestError):  # the wrong order does not match the md5
        client.uploads.complete(upload.id, part_ids=[p.id for p in reversed(parts)], md5=hashlib.md5(data).hexdigest())
    done = client.uploads.complete(upload.id, part_ids=[p.id for p in parts], md5=hashlib.md5(data).hexdigest())
    assert done.status == "completed" and done.file is not None and done.file.bytes == len(data)
    assert client.files.content(done.file.id).read() == data

    dropped = client.uploads.create(filename="x.jsonl", purpose="batch", bytes=10, mime_type="application/jsonl")
    assert client.uploads.cancel(dropped.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.uploads.parts.create(dropped.id, data=b"0123456789")

    path = tmp_path / "chunked.bin"
    path.write_bytes(data)
    chunked = client.uploads.upload_file_chunked(file=path, mime_type="application/octet-stream", purpose="batch",
                                                 part_size=3000)
    assert chunked.status == "completed" and client.files.content(chunked.file.id).read() == data


def test_batches(client, clock) -> None:
    source = _line("ok-1", "Say hi") + _line("bad-1", "[emulator:error]") + _line("late-1", "[emulator:expire]")
    input_file = client.files.create(file=("in.jsonl", io.BytesIO(source)), purpose="batch")
    batch = client.batches.create(input_file_id=input_file.id, endpoint="/v1/chat/completions",
                                  completion_window="24h", metadata={"k": "v"})
    assert batch.status == "validating" and batch.object == "batch" and batch.metadata == {"k": "v"}
    assert batch.request_counts.total == 0

    clock.advance(BATCH_SECONDS / 2)
    running = client.batches.retrieve(batch.id)
    assert running.status == "in_progress" and running.in_progress_at and running.request_counts.total == 3
    clock.advance(BATCH_SECONDS * 0.3)
    assert client.batches.retrieve(batch.id).status == "finalizing"
    clock.advance(BATCH_SECONDS)
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.completed_at and done.finalizing_at
    assert (done.request_counts.completed, done.request_counts.failed) == (1, 1)
    output = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    errors = [json.loads(x) for x in client.files.content(done.error_file_id).text.splitlines()]
    assert [x["custom_id"] for x in output] == ["ok-1"]
    assert output[0]["response"]["body"]["choices"][0]["message"]["content"] == "Emulated reply to: Say hi"
    assert {x["custom_id"]: (x["response"] or {}).get("status_code") or x["error"]["code"] for x in errors} == {
        "bad-1": 400, "late-1": "batch_expired"}

    doomed = client.batches.create(input_file_id=input_file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert client.batches.cancel(doomed.id).status == "cancelling"
    clock.advance(2)
    cancelled = client.batches.retrieve(doomed.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at and cancelled.output_file_id is None
    assert [b.id for b in client.batches.list(limit=1)] == [doomed.id, batch.id]
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(batch.id)  # already completed


def test_files_are_listed_newest_first_by_creation(client, clock) -> None:
    """A batch's output file is dated when the batch ended, even when it is first stored later."""
    source = client.files.create(file=("in.jsonl", io.BytesIO(_line("a", "hi"))), purpose="batch")
    batch = client.batches.create(input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h")
    clock.advance(BATCH_SECONDS * 2)  # it ends, unseen
    clock.advance(60)
    later = client.files.create(file=("later.txt", io.BytesIO(b"x")), purpose="user_data")
    listed = list(client.files.list())
    assert [f.created_at for f in listed] == sorted((f.created_at for f in listed), reverse=True)
    output_id = client.batches.retrieve(batch.id).output_file_id
    assert [f.id for f in listed] == [later.id, output_id, source.id]
    assert [f.id for f in client.files.list(order="asc")] == [source.id, output_id, later.id]


def test_create_answers_before_the_input_is_checked(client, clock) -> None:
    """As OpenAI does: the create answer is ``validating`` with no errors, whatever the input holds;
    its problems come with a later retrieve."""
    input_file = client.files.create(file=("in.jsonl", io.BytesIO(b"{not json\n")), purpose="batch")
    batch = client.batches.create(input_file_id=input_file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "validating" and batch.errors is None and batch.request_counts.total == 0
    clock.advance(BATCH_SECONDS)
    assert [e.code for e in client.batches.retrieve(batch.id).errors.data] == ["invalid_json_line"]


def test_a_malformed_input_file_fails_validation(client, clock) -> None:
    good = _line("a", "x")
    other = _line("b", "y").replace(b"/v1/chat/completions", b"/v1/embeddings")
    input_file = client.files.create(file=("in.jsonl", io.BytesIO(good + b"{not json\n" + other)), purpose="batch")
    batch = client.batches.create(input_file_id=input_file.id, endpoint="/v1/chat/completions", completion_window="24h")
    clock.advance(BATCH_SECONDS)
    failed = client.batches.retrieve(batch.id)
    assert failed.status == "failed" and failed.failed_at
    assert [(e.code, e.line) for e in failed.errors.data] == [("invalid_json_line", 2), ("mismatched_endpoint", 3)]
    assert failed.output_file_id is None and failed.error_file_id is None


def test_through_the_gateway_routes(server, clock) -> None:
    gw = openai.OpenAI(api_key="sk-bf-test", base_url=server.url + "/openai/v1", max_retries=0)
    input_file = gw.files.create(file=("in.jsonl", io.BytesIO(_line("a", "hello"))), purpose="batch",
                                 extra_body={"provider": "openai"})
    raw = gw.files.with_raw_response.retrieve(input_file.id, extra_query={"provider": "openai"}).http_response.json()
    assert raw["extra_fields"]["provider"] == "openai"
    batch = gw.batches.create(input_file_id=input_file.id, endpoint="/v1/chat/completions", completion_window="24h",
                              extra_body={"provider": "openai"})
    clock.advance(BATCH_SECONDS * 2)
    done = gw.batches.retrieve(batch.id, extra_query={"provider": "openai"})
    assert done.status == "completed"
    lines = gw.files.content(done.output_file_id, extra_query={"provider": "openai"}).text.splitlines()
    assert json.loads(lines[0])["custom_id"] == "a"
    native = openai.OpenAI(api_key="sk-test", base_url=server.url + "/native/openai/v1")
    assert native.batches.retrieve(batch.id).status == "completed"  # one upstream, one store
    # another provider is another upstream: Gemini does not have OpenAI's files
    assert input_file.id not in [f.id for f in gw.files.list(extra_query={"provider": "gemini"})]
    with pytest.raises(openai.BadRequestError):
        gw.files.list(extra_query={"provider": "mistral"})
