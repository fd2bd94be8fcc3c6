"""The OpenAI adapter against small fake servers (``httpx.MockTransport`` through ``build_target``):
request counts of ended batches (``get`` and ``wait`` agree with ``results``), options OpenAI cannot
express, and the safety of uploads in parts and of batch creation (retries, cancel on failure)."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from bifrost_cli import service
from bifrost_cli.config import resolve
from bifrost_cli.errors import APIError, UnsupportedError
from bifrost_cli.inputs import load_requests
from bifrost_cli.providers import build_target
from bifrost_cli.providers.base import BatchOptions, UploadSource
from tests.fakes import Handler, Recorder

API = "https://api.openai.test/v1"


def target(tmp_path: Path, handler: Handler) -> Any:
    settings = resolve({"max_retries": 2, "provider": "openai", "openai_api_key": "sk-test", "openai_base_url": API},
                       environ={}, path=tmp_path / "absent.toml")
    return build_target(settings, transport=httpx.MockTransport(handler))


def batch(status: str, total: int, completed: int, failed: int, **extra: Any) -> dict[str, Any]:
    return {"id": "batch_1", "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "file-in",
            "completion_window": "24h", "status": status, "created_at": 1_750_000_000,
            "request_counts": {"total": total, "completed": completed, "failed": failed}, **extra}


def jsonl(*items: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, content="".join(json.dumps(i) + "\n" for i in items).encode(),
                          headers={"content-type": "application/octet-stream"})


def ok(cid: str) -> dict[str, Any]:
    body = {"id": f"chatcmpl-{cid}", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 1}}
    return {"id": f"batch_req_{cid}", "custom_id": cid, "response": {"status_code": 200, "body": body}, "error": None}


def expired(cid: str) -> dict[str, Any]:
    return {"id": f"batch_req_{cid}", "custom_id": cid, "response": None,
            "error": {"code": "batch_expired", "message": "not run in time"}}


def request_line(cid: str) -> dict[str, Any]:
    return {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": cid}]}}


def completed_with_a_gap(request: httpx.Request) -> httpx.Response:
    """A completed batch of 4: 1 completed, 1 failed by the counts; its files hold one success, one
    expired line, and nothing for ``d`` (the counts leave 2 requests unexplained). A file's
    metadata says its size."""
    path = request.url.path
    if path.startswith("/v1/files/") and not path.endswith("/content"):
        file_id = path.rsplit("/", 1)[-1]
        size = len(completed_with_a_gap(httpx.Request("GET", f"https://x/v1/files/{file_id}/content")).content)
        return httpx.Response(200, json={"id": file_id, "object": "file", "bytes": size, "filename": f"{file_id}.jsonl",
                                         "purpose": "batch_output", "created_at": 1_750_000_000})
    if path == "/v1/batches/batch_1":
        return httpx.Response(200, json=batch("completed", 4, 1, 0, output_file_id="file-out", error_file_id="file-err",
                                              completed_at=1_750_000_100))
    if path == "/v1/files/file-out/content":
        return jsonl(ok("a"))
    if path == "/v1/files/file-err/content":
        return jsonl(expired("b"), {**expired("c"), "response": {"status_code": 500, "body": {"error": {
            "message": "boom", "type": "server_error"}}}, "error": None})
    if path == "/v1/files/file-in/content":
        return jsonl(*(request_line(c) for c in "abcd"))
    raise AssertionError(f"unexpected {request.method} {request.url}")


def test_get_counts_an_ended_batch_from_its_results_when_the_counts_leave_a_gap(tmp_path: Path) -> None:
    t = target(tmp_path, completed_with_a_gap)
    got = service.get_batch(t, "batch_1")
    counts = got.request_counts
    assert counts is not None
    assert (counts.succeeded, counts.errored, counts.expired, counts.canceled, counts.processing) == (1, 2, 1, 0, 0)
    results = {r.custom_id: r.result.type for r in t.iter_results("batch_1")}
    assert results == {"a": "succeeded", "b": "expired", "c": "errored", "d": "errored"}
    waited = service.wait_for_batches(t, ["batch_1"], sleep=lambda s: None).batches[0]
    assert waited.request_counts == counts  # `get` and `wait` agree


def test_a_gap_with_unreadable_results_stays_unknown(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/batches/batch_1":
            return httpx.Response(200, json=batch("completed", 3, 1, 0, output_file_id="file-gone"))
        return httpx.Response(404, json={"error": {"message": "No such File object", "type": "invalid_request_error",
                                                   "param": "id", "code": None}})

    assert service.get_batch(target(tmp_path, handler), "batch_1").request_counts is None


@pytest.mark.parametrize(
    ("status", "bucket"), [("cancelled", "canceled"), ("expired", "expired"), ("failed", "errored")]
)
def test_requests_left_by_a_batch_that_ended_as_a_whole_are_counted_by_its_status(
    tmp_path: Path, status: str, bucket: str
) -> None:
    server = Recorder(lambda r: httpx.Response(200, json=batch(status, 10, 4, 1)))
    counts = target(tmp_path, server).get_batch("batch_1").request_counts
    assert counts is not None and counts.total == 10 and counts.succeeded == 4
    expected = {"errored": 1, "canceled": 0, "expired": 0}
    expected[bucket] += 5
    assert {k: getattr(counts, k) for k in expected} == expected
    assert server.calls("/v1") == ["GET /batches/batch_1"]  # known from the counts alone: no download


def test_timeout_hours_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"custom_id": "a", "params": {"model": "gpt-4o-mini", "max_tokens": 5,
                                                             "messages": [{"role": "user", "content": "hi"}]}}) + "\n")
    server = Recorder(lambda r: httpx.Response(500))
    with load_requests(str(path)) as requests, pytest.raises(UnsupportedError) as info:
        target(tmp_path, server).create_batch(requests, BatchOptions(timeout_hours=48))
    assert "--timeout-hours" in info.value.message and info.value.exit_code == 2
    assert server.requests == []


def _native_input(tmp_path: Path) -> Path:
    path = tmp_path / "native.jsonl"
    path.write_text(json.dumps(request_line("a")) + "\n")
    return path


def test_a_batch_create_the_server_may_have_received_is_not_sent_again(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/files":
            return httpx.Response(200, json={"id": "file-in", "object": "file", "bytes": 1, "created_at": 1,
                                             "filename": "native.openai.jsonl", "purpose": "batch", "status": "processed"})
        return httpx.Response(500, json={"error": {"message": "oops", "type": "server_error", "param": None, "code": None}},
                              headers={"retry-after": "0"})

    server = Recorder(handler)
    with load_requests(str(_native_input(tmp_path))) as requests, pytest.raises(APIError) as info:
        target(tmp_path, server).create_batch(requests)
    assert server.calls("/v1") == ["POST /files", "POST /batches"]
    assert "file-in" in (info.value.hint or "")  # says the uploaded input was kept, and how to delete it


class Uploads:
    """A fake Uploads API: the first attempt at part ``fail_part`` (from 1) fails with a 500 (then it
    is retried); parts may come two at a time."""

    def __init__(self, fail_part: int | None = None, fail_status: int = 500):
        self.parts: dict[str, bytes] = {}
        self.failed: set[int] = set()
        self.fail_part = fail_part
        self.fail_status = fail_status
        self.completed = b""
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/uploads":
            return httpx.Response(200, json={"id": "upload_1", "object": "upload", "status": "pending"})
        if path == "/v1/uploads/upload_1/parts":
            data = request.content.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]
            number = data[0] // 64 + 1  # the file is bytes(range(256)) in 64-byte parts
            with self.lock:
                if number == self.fail_part and number not in self.failed:
                    self.failed.add(number)
                    return httpx.Response(self.fail_status, json={"error": {"message": "part lost", "type": "server_error",
                                                                            "param": None, "code": None}},
                                          headers={"retry-after": "0"})
                part_id = f"part_{len(self.parts)}"
                self.parts[part_id] = data
            return httpx.Response(200, json={"id": part_id, "object": "upload.part"})
        if path == "/v1/uploads/upload_1/complete":
            body = json.loads(request.content)
            data = b"".join(self.parts[p] for p in body["part_ids"])
            if body["md5"] != hashlib.md5(data).hexdigest():
                return httpx.Response(400, json={"error": {"message": "md5 mismatch", "type": "invalid_request_error",
                                                           "param": "md5", "code": None}})
            self.completed = data
            return httpx.Response(200, json={"id": "upload_1", "object": "upload", "status": "completed", "file": {
                "id": "file-big", "object": "file", "bytes": len(data), "created_at": 1, "filename": "big.bin",
                "purpose": "batch", "status": "processed"}})
        if path == "/v1/uploads/upload_1/cancel":
            return httpx.Response(200, json={"id": "upload_1", "object": "upload", "status": "cancelled"})
        raise AssertionError(f"unexpected {request.method} {request.url}")


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_OPENAI_UPLOAD_THRESHOLD", "100")
    monkeypatch.setenv("BIFROST_OPENAI_PART_SIZE", "64")


def _big(tmp_path: Path) -> UploadSource:
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(256)))  # four 64-byte parts
    return UploadSource.from_path(path)


@pytest.mark.usefixtures("small_parts")
def test_a_retried_part_keeps_the_order_and_the_md5_right(tmp_path: Path) -> None:
    api = Uploads(fail_part=2)
    server = Recorder(api)
    file = target(tmp_path, server).upload_file(_big(tmp_path), purpose=None)
    assert file.id == "file-big" and file.size_bytes == 256  # complete accepted the md5 of the whole file
    assert api.completed == bytes(range(256))  # the part ids in file order, whatever order the parts came in
    assert server.calls("/v1").count("POST /uploads/upload_1/parts") == 5  # 4 parts, one sent twice
    assert "POST /uploads/upload_1/cancel" not in server.calls("/v1")


@pytest.mark.usefixtures("small_parts")
def test_a_part_that_fails_for_good_cancels_the_upload(tmp_path: Path) -> None:
    api = Uploads(fail_part=3, fail_status=400)
    server = Recorder(api)
    with pytest.raises(APIError):
        target(tmp_path, server).upload_file(_big(tmp_path), purpose="batch")
    assert server.calls("/v1")[-1] == "POST /uploads/upload_1/cancel"
    assert "POST /uploads/upload_1/complete" not in server.calls("/v1")


def test_a_download_is_named_after_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/files/file-out":
            return httpx.Response(200, json={"id": "file-out", "object": "file", "bytes": 6, "created_at": 1,
                                             "filename": "batch_1_output.jsonl", "purpose": "batch_output",
                                             "status": "processed"})
        assert request.url.path == "/v1/files/file-out/content"
        return httpx.Response(200, content=b"{}\n{}\n", headers={"content-type": "application/octet-stream"})

    monkeypatch.chdir(tmp_path)
    done = service.download_file(target(tmp_path, handler), "file-out", output=None)
    assert done.path == "batch_1_output.jsonl" and done.bytes == 6
    assert (tmp_path / "batch_1_output.jsonl").read_bytes() == b"{}\n{}\n"


def test_the_uploaded_input_is_the_translation_of_the_requests_as_checked(tmp_path: Path) -> None:
    """Translated once while checking: a file changed after it was checked changes nothing, and a
    retried upload sends the same bytes."""
    path = tmp_path / "in.jsonl"
    lines = [{"custom_id": f"r{i}", "params": {"model": "gpt-4o-mini", "max_tokens": 5,
                                               "messages": [{"role": "user", "content": f"hi {i} " + "x" * 1000}]}}
             for i in range(2500)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    uploads: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/files":
            uploads.append(request.content)
            if len(uploads) == 1:
                return httpx.Response(503, json={"error": {"message": "busy", "type": "server_error", "param": None,
                                                           "code": None}},
                                      headers={"retry-after": "0", "x-request-id": "req_1"})
            return httpx.Response(200, json={"id": "file-in", "object": "file", "bytes": 1, "created_at": 1,
                                             "filename": "in.openai.jsonl", "purpose": "batch", "status": "processed"})
        return httpx.Response(200, json=batch("validating", 0, 0, 0))

    server = Recorder(handler)
    with load_requests(str(path)) as requests:
        path.write_text(json.dumps({"custom_id": "other", "params": {}}) + "\n")
        target(tmp_path, server).create_batch(requests)
    first, second = uploads
    assert first == second
    body = second
    start = body.index(b'{"custom_id"')
    sent = [json.loads(line) for line in body[start:].split(b"\r\n--")[0].splitlines()]
    assert [s["custom_id"] for s in sent] == [f"r{i}" for i in range(2500)]
    assert sent[7]["url"] == "/v1/chat/completions"
    assert sent[7]["body"]["messages"] == lines[7]["params"]["messages"]
