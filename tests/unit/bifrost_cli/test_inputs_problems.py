"""Every check of a whole input lists its problems the same way: ``FILE:LINE: message`` in line
order, the first 50 listed, all of them counted, and nothing sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bifrost_cli.config import resolve
from bifrost_cli.errors import InputError
from bifrost_cli.http import HttpClient
from bifrost_cli.inputs import FIX_HINT, RequestSet, load_requests
from bifrost_cli.providers.base import BatchOptions
from bifrost_cli.providers.bedrock import jobs as bedrock_jobs
from bifrost_cli.providers.bedrock import format as bedrock_format
from bifrost_cli.providers.gemini.api import GeminiAPI
from bifrost_cli.providers.openai.format import check_input

BAD_LINES = 60
LISTED = 50
NOVA = "amazon.nova-lite-v1:0"


def _gemini(requests: RequestSet) -> None:
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(500))
    try:
        GeminiAPI(HttpClient("http://127.0.0.1:9", label="gemini", transport=transport)).create_batch(requests)
    finally:
        assert sent == []


def _bedrock(requests: RequestSet) -> None:
    settings = resolve({"provider": "bedrock", "s3_uri": "s3://bucket/in", "role_arn": "arn:aws:iam::123456789012:role/B"}, environ={})
    bedrock_jobs.prepare_job(requests, BatchOptions(), settings, limits=bedrock_format.Limits(min_records=1))


# (provider, model, a field it cannot take, the check run before anything is sent)
CHECKS: list[tuple[str, str, str, Callable[[RequestSet], object]]] = [
    ("openai", "gpt-4o-mini", "top_k", check_input),
    ("gemini", "gemini-2.5-flash", "tools", _gemini),
    ("bedrock", NOVA, "tools", _bedrock),
]


@pytest.mark.parametrize(("provider", "model", "field", "check"), CHECKS, ids=[c[0] for c in CHECKS])
def test_the_first_50_problems_are_listed_and_all_are_counted(
    tmp_path: Path, provider: str, model: str, field: str, check: Callable[[RequestSet], object]
) -> None:
    good = {"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    lines = [{"custom_id": "ok", "params": good}]
    lines += [{"custom_id": f"r{n}", "params": {**good, field: 5}} for n in range(BAD_LINES)]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with load_requests(str(path)) as requests, pytest.raises(InputError) as caught:
        check(requests)
    error = caught.value
    assert error.message == f"the input has {BAD_LINES} problems; nothing was sent"
    assert error.hint == FIX_HINT
    assert len(error.problems) == LISTED
    assert [p.split(": ", 1)[0] for p in error.problems] == [f"{path}:{line}" for line in range(2, 2 + LISTED)]
    assert all(f"params.{field}" in p for p in error.problems)
