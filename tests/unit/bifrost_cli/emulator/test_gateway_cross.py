"""Raw-HTTP tests of the gateway routes serving other providers than their own (``gateway_cross`` and
its users) and of their refusals; the official SDKs drive the same routes in ``tests/conformance``."""

from __future__ import annotations

import json

import httpx
import pytest

from bifrost_cli.emulator import EmulatorConfig
from bifrost_cli.emulator.faults import classify
from bifrost_cli.emulator.testing import ManualClock, running_server

B = 10.0


@pytest.fixture
def clock():
    return ManualClock(start=1_800_000_000.0)


def _client(tmp_path, clock, **kw):
    return running_server(EmulatorConfig(state_dir=tmp_path / "state", batch_seconds=B, clock=clock, **kw))


@pytest.fixture
def gw(tmp_path, clock):
    with _client(tmp_path, clock) as srv, httpx.Client(base_url=srv.url) as client:
        yield client


def _stored(client: httpx.Client, provider: str) -> list[str]:
    return [f["id"] for f in client.get("/openai/v1/files", params={"provider": provider}).json()["data"]]


def test_openai_upload_for_bedrock_without_a_bucket_is_refused_and_nothing_is_kept(gw, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    answer = gw.post("/openai/v1/files", files={"file": ("in.jsonl", b"{}\n")}, data={"purpose": "batch",
                                                                                        "provider": "bedrock"})
    assert answer.status_code == 400
    assert "storage_config[s3][bucket]" in answer.json()["error"]["message"]
    assert _stored(gw, "openai") == []


def test_a_refused_foreign_upload_leaves_no_file(gw) -> None:
    answer = gw.post("/openai/v1/files", files={"file": ("bad|name.jsonl", b"{}\n")},
                     data={"purpose": "batch", "provider": "anthropic"})
    assert answer.status_code == 400 and "Invalid filename" in answer.json()["error"]["message"]
    assert _stored(gw, "anthropic") == [] and _stored(gw, "openai") == []


def test_an_unknown_provider_is_named(gw) -> None:
    answer = gw.get("/openai/v1/batches", params={"provider": "mistral"})
    assert answer.status_code == 400 and "'mistral'" in answer.json()["error"]["message"]
    genai = gw.get("/genai/v1beta/files", headers={"x-model-provider": "mistral"})
    assert genai.status_code == 400 and genai.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_genai_sends_bedrock_to_the_bedrock_routes(gw) -> None:
    answer = gw.get("/genai/v1beta/batches", headers={"x-model-provider": "bedrock"})
    assert answer.status_code == 400 and "/bedrock" in answer.json()["error"]["message"]


def test_bedrock_route_jobs_for_gemini_need_a_file_id_tag(gw) -> None:
    body = {"jobName": "j", "roleArn": "arn:aws:iam::123456789012:role/r", "modelId": "gemini-2.5-flash",
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://b/k"}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://b/o/"}}}
    answer = gw.post("/bedrock/model-invocation-job", json=body, headers={"x-model-provider": "gemini"})
    assert answer.status_code == 400 and "file_id" in answer.json()["message"]


def test_a_gemini_batch_over_bedrock_routes_reads_its_file(gw, clock) -> None:
    lines = "".join(json.dumps({"key": f"k{i}", "request": {"contents": [{"parts": [{"text": f"q{i}"}]}]}}) + "\n"
                    for i in range(2))
    put = gw.put("/bedrock/files/any/in.jsonl", content=lines.encode(), headers={"x-model-provider": "gemini"})
    file_id = put.headers["etag"].strip('"')
    assert file_id.startswith("files-") and put.headers["x-amz-request-id"] == "bifrost"
    body = {"jobName": "j", "roleArn": "arn:aws:iam::123456789012:role/r", "modelId": "gemini-2.5-flash",
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://b/k"}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://b/o/"}},
            "tags": [{"key": "file_id", "value": file_id}]}
    job = gw.post("/bedrock/model-invocation-job", json=body, headers={"x-model-provider": "gemini"}).json()
    assert job["jobArn"].startswith("arn:aws:bedrock:us-east-1:444444444444:batch:batches-")
    clock.advance(B)
    from urllib.parse import quote

    got = gw.get("/bedrock/model-invocation-job/" + quote(job["jobArn"], safe=""), headers={"x-model-provider": "gemini"})
    assert got.json()["status"] == "Completed"
    # the same batch, natively named, on /genai
    native = gw.get("/genai/v1beta/batches/" + job["jobArn"].rsplit(":batches-", 1)[1]).json()
    assert native["metadata"]["state"] == "JOB_STATE_SUCCEEDED" and native["metadata"]["batchStats"]["requestCount"] == 2


def test_the_s3_routes_answer_s3_xml_errors(gw, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    answer = gw.put("/bedrock/files/bucket/key.jsonl", content=b"x")
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/xml"
    assert b"<Code>InternalError</Code>" in answer.content and b"AWS_ENDPOINT_URL_S3" in answer.content
    missing = gw.head("/bedrock/files/any/x", headers={"x-model-provider": "openai", "If-Match": "file-nope"})
    assert missing.status_code == 404


@pytest.mark.parametrize("legacy, kept", [(False, True), (True, False)])
def test_older_gateways_ignore_an_uploads_expiry(tmp_path, clock, legacy, kept) -> None:
    with _client(tmp_path, clock, legacy_gateway=legacy) as srv:
        answer = httpx.post(srv.url + "/openai/v1/files", files={"file": ("in.txt", b"x")},
                            data={"purpose": "user_data", "expires_after[anchor]": "created_at",
                                  "expires_after[seconds]": "3600"})
    body = answer.json()
    assert (body["expires_at"] == body["created_at"] + 3600) is kept


def test_faults_know_the_new_routes() -> None:
    assert classify("DELETE", "/bedrock/files/b/k/x.jsonl") == "files.delete"
    assert classify("GET", "/bedrock/files/b") == "files.list"
    assert classify("POST", "/genai/v1beta/models/gemini/gemini-2.5-flash:batchGenerateContent") == "batches.create"
    assert classify("GET", "/genai/v1beta/batches/msgbatch_01ABC") == "batches.get"
