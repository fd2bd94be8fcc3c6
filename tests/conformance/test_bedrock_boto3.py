"""The emulator's ``/native/bedrock`` driven by plain boto3 (the ``bedrock`` client), with jobs that
read their input from, and write their output to, moto's S3 server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.bedrock_s3 import BUCKET, MODEL, ROLE, emulator_with_s3, moto_s3, native_lines, s3_client
from tests.conftest import Served

boto3 = pytest.importorskip("boto3")
from botocore.exceptions import ClientError  # noqa: E402

pytestmark = pytest.mark.e2e  # a served emulator and moto's S3 server, as subprocesses


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    tmp = tmp_path_factory.mktemp("bedrock-boto3")
    with moto_s3(tmp) as s3_url, emulator_with_s3(tmp, s3_url, "--batch-seconds", "1") as served:
        yield served, s3_url


@pytest.fixture
def bedrock(stack: tuple[Served, str]):
    served, _ = stack
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-west-2")
    return session.client("bedrock", endpoint_url=served.url + "/native/bedrock")


def _put_input(s3_url: str, key: str, text: str) -> str:
    s3_client(s3_url).put_object(Bucket=BUCKET, Key=key, Body=text.encode())
    return f"s3://{BUCKET}/{key}"


def _create(bedrock, s3_url: str, name: str, records: int = 100, **extra):
    uri = _put_input(s3_url, f"boto3/{name}/input.jsonl", native_lines(records))
    return bedrock.create_model_invocation_job(
        jobName=name,
        roleArn=ROLE,
        modelId=MODEL,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": uri, "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/boto3/{name}/out/"}},
        **extra,
    )


def _until_ended(bedrock, arn: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = bedrock.get_model_invocation_job(jobIdentifier=arn)
        if job["status"] in ("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {arn} did not end")


def test_create_get_and_output_in_s3(bedrock, stack) -> None:
    _, s3_url = stack
    arn = _create(bedrock, s3_url, "boto3-job-1", timeoutDurationInHours=48)["jobArn"]
    assert arn.startswith("arn:aws:bedrock:us-west-2:123456789012:model-invocation-job/")
    job = bedrock.get_model_invocation_job(jobIdentifier=arn)
    assert job["jobName"] == "boto3-job-1" and job["modelId"] == MODEL
    assert job["timeoutDurationInHours"] == 48
    # the bare 12-character id works as well as the ARN
    assert bedrock.get_model_invocation_job(jobIdentifier=arn.rsplit("/", 1)[1])["jobArn"] == arn

    done = _until_ended(bedrock, arn)
    assert done["status"] == "Completed"
    assert done["totalRecordCount"] == 100 and done["successRecordCount"] == 100
    assert done["endTime"] >= done["submitTime"]

    job_id = arn.rsplit("/", 1)[1]
    s3 = s3_client(s3_url)
    out = s3.get_object(Bucket=BUCKET, Key=f"boto3/boto3-job-1/out/{job_id}/input.jsonl.out")["Body"].read()
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert sorted(line["recordId"] for line in lines) == [f"rec-{i:04d}" for i in range(100)]
    assert lines[0]["modelOutput"]["type"] == "message" and "modelInput" in lines[0]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"boto3/boto3-job-1/out/{job_id}/manifest.json.out")["Body"].read())
    assert manifest["totalRecordCount"] == 100 and manifest["successRecordCount"] == 100


def test_client_request_token_is_idempotent_and_conflicts_on_change(bedrock, stack) -> None:
    _, s3_url = stack
    first = _create(bedrock, s3_url, "boto3-token", clientRequestToken="tok123")["jobArn"]
    again = _create(bedrock, s3_url, "boto3-token", clientRequestToken="tok123")["jobArn"]
    assert again == first
    with pytest.raises(ClientError) as info:
        _create(bedrock, s3_url, "boto3-token-other", clientRequestToken="tok123")
    assert info.value.response["Error"]["Code"] == "ConflictException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_list_pages_and_filters(bedrock, stack) -> None:
    _, s3_url = stack
    arns = {_create(bedrock, s3_url, f"boto3-list-{i}")["jobArn"] for i in range(3)}
    pages = list(bedrock.get_paginator("list_model_invocation_jobs").paginate(
        nameContains="boto3-list-", PaginationConfig={"PageSize": 2}))
    assert len(pages) == 2
    listed = [s["jobArn"] for page in pages for s in page["invocationJobSummaries"]]
    assert sorted(listed) == sorted(arns)
    summary = pages[0]["invocationJobSummaries"][0]
    assert {"jobArn", "jobName", "modelId", "roleArn", "submitTime", "inputDataConfig", "outputDataConfig"} <= summary.keys()
    none = bedrock.list_model_invocation_jobs(nameContains="boto3-list-", statusEquals="Stopped")
    assert none["invocationJobSummaries"] == []


def test_stop_then_stopped_and_conflict_when_ended(bedrock, stack) -> None:
    _, s3_url = stack
    arn = _create(bedrock, s3_url, "boto3-stop", records=300)["jobArn"]
    assert bedrock.stop_model_invocation_job(jobIdentifier=arn)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert bedrock.get_model_invocation_job(jobIdentifier=arn)["status"] in ("Stopping", "Stopped")
    assert _until_ended(bedrock, arn)["status"] == "Stopped"
    with pytest.raises(ClientError) as info:
        bedrock.stop_model_invocation_job(jobIdentifier=arn)
    assert info.value.response["Error"]["Code"] == "ConflictException"


def test_too_few_records_fail_validation(bedrock, stack) -> None:
    _, s3_url = stack
    arn = _create(bedrock, s3_url, "boto3-small", records=5)["jobArn"]
    job = _until_ended(bedrock, arn)
    assert job["status"] == "Failed" and "minimum" in job["message"]


def test_errors_are_bedrock_shaped(bedrock, stack) -> None:
    with pytest.raises(ClientError) as info:
        bedrock.get_model_invocation_job(jobIdentifier="arn:aws:bedrock:us-west-2:123456789012:model-invocation-job/abcdefabcdef")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        _create(bedrock, stack[1], "boto3-bad-timeout", timeoutDurationInHours=200)
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_unsigned_requests_are_refused(stack) -> None:
    import httpx

    served, _ = stack
    reply = httpx.get(served.url + "/native/bedrock/model-invocation-jobs")
    assert reply.status_code == 403
    assert reply.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")
    assert "message" in reply.json()



@pytest.fixture
def clocked(stack, tmp_path, monkeypatch):
    """The emulator in this process on a clock that moves only when told, over the same S3 server."""
    from bifrost_cli.emulator.config import EmulatorConfig
    from bifrost_cli.emulator.testing import ManualClock, running_server

    _, s3_url = stack
    for name, value in (("AWS_ENDPOINT_URL_S3", s3_url), ("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    clock = ManualClock()
    with running_server(EmulatorConfig(state_dir=tmp_path, batch_seconds=404, clock=clock)) as server:
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
        yield server.url, s3_url, session.client("bedrock", endpoint_url=server.url + "/native/bedrock"), clock


def test_a_job_that_never_starts_is_scheduled_then_expired(clocked) -> None:
    import httpx

    url, s3_url, bedrock, clock = clocked
    uri = _put_input(s3_url, "boto3/expire/input.jsonl", native_lines(100).replace("native 0", "native 0 [emulator:batch-expire]"))
    arn = bedrock.create_model_invocation_job(
        jobName="expires", roleArn=ROLE, modelId=MODEL,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": uri}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/boto3/expire/out/"}},
    )["jobArn"]
    seen = []
    for _ in range(4):  # a step is 404 / (4 * 101) = 1 second
        job = bedrock.get_model_invocation_job(jobIdentifier=arn)
        seen.append(job["status"])
        if job["status"] == "Scheduled":
            assert "totalRecordCount" not in job
            # the gateway's /bedrock route shows its own status for it
            gateway = httpx.get(url + "/bedrock/model-invocation-job/" + arn.replace(":", "%3A").replace("/", "%2F"))
            assert gateway.json()["status"] == "Validating" and "modelId" not in gateway.json()
        clock.advance(1)
    assert seen == ["Submitted", "Validating", "Scheduled", "Scheduled"]
    clock.advance(404)
    done = bedrock.get_model_invocation_job(jobIdentifier=arn)
    assert done["status"] == "Expired" and done["processedRecordCount"] == 0 and done["totalRecordCount"] == 100
    assert "endTime" in done
