"""Shared by the Bedrock tests: moto's S3 server on loopback, an emulator that reaches it, and the
AWS environment that points boto3 and the CLI at both (and never at real AWS)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from tests.conftest import Served, start_emulator, stop_emulator

BUCKET = "bifrost-test-bucket"
ROLE = "arn:aws:iam::123456789012:role/BedrockBatch"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def aws_env(s3_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    """Dummy credentials and local endpoints only: no profile, no instance metadata, no real AWS."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": s3_url,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        **extra,
    }


def _moto_command(port: str) -> list[str]:
    script = Path(sys.executable).with_name("moto_server")
    if script.exists():
        return [str(script), "-H", "127.0.0.1", "-p", port]
    found = shutil.which("moto_server")
    if found:
        return [found, "-H", "127.0.0.1", "-p", port]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", port]


_shared: dict[str, tuple[subprocess.Popen[str], str, IO[str]]] = {}
"""moto's S3 server of this test process, once started (see :func:`moto_s3`)."""


@contextmanager
def moto_s3(tmp: Path) -> Iterator[str]:
    """moto's S3 server on a free loopback port, with the test bucket created through boto3.

    One server a test process, started at first use (moto takes seconds to import) and stopped when
    the session ends (:func:`stop_moto_s3`, from tests/conftest.py): every user keeps to keys of
    its own (:func:`quick_stack` gives each stack a prefix no other has)."""
    pytest.importorskip("moto")
    pytest.importorskip("boto3")
    if "s3" not in _shared:
        _shared["s3"] = _start_moto(tmp)
    yield _shared["s3"][1]


def _start_moto(tmp: Path) -> tuple[subprocess.Popen[str], str, IO[str]]:
    import boto3

    log = open(tmp / "moto.log", "w+")  # noqa: SIM115 - closed by stop_moto_s3
    proc = subprocess.Popen(_moto_command("0"), stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            log.seek(0)
            found = re.search(r"Running on (http://127\.0\.0\.1:\d+)", log.read())
            url = found.group(1) if found else None
        if url is None:
            log.seek(0)
            raise RuntimeError("moto_server did not start: " + log.read())
        env = aws_env(url, tmp)
        session = boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1"
        )
        session.client("s3", endpoint_url=url).create_bucket(Bucket=BUCKET)
    except BaseException:
        _stop(proc, log)
        raise
    return proc, url, log


def stop_moto_s3() -> None:
    """Stop this process's moto server, if one was started."""
    if "s3" in _shared:
        proc, _, log = _shared.pop("s3")
        _stop(proc, log)


def _stop(proc: subprocess.Popen[str], log: IO[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@contextmanager
def emulator_with_s3(tmp: Path, s3_url: str, *extra: str) -> Iterator[Served]:
    """``bifrost emulator serve`` started with the AWS settings that let it reach the S3 server."""
    served = start_emulator(tmp / "state", "--quiet", *extra, env=aws_env(s3_url, tmp))
    try:
        yield served
    finally:
        stop_emulator(served)


def s3_client(s3_url: str) -> object:
    import boto3

    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("s3", endpoint_url=s3_url)


def neutral_lines(count: int, *, model: str | None = MODEL, marker: dict[int, str] | None = None) -> str:
    """``count`` provider-neutral requests; ``marker`` puts emulator markers in chosen requests."""
    lines = []
    for i in range(count):
        text = f"Say hello number {i}" + ((" " + marker[i]) if marker and i in marker else "")
        params: dict[str, object] = {"max_tokens": 64, "messages": [{"role": "user", "content": text}]}
        if model:
            params["model"] = model
        lines.append(json.dumps({"custom_id": f"req-{i:04d}", "params": params}))
    return "\n".join(lines) + "\n"


def native_lines(count: int) -> str:
    return "".join(
        json.dumps({"recordId": f"rec-{i:04d}", "modelInput": {
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 32,
            "messages": [{"role": "user", "content": f"native {i}"}]}}) + "\n"
        for i in range(count)
    )


class Stack:
    def __init__(self, served: Served, s3_url: str, tmp: Path, prefix: str):
        self.served = served
        self.s3_url = s3_url
        self.tmp = tmp
        self.prefix = prefix

    @property
    def s3_uri(self) -> str:
        return f"s3://{BUCKET}/{self.prefix}"

    def env(self, **extra: str) -> dict[str, str]:
        return aws_env(
            self.s3_url,
            self.tmp,
            AWS_ENDPOINT_URL_BEDROCK=self.served.url + "/native/bedrock",
            BIFROST_BEDROCK_ROLE_ARN=ROLE,
            **extra,
        )

    def run(self, *args: str, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.CompletedProcess:
        return self.served.run("-p", "bedrock", "--s3-uri", self.s3_uri, *args, env={**self.env(), **(env or {})}, **kwargs)  # type: ignore[arg-type]

    def json(self, *args: str, **kwargs: object) -> object:
        proc = self.run(*args, "--json", **kwargs)  # type: ignore[arg-type]
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def keys(self, prefix: str = "") -> list[str]:
        reply = s3_client(self.s3_url).list_objects_v2(Bucket=BUCKET, Prefix=self.prefix + "/" + prefix)  # type: ignore[attr-defined]
        return [o["Key"] for o in reply.get("Contents", [])]


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


@contextmanager
def quick_stack(tmp: Path, prefix: str, *extra: str) -> Iterator[Stack]:
    """moto's S3 server and an emulator whose jobs end after about a second, files under ``prefix``
    (``extra``: more ``emulator serve`` options, e.g. ``--legacy-gateway``)."""
    _prefixes[prefix] = _prefixes.get(prefix, 0) + 1  # the S3 server is shared: a prefix of its own
    unique = prefix if _prefixes[prefix] == 1 else f"{prefix}-{_prefixes[prefix]}"
    with moto_s3(tmp) as s3_url, emulator_with_s3(tmp, s3_url, "--batch-seconds", "1", *extra) as served:
        yield Stack(served, s3_url, tmp, unique)


_prefixes: dict[str, int] = {}
