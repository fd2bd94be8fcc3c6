"""A Bedrock job's quota problems concern the whole input: they are listed first, in the order
Bedrock's quotas are checked, before the problems of lines, and counted with them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bifrost_cli.config import resolve
from bifrost_cli.errors import InputError
from bifrost_cli.inputs import FIX_HINT, load_requests
from bifrost_cli.providers.base import BatchOptions
from bifrost_cli.providers.bedrock import jobs as bedrock_jobs
from bifrost_cli.providers.bedrock import format as fmt

NOVA = "amazon.nova-lite-v1:0"


def _problems(tmp_path: Path, limits: fmt.Limits, bad: set[int]) -> InputError:
    good = {"model": NOVA, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    lines = [{"custom_id": f"r{n}", "params": {**good, "tools": []} if n in bad else good} for n in range(3)]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    settings = resolve({"provider": "bedrock", "s3_uri": "s3://bucket/in", "role_arn": "arn:aws:iam::123456789012:role/B"}, environ={})
    with load_requests(str(path)) as requests, pytest.raises(InputError) as caught:
        bedrock_jobs.prepare_job(requests, BatchOptions(), settings, limits=limits)
    return caught.value


def test_quota_problems_come_first_in_their_order(tmp_path: Path) -> None:
    error = _problems(tmp_path, fmt.Limits(min_records=1, max_records=2, max_file_bytes=10), bad={0, 2})
    name = str(tmp_path / "in.jsonl")
    assert [p.split(": ", 1)[0] for p in error.problems] == [name, name, f"{name}:1", f"{name}:3"]
    assert error.problems[0].startswith(f"{name}: 3 records; a Bedrock batch job holds at most 2")
    assert error.problems[1].startswith(f"{name}: the job's JSONL is ")
    assert error.message == "the input has 4 problems; nothing was sent"
    assert error.hint is not None and error.hint.startswith(FIX_HINT) and "--split" in error.hint  # over the limits


def test_too_few_records_says_how_to_lower_the_minimum(tmp_path: Path) -> None:
    error = _problems(tmp_path, fmt.Limits(min_records=4), bad=set())
    assert error.problems == [f"{tmp_path / 'in.jsonl'}: 3 records; a Bedrock batch job needs at least 4 "
                              "(the per-model quota 'minimum number of records per batch inference job')"]
    assert error.hint == FIX_HINT + " (If your account's quota is lower, set BIFROST_BEDROCK_MIN_RECORDS.)"
