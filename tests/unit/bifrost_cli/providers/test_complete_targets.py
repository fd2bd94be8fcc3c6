"""Complete or refused, on every target that serves the operation, directly and through the gateway
(``httpx.MockTransport`` servers in each target's own shapes):

- ``files download``: content that ends early with a Content-Length that matches the cut (nothing
  in the answer can tell) is refused by the file's metadata size, with nothing at the destination;
- ``batches results``: results that end early at a line boundary are refused by the batch's request
  counts (or the results file's size), with nothing at the destination;
- OpenAI output files and Gemini responses files that break off are resumed with Range: every line once.

What a target cannot serve (Gemini and Bedrock downloads through the gateway, Bedrock results through
it) is refused by its spec before anything is sent; Bedrock's direct path (S3) is in
``bedrock/test_download_checksum.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
from base64 import b64encode
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bifrost_cli import service
from bifrost_cli.errors import TransferIncomplete
from bifrost_cli.providers import build_target
from bifrost_cli.providers.anthropic.gateway import gateway_target
from bifrost_cli.providers.base import Capabilities, CheckedTarget
from tests.fakes import GATEWAY, VIRTUAL_KEY, settings, succeeded_line

DATA = bytes(range(256)) * 400  # 102,400 bytes
CUT = 40_000

TARGETS = {
    "anthropic-direct": {"anthropic_api_key": "sk-ant-KEY-0123456789"},
    "anthropic-gateway": {"base_url": GATEWAY, "api_key": VIRTUAL_KEY, "provider": "anthropic"},
    "openai-direct": {"provider": "openai", "openai_api_key": "sk-openai-KEY-0123456789"},
    "openai-gateway": {"base_url": GATEWAY, "api_key": VIRTUAL_KEY, "provider": "openai"},
    "gemini-direct": {"provider": "gemini", "gemini_api_key": "gemini-KEY-0123456789"},
    "gemini-gateway": {"base_url": GATEWAY, "api_key": VIRTUAL_KEY, "provider": "gemini"},
}


def target_for(tmp_path: Path, name: str, handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    return build_target(settings(tmp_path, **TARGETS[name]), transport=httpx.MockTransport(handler))


# -- files download ---------------------------------------------------------------------------------


def file_meta(name: str, size: int, **extra: Any) -> dict[str, Any]:
    if name.startswith("anthropic"):
        return {"id": "f1", "type": "file", "filename": "f1.bin", "size_bytes": size, "downloadable": True,
                "created_at": "2026-01-01T00:00:00Z"}
    if name.startswith("openai"):
        return {"id": "f1", "object": "file", "bytes": size, "filename": "f1.bin", "purpose": "batch_output",
                "created_at": 1_750_000_000}
    return {"name": "files/f1", "sizeBytes": str(size), "source": "GENERATED", "mimeType": "application/octet-stream", **extra}


def file_server(name: str, content: bytes, **meta: Any) -> Callable[[httpx.Request], httpx.Response]:
    """The file f1 (``DATA`` by its metadata), whose content answer is ``content`` with its own length."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith(("/content", ":download")):
            return httpx.Response(200, content=content, headers={"content-type": "application/octet-stream"})
        if "/files/" in path:
            return httpx.Response(200, json=file_meta(name, len(DATA), **meta))
        return httpx.Response(404, json={"error": {"message": f"no route {path}"}})

    return handler


DOWNLOADS = ["anthropic-direct", "anthropic-gateway", "openai-direct", "openai-gateway", "gemini-direct"]


@pytest.mark.parametrize("name", DOWNLOADS)
def test_a_download_cut_with_a_matching_content_length_is_refused(tmp_path: Path, name: str) -> None:
    dest = tmp_path / "out.bin"
    target = target_for(tmp_path, name, file_server(name, DATA[:CUT]))
    with pytest.raises(TransferIncomplete) as info:
        service.download_file(target, "f1", output=str(dest))
    assert info.value.exit_code == 6
    assert f"ended after only {CUT} bytes, but the file holds {len(DATA)}" in info.value.message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", DOWNLOADS)
def test_a_whole_download_is_put_in_place(tmp_path: Path, name: str) -> None:
    dest = tmp_path / "out.bin"
    result = service.download_file(target_for(tmp_path, name, file_server(name, DATA)), "f1", output=str(dest))
    assert dest.read_bytes() == DATA and result.bytes == len(DATA)


def test_a_gemini_file_whose_bytes_do_not_match_its_sha256_hash_is_refused(tmp_path: Path) -> None:
    other = bytes(reversed(DATA))  # as many bytes, not the same ones
    digest = b64encode(hashlib.sha256(DATA).digest()).decode()
    dest = tmp_path / "out.bin"
    bad = target_for(tmp_path, "gemini-direct", file_server("gemini-direct", other, sha256Hash=digest))
    with pytest.raises(TransferIncomplete) as info:
        service.download_file(bad, "f1", output=str(dest))
    assert info.value.exit_code == 6 and "does not match its sha256Hash" in info.value.message
    assert list(tmp_path.iterdir()) == []
    good = target_for(tmp_path, "gemini-direct", file_server("gemini-direct", DATA, sha256Hash=digest))
    service.download_file(good, "f1", output=str(dest))
    assert dest.read_bytes() == DATA


@pytest.mark.parametrize("name", ["gemini-gateway"])
def test_a_download_the_gateway_cannot_serve_is_refused_before_sending(tmp_path: Path, name: str) -> None:
    sent: list[httpx.Request] = []
    target = target_for(tmp_path, name, lambda r: sent.append(r) or httpx.Response(500))  # type: ignore[func-returns-value]
    with pytest.raises(Exception, match="not possible"):
        service.download_file(target, "f1", output=str(tmp_path / "out.bin"))
    assert sent == []


# -- batches results ---------------------------------------------------------------------------------


def line(cid: str) -> dict[str, Any]:
    return succeeded_line(cid)


def openai_line(cid: str) -> dict[str, Any]:
    completion = {"id": "c", "object": "chat.completion", "choices": [{"message": {"role": "assistant", "content": "hi"},
                                                                        "finish_reason": "stop"}]}
    return {"id": f"req_{cid}", "custom_id": cid, "response": {"status_code": 200, "body": completion}, "error": None}


def gemini_operation(inlined: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "batches/b1", "state": "BATCH_STATE_SUCCEEDED", "model": "models/gemini-2.5-flash",
                            "createTime": "2026-01-01T00:00:00Z",
                            "batchStats": {"requestCount": "3", "successfulRequestCount": "3"}}
    op: dict[str, Any] = {"name": "batches/b1", "metadata": meta, "done": True}
    if inlined is not None:
        op["response"] = {"inlinedResponses": {"inlinedResponses": inlined}}
    return op


def results_server(name: str, arrived: int) -> Callable[[httpx.Request], httpx.Response]:
    """A batch of 3 requests that all succeeded, whose results answer holds only ``arrived`` of them
    (ended at a line or item boundary, with a length that matches)."""
    ids = ["r1", "r2", "r3"][:arrived]
    batch = {"id": "b1", "type": "message_batch", "processing_status": "ended", "created_at": "2026-01-01T00:00:00Z",
             "request_counts": {"processing": 0, "succeeded": 3, "errored": 0, "canceled": 0, "expired": 0}}
    whole = "".join(json.dumps(openai_line(c)) + "\n" for c in ["r1", "r2", "r3"]).encode()
    cut = "".join(json.dumps(openai_line(c)) + "\n" for c in ids).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if name == "anthropic-direct":
            if path == "/v1/messages/batches/b1":
                return httpx.Response(200, json=batch)
            if path == "/v1/messages/batches/b1/results":
                return httpx.Response(200, content="".join(json.dumps(line(c)) + "\n" for c in ids).encode())
        if name in ("anthropic-gateway", "gemini-gateway"):
            if path == "/anthropic/v1/messages/batches/b1":
                return httpx.Response(200, json=batch)
            if path in ("/anthropic/v1/messages/batches/b1/results", "/anthropic/v1/messages/batches/batches-b1/results"):
                return httpx.Response(200, json={"batch_id": "b1", "results": [line(c) for c in ids], "extra_fields": {}})
            if path == "/genai/v1beta/batches/b1":
                return httpx.Response(200, json=gemini_operation())
        if name.startswith("openai"):
            prefix = "/v1" if name == "openai-direct" else "/openai/v1"
            if path == f"{prefix}/batches/b1":
                return httpx.Response(200, json={
                    "id": "b1", "object": "batch", "status": "completed", "endpoint": "/v1/chat/completions",
                    "output_file_id": "file-out", "request_counts": {"total": 3, "completed": 3, "failed": 0},
                    "created_at": 1_750_000_000, "completed_at": 1_750_000_100})
            if path == f"{prefix}/files/file-out":
                return httpx.Response(200, json={"id": "file-out", "object": "file", "bytes": len(whole),
                                                 "purpose": "batch_output", "created_at": 1_750_000_000})
            if path == f"{prefix}/files/file-out/content":
                return httpx.Response(200, content=cut)
        if name == "gemini-direct" and path == "/v1beta/batches/b1":
            inlined = [{"response": {"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]},
                                                     "finishReason": "STOP"}]}, "metadata": {"key": c}} for c in ids]
            return httpx.Response(200, json=gemini_operation(inlined))
        return httpx.Response(404, json={"error": {"message": f"no route {path}"}})

    return handler


RESULTS = list(TARGETS)


@pytest.mark.parametrize("name", RESULTS)
def test_results_that_account_for_fewer_requests_than_the_batch_has_are_refused(tmp_path: Path, name: str) -> None:
    dest = tmp_path / "results.jsonl"
    with pytest.raises(TransferIncomplete) as info:
        service.write_results(target_for(tmp_path, name, results_server(name, 2)), "b1", output=str(dest))
    assert info.value.exit_code == 6
    assert "nothing was saved" in info.value.message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", RESULTS)
def test_results_for_every_request_are_written(tmp_path: Path, name: str) -> None:
    dest = tmp_path / "results.jsonl"
    summary = service.write_results(target_for(tmp_path, name, results_server(name, 3)), "b1", output=str(dest))
    assert summary.total == 3
    assert [json.loads(x)["custom_id"] for x in dest.read_text().splitlines()] == ["r1", "r2", "r3"]


def test_counts_another_provider_passes_through_the_anthropic_route_are_not_enforced(tmp_path: Path) -> None:
    """Through the gateway's /anthropic route, an OpenAI batch's counts are partial (the gateway
    reports only the errored): they are no measure of how many results there must be."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/results"):
            return httpx.Response(200, json={"batch_id": "b1", "results": [line("r1")]})
        return httpx.Response(200, json={"id": "b1", "type": "message_batch", "processing_status": "ended",
                                         "created_at": "2026-01-01T00:00:00Z",
                                         "request_counts": {"processing": 0, "succeeded": 0, "errored": 3}})

    target = gateway_target(GATEWAY, "openai", VIRTUAL_KEY, settings=settings(tmp_path), transport=httpx.MockTransport(handler))
    assert target.result_counts_exact is False
    sink = io.BytesIO()
    summary = service.write_results(CheckedTarget(target, Capabilities()), "b1", output=None, stdout=sink)
    assert summary.total == 1 and summary.expected is None


# -- results files resumed with Range --------------------------------------------------------------


def breaking(whole: bytes, seen: list[str | None]) -> Callable[[httpx.Request], httpx.Response]:
    """A results file served with Range: the first answer breaks off (connection reset) after 70,000
    bytes; a ranged request gets the rest as a 206. ``seen`` records each request's Range."""

    def answer(request: httpx.Request) -> httpx.Response:
        wanted = request.headers.get("range")
        seen.append(wanted)
        headers = {"content-type": "application/octet-stream", "accept-ranges": "bytes", "etag": '"r1"'}
        if wanted:
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
            rest = whole[start:]
            headers |= {"content-length": str(len(rest)), "content-range": f"bytes {start}-{len(whole) - 1}/{len(whole)}"}
            return httpx.Response(206, content=rest, headers=headers)

        def cut() -> Iterator[bytes]:
            yield whole[:70_000]
            raise httpx.ReadError("connection reset by peer")

        return httpx.Response(200, content=cut(), headers=headers | {"content-length": str(len(whole))})

    return answer


@pytest.mark.parametrize("name", ["openai-direct", "openai-gateway"])
def test_an_openai_output_file_that_breaks_off_is_resumed_with_range(tmp_path: Path, name: str) -> None:
    ids = [f"r{i}" for i in range(2000)]
    whole = "".join(json.dumps(openai_line(c)) + "\n" for c in ids).encode()
    seen: list[str | None] = []
    content = breaking(whole, seen)
    prefix = "/v1" if name == "openai-direct" else "/openai/v1"

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == f"{prefix}/batches/b1":
            return httpx.Response(200, json={
                "id": "b1", "object": "batch", "status": "completed", "endpoint": "/v1/chat/completions",
                "output_file_id": "file-out", "request_counts": {"total": 2000, "completed": 2000, "failed": 0},
                "created_at": 1_750_000_000, "completed_at": 1_750_000_100})
        if path == f"{prefix}/files/file-out":
            return httpx.Response(200, json={"id": "file-out", "object": "file", "bytes": len(whole),
                                             "purpose": "batch_output", "created_at": 1_750_000_000})
        return content(request)

    dest = tmp_path / "results.jsonl"
    summary = service.write_results(target_for(tmp_path, name, handler), "b1", output=str(dest))
    assert summary.total == 2000
    assert [json.loads(x)["custom_id"] for x in dest.read_text().splitlines()] == ids  # each once, none lost
    assert seen[0] is None and seen[1] is not None and seen[1].startswith("bytes=")


def test_a_gemini_responses_file_that_breaks_off_is_resumed_with_range(tmp_path: Path) -> None:
    ids = [f"r{i}" for i in range(2000)]
    response = {"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP"}]}
    whole = "".join(json.dumps({"key": c, "response": response}) + "\n" for c in ids).encode()
    seen: list[str | None] = []
    content = breaking(whole, seen)

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1beta/batches/b1":
            op = gemini_operation()
            op["metadata"]["batchStats"] = {"requestCount": "2000", "successfulRequestCount": "2000"}
            op["response"] = {"responsesFile": "files/out"}
            return httpx.Response(200, json=op)
        if path == "/v1beta/files/out":
            return httpx.Response(200, json={"name": "files/out", "sizeBytes": str(len(whole)), "source": "GENERATED"})
        if path.endswith(":download"):
            return content(request)
        return httpx.Response(404, json={"error": {"code": 404, "message": f"no route {path}"}})

    dest = tmp_path / "results.jsonl"
    summary = service.write_results(target_for(tmp_path, "gemini-direct", handler), "b1", output=str(dest))
    assert summary.total == 2000
    assert [json.loads(x)["custom_id"] for x in dest.read_text().splitlines()] == ids
    assert seen[0] is None and seen[1] is not None and seen[1].startswith("bytes=")
