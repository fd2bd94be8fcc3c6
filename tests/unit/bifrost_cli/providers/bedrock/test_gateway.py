"""Bedrock through a Bifrost gateway's ``/bedrock`` routes (``providers/bedrock/gateway.py``), on a canned
gateway behind ``httpx.MockTransport``; and the in-process emulator, which has no Bedrock."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bifrost_cli.errors import ConflictError, NotFoundError, UnsupportedError
from bifrost_cli.inputs import load_requests
from bifrost_cli.providers.base import BatchOptions, UploadSource
from bifrost_cli.providers import build_target
from tests.fakes import Recorder
from tests.unit.bifrost_cli.providers.bedrock import ARN, CLAUDE, MSG, NOVA, ROLE, settings, write_requests


class Gateway(Recorder):
    """A canned gateway that behaves as the real one does (its source, read for issue 11): S3 objects
    on /bedrock/files (PUT; GET; HEAD and DELETE naming the file in If-Match; ListObjectsV2 on the
    bucket), and jobs whose list summaries have empty jobName and modelId, whose get omits jobName and
    message, and whose list ignores statusEquals and nameContains."""

    def __init__(self, jobs: dict[str, dict] | None = None, timeout_kept: bool = True) -> None:
        super().__init__()
        self.puts: dict[str, bytes] = {}  # "bucket/key" -> bytes
        self.jobs: dict[str, dict] = dict(jobs or {})
        self.timeout_kept = timeout_kept

    def answer(self, request: httpx.Request) -> httpx.Response:
        from urllib.parse import unquote

        path = request.url.raw_path.decode().split("?")[0]
        s3 = {"content-type": "application/xml", "x-amz-request-id": "bifrost"}
        if path.startswith("/bedrock/files/"):
            where = unquote(path.removeprefix("/bedrock/files/"))
            bucket, _, key = where.partition("/")
            uri = f"s3://{bucket}/{key}"
            if request.method == "PUT":
                self.puts[where] = request.read()
                return httpx.Response(200, headers={**s3, "etag": f'"{uri}"'})
            if not key and request.method == "GET":  # ListObjectsV2
                prefix = request.url.params.get("prefix") or ""
                size = int(request.url.params.get("max-keys") or 1000)
                start = int(request.url.params.get("continuation-token") or 0)
                keys = sorted(k.partition("/")[2] for k in self.puts if k.startswith(bucket + "/"))
                keys = [k for k in keys if k.startswith(prefix)]
                page = keys[start:start + size]
                more = start + size < len(keys)
                contents = "".join(f"<Contents><Key>{k}</Key><Size>{len(self.puts[bucket + '/' + k])}</Size>"
                                   f"<LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>" for k in page)
                token = f"<NextContinuationToken>{start + size}</NextContinuationToken>" if more else ""
                xml = (f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                       f"<Name>{bucket}</Name><IsTruncated>{'true' if more else 'false'}</IsTruncated>{contents}{token}</ListBucketResult>")
                return httpx.Response(200, content=xml.encode(), headers=s3)
            if request.method in ("HEAD", "DELETE") and request.headers.get("if-match") != uri:
                return httpx.Response(400, json={"message": "file id (If-Match) is required"})
            if where not in self.puts:
                return httpx.Response(404, json={"message": "NoSuchKey"})
            if request.method == "HEAD":
                return httpx.Response(200, headers={"content-length": str(len(self.puts[where])), "content-type": "application/jsonl",
                                                    "last-modified": "Thu, 01 Jan 2026 00:00:00 GMT"})
            if request.method == "DELETE":
                del self.puts[where]
                return httpx.Response(204)
            return httpx.Response(200, content=self.puts[where])
        if request.method == "POST" and path == "/bedrock/model-invocation-job":
            body = json.loads(request.read())
            arn = ARN[:-6] + f"{len(self.jobs):06d}"
            job = {"jobArn": arn, "status": "InProgress", "modelId": body["modelId"], "roleArn": ROLE,
                   "submitTime": "2026-01-01T00:00:00Z", "inputDataConfig": body["inputDataConfig"],
                   "outputDataConfig": body["outputDataConfig"]}
            if self.timeout_kept and "timeoutDurationInHours" in body:
                job["timeoutDurationInHours"] = body["timeoutDurationInHours"]
            self.jobs[arn] = job
            return httpx.Response(200, json={"jobArn": arn})
        if request.method == "GET" and path.startswith("/bedrock/model-invocation-job/"):
            job = self.jobs.get(unquote(path.removeprefix("/bedrock/model-invocation-job/")))
            return httpx.Response(200, json=job) if job else httpx.Response(404, json={"message": "no such job"})
        if request.method == "POST" and path.endswith("/stop"):
            return httpx.Response(400, json={"message": "already ended"}, headers={"x-amzn-ErrorType": "ConflictException"})
        if path == "/bedrock/model-invocation-jobs":
            summaries = [{**job, "jobName": "", "modelId": ""} for job in reversed(list(self.jobs.values()))]
            size = int(request.url.params.get("maxResults") or 1000)
            start = int(request.url.params.get("nextToken") or 0)
            page = {"invocationJobSummaries": summaries[start:start + size]}
            if start + size < len(summaries):
                page["nextToken"] = str(start + size)
            return httpx.Response(200, json=page)
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
    assert batch.id in canned.jobs and batch.status == "in_progress"
    (where, data), = canned.puts.items()
    assert where.startswith("bucket-a/gw/bifrost-batches/") and where.endswith("/in.jsonl")
    assert len(data.splitlines()) == 100 and json.loads(data.splitlines()[0])["recordId"] == "r0"
    assert [r.method for r in canned.requests] == ["HEAD", "PUT", "POST", "GET"]
    create = next(r for r in canned.requests if r.method == "POST")
    body = json.loads(create.read())
    assert body["inputDataConfig"]["s3InputDataConfig"]["s3Uri"] == "s3://" + where
    assert create.headers["x-bf-vk"] == "sk-bf-test" and create.headers["x-model-provider"] == "bedrock"


def test_gateway_repeated_create_returns_the_job_reading_its_input(tmp_path: Path) -> None:
    # The gateway drops clientRequestToken and shows no job names: the earlier job is the one that
    # reads the records' own input object (an earlier create uploaded it).
    canned = Gateway()
    path = write_requests(tmp_path)
    with load_requests(path) as requests:
        first = gateway(canned).create_batch(requests, BatchOptions())
    with load_requests(write_requests(tmp_path, name="other.jsonl", temperature=0.5)) as requests:
        gateway(canned).create_batch(requests, BatchOptions())  # a later job, of other records
    canned.requests.clear()
    with load_requests(path) as requests:
        again = gateway(canned).create_batch(requests, BatchOptions())
    assert again.id == first.id and len(canned.jobs) == 2
    assert not [r for r in canned.requests if r.method not in ("GET", "HEAD")]


def test_a_timeout_the_gateway_did_not_keep_is_warned_about(tmp_path: Path) -> None:
    said: list[str] = []
    for kept in (True, False):
        canned = Gateway(timeout_kept=kept)
        config = settings(s3_uri="s3://bucket-a/gw", role_arn=ROLE, max_retries="0", base_url="http://127.0.0.1:8080", api_key="k")
        target = build_target(config, transport=httpx.MockTransport(canned), warn=said.append)
        with load_requests(write_requests(tmp_path)) as requests:
            target.create_batch(requests, BatchOptions(timeout_hours=48))
        assert len(said) == (0 if kept else 1)
    assert "--timeout-hours 48" in said[0] and "72 hours" in said[0]


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
    assert "drop --base-url" in info.value.message + (info.value.hint or "")
    assert canned.requests == []


def test_gateway_lists_pages_uploads_and_maps_conflicts(tmp_path: Path) -> None:
    canned = Gateway()
    target = gateway(canned)
    with load_requests(write_requests(tmp_path)) as requests:
        one = target.create_batch(requests, BatchOptions())
    with load_requests(write_requests(tmp_path, name="b.jsonl")) as requests:
        two = target.create_batch(requests, BatchOptions())
    assert [b.id for b in target.list_batches(limit=None)] == [two.id, one.id]
    source = tmp_path / "f.txt"
    source.write_text("hello")
    uploaded = target.upload_file(UploadSource.from_path(source), purpose=None)
    assert uploaded.id == "s3://bucket-a/gw/f.txt" and canned.puts["bucket-a/gw/f.txt"] == b"hello"
    with pytest.raises(ConflictError):
        target.cancel_batch(one.id)


def test_gateway_files_are_the_s3_objects_of_its_files_routes(tmp_path: Path) -> None:
    canned = Gateway()
    target = gateway(canned)
    for i in range(3):
        canned.puts[f"bucket-a/gw/f{i}.jsonl"] = b"x" * (i + 1)
    canned.puts["bucket-a/elsewhere.jsonl"] = b"not under --s3-uri"
    listed = list(target.list_files(limit=None))
    assert [(f.id, f.size_bytes) for f in listed] == [(f"s3://bucket-a/gw/f{i}.jsonl", i + 1) for i in range(3)]
    assert [f.id for f in target.list_files(limit=2)] == ["s3://bucket-a/gw/f0.jsonl", "s3://bucket-a/gw/f1.jsonl"]
    got = target.get_file("f2.jsonl")  # a key relative to --s3-uri
    assert (got.id, got.size_bytes, got.mime_type) == ("s3://bucket-a/gw/f2.jsonl", 3, "application/jsonl")
    assert got.created_at is not None and got.created_at.year == 2026
    head = next(r for r in canned.requests if r.method == "HEAD")
    assert head.headers["if-match"] == "s3://bucket-a/gw/f2.jsonl"
    with target.open_download("s3://bucket-a/gw/f1.jsonl") as download:
        assert b"".join(download.chunks()) == b"xx" and download.size == 2
    assert target.delete_file("s3://bucket-a/gw/f0.jsonl").deleted
    assert "bucket-a/gw/f0.jsonl" not in canned.puts
    delete = next(r for r in canned.requests if r.method == "DELETE")
    assert delete.headers["if-match"] == "s3://bucket-a/gw/f0.jsonl"
    with pytest.raises(NotFoundError):
        target.get_file("s3://bucket-a/gw/f0.jsonl")
    with pytest.raises(NotFoundError):
        target.delete_file("s3://bucket-a/gw/f0.jsonl")  # S3 would say nothing: the CLI says it is not there


def test_gateway_results_are_read_from_the_jobs_output_objects(tmp_path: Path) -> None:
    canned = Gateway()
    target = gateway(canned)
    with load_requests(write_requests(tmp_path)) as requests:
        job = target.create_batch(requests, BatchOptions())
    stored = canned.jobs[job.id]
    stored["status"] = "Completed"
    out_prefix = stored["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"].removeprefix("s3://")
    job_id = job.id.rsplit("/", 1)[-1]
    answer = {"content": [{"type": "text", "text": "hi"}], "role": "assistant", "type": "message",
              "model": CLAUDE, "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}}
    records = [{"recordId": "r0", "modelInput": {}, "modelOutput": answer},
               {"recordId": "r2", "modelInput": {}, "error": {"errorCode": 400, "errorMessage": "bad"}}]
    canned.puts[f"{out_prefix}{job_id}/in.jsonl.out"] = "".join(json.dumps(r) + "\n" for r in records).encode()
    canned.puts[f"{out_prefix}{job_id}/manifest.json.out"] = json.dumps(
        {"totalRecordCount": 100, "processedRecordCount": 2, "successRecordCount": 1, "errorRecordCount": 1}).encode()
    got = target.get_batch(job.id)
    assert got.status == "ended" and got.request_counts is not None
    assert (got.request_counts.succeeded, got.request_counts.total) == (1, 100)  # from the manifest
    results = {r.custom_id: r.result.type for r in target.iter_results(job.id)}
    assert results["r0"] == "succeeded" and results["r2"] == "errored" and "r1" in results
    assert len(list(target.iter_raw_results(job.id))) == 2


def test_in_process_emulator_refuses_every_operation() -> None:
    canned = Gateway()
    target = gateway(canned, trusted=True)
    with pytest.raises(UnsupportedError, match="does not serve Bedrock"):
        target.get_batch(ARN)
    with pytest.raises(UnsupportedError, match="does not serve Bedrock"):
        list(target.list_batches(limit=None))
    assert canned.requests == []
