"""`batches list --status/--since` and `files list --purpose/--since` against a real loopback
server speaking Anthropic's paged API: filters apply here, --limit counts matches, and paging stops
at the first item older than --since (history is never walked to its end)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bifrost_cli.errors import UsageError
from bifrost_cli.models import Batch
from bifrost_cli.service.filters import STATUS_WORDS, parse_since, parse_statuses, status_matches
from tests.conftest import invoke
from tests.fakes import ANTHROPIC_KEY, batch_obj, file_obj, send_json

NOW = datetime.now(UTC)


def iso(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


# ten batches, newest first, one an hour: even ones running, odd ones ended
BATCHES = [
    batch_obj(f"msgbatch_{i}", "in_progress" if i % 2 == 0 else "ended", created_at=iso(i + 0.5))
    for i in range(10)
]
FILES = [file_obj(f"file_{i}", created_at=iso(i + 0.5)) for i in range(10)]


def paged(items: list[dict[str, Any]], page: int = 3):
    def route(h: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(h.path).query)
        after = query.get("after_id", [None])[0]
        start = next(i + 1 for i, x in enumerate(items) if x["id"] == after) if after else 0
        size = min(int(query.get("limit", [page])[0]), page)
        chunk = items[start:start + size]
        send_json(h, {"data": chunk, "has_more": start + size < len(items),
                      "first_id": chunk[0]["id"] if chunk else None, "last_id": chunk[-1]["id"] if chunk else None})

    return route


def serve(loopback: Any, items: list[dict[str, Any]]) -> tuple[Any, dict[str, str]]:
    server = loopback(paged(items))
    return server, {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "BIFROST_MAX_RETRIES": "0"}


def ids(result: Any) -> list[str]:
    assert result.exit_code == 0, result.stderr
    return result.stdout.split()


def test_status_filter_counts_matches_across_pages(loopback: Any) -> None:
    server, env = serve(loopback, BATCHES)
    assert ids(invoke("batches", "list", "--status", "ended", "-n", "4", "-q", env=env)) == [
        "msgbatch_1", "msgbatch_3", "msgbatch_5", "msgbatch_7"
    ]
    assert ids(invoke("batches", "list", "--status", "running", "--all", "-q", env=env)) == [
        f"msgbatch_{i}" for i in (0, 2, 4, 6, 8)
    ]


def test_since_stops_paging_at_the_first_older_batch(loopback: Any) -> None:
    server, env = serve(loopback, BATCHES)
    assert ids(invoke("batches", "list", "--since", "4h", "--all", "-q", env=env)) == [f"msgbatch_{i}" for i in range(4)]
    # pages of 3: the 5th and 6th batches (page 2) are older, so pages 3 and 4 are never asked for
    assert len(server.requests) == 2


def test_a_list_out_of_newest_first_order_is_walked_to_its_end(loopback: Any) -> None:
    server, env = serve(loopback, BATCHES[::-1])  # oldest first: the old ones come first
    assert ids(invoke("batches", "list", "--since", "4h", "--all", "-q", env=env)) == [f"msgbatch_{i}" for i in (3, 2, 1, 0)]
    assert len(server.requests) == 4


def test_since_takes_an_rfc3339_date(loopback: Any) -> None:
    _, env = serve(loopback, BATCHES)
    when = (NOW - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(invoke("batches", "list", "--since", when, "--status", "ended", "-q", env=env)) == ["msgbatch_1"]


def test_bad_status_and_since_send_nothing(loopback: Any) -> None:
    server, env = serve(loopback, BATCHES)
    bad = invoke("batches", "list", "--status", "done-ish", env=env)
    assert bad.exit_code == 2 and "running, canceling, ended" in bad.stderr
    late = invoke("batches", "list", "--since", "2 fortnights", env=env)
    assert late.exit_code == 2 and "neither a duration nor a date" in late.stderr
    assert server.requests == []


def test_local_refuses_status_but_takes_since(loopback: Any) -> None:
    refused = invoke("batches", "list", "--local", "--status", "running")
    assert refused.exit_code == 2 and "--local" in refused.stderr
    assert invoke("batches", "list", "--local", "--since", "1d").exit_code == 0


def test_files_since_and_purpose(loopback: Any) -> None:
    server, env = serve(loopback, FILES)
    assert ids(invoke("files", "list", "--since", "2h", "-q", env=env)) == ["file_0", "file_1"]
    assert len(server.requests) == 2  # the second older file is on page 2; pages 3 and 4 are not asked for
    none = invoke("files", "list", "--purpose", "batch", "--json", env=env)
    assert none.exit_code == 0 and json.loads(none.stdout) == []
    assert "purpose" in none.stderr  # Anthropic's files have none: said, not silently empty


@pytest.mark.parametrize(("text", "hours"), [("90m", 1.5), ("36h", 36), ("2d", 48), ("1w", 168), ("30s", 30 / 3600)])
def test_durations(text: str, hours: float) -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert parse_since(text, now=now) == now - timedelta(hours=hours)


def test_dates_without_an_offset_are_utc() -> None:
    assert parse_since("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-01T08:00:00+02:00") == datetime(2026, 11, 1, 6, tzinfo=UTC)


def test_status_words_repeat_or_comma_and_aliases() -> None:
    assert parse_statuses(["running,ENDED", "cancelled", "in_progress"]) == ["running", "ended", "canceled"]
    with pytest.raises(UsageError):
        parse_statuses(["finished"])


def batch(status: str, native: str, **extra: Any) -> Batch:
    return Batch(id="b", status=status, native_status=native, **extra)  # type: ignore[arg-type]


DONE = {"processing": 0, "succeeded": 3, "errored": 0, "canceled": 0, "expired": 0}
SOME = {"processing": 0, "succeeded": 2, "errored": 1, "canceled": 0, "expired": 0}


@pytest.mark.parametrize(("b", "words"), [
    (batch("in_progress", "finalizing"), {"running"}),
    (batch("canceling", "cancelling"), {"canceling"}),
    (batch("ended", "completed", request_counts=DONE), {"ended", "succeeded"}),
    (batch("ended", "ended", request_counts=SOME), {"ended", "partial"}),
    (batch("ended", "failed"), {"ended", "failed"}),
    (batch("ended", "Failed"), {"ended", "failed"}),
    (batch("ended", "expired"), {"ended", "expired"}),
    (batch("ended", "Stopped"), {"ended", "canceled"}),
    (batch("ended", "cancelled"), {"ended", "canceled"}),
    (batch("ended", "ended", request_counts=SOME, cancel_initiated_at=NOW), {"ended", "canceled"}),
])
def test_each_batch_matches_its_words_only(b: Batch, words: set[str]) -> None:
    assert {w for w in STATUS_WORDS if status_matches(b, [w])} == words


# -- Bedrock through the gateway: it ignores statusEquals, so the filter is applied here -------------

ARN = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/"


def test_bedrock_jobs_through_the_gateway_are_filtered_here(tmp_path: Any) -> None:
    import httpx

    from bifrost_cli import service
    from bifrost_cli.config import resolve
    from bifrost_cli.providers import build_target

    statuses = ["InProgress", "Failed", "Completed", "Stopped", "Failed", "Expired"]
    jobs = [
        {"jobArn": f"{ARN}job{i:09d}", "status": s, "jobName": f"j{i}", "submitTime": iso(i + 0.5)}
        for i, s in enumerate(statuses)
    ]
    asked: list[dict[str, str]] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        asked.append(params)
        start = int(params.get("nextToken") or 0)
        page = jobs[start:start + 2]  # every job, whatever statusEquals says
        more = {"nextToken": str(start + 2)} if start + 2 < len(jobs) else {}
        return httpx.Response(200, json={"invocationJobSummaries": page, **more})

    flags = {"provider": "bedrock", "base_url": "https://gateway.example.test", "max_retries": "0"}
    target = build_target(resolve(flags, environ={}, path=tmp_path / "absent.toml"), transport=httpx.MockTransport(gateway))
    failed = service.list_batches_filtered(target, limit=None, status=["failed"])
    assert [b.details["job_name"] for b in failed] == ["j1", "j4"]
    assert all("statusEquals" not in p for p in asked)
    asked.clear()
    recent = service.list_batches_filtered(target, limit=None, status=["failed,canceled,running"], since="3h")
    assert [b.details["job_name"] for b in recent] == ["j0", "j1"]  # j3 (Stopped) is older than 3 h
    assert len(asked) == 3  # the page holding the second older job in a row is the last asked for


def test_list_counts_batches_whose_counts_need_results_as_get_does_at_most_five(tmp_path: Any) -> None:
    """OpenAI batches that completed with requests in neither file: ``list`` counts the first
    five from their results (as ``get`` does), and says the others were not."""
    import json

    import httpx

    from bifrost_cli import service
    from bifrost_cli.config import resolve
    from bifrost_cli.providers import build_target
    from bifrost_cli.service.filters import LIST_COUNTED

    line = {"custom_id": "a", "response": {"status_code": 200, "body": {"choices": [{"message": {"content": "hi"}}]}}}
    content = (json.dumps(line) + "\n").encode()
    batches = [{"id": f"batch_{i}", "object": "batch", "status": "completed", "created_at": 1_700_000_000 - i,
                "output_file_id": "file-out", "request_counts": {"total": 2, "completed": 1, "failed": 0}}
               for i in range(LIST_COUNTED + 2)]

    def gateway(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/batches"):
            return httpx.Response(200, json={"object": "list", "data": batches, "has_more": False})
        if path.endswith("/content"):
            return httpx.Response(200, content=content)
        if "/batches/" in path:
            return httpx.Response(200, json=next(b for b in batches if path.endswith("/" + b["id"])))
        return httpx.Response(200, json={"id": "file-out", "object": "file", "bytes": len(content), "filename": "out.jsonl"})

    flags = {"provider": "openai", "base_url": "https://gateway.example.test", "max_retries": "0"}
    target = build_target(resolve(flags, environ={}, path=tmp_path / "absent.toml"), transport=httpx.MockTransport(gateway))
    notes: list[str] = []
    listed = service.list_batches_filtered(target, limit=None, on_note=notes.append)
    counted = [b.request_counts for b in listed]
    got = service.get_batch(target, "batch_0").request_counts
    assert got is not None and got.succeeded == 1
    assert counted[:LIST_COUNTED] == [got] * LIST_COUNTED  # as get counts them
    assert counted[LIST_COUNTED:] == [None, None]
    assert notes == ["2 more ended batches have counts only their results can give (shown as -): `batches get ID` counts them"]
