"""Bedrock's batch inference called directly (``providers/bedrock/api.py``): job preparation, limits and
the clientRequestToken, settings, statuses, counts and results, and botocore errors. No network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bifrost_cli.errors import (
    APIError,
    AuthError,
    ConflictError,
    InputError,
    NotFoundError,
    RateLimitError,
    UnavailableError,
    UsageError,
)
from bifrost_cli.inputs import load_requests
from bifrost_cli.providers.base import BatchOptions
from bifrost_cli.providers.bedrock import jobs as bedrock_jobs
from bifrost_cli.providers.bedrock import errors as bedrock_errors
from bifrost_cli.providers.bedrock import format as fmt
from tests.conftest import invoke
from tests.fakes import send_json
from tests.unit.bifrost_cli.providers.bedrock import ARN, CLAUDE, MSG, NOVA, ROLE, settings, write_requests


def _prepare(path: str, *, model: str | None = None, **options: object):
    with load_requests(path, model=model) as requests:
        job = bedrock_jobs.prepare_job(requests, BatchOptions(**options), settings(s3_uri="s3://bucket-a/pre/fix", role_arn=ROLE))
        job.sent = b"".join(job.lines())  # type: ignore[attr-defined]
        return job


def test_job_layout_and_body(tmp_path: Path) -> None:
    job = _prepare(write_requests(tmp_path), timeout_hours=48, metadata={"team": "x"})
    body = job.body
    assert body["modelId"] == CLAUDE and body["roleArn"] == ROLE and body["timeoutDurationInHours"] == 48
    in_uri = body["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
    out_uri = body["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
    assert in_uri.startswith("s3://bucket-a/pre/fix/bifrost-batches/") and in_uri.endswith("/in.jsonl")
    assert out_uri == in_uri.rsplit("/", 1)[0] + "/output/"
    assert body["tags"] == [{"key": "team", "value": "x"}]
    assert fmt.JOB_NAME_RE.match(body["jobName"])
    assert job.count == 100 and job.size == len(job.sent)


def test_client_request_token_is_stable_and_follows_every_parameter(tmp_path: Path) -> None:
    path = write_requests(tmp_path)
    token = _prepare(path).body["clientRequestToken"]
    assert _prepare(path).body["clientRequestToken"] == token  # same input, same token: no second job
    assert len(token) == 64 and fmt.re.fullmatch(r"[a-f0-9]+", token)
    assert _prepare(path, timeout_hours=72).body["clientRequestToken"] != token
    assert _prepare(path, job_name="other-name").body["clientRequestToken"] != token
    changed = write_requests(tmp_path, name="in.jsonl", temperature=0.1)
    assert _prepare(changed).body["clientRequestToken"] != token


def test_the_default_job_name_follows_every_parameter(tmp_path: Path) -> None:
    path = write_requests(tmp_path)
    name = _prepare(path).body["jobName"]
    assert name.startswith("bifrost-") and _prepare(path).body["jobName"] == name
    # a changed create must not reuse the name of the job it is not (the gateway matches jobs by name)
    assert _prepare(path, timeout_hours=72).body["jobName"] != name
    assert _prepare(path, metadata={"team": "x"}).body["jobName"] != name
    assert _prepare(path, job_name="mine").body["jobName"] == "mine"


@pytest.mark.parametrize(
    ("count", "env", "problem"),
    [
        (99, {}, "99 records; a Bedrock batch job needs at least 100"),
        (5, {"BIFROST_BEDROCK_MAX_RECORDS": "4", "BIFROST_BEDROCK_MIN_RECORDS": "1"}, "5 records; a Bedrock batch job holds at most 4"),
    ],
)
def test_record_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int, env: dict, problem: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InputError) as info:
        _prepare(write_requests(tmp_path, count))
    assert any(problem in p for p in info.value.problems), info.value.problems


def test_lower_minimum_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_BEDROCK_MIN_RECORDS", "2")
    assert _prepare(write_requests(tmp_path, 2)).count == 2


def test_size_limit() -> None:
    limits = fmt.Limits(max_file_bytes=1000)
    assert limits.problems(100, 1000) == []
    assert "1,001 bytes" in limits.problems(100, 1001)[0]


def test_refusals_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [{"custom_id": f"r{i}", "params": {"model": NOVA, "max_tokens": 8, "messages": MSG}} for i in range(100)]
    lines[4]["params"]["tools"] = []
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with pytest.raises(InputError) as info:
        _prepare(str(path))
    assert any(p.startswith(f"{path}:5: params.tools has no Converse equivalent") for p in info.value.problems)


def test_one_model_per_job(tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl"
    path.write_text("".join(json.dumps({"custom_id": f"r{i}", "params": {"model": [CLAUDE, NOVA][i % 2], "max_tokens": 8,
                                                                         "messages": MSG}}) + "\n" for i in range(100)))
    with pytest.raises(UsageError, match="runs one model"):
        _prepare(str(path))


def test_missing_and_bad_settings_are_reported_together() -> None:
    with pytest.raises(UsageError) as info:
        bedrock_jobs.check_settings(settings(), ("region", "s3_uri", "role_arn", "credentials"), credentials=lambda: False)
    assert "region, s3_uri, role_arn, credentials" in info.value.message
    assert "--region" in info.value.hint and "BIFROST_BEDROCK_S3_URI" in info.value.hint and "AWS_PROFILE" in info.value.hint
    with pytest.raises(UsageError) as info:
        bedrock_jobs.check_settings(settings(s3_uri="bucket/x", role_arn="role"), ("s3_uri", "role_arn"))
    assert "not an s3:// URI" in info.value.message and "not an IAM role ARN" in info.value.message


@pytest.mark.parametrize(
    ("native", "unified"),
    [("Submitted", "in_progress"), ("Validating", "in_progress"), ("Scheduled", "in_progress"),
     ("InProgress", "in_progress"), ("Stopping", "canceling"), ("Completed", "ended"),
     ("PartiallyCompleted", "ended"), ("Failed", "ended"), ("Stopped", "ended"), ("Expired", "ended")],
)
def test_unified_status(native: str, unified: str) -> None:
    batch = bedrock_jobs.parse_job({"jobArn": ARN, "status": native, "message": "why"})
    assert batch.status == unified and batch.native_status == native and batch.message == "why"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("InProgress", {"processing": 6, "succeeded": 3, "errored": 1, "canceled": 0, "expired": 0}),
        ("Completed", {"processing": 0, "succeeded": 3, "errored": 7, "canceled": 0, "expired": 0}),
        ("Stopped", {"processing": 0, "succeeded": 3, "errored": 1, "canceled": 6, "expired": 0}),
        ("PartiallyCompleted", {"processing": 0, "succeeded": 3, "errored": 1, "canceled": 0, "expired": 6}),
    ],
)
def test_counts_from_record_counts(status: str, expected: dict) -> None:
    data = {"status": status, "totalRecordCount": 10, "successRecordCount": 3, "errorRecordCount": 1}
    assert bedrock_jobs.job_counts(data).model_dump() == expected
    assert bedrock_jobs.job_counts({"status": status}) is None


def test_results_join_on_record_id_and_report_missing_records() -> None:
    lines = [
        {"recordId": "b", "modelInput": {}, "error": {"errorCode": 429, "errorMessage": "slow down"}},
        {"recordId": "a", "modelInput": {}, "modelOutput": {"type": "message", "role": "assistant", "content": []}},
        {"recordId": "a", "modelInput": {}, "modelOutput": {"type": "message", "role": "assistant", "content": []}},
        {"recordId": "x", "modelInput": {}, "modelOutput": {"output": {"message": {"role": "assistant", "content": [
            {"text": "hi"}, {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"q": 1}}}]}},
            "stopReason": "tool_use", "usage": {"inputTokens": 3, "outputTokens": 4}}},
    ]
    job = {"status": "Completed"}
    results = {r.custom_id: r.to_json_dict()["result"] for r in bedrock_jobs.join_results(job, ["a", "b", "c", "x"], iter(lines), "w")}
    assert list(results) == ["b", "a", "x", "c"]
    assert results["a"]["type"] == "succeeded"
    assert results["b"] == {"type": "errored", "error": {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down",
                                                                                           "native_type": "429"}}}
    assert results["c"]["error"]["error"]["type"] == "missing_result"
    message = results["x"]["message"]
    assert message["stop_reason"] == "tool_use" and message["usage"] == {"input_tokens": 3, "output_tokens": 4}
    assert message["content"] == [{"type": "text", "text": "hi"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"q": 1}}]
    stopped = list(bedrock_jobs.join_results({"status": "Stopped"}, ["a"], iter(()), "w"))
    assert stopped[0].result.type == "canceled"
    expired = list(bedrock_jobs.join_results({"status": "PartiallyCompleted"}, ["a"], iter(()), "w"))
    assert expired[0].result.type == "expired"


@pytest.mark.parametrize(
    ("code", "status", "cls", "exit_code"),
    [
        ("AccessDeniedException", 403, AuthError, 3),
        ("ResourceNotFoundException", 404, NotFoundError, 4),
        ("NoSuchKey", 404, NotFoundError, 4),
        ("ValidationException", 400, APIError, 1),
        ("ThrottlingException", 429, RateLimitError, 5),
        ("ConflictException", 400, ConflictError, 5),
        ("ServiceQuotaExceededException", 400, ConflictError, 5),
        ("InternalServerException", 500, UnavailableError, 6),
    ],
)
def test_client_errors_map_to_exit_codes(code: str, status: int, cls: type, exit_code: int) -> None:
    from botocore.exceptions import ClientError

    from bifrost_cli.http import Redactor

    exc = ClientError({"Error": {"Code": code, "Message": "key SECRETKEY123 said no"},
                       "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "rid"}}, "Op")
    error = bedrock_errors.aws_error(exc, "do it", Redactor(["SECRETKEY123"]))
    assert type(error) is cls and int(error.exit_code) == exit_code
    assert "SECRETKEY123" not in error.message and code in error.message and error.request_id == "rid"


def test_connection_errors_are_unavailable() -> None:
    from botocore.exceptions import EndpointConnectionError

    error = bedrock_errors.aws_error(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "list", lambda t: t)
    assert isinstance(error, UnavailableError) and int(error.exit_code) == 6


def test_missing_boto3_says_what_to_install(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['boto3'] = None\n"
            "from bifrost_cli.cli.app import main\n"
            "sys.argv = ['bifrost', '-p', 'bedrock', 'batches', 'list']\nmain()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "pip install 'bifrost-cli[bedrock]'" in proc.stderr


def test_a_botocore_without_model_invocation_jobs_is_refused_before_anything_is_sent(tmp_path: Path, loopback) -> None:
    # botocore 1.34.0 (which "boto3>=1.34" once allowed) has no model invocation job API; an old
    # install on the path stands in for it.
    old = tmp_path / "old"
    for name, text in (("boto3", "__version__ = '1.34.0'\n"), ("botocore", "__version__ = '1.34.0'\n")):
        (old / name).mkdir(parents=True)
        (old / name / "__init__.py").write_text(text)
    server = loopback(lambda h: send_json(h, {}))
    requests = tmp_path / "in.jsonl"
    requests.write_text(json.dumps({"custom_id": "a", "params": {
        "model": "anthropic.claude-3-haiku-20240307-v1:0", "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}]}}) + "\n")
    env = {**os.environ, "PYTHONPATH": str(old), "AWS_ENDPOINT_URL": server.url, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
           "AWS_SECRET_ACCESS_KEY": "secret-example-0123456789"}
    code = "from bifrost_cli.cli.app import main\nmain()"
    for argv in (["batches", "create", str(requests)], ["batches", "list"], ["files", "list"]):
        proc = subprocess.run(
            [sys.executable, "-c", code, "-p", "bedrock", "--region", "us-east-1", "--s3-uri", "s3://bucket/in",
             "--role-arn", "arn:aws:iam::123456789012:role/batch", *argv],
            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert "botocore 1.34.0 is too old for Bedrock batch jobs" in proc.stderr
        assert "pip install -U 'boto3>=1.42.59'" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert server.requests == []


@pytest.mark.parametrize(
    ("s3", "metadata", "message"),
    [
        ("s3://bucket-a/runs/dt=2025-07-01", [], "Bedrock refuses a job's S3 location under it (s3://bucket-a/runs/dt=2025-07-01/bifrost-batches/"),
        ("s3://bucket-a/my runs", [], "no '=' or spaces"),
        ("s3://bucket-a/runs", ["team=a&b"], "--metadata value 'a&b' of 'team' is not a Bedrock tag value"),
        ("s3://bucket-a/runs", ["k" * 129 + "=v"], "is not a Bedrock tag key"),
        ("s3://bucket-a/runs", ["team=" + "v" * 257], "is not a Bedrock tag value"),
    ],
)
def test_s3_locations_and_tags_bedrock_would_refuse_are_refused_before_anything_is_sent(
    tmp_path: Path, loopback, monkeypatch: pytest.MonkeyPatch, s3: str, metadata: list[str], message: str
) -> None:
    server = loopback(lambda h: send_json(h, {}))
    for name, value in {"AWS_ENDPOINT_URL": server.url, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
                        "AWS_SECRET_ACCESS_KEY": "secret-example-0123456789"}.items():
        monkeypatch.setenv(name, value)
    flags = [arg for pair in metadata for arg in ("--metadata", pair)]
    result = invoke("-p", "bedrock", "--region", "us-east-1", "--s3-uri", s3, "--role-arn", ROLE,
                    "batches", "create", write_requests(tmp_path), *flags)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert server.requests == []


def test_tags_and_locations_of_allowed_characters_pass(tmp_path: Path) -> None:
    job = _prepare(write_requests(tmp_path), metadata={"cost-center": "team a/b:c=d+e@f.g_h"})
    assert job.body["tags"] == [{"key": "cost-center", "value": "team a/b:c=d+e@f.g_h"}]
