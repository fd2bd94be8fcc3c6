"""End to end for ``-p bedrock``: the installed ``bifrost`` as a subprocess, with Bedrock's control
plane served by ``bifrost emulator serve`` (``AWS_ENDPOINT_URL_BEDROCK``) and S3 by moto's server
(``AWS_ENDPOINT_URL_S3``), dummy credentials, and nothing that can reach real AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bedrock_s3 import BUCKET, Stack, emulator_with_s3, moto_s3, native_lines, neutral_lines, s3_client, write as _write
from tests.conftest import Served

pytest.importorskip("boto3")


@pytest.fixture(scope="module")
def s3_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_s3(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture(scope="module")
def quick(s3_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with emulator_with_s3(tmp_path_factory.mktemp("quick"), s3_url, "--batch-seconds", "1") as served:
        yield served


@pytest.fixture(scope="module")
def slow(s3_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with emulator_with_s3(tmp_path_factory.mktemp("slow"), s3_url, "--batch-seconds", "60") as served:
        yield served


@pytest.fixture
def stack(quick: Served, s3_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Stack:
    return Stack(quick, s3_url, tmp_path, "e2e/" + request.node.name.replace("_", "-")[:40])


# -- files ------------------------------------------------------------------------------------------


def test_files_upload_list_get_download_delete(stack: Stack, tmp_path: Path) -> None:
    small = _write(tmp_path, "notes.jsonl", '{"a": 1}\n')
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (6 * 1024 * 1024 // 256 + 1))  # over the 5 MiB multipart threshold
    env = {"BIFROST_S3_MULTIPART_THRESHOLD": str(5 * 1024 * 1024), "BIFROST_S3_MULTIPART_CHUNKSIZE": str(5 * 1024 * 1024)}
    uploaded = stack.json("files", "upload", str(small), str(big), env=env)
    ids = [f["id"] for f in uploaded]
    assert ids == [f"{stack.s3_uri}/notes.jsonl", f"{stack.s3_uri}/big.bin"]
    assert uploaded[1]["size_bytes"] == big.stat().st_size
    head = s3_client(stack.s3_url).head_object(Bucket=BUCKET, Key=f"{stack.prefix}/big.bin")  # type: ignore[attr-defined]
    assert head["ETag"].strip('"').endswith("-2")  # stored as a two-part multipart upload

    piped = stack.run("files", "upload", "-", "--filename", "piped.txt", "-q", input=b"from stdin")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.split() == [f"{stack.s3_uri}/piped.txt".encode()]

    listed = stack.json("files", "list", "--all")
    assert sorted(f["id"] for f in listed) == sorted([*ids, f"{stack.s3_uri}/piped.txt"])
    assert [f["id"] for f in stack.json("files", "list", "--limit", "1")] == [listed[0]["id"]]

    got = stack.json("files", "get", ids[0])
    assert got["filename"] == "notes.jsonl" and got["size_bytes"] == small.stat().st_size

    out = tmp_path / "copy.bin"
    proc = stack.run("files", "download", ids[1], "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == big.read_bytes()
    assert not list(tmp_path.glob(".copy.bin.*"))  # no temporary file left

    again = stack.run("files", "upload", str(small))
    assert again.returncode == 2 and "already exists" in again.stderr

    deleted = stack.run("files", "delete", ids[0], ids[1])
    assert deleted.returncode == 0, deleted.stderr
    missing = stack.run("files", "get", ids[0])
    assert missing.returncode == 4, missing.stderr
    assert stack.run("files", "delete", ids[0]).returncode == 4


# -- batches ----------------------------------------------------------------------------------------


def test_batch_lifecycle_with_failing_records(stack: Stack, tmp_path: Path) -> None:
    markers = {3: "[emulator:error]", 50: "[emulator:error:rate_limit_error]"}
    path = _write(tmp_path, "requests.jsonl", neutral_lines(120, marker=markers))
    created = stack.json("batches", "create", str(path))
    job = created["id"]
    assert job.startswith("arn:aws:bedrock:us-east-1:") and created["provider"] == "bedrock"
    # the input went to S3 as Bedrock records, nothing was lost or reordered
    input_key = next(k for k in stack.keys() if k.endswith("requests.jsonl"))
    body = s3_client(stack.s3_url).get_object(Bucket=BUCKET, Key=input_key)["Body"].read()  # type: ignore[attr-defined]
    first = json.loads(body.decode().splitlines()[0])
    assert first["recordId"] == "req-0000"
    assert first["modelInput"]["anthropic_version"] == "bedrock-2023-05-31" and "model" not in first["modelInput"]

    # a repeated create starts no second job
    assert stack.json("batches", "create", str(path))["id"] == job

    waited = stack.run("batches", "wait", job, "--poll", "0.2", "--timeout", "30")
    assert waited.returncode == 7, waited.stderr  # ended, but not every request succeeded
    got = stack.json("batches", "get", job)
    assert got["status"] == "ended" and got["native_status"] == "Completed"
    counts = {k: v for k, v in got["request_counts"].items() if k != "total"}
    assert counts == {"processing": 0, "succeeded": 118, "errored": 2, "canceled": 0, "expired": 0}
    assert job in [b["id"] for b in stack.json("batches", "list")]

    results = [json.loads(line) for line in stack.run("batches", "results", job).stdout.splitlines()]
    by_id = {r["custom_id"]: r["result"] for r in results}
    assert len(results) == 120 and len(by_id) == 120
    assert by_id["req-0003"]["type"] == "errored"
    assert by_id["req-0050"]["error"]["error"]["type"] == "rate_limit_error"
    assert by_id["req-0007"]["type"] == "succeeded"
    assert by_id["req-0007"]["message"]["content"][0]["text"].endswith("Say hello number 7")

    raw = [json.loads(line) for line in stack.run("batches", "results", job, "--raw").stdout.splitlines()]
    assert sorted(r["recordId"] for r in raw) == sorted(by_id)
    assert {"recordId", "modelInput"} <= raw[0].keys() and ("modelOutput" in raw[0] or "error" in raw[0])

    out = tmp_path / "results.jsonl"
    assert stack.run("batches", "results", job, "-o", str(out)).returncode == 0
    assert len(out.read_text().splitlines()) == 120


def test_native_records_and_converse_models(stack: Stack, tmp_path: Path) -> None:
    native = _write(tmp_path, "native.jsonl", native_lines(100))
    no_model = stack.run("batches", "create", str(native))
    assert no_model.returncode == 2 and "--model" in no_model.stderr
    created = stack.json("batches", "create", str(native), "--model", "anthropic.claude-3-haiku-20240307-v1:0")
    assert created["details"]["invocation_type"] == "InvokeModel"

    converse = _write(tmp_path, "converse.jsonl", neutral_lines(100, model="amazon.nova-lite-v1:0"))
    job = stack.json("batches", "create", str(converse))
    assert job["details"]["invocation_type"] == "Converse"
    assert stack.run("batches", "wait", job["id"], "--poll", "0.2", "--timeout", "30").returncode == 0
    results = [json.loads(line) for line in stack.run("batches", "results", job["id"]).stdout.splitlines()]
    assert len(results) == 100 and all(r["result"]["type"] == "succeeded" for r in results)
    assert results[0]["result"]["message"]["content"][0]["type"] == "text"


def test_bad_input_is_refused_before_anything_is_uploaded(stack: Stack, tmp_path: Path) -> None:
    few = stack.run("batches", "create", str(_write(tmp_path, "few.jsonl", neutral_lines(5))))
    assert few.returncode == 2 and "at least 100" in few.stderr
    lines = neutral_lines(100, model="amazon.nova-lite-v1:0").splitlines()
    bad = json.loads(lines[9])
    bad["params"]["tools"] = [{"name": "t", "input_schema": {"type": "object"}}]
    lines[9] = json.dumps(bad)
    refused = stack.run("batches", "create", str(_write(tmp_path, "tools.jsonl", "\n".join(lines) + "\n")))
    assert refused.returncode == 2
    assert "tools.jsonl:10: params.tools" in refused.stderr
    assert stack.keys() == []


def test_stopped_job(slow: Served, s3_url: str, tmp_path: Path) -> None:
    stack = Stack(slow, s3_url, tmp_path, "e2e/stopped")
    job = stack.json("batches", "create", str(_write(tmp_path, "stop.jsonl", neutral_lines(100))))["id"]
    canceled = stack.json("batches", "cancel", job)
    assert canceled["status"] in ("canceling", "ended")
    waited = stack.run("batches", "wait", job, "--poll", "0.2", "--timeout", "30")
    assert waited.returncode == 7, waited.stderr
    got = stack.json("batches", "get", job)
    assert got["native_status"] == "Stopped" and got["status"] == "ended"
    results = [json.loads(line) for line in stack.run("batches", "results", job).stdout.splitlines()]
    assert len(results) == 100
    assert {r["result"]["type"] for r in results} <= {"succeeded", "canceled"}
    assert any(r["result"]["type"] == "canceled" for r in results)
    again = stack.run("batches", "cancel", job)
    assert again.returncode == 5 and "ConflictException" in again.stderr


def test_results_of_a_running_job_and_unknown_jobs(slow: Served, s3_url: str, tmp_path: Path) -> None:
    stack = Stack(slow, s3_url, tmp_path, "e2e/running")
    job = stack.json("batches", "create", str(_write(tmp_path, "run.jsonl", neutral_lines(100))))["id"]
    early = stack.run("batches", "results", job)
    assert early.returncode == 1 and "has not ended" in early.stderr
    unknown = stack.run("batches", "get", job[:-12] + "zzzzzzzzzzzz")
    assert unknown.returncode == 4
    not_bedrock = stack.run("batches", "get", "msgbatch_01abc")
    assert not_bedrock.returncode == 2 and "looks like an Anthropic batch id" in not_bedrock.stderr
    assert "Hint: `bifrost -p anthropic batches get msgbatch_01abc`" in not_bedrock.stderr  # no Bedrock options


# -- settings and targets -------------------------------------------------------------------------


def test_missing_settings_are_reported_together_before_any_io(quick: Served, tmp_path: Path) -> None:
    path = _write(tmp_path, "requests.jsonl", neutral_lines(100))
    env = {
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_ENDPOINT_URL_BEDROCK": "http://127.0.0.1:9/native/bedrock",  # nothing listens: any I/O would exit 6
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
    }
    proc = quick.run("-p", "bedrock", "batches", "create", str(path), env=env)
    assert proc.returncode == 2, proc.stderr
    for name in ("region", "s3_uri", "role_arn", "credentials"):
        assert name in proc.stderr
    for what in ("--region", "--s3-uri", "--role-arn", "AWS_ACCESS_KEY_ID"):
        assert what in proc.stderr
    listing = quick.run("-p", "bedrock", "files", "list", env={**env, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    assert listing.returncode == 2 and "s3_uri" in listing.stderr and "role_arn" not in listing.stderr


def test_in_process_emulator_refuses_clearly(quick: Served) -> None:
    for args in (("batches", "list"), ("files", "list"), ("batches", "get", "abcdefabcdef")):
        proc = quick.run("--emulator", "-p", "bedrock", *args)
        assert proc.returncode == 2, proc.stderr
        assert "does not serve Bedrock" in proc.stderr and "AWS_ENDPOINT_URL_BEDROCK" in proc.stderr
