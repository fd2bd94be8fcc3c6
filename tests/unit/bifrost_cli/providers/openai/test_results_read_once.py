"""A completed OpenAI batch whose counts leave requests unexplained: `batches results` reads its
output, error and input files once each (the request total it checks against is the batch as
OpenAI reports it), while `batches get` and `wait` still count it from its results."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bifrost_cli import service
from bifrost_cli.config import resolve
from bifrost_cli.providers import build_target
from bifrost_cli.providers.base import CheckedTarget

API = "https://api.openai.test/v1"


def content(*items: dict[str, Any]) -> httpx.Response:
    """A file's content: JSON lines."""
    return httpx.Response(200, text="\n".join(map(json.dumps, items)))


def succeeded(cid: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": "hi"}
    completion = {"id": "c", "object": "chat.completion", "choices": [{"message": message, "finish_reason": "stop"}]}
    return {"custom_id": cid, "response": {"status_code": 200, "body": completion}, "error": None}


class OpenAI:
    """A completed batch of 3: the counts say 1 completed, 0 failed; the output file holds `a`,
    the error file an expired `b`, and `c` is in neither."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1")
        self.calls[f"{request.method} {path}"] += 1
        if path.startswith("/files/") and not path.endswith("/content"):  # a file's metadata: its size
            size = len(self(httpx.Request("GET", f"{API}{path}/content")).content)
            self.calls[f"GET {path}/content"] -= 1  # that was no download
            return httpx.Response(200, json={"id": path.rsplit("/", 1)[-1], "object": "file", "bytes": size,
                                             "purpose": "batch_output", "created_at": 1_750_000_000})
        if path == "/batches/batch_1":
            return httpx.Response(200, json={
                "id": "batch_1", "object": "batch", "status": "completed", "endpoint": "/v1/chat/completions",
                "input_file_id": "file-in", "output_file_id": "file-out", "error_file_id": "file-err",
                "request_counts": {"total": 3, "completed": 1, "failed": 0}, "completed_at": 1_750_000_100})
        if path == "/files/file-out/content":
            return content(succeeded("a"))
        if path == "/files/file-err/content":
            return content({"id": "req_b", "custom_id": "b", "response": None,
                          "error": {"code": "batch_expired", "message": "not run in time"}})
        if path == "/files/file-in/content":
            return content(*({"custom_id": c, "method": "POST", "url": "/v1/chat/completions", "body": {}} for c in "abc"))
        raise AssertionError(f"unexpected {request.method} {request.url}")


def target(tmp_path: Path, server: OpenAI) -> CheckedTarget:
    settings = resolve({"max_retries": 0, "provider": "openai", "openai_api_key": "sk-test", "openai_base_url": API},
                       environ={}, path=tmp_path / "absent.toml")
    return build_target(settings, transport=httpx.MockTransport(server))


FILES = ("GET /files/file-out/content", "GET /files/file-err/content", "GET /files/file-in/content")


def test_results_download_each_file_once(tmp_path: Path) -> None:
    server = OpenAI()
    sink = io.BytesIO()
    summary = service.write_results(target(tmp_path, server), "batch_1", output=None, stdout=sink)
    lines = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert {line["custom_id"]: line["result"]["type"] for line in lines} == {"a": "succeeded", "b": "expired", "c": "errored"}
    assert summary.total == 3 and summary.missing == 0
    assert {call: server.calls[call] for call in FILES} == dict.fromkeys(FILES, 1)


def test_get_and_wait_count_the_batch_from_its_results_once(tmp_path: Path) -> None:
    server = OpenAI()
    t = target(tmp_path, server)
    got = service.get_batch(t, "batch_1")
    assert got.request_counts is not None
    assert got.request_counts.model_dump() == {"processing": 0, "succeeded": 1, "errored": 1, "canceled": 0, "expired": 1}
    assert {call: server.calls[call] for call in FILES} == dict.fromkeys(FILES, 1)
    waited = service.wait_for_batches(t, ["batch_1"], sleep=lambda s: None).batches[0]
    assert waited.request_counts == got.request_counts
    assert {call: server.calls[call] for call in FILES} == dict.fromkeys(FILES, 2)  # one count for each command


class Accounted(OpenAI):
    """The same batch, but `c` came back in the output file: every request the batch counts is
    accounted for by the output and error files."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/files/file-out/content":
            self.calls["GET /files/file-out/content"] += 1
            return content(succeeded("a"), succeeded("c"))
        return super().__call__(request)


def test_the_input_file_is_read_only_when_results_are_missing(tmp_path: Path) -> None:
    server = Accounted()
    sink = io.BytesIO()
    summary = service.write_results(target(tmp_path, server), "batch_1", output=None, stdout=sink)
    lines = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert {line["custom_id"]: line["result"]["type"] for line in lines} == {"a": "succeeded", "c": "succeeded", "b": "expired"}
    assert summary.total == 3 and summary.missing == 0
    assert server.calls["GET /files/file-out/content"] == 1 and server.calls["GET /files/file-err/content"] == 1
    assert server.calls["GET /files/file-in/content"] == 0  # up to 200 MB not downloaded for nothing
