"""boto3 and the openai SDK against the gateway's Bedrock routes of the emulator, over moto's S3 server:
the ``/bedrock/files`` S3 operations with the gateway's rules (file-id ETag, ``If-Match``), the job
shapes of older gateways (``legacy_gateway``), other providers on ``/bedrock`` and Bedrock on
``/openai``."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.bedrock_s3 import BUCKET, MODEL, ROLE, moto_s3, native_lines, s3_client

boto3 = pytest.importorskip("boto3")
openai = pytest.importorskip("openai")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from bifrost_cli.emulator.config import EmulatorConfig  # noqa: E402
from bifrost_cli.emulator.testing import ManualClock, running_server  # noqa: E402

pytestmark = pytest.mark.e2e  # moto's S3 server as a subprocess

BATCH_SECONDS = 10.0


@pytest.fixture(scope="module")
def s3_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_s3(tmp_path_factory.mktemp("gateway-bedrock")) as url:
        yield url


def _server(tmp_path, monkeypatch, s3_url: str, **config: Any) -> Any:
    for name, value in (("AWS_ENDPOINT_URL_S3", s3_url), ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    return running_server(EmulatorConfig(state_dir=tmp_path / "state", batch_seconds=BATCH_SECONDS, **config))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_750_000_000.0)


@pytest.fixture
def server(tmp_path, monkeypatch, s3_url, clock) -> Iterator[Any]:
    with _server(tmp_path, monkeypatch, s3_url, clock=clock) as srv:
        yield srv


def _session() -> Any:
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


def _gateway_s3(url: str, provider: str | None = None) -> Any:
    client = _session().client("s3", endpoint_url=url + "/bedrock/files",
                               config=Config(s3={"addressing_style": "path"}))
    if provider:
        _with_provider(client, provider)
    return client


def _gateway_bedrock(url: str, provider: str | None = None) -> Any:
    client = _session().client("bedrock", endpoint_url=url + "/bedrock")
    if provider:
        _with_provider(client, provider)
    return client


def _with_provider(client: Any, provider: str) -> None:
    def add(request: Any, **_: Any) -> None:
        request.headers["x-model-provider"] = provider

    client.meta.events.register("before-send.*.*", add)


# ---------------------------------------------------------------- /bedrock/files


def test_the_s3_operations_with_the_gateways_rules(server, s3_url) -> None:
    s3 = _gateway_s3(server.url)
    put = s3.put_object(Bucket=BUCKET, Key="gw/ops/input.jsonl", Body=b"line 1\n")
    file_id = f"s3://{BUCKET}/gw/ops/input.jsonl"
    assert put["ETag"] == f'"{file_id}"'
    headers = put["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-request-id"] == "bifrost" and headers["content-type"] == "application/xml"
    # the object is in the S3 behind the gateway
    assert s3_client(s3_url).get_object(Bucket=BUCKET, Key="gw/ops/input.jsonl")["Body"].read() == b"line 1\n"

    assert s3.get_object(Bucket=BUCKET, Key="gw/ops/input.jsonl")["Body"].read() == b"line 1\n"
    assert s3.head_object(Bucket=BUCKET, Key="gw/ops/input.jsonl", IfMatch=file_id)["ContentLength"] == 7

    s3.put_object(Bucket=BUCKET, Key="gw/ops/second.jsonl", Body=b"2\n")
    first = s3.list_objects_v2(Bucket=BUCKET, Prefix="gw/ops/", MaxKeys=1)
    assert [o["Key"] for o in first["Contents"]] == ["gw/ops/input.jsonl"] and first["IsTruncated"]
    rest = s3.list_objects_v2(Bucket=BUCKET, Prefix="gw/ops/", ContinuationToken=first["NextContinuationToken"])
    assert [o["Key"] for o in rest["Contents"]] == ["gw/ops/second.jsonl"]

    # DELETE takes the file id from If-Match: the path's key is not what is deleted
    s3.delete_object(Bucket=BUCKET, Key="anything", IfMatch=f"s3://{BUCKET}/gw/ops/second.jsonl")
    keys = [o["Key"] for o in s3_client(s3_url).list_objects_v2(Bucket=BUCKET, Prefix="gw/ops/")["Contents"]]
    assert keys == ["gw/ops/input.jsonl"]
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=BUCKET, Key="gw/ops/second.jsonl")
    assert caught.value.response["Error"]["Code"] == "NoSuchKey"


def test_a_put_expecting_100_continue_gets_it_before_sending_its_body(server) -> None:
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"PUT /bedrock/files/{BUCKET}/gw/expect.txt HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                     "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n".encode())
        interim = sock.recv(1024)
        assert interim.startswith(b"HTTP/1.1 100")
        sock.sendall(b"hello")
        final = b""
        while b"\r\n\r\n" not in final:
            final += sock.recv(1024)
    assert final.startswith(b"HTTP/1.1 200") and f'"s3://{BUCKET}/gw/expect.txt"'.encode() in final


def test_other_providers_files_through_the_s3_routes(server) -> None:
    s3 = _gateway_s3(server.url, "openai")
    body = json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}) + "\n"
    put = s3.put_object(Bucket=BUCKET, Key="any/input.jsonl", Body=body.encode())
    file_id = put["ETag"].strip('"')
    assert file_id.startswith("file-")
    oai = openai.OpenAI(api_key="sk-bf-test", base_url=server.url + "/openai/v1", max_retries=0)
    assert oai.files.retrieve(file_id).bytes == len(body)
    assert s3.head_object(Bucket=BUCKET, Key="x", IfMatch=file_id)["ContentLength"] == len(body)
    s3.delete_object(Bucket=BUCKET, Key="x", IfMatch=file_id)
    with pytest.raises(openai.NotFoundError):
        oai.files.retrieve(file_id)


# ---------------------------------------------------------------- jobs


def _put_input(s3_url: str, key: str) -> str:
    s3_client(s3_url).put_object(Bucket=BUCKET, Key=key, Body=native_lines(100).encode())
    return f"s3://{BUCKET}/{key}"


def _create(bedrock: Any, s3_url: str, name: str, **extra: Any) -> str:
    uri = _put_input(s3_url, f"gw/{name}/input.jsonl")
    return bedrock.create_model_invocation_job(
        jobName=name, roleArn=ROLE, modelId=MODEL,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": uri}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/gw/{name}/out/"}}, **extra)["jobArn"]


def test_current_gateways_show_names_and_apply_filters(server, s3_url) -> None:
    bedrock = _gateway_bedrock(server.url)
    arn = _create(bedrock, s3_url, "current-one")
    _create(bedrock, s3_url, "current-two")
    found = bedrock.list_model_invocation_jobs(nameContains="current-one")["invocationJobSummaries"]
    assert [(j["jobArn"], j["jobName"], j["modelId"]) for j in found] == [(arn, "current-one", MODEL)]
    assert bedrock.get_model_invocation_job(jobIdentifier=arn)["jobName"] == "current-one"


def test_older_gateways_drop_filters_names_and_messages(tmp_path, monkeypatch, s3_url, clock) -> None:
    with _server(tmp_path, monkeypatch, s3_url, clock=clock, legacy_gateway=True) as srv:
        bedrock = _gateway_bedrock(srv.url)
        arn = _create(bedrock, s3_url, "legacy-one", timeoutDurationInHours=72)
        _create(bedrock, s3_url, "legacy-two")
        # statusEquals and nameContains are parsed, not forwarded: every job comes back, unnamed
        found = bedrock.list_model_invocation_jobs(nameContains="legacy-one", statusEquals="Completed")
        summaries = found["invocationJobSummaries"]
        assert len(summaries) == 2 and {j["jobName"] for j in summaries} == {""}
        assert {j["modelId"] for j in summaries} == {""}
        job = bedrock.get_model_invocation_job(jobIdentifier=arn)
        assert "jobName" not in job and "message" not in job and job["jobArn"] == arn
        # the timeout was not passed on: the job has Bedrock's default
        native = _session().client("bedrock", endpoint_url=srv.url + "/native/bedrock")
        assert native.get_model_invocation_job(jobIdentifier=arn)["timeoutDurationInHours"] != 72


def test_other_providers_jobs_on_the_bedrock_routes(server, clock) -> None:
    s3 = _gateway_s3(server.url, "openai")
    body = "".join(json.dumps({"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}}) + "\n" for i in range(2))
    file_id = s3.put_object(Bucket=BUCKET, Key="in.jsonl", Body=body.encode())["ETag"].strip('"')
    bedrock = _gateway_bedrock(server.url, "openai")
    with pytest.raises(ClientError) as caught:
        bedrock.create_model_invocation_job(
            jobName="oai", roleArn=ROLE, modelId="gpt-4o-mini", inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://b/k"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://b/o/"}})
    assert "file_id and endpoint are required" in caught.value.response["Error"]["Message"]
    arn = bedrock.create_model_invocation_job(
        jobName="oai", roleArn=ROLE, modelId="gpt-4o-mini", inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://b/k"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://b/o/"}},
        tags=[{"key": "file_id", "value": file_id}, {"key": "endpoint", "value": "/v1/chat/completions"}])["jobArn"]
    assert arn.startswith("arn:aws:bedrock:us-east-1:444444444444:batch:batch_")
    assert arn in [j["jobArn"] for j in bedrock.list_model_invocation_jobs()["invocationJobSummaries"]]
    clock.advance(BATCH_SECONDS)
    assert bedrock.get_model_invocation_job(jobIdentifier=arn)["status"] == "Completed"


def test_openai_sdk_with_provider_bedrock(server, s3_url, clock) -> None:
    oai = openai.OpenAI(api_key="sk-bf-test", base_url=server.url + "/openai/v1", max_retries=0)
    extra = {"provider": "bedrock"}
    file = oai.files.create(file=("input.jsonl", native_lines(100).encode()), purpose="batch", extra_body={
        **extra, "storage_config": {"s3": {"bucket": BUCKET, "prefix": "gw/openai"}}})
    uri = f"s3://{BUCKET}/gw/openai/input.jsonl"
    assert base64.b64decode(file.id).decode() == uri
    assert oai.files.retrieve(file.id, extra_query=extra).bytes == len(native_lines(100).encode())
    batch = oai.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h",
                               extra_body={**extra, "model": MODEL, "role_arn": ROLE,
                                           "output_s3_uri": f"s3://{BUCKET}/gw/openai/out/", "job_name": "via-openai"})
    arn = base64.b64decode(batch.id).decode()
    assert ":model-invocation-job/" in arn and batch.input_file_id == file.id
    assert batch.id in [b.id for b in oai.batches.list(extra_query=extra)]
    clock.advance(BATCH_SECONDS)
    done = oai.batches.retrieve(batch.id, extra_query=extra)
    assert done.status == "completed" and done.request_counts.total == 100
    assert _gateway_bedrock(server.url).get_model_invocation_job(jobIdentifier=arn)["status"] == "Completed"
