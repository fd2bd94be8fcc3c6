"""The gateway's job list, page by page (``nextToken``): a limit is met with as few jobs asked
for as it needs, a job seen twice is listed once, and a page repeating itself ends the walk."""

from __future__ import annotations

from pathlib import Path

import httpx

from bifrost_cli import service
from bifrost_cli.config import resolve
from bifrost_cli.providers import build_target

ARN = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/"


def job(n: int) -> dict[str, str]:
    return {"jobArn": f"{ARN}job{n:09d}", "status": "InProgress", "jobName": f"j{n}"}


class Jobs:
    """Three pages of two jobs; the last one repeats the second page's token forever."""

    def __init__(self) -> None:
        self.asked: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/bedrock/model-invocation-jobs", request.url
        params = dict(request.url.params)
        self.asked.append(params)
        token = params.get("nextToken")
        if token is None:
            return httpx.Response(200, json={"invocationJobSummaries": [job(1), job(2)], "nextToken": "p2"})
        if token == "p2":
            return httpx.Response(200, json={"invocationJobSummaries": [job(2), job(3)], "nextToken": "p3"})
        return httpx.Response(200, json={"invocationJobSummaries": [job(3)], "nextToken": "p3"})


def jobs(tmp_path: Path, server: Jobs, limit: int | None) -> list[str]:
    flags = {"provider": "bedrock", "base_url": "https://gateway.example.test", "max_retries": "0"}
    target = build_target(resolve(flags, environ={}, path=tmp_path / "absent.toml"), transport=httpx.MockTransport(server))
    return [b.details["job_name"] for b in service.list_batches(target, limit=limit)]


def test_a_limit_asks_for_no_more_jobs_than_it_needs(tmp_path: Path) -> None:
    server = Jobs()
    assert jobs(tmp_path, server, 1) == ["j1"]
    assert [p.get("maxResults") for p in server.asked] == ["1"]


def test_every_job_once_and_a_repeated_page_ends_the_walk(tmp_path: Path) -> None:
    server = Jobs()
    assert jobs(tmp_path, server, None) == ["j1", "j2", "j3"]
    assert [p.get("nextToken") for p in server.asked] == [None, "p2", "p3"]
