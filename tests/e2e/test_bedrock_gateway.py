"""``-p bedrock`` through a Bifrost gateway's ``/bedrock`` routes: the installed ``bifrost`` as a
subprocess against ``bifrost emulator serve`` (its ``/bedrock`` routes write to moto's S3 server and
run jobs on the same emulated Bedrock as ``/native/bedrock``); nothing can reach real AWS."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bedrock_s3 import BUCKET, Stack, quick_stack, neutral_lines, s3_client, write as _write

pytest.importorskip("boto3")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with quick_stack(tmp_path_factory.mktemp("bedrock-gateway"), "gateway") as stack:
        yield stack


def test_through_the_gateway_routes(stack: Stack, tmp_path: Path) -> None:
    def gw(*args: str, **kwargs: object) -> subprocess.CompletedProcess:
        env = {**stack.env(), "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_ENDPOINT_URL_BEDROCK": ""}
        return stack.served.run("--base-url", stack.served.url, "-p", "bedrock", "--s3-uri", stack.s3_uri, *args, env=env, **kwargs)  # type: ignore[arg-type]

    def gw_json(*args: str) -> object:
        proc = gw(*args, "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    notes = _write(tmp_path, "notes.txt", "hello through the gateway\n")
    uploaded = gw_json("files", "upload", str(notes))
    assert uploaded[0]["id"] == f"{stack.s3_uri}/notes.txt"
    body = s3_client(stack.s3_url).get_object(Bucket=BUCKET, Key=f"{stack.prefix}/notes.txt")["Body"].read()  # type: ignore[attr-defined]
    assert body == notes.read_bytes()
    listing = gw("files", "list")
    assert listing.returncode == 2 and "drop --base-url" in listing.stderr

    # records for a Converse model would lose modelInvocationType on the way: refused before any I/O
    converse = gw("batches", "create", str(_write(tmp_path, "nova.jsonl", neutral_lines(100, model="amazon.nova-lite-v1:0"))))
    assert converse.returncode == 2 and "Converse" in converse.stderr
    assert not stack.keys("bifrost-batches/")

    path = _write(tmp_path, "requests.jsonl", neutral_lines(100))
    created = gw_json("batches", "create", str(path))
    job = created["id"]
    assert job.startswith("arn:aws:bedrock:") and created["status"] == "in_progress"
    input_key = next(k for k in stack.keys("bifrost-batches/") if k.endswith("/requests.jsonl"))
    sent = s3_client(stack.s3_url).get_object(Bucket=BUCKET, Key=input_key)["Body"].read().decode().splitlines()  # type: ignore[attr-defined]
    assert len(sent) == 100 and json.loads(sent[0])["modelInput"]["anthropic_version"] == "bedrock-2023-05-31"
    # the gateway drops clientRequestToken; the repeated create still finds the job, and starts none
    assert gw_json("batches", "create", str(path))["id"] == job
    name = created["details"]["job_name"]
    assert [b["id"] for b in gw_json("batches", "list", "--all") if b["details"].get("job_name") == name] == [job]

    assert gw("batches", "wait", job, "--allow-errors", "--poll", "0.2", "--timeout", "30").returncode == 0
    got = gw_json("batches", "get", job)
    assert got["native_status"] == "Completed" and got["details"]["input"] == f"s3://{BUCKET}/{input_key}"
    stopped = gw("batches", "cancel", job)
    assert stopped.returncode == 5 and "ConflictException" in stopped.stderr
    results = gw("batches", "results", job)
    assert results.returncode == 2 and "drop --base-url" in results.stderr
    # the same job, read directly from Bedrock, has every record's result
    assert len(stack.run("batches", "results", job).stdout.splitlines()) == 100
