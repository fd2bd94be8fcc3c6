"""Shared by the Bedrock tests: models, ARNs, settings and input files."""

from __future__ import annotations

import json
from pathlib import Path

from bifrost_cli.config import resolve

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-lite-v1:0"
ROLE = "arn:aws:iam::123456789012:role/Batch"
ARN = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdef123456"
MSG = [{"role": "user", "content": "Hi"}]


def settings(**flags: str):
    return resolve({"provider": "bedrock", **flags}, environ={})


def write_requests(tmp: Path, count: int = 100, name: str = "in.jsonl", **params: object) -> str:
    path = tmp / name
    lines = [
        json.dumps({"custom_id": f"r{i}", "params": {"model": CLAUDE, "max_tokens": 8, "messages": MSG, **params}})
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return str(path)
