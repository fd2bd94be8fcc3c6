"""Shared by the Gemini tests: a provider-neutral request, a GenerateContent response, input files, and
fake servers answering finished batch Operations."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from bifrost_cli.http import HttpClient
from tests.fakes import Recorder


BASE = {"model": "gemini-2.5-flash", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


def write_lines(tmp_path: Path, lines: list[dict]) -> str:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


RESPONSE = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}, {"text": "lo"}]}, "finishReason": "STOP"}],
    "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10},
    "modelVersion": "gemini-2.5-flash-001",
    "responseId": "resp-1",
}


def json_server(routes: dict[str, object]) -> Recorder:
    """Canned JSON answers by path; 404 for any other path."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = routes.get(request.url.path)
        return httpx.Response(404, json={"error": {"code": 404, "message": "no"}}) if body is None else httpx.Response(
            200, json=body)

    return Recorder(answer)


def client(server: Recorder) -> HttpClient:
    return HttpClient("http://127.0.0.1:9", label="test", transport=httpx.MockTransport(server), sleep=lambda s: None)


def done_operation(model: str | None, state: str = "BATCH_STATE_SUCCEEDED", **extra: object) -> dict:
    meta: dict = {"name": "batches/b1", "state": state, "createTime": "2025-07-01T10:00:00Z"}
    if model:
        meta["model"] = model
    return {"name": "batches/b1", "metadata": meta, "done": True, **extra}
