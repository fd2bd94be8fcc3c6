"""Bedrock through a Bifrost gateway's ``/bedrock`` routes (``providers/bedrock/gateway.py``), on a canned
gateway behind ``httpx.MockTransport``; and the in-process emulator, which has no Bedrock."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bifrost_cli.errors import ConflictError, UnsupportedError
from bifrost_cli.inputs import load_requests
from bifrost_cli.providers.base import BatchOptions, UploadSource
from bifrost_cli.providers.bedrock import jobs as bedrock_jobs
from bifrost_cli.providers import build_target
from tests.fakes import Recorder
from tests.unit.bifrost_cli.providers.bedrock import ARN, CLAUDE, MSG, NOVA, ROLE, settings, write_requests


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
    where = {"emulator": "1"} if trusted else {"base_url": "http://127.0.0.1:8080", "api_key": "sk-bf-test"}
    config = settings(s3_uri="s3://bucket-a/gw", role_arn=ROLE, max_retries="0", **where, **flags)
    return build_target(config, transport=httpx.MockTransport(handler))


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
        name = bedrock_jobs.prepare_job(requests, BatchOptions(), settings(s3_uri="s3://bucket-a/gw", role_arn=ROLE)).body["jobName"]
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
