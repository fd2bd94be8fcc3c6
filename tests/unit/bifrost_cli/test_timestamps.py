"""One timestamp format in every output: RFC 3339 in UTC, to the second (``2026-11-30T05:42:03Z``).

Each provider's adapter (directly and through the gateway) reads answers whose times come in the
shapes providers use (offsets, sub-seconds, nanoseconds, epoch seconds with a fraction); the JSON and
the human output of ``batches get/list`` and ``files get/list`` show every time in the one format.
The ledger (``batches list --local --json``) and ``batches wait --json`` events do too.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from bifrost_cli import service
from bifrost_cli.config import resolve
from bifrost_cli.models import Batch, File
from bifrost_cli.output import Output, human_time
from bifrost_cli.providers import build_target
from bifrost_cli.timestamps import rfc3339
from tests.conftest import invoke

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
NOON = "2025-04-14T12:00:00Z"  # every corpus below says this moment, each in its own way
KEY = "sk-test-0123456789abcdef"

# One answer every provider's parser reads its own fields from, the times in awkward shapes
STRINGS: dict[str, Any] = {
    "created_at": "2025-04-14T14:00:00.654321+02:00",  # Anthropic's strings (with an offset, sub-seconds)
    "ended_at": "2025-04-14T12:00:00.999Z",
    "expires_at": "2025-04-14T12:00:00.1Z",
    "createTime": "2025-04-14T12:00:00.123456789Z",  # Google's nanoseconds
    "updateTime": "2025-04-14T12:00:00.123456789Z",
    "endTime": "2025-04-14T07:00:00.5-05:00",
    "expirationTime": "2025-04-14T12:00:00.000001Z",
    "submitTime": "2025-04-14T12:00:00.42Z",  # Bedrock
    "lastModifiedTime": "2025-04-14T12:00:00.42Z",
    "jobExpirationTime": "2025-04-14T12:00:00.42Z",
}
EPOCHS: dict[str, Any] = {  # OpenAI's epoch seconds (a fraction too)
    "created_at": 1744632000.75, "completed_at": 1744632000, "expires_at": 1744632000.2, "in_progress_at": 1744632000,
    "finalizing_at": 1744632000, "cancelling_at": 1744632000.9,
}
COMMON: dict[str, Any] = {
    "id": "msgbatch_b1", "name": "batches/b1", "type": "message_batch", "processing_status": "ended", "status": "completed",
    "jobArn": "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdefghijb1",
    "request_counts": {"processing": 0, "succeeded": 1, "errored": 0, "canceled": 0, "expired": 0, "total": 1,
                       "completed": 1, "failed": 0},
    "endpoint": "/v1/chat/completions", "output_file_id": "file-out",
    "metadata": {"state": "BATCH_STATE_SUCCEEDED", "name": "batches/b1", "batchStats": {"requestCount": "1"}},
    "done": True, "modelId": "anthropic.claude",
    "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://bucket/in.jsonl"}},
    "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out/"}},
    "filename": "in.jsonl", "displayName": "in.jsonl", "size_bytes": 10, "bytes": 10, "sizeBytes": "10",
    "mime_type": "application/jsonl", "purpose": "batch", "downloadable": True, "key": "in.jsonl", "size": 10,
}
LIST_KEYS = ("data", "files", "batches", "operations", "invocationJobSummaries")

CASES = [(p, False) for p in ("anthropic", "openai", "gemini")] + [(p, True) for p in ("anthropic", "openai", "gemini", "bedrock")]
IDS = {"anthropic": ("msgbatch_b1", "file_011"), "openai": ("batch_b1", "file-011"), "gemini": ("batches/b1", "files/f1"),
       "bedrock": ("abcdefghijb1", "s3://bucket/in.jsonl")}


def answers(fields: dict[str, Any], provider: str) -> httpx.MockTransport:
    body = {**COMMON, **fields}
    if provider == "gemini":  # an operation's times are in its metadata
        body["metadata"] = {**body["metadata"], **{k: v for k, v in fields.items() if k.endswith("Time")}}

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        item = {**body, "id": IDS["openai"][0] if "/batches" in path and "openai" in str(request.url) else body["id"]}
        one = not (path.endswith(("/batches", "/files", "/model-invocation-jobs")) or path.endswith("/batches/") )
        data = item if one else {key: [item] for key in LIST_KEYS} | {"has_more": False}
        headers = {"content-type": "application/json", "last-modified": "Mon, 14 Apr 2025 12:00:00 GMT"}
        return httpx.Response(200, content=json.dumps(data).encode(), headers=headers)

    return httpx.MockTransport(answer)


def times(data: Any, found: list[str]) -> list[str]:
    """Every value of a key that names a time (``*_at``), at any depth."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key.endswith("_at") and value is not None:
                found.append(value)
            times(value, found)
    elif isinstance(data, list):
        for value in data:
            times(value, found)
    return found


def run(target: Any, command: str, ids: tuple[str, str], mode: str) -> str:
    out = io.StringIO()
    output = Output(mode, stdout=out, stderr=io.StringIO())  # type: ignore[arg-type]
    if command == "batches get":
        output.batch(service.get_batch(target, ids[0]))
    elif command == "batches list":
        output.batches(service.list_batches(target, limit=5))
    elif command == "files get":
        output.file(service.get_file(target, ids[1]))
    else:
        output.files(service.list_files(target, limit=5))
    return out.getvalue()


# epoch seconds: the providers whose answers hold them (OpenAI's, and a gateway's conversions)
RUNS = [(p, g, "strings") for p, g in CASES] + [(p, g, "epochs") for p, g in CASES if p in ("anthropic", "openai")]


@pytest.mark.parametrize(("provider", "gateway", "corpus"), RUNS, ids=[f"{p}-{'gateway' if g else 'direct'}-{c}" for p, g, c in RUNS])
def test_every_adapter_writes_rfc3339_utc_seconds(tmp_path: Path, provider: str, gateway: bool, corpus: str) -> None:
    flags: dict[str, Any] = {"provider": provider, "max_retries": 0, "timeout": 10}
    if gateway:
        flags |= {"base_url": "http://127.0.0.1:9", "api_key": KEY}
    else:
        flags |= {f"{provider}_api_key": KEY, f"{provider}_base_url": "http://127.0.0.1:9"}
    if provider == "bedrock":
        flags |= {"s3_uri": "s3://bucket/prefix", "role_arn": "arn:aws:iam::123456789012:role/batch"}
    target = build_target(resolve(flags, environ={}, path=tmp_path / "absent.toml"), transport=answers(STRINGS if corpus == "strings" else EPOCHS, provider))
    seen = 0
    for command in ("batches get", "batches list", "files get", "files list"):
        try:
            shown = run(target, command, IDS[provider], "json")
        except Exception as exc:  # noqa: BLE001 - a target that cannot do this (Bedrock's files are S3's)
            if "files" in command and provider == "bedrock":
                continue
            raise AssertionError(f"{command}: {exc!r}") from exc
        found = times(json.loads(shown), [])
        assert all(RFC3339.match(value) for value in found), (command, found)
        assert all(value.startswith("2025-04-14T1") for value in found), (command, found)
        seen += len(found)
        human = run(target, command, IDS[provider], "human")
        shown_times = re.findall(r"\d{4}-\d\d-\d\d[ T][\d:.]+\S*", human)
        assert shown_times and all(RFC3339.match(t) for t in shown_times), (command, shown_times)
    assert seen >= 4  # times were read, not dropped


@pytest.mark.parametrize(
    "value",
    [
        datetime(2025, 4, 14, 14, 0, 0, 654321, tzinfo=timezone(timedelta(hours=2))),
        datetime(2025, 4, 14, 12, 0, 0, 999999),  # naive: taken as UTC
        "2025-04-14T12:00:00.5Z",
        "2025-04-14T07:00:00-05:00",
        1744632000,
        1744632000.9,
    ],
)
def test_models_hold_utc_seconds_and_write_rfc3339(value: Any) -> None:
    batch = Batch(id="b", status="ended", created_at=value, ended_at=value)
    file = File(id="f", created_at=value, expires_at=value)
    assert batch.created_at == datetime(2025, 4, 14, 12, tzinfo=UTC)
    assert batch.model_dump(mode="json")["ended_at"] == NOON
    assert file.model_dump(mode="json")["expires_at"] == NOON
    assert human_time(file.created_at) == NOON
    assert rfc3339(value if not isinstance(value, str) else batch.created_at) == NOON


def test_ledger_and_wait_events_write_rfc3339(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_EMULATOR_BATCH_SECONDS", "0")
    requests = tmp_path / "requests.jsonl"
    requests.write_text(json.dumps({"custom_id": "a", "params": {"model": "claude-haiku-4-5", "max_tokens": 8,
                                                                "messages": [{"role": "user", "content": "hi"}]}}) + "\n")
    created = invoke("--emulator", "batches", "create", str(requests), "--json")
    assert created.exit_code == 0, created.stderr
    batch_id = json.loads(created.stdout)["id"]
    assert RFC3339.match(json.loads(created.stdout)["created_at"])
    local = invoke("batches", "list", "--local", "--json")
    assert local.exit_code == 0, local.stderr
    found = times(json.loads(local.stdout), [])
    assert found and all(RFC3339.match(v) for v in found), found
    waited = invoke("--emulator", "batches", "wait", batch_id, "--json", "--poll", "0.1")
    assert waited.exit_code == 0, waited.stderr
    events = [json.loads(line) for line in waited.stdout.splitlines()]
    assert events[-1]["event"] == "end"
    found = times(events, [])
    assert len(found) >= 2 and all(RFC3339.match(v) for v in found), found
