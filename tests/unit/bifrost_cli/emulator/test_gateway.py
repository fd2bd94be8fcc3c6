"""Raw-HTTP tests of the emulated Bifrost gateway routes and the HTTP server (``emulator/gateway*.py``,
``server.py``, ``app.py``); the building blocks have their own modules."""

from __future__ import annotations

import json
import os
import socket

import httpx
import pytest

from bifrost_cli.emulator import EmulatorConfig, create_app
from bifrost_cli.emulator.testing import ManualClock, running_server

B = 10.0  # batch_seconds


@pytest.fixture
def clock():
    return ManualClock(start=1_800_000_000.0)


def make_config(tmp_path, clock, **kw):
    return EmulatorConfig(state_dir=tmp_path / "state", batch_seconds=B, clock=clock, **kw)


@pytest.fixture
def gw(tmp_path, clock):
    with running_server(make_config(tmp_path, clock)) as srv:
        with httpx.Client(base_url=srv.url) as client:
            yield client


def hdr(provider=None, **extra):
    headers = {"x-api-key": "dummy"}
    if provider:
        headers["x-model-provider"] = provider
    headers.update(extra)
    return headers


def upload(client, provider=None, name="input.jsonl", data=b'{"a":1}\n', purpose=None):
    form = {"purpose": purpose} if purpose else None
    return client.post("/anthropic/v1/files", files={"file": (name, data, "application/jsonl")}, data=form,
                       headers=hdr(provider))


def item(custom_id, text, model="claude-test", **params):
    return {"custom_id": custom_id, "params": {"model": model, "max_tokens": 16,
                                               "messages": [{"role": "user", "content": text}], **params}}


def oa_item(custom_id, text, **params):
    return item(custom_id, text, model="gpt-4o-mini", url="/v1/chat/completions", **params)


def create(client, provider, requests):
    return client.post("/anthropic/v1/messages/batches", json={"requests": requests}, headers=hdr(provider))


# ---------------------------------------------------------------- files


@pytest.mark.parametrize("provider, prefix", [(None, "file_"), ("anthropic", "file_"), ("openai", "file-"),
                                              ("gemini", "files-")])
def test_file_routes_per_provider(gw, provider, prefix):
    up = upload(gw, provider)
    assert up.status_code == 200, up.text
    meta = up.json()
    assert meta["id"].startswith(prefix) and meta["type"] == "file" and meta["size_bytes"] == 8
    assert meta["created_at"].endswith("Z") and "." not in meta["created_at"]  # second precision
    assert gw.get(f"/anthropic/v1/files/{meta['id']}", headers=hdr(provider)).json()["id"] == meta["id"]
    listed = gw.get("/anthropic/v1/files", headers=hdr(provider)).json()
    assert set(listed) == {"data", "has_more"} and listed["data"][0]["id"] == meta["id"]
    deleted = gw.delete(f"/anthropic/v1/files/{meta['id']}", headers=hdr(provider))
    assert deleted.json() == {"id": meta["id"], "type": "file_deleted"}
    missing = gw.get(f"/anthropic/v1/files/{meta['id']}", headers=hdr(provider))
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"


def test_files_are_separate_per_provider(gw):
    oa = upload(gw, "openai").json()
    assert gw.get(f"/anthropic/v1/files/{oa['id']}", headers=hdr("anthropic")).status_code == 404
    assert gw.get("/anthropic/v1/files", headers=hdr("gemini")).json()["data"] == []


def test_file_list_limit_quirks(gw):
    ids = [upload(gw, "openai", name=f"f{i}.jsonl").json()["id"] for i in range(32)]
    bad = gw.get("/anthropic/v1/files", params={"limit": "lots"}, headers=hdr("openai")).json()
    assert len(bad["data"]) == 30 and bad["has_more"] is True and "last_id" not in bad
    two = gw.get("/anthropic/v1/files", params={"limit": 2, "after_id": ids[-2]}, headers=hdr("openai")).json()
    assert [f["id"] for f in two["data"]] == [ids[-3], ids[-4]]
    ignored = gw.get("/anthropic/v1/files", params={"limit": 2, "before_id": ids[0]}, headers=hdr("openai")).json()
    assert [f["id"] for f in ignored["data"]] == [ids[-1], ids[-2]]


def test_file_content(gw):
    up = upload(gw, "anthropic").json()
    refused = gw.get(f"/anthropic/v1/files/{up['id']}/content", headers=hdr())
    assert refused.status_code == 400
    assert set(refused.json()) == {"type", "error"} and "not downloadable" in refused.json()["error"]["message"]
    assert up["downloadable"] is False
    tool = gw.post("/_emulator/files", params={"filename": "out.txt"}, content=b"tool output").json()
    assert gw.get(f"/anthropic/v1/files/{tool['id']}/content", headers=hdr()).content == b"tool output"

    oa = upload(gw, "openai", data=b"line\n").json()
    assert oa["downloadable"] is True
    got = gw.get(f"/anthropic/v1/files/{oa['id']}/content", headers=hdr("openai"))
    assert got.status_code == 200 and got.content == b"line\n"
    gm = upload(gw, "gemini").json()
    assert gw.get(f"/anthropic/v1/files/{gm['id']}/content", headers=hdr("gemini")).status_code == 400


def test_multi_megabyte_streamed_upload_round_trips(gw, tmp_path):
    payload = os.urandom(6 * 1024 * 1024 + 12345) + b"\r\n--not-a-boundary\r\n"
    source = tmp_path / "big.bin"
    source.write_bytes(payload)
    with open(source, "rb") as fh:
        up = gw.post("/anthropic/v1/files", files={"file": ("big.bin", fh, "application/octet-stream")},
                     headers=hdr("openai"))
    meta = up.json()
    assert meta["size_bytes"] == len(payload) and meta["mime_type"] == "application/octet-stream"
    with gw.stream("GET", f"/anthropic/v1/files/{meta['id']}/content", headers=hdr("openai")) as resp:
        assert int(resp.headers["content-length"]) == len(payload)
        assert b"".join(resp.iter_bytes()) == payload


def test_chunked_request_body(gw):
    boundary = "XyZ123"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.jsonl\"\r\n"
            f"Content-Type: application/jsonl\r\n\r\n").encode() + b"0123456789" * 5000 + f"\r\n--{boundary}--\r\n".encode()

    def pieces():  # a generator body makes httpx use Transfer-Encoding: chunked
        for i in range(0, len(body), 777):
            yield body[i:i + 777]

    resp = gw.post("/anthropic/v1/files", content=pieces(), headers={
        **hdr("openai"), "content-type": f"multipart/form-data; boundary={boundary}"})
    assert resp.status_code == 200, resp.text
    meta = resp.json()
    assert meta["filename"] == "c.jsonl" and meta["size_bytes"] == 50000
    assert gw.get(f"/anthropic/v1/files/{meta['id']}/content", headers=hdr("openai")).content == b"0123456789" * 5000

    batch = json.dumps({"requests": [item("a", "hi")]}).encode()
    resp = gw.post("/anthropic/v1/messages/batches", content=iter([batch[:5], batch[5:]]),
                   headers={**hdr(), "content-type": "application/json"})
    assert resp.status_code == 200 and resp.json()["id"].startswith("msgbatch_")


def test_raw_http_chunked_and_keepalive(tmp_path, clock):
    with running_server(make_config(tmp_path, clock)) as srv:
        host, port = srv.server_address[:2]
        body = json.dumps({"requests": [item("a", "hi")]}).encode()
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:10], body[10:])) + b"0\r\n\r\n"
        with socket.create_connection((host, port)) as sock:
            sock.sendall(b"POST /native/anthropic/v1/messages/batches HTTP/1.1\r\nHost: x\r\nx-api-key: k\r\n"
                         b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
            sock.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b'{"ok":true}'):
                more = sock.recv(65536)
                assert more
                data += more
        assert b"msgbatch_" in data


# ---------------------------------------------------------------- provider selection and auth


def test_provider_header_validation(gw):
    bad = gw.get("/anthropic/v1/files", headers=hdr("mistral"))
    assert bad.status_code == 400 and bad.json()["type"] == "error"
    for path in ("/anthropic/v1/files", "/anthropic/v1/messages/batches"):
        bedrock = gw.get(path, headers=hdr("bedrock"))
        assert bedrock.status_code == 400
        assert "unsupported_operation" in bedrock.json()["error"]["message"]
        assert "S3" in bedrock.json()["error"]["message"]


def test_virtual_key(tmp_path, clock):
    with running_server(make_config(tmp_path, clock, virtual_key="sk-bf-test")) as srv:
        url = srv.url + "/anthropic/v1/files"
        missing = httpx.get(url)
        assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"
        assert httpx.get(url, headers={"x-api-key": "wrong"}).status_code == 401
        for name, value in [("x-bf-vk", "sk-bf-test"), ("authorization", "Bearer sk-bf-test"),
                            ("x-api-key", "sk-bf-test"), ("x-goog-api-key", "sk-bf-test"), ("api-key", "sk-bf-test")]:
            assert httpx.get(url, headers={name: value}).status_code == 200, name
    with running_server(make_config(tmp_path, clock)) as srv:
        assert httpx.get(srv.url + "/anthropic/v1/files").status_code == 200  # no key at all


# ---------------------------------------------------------------- SPA fallback and legacy mode


def test_spa_fallback(gw):
    for path in ("/", "/workspace/logs", "/anthropic/v1/unknown", "/anthropic/v1/messages/batches/x/y/z"):
        resp = gw.get(path)
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html"), path
    assert gw.get("/_emulator/health").json() == {"ok": True}


def test_legacy_gateway(tmp_path, clock):
    with running_server(make_config(tmp_path, clock, legacy_gateway=True)) as srv:
        with httpx.Client(base_url=srv.url) as client:
            meta = upload(client, "openai", purpose="batch").json()
            assert meta["mime_type"] == "batch" and "downloadable" not in meta
            page = client.get(f"/anthropic/v1/files/{meta['id']}", headers=hdr("openai"))
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            content = client.get(f"/anthropic/v1/files/{meta['id']}/content", headers=hdr("openai"))
            assert content.headers["content-type"] == "application/json"
            assert content.json()["id"] == meta["id"]


# ---------------------------------------------------------------- flaky mode


def test_flaky_every(tmp_path, clock):
    with running_server(make_config(tmp_path, clock, flaky_every=2)) as srv:
        with httpx.Client(base_url=srv.url) as client:
            assert client.get("/_emulator/health").status_code == 200
            second = create(client, None, [item("a", "hi")])
            assert second.status_code == 503 and second.headers["retry-after"] == "0"
            assert second.json()["error"] == {"type": "overloaded_error", "message": "emulated outage"}
            assert create(client, None, [item("a", "hi")]).status_code == 200
            assert client.get("/anthropic/v1/messages/batches", headers=hdr()).status_code == 503
            assert len(client.get("/anthropic/v1/messages/batches", headers=hdr()).json()["data"]) == 1


# ---------------------------------------------------------------- batches


def test_batch_create_validation_for_other_providers(gw):
    mixed = create(gw, "openai", [oa_item("a", "x"), item("b", "y", model="gpt-4o", url="/v1/chat/completions")])
    assert mixed.status_code == 400
    assert mixed.json()["error"]["message"] == "for non-Anthropic providers, model must be the same for all requests"
    no_model = create(gw, "gemini", [{"custom_id": "a", "params": {"messages": []}}])
    assert no_model.json()["error"]["message"] == "model is required"
    no_url = create(gw, "openai", [item("a", "x", model="gpt-4o-mini")])
    assert no_url.json()["error"]["message"] == "endpoint is required for OpenAI batch API"
    assert create(gw, "anthropic", [item("bad id", "x")]).status_code == 400


def test_gateway_anthropic_batch_shape_and_results(gw, clock):
    resp = create(gw, None, [item("ok", "hello"), item("err", "[emulator:error:rate_limit_error]"),
                             item("exp", "[emulator:expire]")])
    batch = resp.json()
    assert batch["processing_status"] == "in_progress"
    assert batch["request_counts"]["processing"] == 3
    assert {"ended_at", "archived_at", "cancel_initiated_at", "results_url"}.isdisjoint(batch)  # nil = omitted
    assert batch["created_at"].endswith("Z") and "." not in batch["created_at"]
    early = gw.get(f"/anthropic/v1/messages/batches/{batch['id']}/results", headers=hdr())
    assert early.status_code == 400
    clock.advance(B)
    done = gw.get(f"/anthropic/v1/messages/batches/{batch['id']}", headers=hdr()).json()
    assert done["processing_status"] == "ended" and "ended_at" in done and "results_url" in done
    res = gw.get(f"/anthropic/v1/messages/batches/{batch['id']}/results", headers=hdr())
    assert res.headers["content-type"] == "application/json"
    body = res.json()
    assert body["batch_id"] == batch["id"]
    assert body["extra_fields"]["request_type"] == "batch_results" and body["extra_fields"]["provider"] == "anthropic"
    items = {i["custom_id"]: i for i in body["results"]}
    assert items["ok"]["result"]["type"] == "succeeded"
    assert items["ok"]["result"]["message"]["content"][0]["text"] == "Emulated reply to: hello"
    assert items["err"]["result"] == {"type": "errored"}
    assert items["err"]["error"] == {"code": "rate_limit_error", "message": "emulated failure"}
    assert items["exp"]["result"] == {"type": "expired"}


def test_gateway_openai_status_passthrough_and_results(gw, clock):
    batch = create(gw, "openai", [oa_item("a", "one"), oa_item("b", "[emulator:error]"), oa_item("c", "three")]).json()
    bid = batch["id"]
    assert bid.startswith("batch_") and batch["processing_status"] == "in_progress"
    assert "request_counts" not in batch  # validating
    get = lambda: gw.get(f"/anthropic/v1/messages/batches/{bid}", headers=hdr("openai")).json()  # noqa: E731
    clock.advance(B * 0.6)  # a and b done
    mid = get()
    assert mid["processing_status"] == "in_progress"
    assert mid["request_counts"] == {"processing": 0, "succeeded": 0, "errored": 1, "canceled": 0, "expired": 0}
    clock.advance(B * 0.2)  # all requests done, not yet completed
    assert get()["processing_status"] == "finalizing"
    assert gw.get(f"/anthropic/v1/messages/batches/{bid}/results", headers=hdr("openai")).status_code == 400
    clock.advance(B * 0.2)
    done = get()
    assert done["processing_status"] == "ended" and "results_url" not in done
    body = gw.get(f"/anthropic/v1/messages/batches/{bid}/results", headers=hdr("openai")).json()
    assert body["extra_fields"]["provider"] == "openai"
    items = {i["custom_id"]: i for i in body["results"]}
    ok = items["a"]["response"]
    assert ok["status_code"] == 200 and ok["body"]["object"] == "chat.completion"
    assert ok["body"]["choices"][0]["message"]["content"] == "Emulated reply to: one"
    assert ok["body"]["model"] == "gpt-4o-mini"
    assert items["b"]["response"]["status_code"] == 400
    assert items["b"]["error"] == {"code": "invalid_request_error", "message": "emulated failure"}


def test_gateway_openai_batch_fail(gw, clock):
    bid = create(gw, "openai", [oa_item("a", "[emulator:batch-fail]"), oa_item("b", "x")]).json()["id"]
    clock.advance(B)
    failed = gw.get(f"/anthropic/v1/messages/batches/{bid}", headers=hdr("openai")).json()
    assert failed["processing_status"] == "failed" and "request_counts" not in failed and "ended_at" not in failed
    res = gw.get(f"/anthropic/v1/messages/batches/{bid}/results", headers=hdr("openai"))
    assert res.status_code == 400 and "output_file_id is empty" in res.json()["error"]["message"]


def test_gateway_gemini_progress_results_and_expiry(gw, clock):
    bid = create(gw, "gemini", [item("a", "one", model="gemini-2.5-flash"),
                                item("b", "[emulator:error:api_error]", model="gemini-2.5-flash"),
                                item("c", "[emulator:expire]", model="gemini-2.5-flash")]).json()["id"]
    assert bid.startswith("batches-")
    clock.advance(B * 0.3)  # request a done
    mid = gw.get(f"/anthropic/v1/messages/batches/{bid}", headers=hdr("gemini")).json()
    assert mid["processing_status"] == "in_progress"
    assert (mid["request_counts"]["processing"], mid["request_counts"]["succeeded"]) == (2, 1)
    clock.advance(B)
    body = gw.get(f"/anthropic/v1/messages/batches/{bid}/results", headers=hdr("gemini")).json()
    assert [i["custom_id"] for i in body["results"]] == ["a", "b", "c"]
    a, b, c = body["results"]
    assert a["response"]["status_code"] == 200 and a["response"]["body"]["finish_reason"] == "STOP"
    assert set(a["response"]["body"]["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert b["error"] == {"code": "500", "message": "emulated failure"}
    assert c["error"]["code"] == "504"

    expiring = create(gw, "gemini", [item("a", "[emulator:batch-expire]", model="gemini-2.5-flash")]).json()["id"]
    clock.advance(B)
    gone = gw.get(f"/anthropic/v1/messages/batches/{expiring}", headers=hdr("gemini")).json()
    assert gone["processing_status"] == "expired"
    assert gw.get(f"/anthropic/v1/messages/batches/{expiring}/results", headers=hdr("gemini")).status_code == 400


def test_gateway_cancel_shape(gw, clock):
    bid = create(gw, "openai", [oa_item("a", "x"), oa_item("b", "y")]).json()["id"]
    clock.advance(B * 0.5)
    canceled = gw.post(f"/anthropic/v1/messages/batches/{bid}/cancel", headers=hdr("openai")).json()
    assert set(canceled) <= {"id", "type", "processing_status", "cancel_initiated_at", "request_counts"}
    assert canceled["processing_status"] == "canceling" and "cancel_initiated_at" in canceled
    clock.advance(1)
    done = gw.get(f"/anthropic/v1/messages/batches/{bid}", headers=hdr("openai")).json()
    assert done["processing_status"] == "ended" and "ended_at" not in done  # OpenAI sets cancelled_at only
    assert gw.delete(f"/anthropic/v1/messages/batches/{bid}", headers=hdr("openai")).status_code in (404, 405)


def test_gateway_batch_list_paging(gw):
    ids = [create(gw, None, [item("a", "x")]).json()["id"] for _ in range(5)][::-1]
    first = gw.get("/anthropic/v1/messages/batches", params={"page_size": 2, "limit": 1}, headers=hdr()).json()
    assert [b["id"] for b in first["data"]] == ids[:2] and first["has_more"] is True
    assert first["first_id"] == ids[0] and first["last_id"] == ids[1]
    nxt = gw.get("/anthropic/v1/messages/batches", params={"page_size": 2, "page_token": first["last_id"],
                                                           "after_id": ids[3]}, headers=hdr()).json()
    assert [b["id"] for b in nxt["data"]] == ids[2:4]
    ignored = gw.get("/anthropic/v1/messages/batches", params={"limit": 1, "after_id": ids[0]}, headers=hdr()).json()
    assert len(ignored["data"]) == 5


# ---------------------------------------------------------------- persistence


def test_state_shared_between_app_instances(tmp_path, clock):
    config = make_config(tmp_path, clock)
    with running_server(config) as one, running_server(config) as two:
        up = httpx.post(one.url + "/native/anthropic/v1/files", headers=hdr(),
                        files={"file": ("a.txt", b"abc", "text/plain")}).json()
        assert httpx.get(f"{two.url}/native/anthropic/v1/files/{up['id']}", headers=hdr()).json() == up
        bid = httpx.post(one.url + "/anthropic/v1/messages/batches", headers=hdr(),
                         json={"requests": [item("a", "x"), item("b", "y")]}).json()["id"]
        assert httpx.post(f"{two.url}/native/anthropic/v1/messages/batches/{bid}/cancel",
                          headers=hdr()).json()["processing_status"] == "canceling"
        clock.advance(1)
        view = httpx.get(f"{one.url}/native/anthropic/v1/messages/batches/{bid}", headers=hdr()).json()
        assert view["processing_status"] == "ended" and view["request_counts"]["canceled"] == 2
        assert view["results_url"].startswith(one.url)


def test_wsgi_app_in_process(tmp_path, clock):
    app = create_app(make_config(tmp_path, clock))
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://emu") as client:
        up = client.post("/native/anthropic/v1/files", headers=hdr(), files={"file": ("x.txt", b"x", "text/plain")})
        assert up.status_code == 200 and up.headers["request-id"].startswith("req_")
        assert client.get("/native/anthropic/v1/files", headers=hdr()).json()["data"][0]["id"] == up.json()["id"]
