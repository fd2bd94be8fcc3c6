"""The emulator driven by the official Anthropic SDK (native routes and gateway routes)."""

from __future__ import annotations

import anthropic
import pytest

from bifrost_cli.emulator import EmulatorConfig
from bifrost_cli.emulator.testing import ManualClock, running_server

BATCH_SECONDS = 10.0


@pytest.fixture
def clock():
    return ManualClock(start=1_800_000_000.0)


@pytest.fixture
def server(tmp_path, clock):
    config = EmulatorConfig(state_dir=tmp_path / "state", batch_seconds=BATCH_SECONDS, clock=clock)
    with running_server(config) as srv:
        yield srv


@pytest.fixture
def client(server):
    return anthropic.Anthropic(api_key="test", base_url=server.url + "/native/anthropic", max_retries=0)


def gateway_client(server, provider: str | None = None) -> anthropic.Anthropic:
    headers = {"x-model-provider": provider} if provider else None
    return anthropic.Anthropic(api_key="dummy", base_url=server.url + "/anthropic", max_retries=0,
                               default_headers=headers)


def req(custom_id: str, text, **params):
    body = {"model": "claude-test", "max_tokens": 32, "messages": [{"role": "user", "content": text}]}
    body.update(params)
    return {"custom_id": custom_id, "params": body}


# ---------------------------------------------------------------- files


def test_files_upload_list_paginate_retrieve_delete(client):
    uploaded = [client.beta.files.upload(file=(f"doc{i}.txt", f"content {i}".encode(), "text/plain"))
                for i in range(5)]
    first = uploaded[0]
    assert first.id.startswith("file_")
    assert first.type == "file" and first.filename == "doc0.txt" and first.mime_type == "text/plain"
    assert first.size_bytes == len(b"content 0") and first.downloadable is False

    page = client.beta.files.list(limit=2)
    assert [f.filename for f in page.data] == ["doc4.txt", "doc3.txt"]
    assert page.has_next_page()
    # auto-pagination follows next_page across pages, newest first
    assert [f.id for f in client.beta.files.list(limit=2)] == [f.id for f in reversed(uploaded)]

    meta = client.beta.files.retrieve_metadata(first.id)
    assert meta.id == first.id and meta.created_at == first.created_at

    deleted = client.beta.files.delete(first.id)
    assert deleted.id == first.id and deleted.type == "file_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.beta.files.retrieve_metadata(first.id)
    assert first.id not in {f.id for f in client.beta.files.list()}


def test_files_ids_lookup_and_classic_paging(client, server):
    import httpx

    ids = [client.beta.files.upload(file=(f"f{i}.txt", b"x", "text/plain")).id for i in range(3)]
    found = client.beta.files.list(ids=[ids[0], ids[2], "file_unknown"])
    assert [f.id for f in found.data] == [ids[2], ids[0]] and found.next_page is None

    base = server.url + "/native/anthropic/v1/files"
    classic = httpx.get(base, params={"limit": 2}, headers={"x-api-key": "k"}).json()
    assert classic["has_more"] is True and classic["first_id"] == ids[2] and classic["last_id"] == ids[1]
    rest = httpx.get(base, params={"limit": 2, "after_id": classic["last_id"]}, headers={"x-api-key": "k"}).json()
    assert [f["id"] for f in rest["data"]] == [ids[0]] and rest["has_more"] is False
    back = httpx.get(base, params={"limit": 5, "before_id": ids[0]}, headers={"x-api-key": "k"}).json()
    assert [f["id"] for f in back["data"]] == [ids[2], ids[1]]


def test_uploaded_file_is_not_downloadable_but_tool_files_are(client, server):
    import httpx

    uploaded = client.beta.files.upload(file=("in.txt", b"secret", "text/plain"))
    with pytest.raises(anthropic.BadRequestError) as info:
        client.beta.files.download(uploaded.id)
    assert info.value.body["error"]["details"]["error_code"] == "file_not_downloadable"
    assert "not downloadable" in info.value.body["error"]["message"]

    made = httpx.post(server.url + "/_emulator/files", params={"filename": "chart.csv"}, content=b"a,b\n1,2\n").json()
    assert made["downloadable"] is True and made["mime_type"] == "text/csv"
    assert client.beta.files.download(made["id"]).read() == b"a,b\n1,2\n"


def test_bad_filenames_rejected_and_path_stripped(client):
    with pytest.raises(anthropic.BadRequestError):
        client.beta.files.upload(file=("bad<name>.txt", b"x", "text/plain"))
    kept = client.beta.files.upload(file=("some/dir/report.txt", b"x", "text/plain"))
    assert kept.filename == "report.txt"


def test_auth(server, tmp_path):
    import httpx

    missing = httpx.get(server.url + "/native/anthropic/v1/files")
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"
    assert missing.json()["request_id"] == missing.headers["request-id"]
    for headers in ({"x-api-key": "k", "anthropic-version": "2023-06-01"},
                    {"authorization": "Bearer k", "anthropic-version": "2026-10-21"}):
        assert httpx.get(server.url + "/native/anthropic/v1/files?beta=true", headers=headers).status_code == 200
    config = EmulatorConfig(state_dir=tmp_path / "auth", anthropic_api_key="sk-right")
    with running_server(config) as srv:
        wrong = anthropic.Anthropic(api_key="sk-wrong", base_url=srv.url + "/native/anthropic", max_retries=0)
        with pytest.raises(anthropic.AuthenticationError):
            wrong.messages.batches.list()
        right = anthropic.Anthropic(api_key="sk-right", base_url=srv.url + "/native/anthropic", max_retries=0)
        assert right.messages.batches.list().data == []


# ---------------------------------------------------------------- batches


def test_batch_lifecycle_and_results(client, clock):
    batch = client.messages.batches.create(requests=[
        req("ok-1", "Hello there"),
        req("bad-1", "please fail [emulator:error]"),
        req("bad-2", [{"type": "text", "text": "busy [emulator:error:overloaded_error]"}]),
        req("late-1", "[emulator:expire] too slow"),
        {"custom_id": "noparams", "params": {"model": "claude-test"}},
    ])
    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress" and batch.results_url is None
    assert batch.request_counts.processing == 5 and batch.request_counts.succeeded == 0
    assert (batch.expires_at - batch.created_at).total_seconds() == 24 * 3600

    clock.advance(BATCH_SECONDS * 0.9)
    mid = client.messages.batches.retrieve(batch.id)
    assert mid.processing_status == "in_progress" and mid.request_counts.processing == 5
    with pytest.raises(anthropic.AnthropicError):
        list(client.messages.batches.results(batch.id))

    clock.advance(BATCH_SECONDS * 0.2)
    done = client.messages.batches.retrieve(batch.id)
    assert done.processing_status == "ended" and done.ended_at is not None
    counts = done.request_counts
    assert (counts.succeeded, counts.errored, counts.expired, counts.canceled, counts.processing) == (1, 3, 1, 0, 0)
    assert done.results_url.endswith(f"/native/anthropic/v1/messages/batches/{batch.id}/results")

    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert set(results) == {"ok-1", "bad-1", "bad-2", "late-1", "noparams"}
    ok = results["ok-1"]
    assert ok.type == "succeeded"
    assert ok.message.content[0].text == "Emulated reply to: Hello there"
    assert ok.message.stop_reason == "end_turn" and ok.message.model == "claude-test"
    assert ok.message.usage.input_tokens > 0 and ok.message.usage.output_tokens > 0
    assert results["bad-1"].type == "errored"
    assert results["bad-1"].error.error.type == "invalid_request_error"
    assert results["bad-1"].error.error.message == "emulated failure"
    assert results["bad-2"].error.error.type == "overloaded_error"
    assert results["noparams"].error.error.type == "invalid_request_error"
    assert results["late-1"].type == "expired"
    # deterministic, but not the input order
    order = [r.custom_id for r in client.messages.batches.results(batch.id)]
    assert order == [r.custom_id for r in client.messages.batches.results(batch.id)]

    listed = client.messages.batches.list()
    assert [b.id for b in listed.data] == [batch.id]
    deleted = client.messages.batches.delete(batch.id)
    assert deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)


def test_result_order_is_not_input_order(client, clock):
    ids = [f"r{i:02d}" for i in range(20)]
    batch = client.messages.batches.create(requests=[req(i, f"q {i}") for i in ids])
    clock.advance(BATCH_SECONDS)
    order = [r.custom_id for r in client.messages.batches.results(batch.id)]
    assert sorted(order) == ids and order != ids


def test_cancel(client, clock):
    batch = client.messages.batches.create(requests=[req(f"r{i}", f"question {i}") for i in range(4)])
    clock.advance(BATCH_SECONDS * 0.3)  # request 0 (done at 1/5 of the time) has finished
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.delete(batch.id)
    clock.advance(1.0)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.succeeded == 1 and ended.request_counts.canceled == 3
    results = {r.custom_id: r.result.type for r in client.messages.batches.results(batch.id)}
    assert results == {"r0": "succeeded", "r1": "canceled", "r2": "canceled", "r3": "canceled"}
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.cancel(batch.id)


def test_batch_list_pagination(client):
    created = [client.messages.batches.create(requests=[req("a", "x")]).id for _ in range(5)]
    page = client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == created[::-1][:2] and page.has_more
    assert [b.id for b in client.messages.batches.list(limit=2)] == created[::-1]


@pytest.mark.parametrize("requests, fragment", [
    ([], "at least 1"),
    ([req("bad id!", "x")], "custom_id"),
    ([req("dup", "x"), req("dup", "y")], "Duplicate custom_id"),
    ([{"custom_id": "a", "params": {}, "extra": 1}], "Extra inputs"),
    ([{"custom_id": "a", "params": "nope"}], "params"),
])
def test_batch_create_validation(client, requests, fragment):
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.batches.create(requests=requests)
    assert fragment in info.value.body["error"]["message"]
    assert info.value.response.headers["request-id"].startswith("req_")


# ---------------------------------------------------------------- gateway routes through the SDK


def test_gateway_anthropic_provider_with_sdk(server, clock):
    gw = gateway_client(server)
    batch = gw.messages.batches.create(requests=[req("one", "hi"), req("two", "fail [emulator:error]")])
    assert batch.id.startswith("msgbatch_") and batch.processing_status == "in_progress"
    assert batch.ended_at is None and batch.results_url is None
    assert gw.messages.batches.retrieve(batch.id).request_counts.processing == 2
    assert batch.id in [b.id for b in gw.messages.batches.list(limit=5).data]
    clock.advance(BATCH_SECONDS)
    ended = gw.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.request_counts.errored == 1
    # results_url points at the (emulated) upstream, so the SDK's results() works
    assert {r.custom_id for r in gw.messages.batches.results(batch.id)} == {"one", "two"}

    other = gw.messages.batches.create(requests=[req("c", "x")])
    canceled = gw.messages.batches.cancel(other.id)
    assert canceled.processing_status == "canceling" and canceled.cancel_initiated_at is not None


def test_gateway_openai_and_gemini_providers_with_sdk(server, clock):
    oa = gateway_client(server, "openai")
    batch = oa.messages.batches.create(requests=[
        req("a", "hi", model="gpt-4o-mini", url="/v1/chat/completions"),
        req("b", "yo", model="gpt-4o-mini", url="/v1/chat/completions"),
    ])
    assert batch.id.startswith("batch_") and batch.processing_status == "in_progress"
    assert batch.request_counts is None  # validating: the gateway omits counts
    clock.advance(BATCH_SECONDS)
    done = oa.messages.batches.retrieve(batch.id)
    assert done.processing_status == "ended" and done.results_url is None
    with pytest.raises(anthropic.AnthropicError, match="results_url"):
        list(oa.messages.batches.results(batch.id))
    assert [b.id for b in oa.messages.batches.list().data] == [batch.id]

    gm = gateway_client(server, "gemini")
    gbatch = gm.messages.batches.create(requests=[req("a", "hi", model="gemini-2.5-flash")])
    assert gbatch.id.startswith("batches-")
    assert gm.messages.batches.cancel(gbatch.id).processing_status == "canceling"
    clock.advance(1.0)
    assert gm.messages.batches.retrieve(gbatch.id).processing_status == "ended"
    # providers are separate upstreams
    with pytest.raises(anthropic.NotFoundError):
        oa.messages.batches.retrieve(gbatch.id)
