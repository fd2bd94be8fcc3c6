"""Bedrock translations, limits, idempotency tokens, error mapping and the gateway target (through
``httpx.MockTransport``): no network."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bifrost_cli.config import resolve
from bifrost_cli.errors import (
    APIError,
    AuthError,
    ConflictError,
    InputError,
    NotFoundError,
    RateLimitError,
    UnavailableError,
    UnsupportedError,
    UsageError,
)
from bifrost_cli.inputs import load_requests
from bifrost_cli.providers.bedrock import api as bedrock
from bifrost_cli.providers.bedrock import gateway as bedrock_gateway
from bifrost_cli.providers.bedrock import format as fmt
from bifrost_cli.providers.base import BatchOptions, UploadSource
from tests.fakes import Recorder

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-lite-v1:0"
ROLE = "arn:aws:iam::123456789012:role/Batch"
ARN = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdef123456"
MSG = [{"role": "user", "content": "Hi"}]


def settings(**flags: str):
    return resolve({"provider": "bedrock", **flags}, environ={})


def write_requests(tmp: Path, count: int = 100, name: str = "in.jsonl", **params: object) -> str:
    path = tmp / name
    lines = [
        json.dumps({"custom_id": f"r{i}", "params": {"model": CLAUDE, "max_tokens": 8, "messages": MSG, **params}})
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# -- neutral -> records -------------------------------------------------------------------------


def test_anthropic_models_get_the_bedrock_messages_body() -> None:
    params = {"model": CLAUDE, "max_tokens": 8, "messages": MSG, "system": "be brief", "temperature": 0.5}
    record, problems = fmt.to_record({"custom_id": "a", "params": params}, CLAUDE)
    assert problems == []
    assert record == {
        "recordId": "a",
        "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8, "messages": MSG,
                       "system": "be brief", "temperature": 0.5},
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"max_tokens": 8, "messages": MSG},
         {"messages": [{"role": "user", "content": [{"text": "Hi"}]}], "inferenceConfig": {"maxTokens": 8}}),
        ({"max_tokens": 8, "messages": MSG, "system": "sys", "temperature": 0.2, "top_p": 0.9, "stop_sequences": ["x"]},
         {"messages": [{"role": "user", "content": [{"text": "Hi"}]}], "system": [{"text": "sys"}],
          "inferenceConfig": {"maxTokens": 8, "temperature": 0.2, "topP": 0.9, "stopSequences": ["x"]}}),
        ({"max_tokens": 8, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]},
         {"messages": [{"role": "user", "content": [{"text": "look"},
                                                     {"image": {"format": "png", "source": {"bytes": "AAAA"}}}]}],
          "inferenceConfig": {"maxTokens": 8}}),
    ],
)
def test_other_models_get_a_converse_body(params: dict, expected: dict) -> None:
    record, problems = fmt.to_record({"custom_id": "a", "params": {"model": NOVA, **params}}, NOVA)
    assert problems == []
    assert record["modelInput"] == expected
    assert fmt.invocation_type(NOVA) == "Converse" and fmt.invocation_type(CLAUDE) == "InvokeModel"
    assert fmt.invocation_type("us.anthropic.claude-3-5-sonnet-20241022-v2:0") == "InvokeModel"


@pytest.mark.parametrize(
    ("model", "params", "problem"),
    [
        (CLAUDE, {"stream": True}, "params.stream is not accepted"),
        (CLAUDE, {"service_tier": "auto"}, "params.service_tier is not accepted"),
        (CLAUDE, {"mcp_servers": []}, "params.mcp_servers is not accepted"),
        (NOVA, {"tools": []}, "params.tools has no Converse equivalent"),
        (NOVA, {"top_k": 5}, "params.top_k has no Converse equivalent"),
        (NOVA, {"temperature": "hot"}, "params.temperature has the wrong type"),
        (NOVA, {"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {}}]}]},
         "params.messages[0].content[0].cache_control has no Converse equivalent"),
        (NOVA, {"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]}]},
         'params.messages[0].content[0]: a content block of type "tool_use" has no Converse equivalent'),
        (NOVA, {"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "http://x"}}]}]},
         "params.messages[0].content[0].source: only base64 images"),
        (NOVA, {"system": [{"type": "image", "source": {}}]}, 'params.system[0]: a content block of type "image"'),
    ],
)
def test_fields_that_cannot_be_expressed_are_refused(model: str, params: dict, problem: str) -> None:
    body = {"model": model, "max_tokens": 8, "messages": MSG, **params}
    _, problems = fmt.to_record({"custom_id": "a", "params": body}, model)
    assert any(p.startswith(problem) for p in problems), problems


# -- native records -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ({"modelInput": {"x": 1}}, "recordId is missing"),
        ({"recordId": "bad id!", "modelInput": {"x": 1}}, 'recordId "bad id!" is not valid'),
        ({"recordId": "a"}, "modelInput is missing"),
        ({"recordId": "a", "modelInput": []}, "modelInput must be a non-empty object"),
        ({"recordId": "a", "modelInput": {"model": "m"}}, "modelInput.model must not be set"),
        ({"recordId": "a", "modelInput": {"x": 1}, "extra": 1}, 'unknown field "extra"'),
        ("text", "expected a JSON object"),
    ],
)
def test_native_record_problems(item: object, problem: str) -> None:
    checked = fmt.INPUT_FORMAT.check(item, None)
    assert any(p.startswith(problem) for p in checked.problems), checked.problems


def test_native_records_are_detected_and_sent_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "native.jsonl"
    path.write_text("".join(
        json.dumps({"recordId": f"n{i}", "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4,
                                                         "messages": MSG}}) + "\n" for i in range(100)))
    with load_requests(str(path), model=CLAUDE) as requests:
        assert requests.input_format == "bedrock" and requests.models == {CLAUDE}
        job = bedrock.prepare_job(requests, BatchOptions(), settings(s3_uri="s3://bucket-a/p", role_arn=ROLE))
        first = json.loads(next(iter(job.lines())))
    assert first == {"recordId": "n0", "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4, "messages": MSG}}
    assert job.body["modelInvocationType"] == "InvokeModel"
    assert fmt.native_invocation_type({"messages": MSG, "inferenceConfig": {}}) == "Converse"
    assert fmt.native_invocation_type({"messages": [{"role": "user", "content": [{"text": "x"}]}]}) == "Converse"


# -- job preparation: limits and the clientRequestToken -----------------------------------------


def _prepare(path: str, *, model: str | None = None, **options: object):
    with load_requests(path, model=model) as requests:
        job = bedrock.prepare_job(requests, BatchOptions(**options), settings(s3_uri="s3://bucket-a/pre/fix", role_arn=ROLE))
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


# -- settings -------------------------------------------------------------------------------------


def test_missing_and_bad_settings_are_reported_together() -> None:
    with pytest.raises(UsageError) as info:
        bedrock.check_settings(settings(), ("region", "s3_uri", "role_arn", "credentials"), credentials=lambda: False)
    assert "region, s3_uri, role_arn, credentials" in info.value.message
    assert "--region" in info.value.hint and "BIFROST_BEDROCK_S3_URI" in info.value.hint and "AWS_PROFILE" in info.value.hint
    with pytest.raises(UsageError) as info:
        bedrock.check_settings(settings(s3_uri="bucket/x", role_arn="role"), ("s3_uri", "role_arn"))
    assert "not an s3:// URI" in info.value.message and "not an IAM role ARN" in info.value.message


# -- results and status ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("native", "unified"),
    [("Submitted", "in_progress"), ("Validating", "in_progress"), ("Scheduled", "in_progress"),
     ("InProgress", "in_progress"), ("Stopping", "canceling"), ("Completed", "ended"),
     ("PartiallyCompleted", "ended"), ("Failed", "ended"), ("Stopped", "ended"), ("Expired", "ended")],
)
def test_unified_status(native: str, unified: str) -> None:
    batch = bedrock.parse_job({"jobArn": ARN, "status": native, "message": "why"})
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
    assert bedrock.job_counts(data).model_dump() == expected
    assert bedrock.job_counts({"status": status}) is None


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
    results = {r.custom_id: r.to_json_dict()["result"] for r in bedrock.join_results(job, ["a", "b", "c", "x"], iter(lines), "w")}
    assert list(results) == ["b", "a", "x", "c"]
    assert results["a"]["type"] == "succeeded"
    assert results["b"] == {"type": "errored", "error": {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}}
    assert results["c"]["error"]["error"]["type"] == "missing_result"
    message = results["x"]["message"]
    assert message["stop_reason"] == "tool_use" and message["usage"] == {"input_tokens": 3, "output_tokens": 4}
    assert message["content"] == [{"type": "text", "text": "hi"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"q": 1}}]
    stopped = list(bedrock.join_results({"status": "Stopped"}, ["a"], iter(()), "w"))
    assert stopped[0].result.type == "canceled"
    expired = list(bedrock.join_results({"status": "PartiallyCompleted"}, ["a"], iter(()), "w"))
    assert expired[0].result.type == "expired"


# -- botocore errors ------------------------------------------------------------------------------


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
    error = bedrock.aws_error(exc, "do it", Redactor(["SECRETKEY123"]))
    assert type(error) is cls and int(error.exit_code) == exit_code
    assert "SECRETKEY123" not in error.message and code in error.message and error.request_id == "rid"


def test_connection_errors_are_unavailable() -> None:
    from botocore.exceptions import EndpointConnectionError

    error = bedrock.aws_error(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "list", lambda t: t)
    assert isinstance(error, UnavailableError) and int(error.exit_code) == 6


def test_missing_boto3_says_what_to_install(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['boto3'] = None\n"
            "from bifrost_cli.cli.app import main\n"
            "sys.argv = ['bifrost', '-p', 'bedrock', 'batches', 'list']\nmain()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "pip install 'bifrost-cli[bedrock]'" in proc.stderr


# -- the gateway's /bedrock routes ----------------------------------------------------------------


class Gateway(Recorder):
    """A canned gateway: records every request and answers like the /bedrock routes."""

    def __init__(self, named: str | None = None) -> None:
        super().__init__()
        self.puts: dict[str, bytes] = {}
        self.named = named  # the name of a job the gateway already has

    def answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        job = {"jobArn": ARN, "status": "InProgress", "modelId": CLAUDE, "jobName": "j", "roleArn": ROLE,
               "submitTime": "2026-01-01T00:00:00Z", "inputDataConfig": {}, "outputDataConfig": {}}
        if request.method == "PUT" and path.startswith("/bedrock/files/"):
            self.puts[path] = request.read()
            return httpx.Response(200)
        if request.method == "POST" and path == "/bedrock/model-invocation-job":
            return httpx.Response(200, json={"jobArn": ARN})
        if request.method == "GET" and path.startswith("/bedrock/model-invocation-job/"):
            return httpx.Response(200, json=job)
        if request.method == "POST" and path.endswith("/stop"):
            return httpx.Response(400, json={"message": "already ended"},
                                  headers={"x-amzn-ErrorType": "ConflictException"}) if "ended" in self.puts else httpx.Response(200, json={})
        if path.startswith("/bedrock/model-invocation-jobs"):
            name = request.url.params.get("nameContains")
            if name is not None:  # the gateway's filter is a substring match
                found = [{**job, "jobName": self.named}] if self.named and name in self.named else []
                return httpx.Response(200, json={"invocationJobSummaries": found})
            token = request.url.params.get("nextToken")
            if token:
                return httpx.Response(200, json={"invocationJobSummaries": [{**job, "jobArn": ARN[:-1] + "7"}]})
            return httpx.Response(200, json={"invocationJobSummaries": [job], "nextToken": "t2"})
        return httpx.Response(404, json={"message": "no route"})


def gateway(handler: Gateway, *, trusted: bool = False, **flags: str):
    return bedrock_gateway.gateway_target(
        "http://127.0.0.1:8080", "bedrock", "sk-bf-test", trusted=trusted,
        settings=settings(s3_uri="s3://bucket-a/gw", role_arn=ROLE, **flags),
        transport=httpx.MockTransport(handler), max_retries=0,
    )


def test_gateway_create_puts_the_records_then_creates_the_job(tmp_path: Path) -> None:
    canned = Gateway()
    target = gateway(canned)
    with load_requests(write_requests(tmp_path)) as requests:
        batch = target.create_batch(requests, BatchOptions())
    assert batch.id == ARN and batch.status == "in_progress"
    (put_path, data), = canned.puts.items()
    assert put_path.startswith("/bedrock/files/bucket-a/gw/bifrost-batches/") and put_path.endswith("/in.jsonl")
    assert len(data.splitlines()) == 100 and json.loads(data.splitlines()[0])["recordId"] == "r0"
    create = next(r for r in canned.requests if r.method == "POST")
    body = json.loads(create.read())
    assert body["inputDataConfig"]["s3InputDataConfig"]["s3Uri"] == "s3://" + put_path.removeprefix("/bedrock/files/")
    assert create.headers["x-bf-vk"] == "sk-bf-test" and create.headers["x-model-provider"] == "bedrock"
    get = canned.requests[-1]
    assert get.url.raw_path.decode() == "/bedrock/model-invocation-job/" + ARN.replace(":", "%3A").replace("/", "%2F")


def test_gateway_repeated_create_returns_the_job_it_started(tmp_path: Path) -> None:
    # the gateway drops clientRequestToken, so the adapter finds a repeated create by the job's name
    path = write_requests(tmp_path)
    with load_requests(path) as requests:
        name = bedrock.prepare_job(requests, BatchOptions(), settings(s3_uri="s3://bucket-a/gw", role_arn=ROLE)).body["jobName"]
    canned = Gateway(named=name)
    with load_requests(path) as requests:
        batch = gateway(canned).create_batch(requests, BatchOptions())
    assert batch.id == ARN
    assert not canned.puts and not [r for r in canned.requests if r.method != "GET"]
    other = Gateway(named=name + "0")  # a job whose name merely contains this one's is another job
    with load_requests(path) as requests:
        gateway(other).create_batch(requests, BatchOptions())
    assert [r.method for r in other.requests if r.method != "GET"] == ["PUT", "POST"]


@pytest.mark.parametrize(
    ("model", "options", "message"),
    [
        (NOVA, {}, "takes Converse records"),
        (CLAUDE, {"metadata": {"team": "x"}}, "--metadata"),
    ],
)
def test_gateway_refuses_what_its_job_route_would_drop(tmp_path: Path, model: str, options: dict, message: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"custom_id": f"r{i}", "params": {"model": model, "max_tokens": 8, "messages": MSG}}) + "\n"
                            for i in range(100)))
    canned = Gateway()
    with load_requests(str(path)) as requests, pytest.raises(UnsupportedError, match=message) as info:
        gateway(canned).create_batch(requests, BatchOptions(**options))
    assert "drop --base-url" in (info.value.hint or "")
    assert canned.requests == []


def test_gateway_lists_pages_uploads_and_maps_conflicts(tmp_path: Path) -> None:
    canned = Gateway()
    target = gateway(canned)
    assert [b.id for b in target.list_batches(limit=None)] == [ARN, ARN[:-1] + "7"]
    source = tmp_path / "f.txt"
    source.write_text("hello")
    uploaded = target.upload_file(UploadSource.from_path(source), purpose=None)
    assert uploaded.id == "s3://bucket-a/gw/f.txt" and canned.puts["/bedrock/files/bucket-a/gw/f.txt"] == b"hello"
    canned.puts["ended"] = b""
    with pytest.raises(ConflictError):
        target.cancel_batch(ARN)


@pytest.mark.parametrize("op", ["list_files", "get_file", "delete_file", "open_download", "iter_results", "iter_raw_results"])
def test_gateway_refuses_what_it_cannot_serve_before_any_io(op: str) -> None:
    canned = Gateway()
    target = gateway(canned)
    method = getattr(target, op)
    with pytest.raises(UnsupportedError) as info:
        method(limit=None) if op == "list_files" else method(ARN if "results" in op else "s3://bucket-a/x")
    assert "drop --base-url" in info.value.message
    assert canned.requests == []


def test_in_process_emulator_refuses_every_operation() -> None:
    canned = Gateway()
    target = gateway(canned, trusted=True)
    with pytest.raises(UnsupportedError, match="does not serve Bedrock"):
        target.get_batch(ARN)
    with pytest.raises(UnsupportedError, match="does not serve Bedrock"):
        list(target.list_batches(limit=None))
    assert canned.requests == []
