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


@pytest.fixture(scope="module", params=["current", "legacy"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # legacy: a gateway whose job lists show no names and apply no filters, whose job get has no
    # name, and which drops timeoutDurationInHours (the emulator's --legacy-gateway)
    extra = ("--legacy-gateway",) if request.param == "legacy" else ()
    with quick_stack(tmp_path_factory.mktemp("bedrock-gateway"), "gateway", *extra) as stack:
        stack.legacy = bool(extra)  # type: ignore[attr-defined]
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
    # the gateway's /bedrock/files routes are S3: list, get (HEAD), download (GET), delete
    listed = gw_json("files", "list")
    assert [f["id"] for f in listed] == [f"{stack.s3_uri}/notes.txt"]
    got = gw_json("files", "get", f"{stack.s3_uri}/notes.txt")
    assert got["size_bytes"] == len(notes.read_bytes())
    copy = tmp_path / "copy.txt"
    assert gw("files", "download", f"{stack.s3_uri}/notes.txt", "-o", str(copy)).returncode == 0
    assert copy.read_bytes() == notes.read_bytes()
    assert gw("files", "delete", "notes.txt").returncode == 0
    assert gw_json("files", "list") == []
    gone = gw("files", "get", f"{stack.s3_uri}/notes.txt")
    assert gone.returncode == 4, gone.stderr

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
    # the gateway drops clientRequestToken (and a legacy one hides job names): the repeated create
    # still finds the job by its input, and starts none
    assert gw_json("batches", "create", str(path))["id"] == job
    assert [b["id"] for b in gw_json("batches", "list", "--all")].count(job) == 1

    assert gw("batches", "wait", job, "--allow-errors", "--poll", "0.2", "--timeout", "30").returncode == 0
    got = gw_json("batches", "get", job)
    assert got["native_status"] == "Completed" and got["details"]["input"] == f"s3://{BUCKET}/{input_key}"
    stopped = gw("batches", "cancel", job)
    assert stopped.returncode == 5 and "ConflictException" in stopped.stderr
    # results through the gateway's /bedrock/files routes are those read directly from Bedrock and S3
    through = gw("batches", "results", job)
    assert through.returncode == 0, through.stderr
    direct = stack.run("batches", "results", job)
    assert len(through.stdout.splitlines()) == 100 and through.stdout == direct.stdout


def test_a_timeout_the_gateway_drops_is_warned_about(stack: Stack, tmp_path: Path) -> None:
    env = {**stack.env(), "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_ENDPOINT_URL_BEDROCK": ""}
    path = _write(tmp_path, "timed.jsonl", neutral_lines(100, marker={0: "timed"}))
    proc = stack.served.run("--base-url", stack.served.url, "-p", "bedrock", "--s3-uri", stack.s3_uri, "batches", "create",
                            str(path), "--timeout-hours", "48", "-q", env=env)
    assert proc.returncode == 0, proc.stderr
    dropped = "did not pass --timeout-hours 48 on" in proc.stderr or "does not show --timeout-hours 48" in proc.stderr
    assert dropped == stack.legacy, proc.stderr  # type: ignore[attr-defined]
