"""The suite's shared fakes: servers that stand in for a provider or a gateway.

- :class:`Recorder` wraps an ``httpx.MockTransport`` handler and records every request (body read);
  :class:`Scripted` answers from a script. Both go behind ``httpx.MockTransport``, which the
  program takes through ``build_target(..., transport=)`` or ``HttpClient(transport=)``.
- :class:`FakeAnthropic` and :class:`FakeOpenAI`: minimal Files and Batches APIs of each, as handlers.
- :class:`Loopback`: a real HTTP/1.1 server on a loopback port, for what only a socket shows
  (the in-process CLI, stalled or broken transfers, redirects); the ``loopback`` fixture of
  ``conftest.py`` starts them and stops them after the test.
- Targets on a fake (:func:`anthropic_target`, :func:`gateway_target`) and Anthropic's objects as its
  API answers them (:func:`file_obj`, :func:`batch_obj`, :func:`succeeded_line`).
- :func:`anthropic_api`: Anthropic's API for a :class:`Loopback`, one downloadable file and one ended
  batch, with bodies that stall (:func:`start_body`) or break off (:func:`cut_content`, :func:`cut_results`).
- :class:`RangeFile`: a file's content served with HTTP Range (206 and Content-Range), whose answers
  can be cut short, ignore the range, or lie about it; it records the Range and If-Range it is sent.

A fake that only one test module needs stays in that module; data shared by the tests of one
provider lives in that package's ``__init__.py`` (``tests/unit/bifrost_cli/providers/<name>/``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bifrost_cli.config import resolve
from bifrost_cli.providers import build_target

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A handler that records every request it gets (body read), then answers with ``handler``."""

    def __init__(self, handler: Handler | None = None):
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.answer(request)

    def answer(self, request: httpx.Request) -> httpx.Response:
        assert self.handler is not None, "a Recorder needs a handler"
        return self.handler(request)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def calls(self, prefix: str = "") -> list[str]:
        """``"METHOD path"`` of each request, with ``prefix`` taken off the path."""
        return [f"{r.method} {r.url.path.removeprefix(prefix)}" for r in self.requests]

    def only(self, method: str, path: str) -> httpx.Request:
        """The one request to ``method path`` (fails when there is none, or more than one)."""
        found = [r for r in self.requests if r.method == method and r.url.path == path]
        assert len(found) == 1, f"expected one {method} {path}, saw {[(r.method, r.url.path) for r in self.requests]}"
        return found[0]


Answer = httpx.Response | type[Exception] | Handler


class Scripted(Recorder):
    """A scripted server: each request gets the next answer (a Response, an exception class to
    raise, or a handler); the last answer repeats. With no answers, every request gets ``200 {}``."""

    def __init__(self, *answers: Answer):
        super().__init__()
        self.answers: list[Answer] = list(answers) or [httpx.Response(200, json={})]

    def answer(self, request: httpx.Request) -> httpx.Response:
        answer = self.answers[min(len(self.requests) - 1, len(self.answers) - 1)]
        if isinstance(answer, type) and issubclass(answer, Exception):
            raise answer("simulated failure", request=request)  # type: ignore[call-arg]
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        assert isinstance(answer, httpx.Response)
        return answer


def never_called(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.method} {request.url}")


class FakeAnthropic:
    """A minimal Anthropic API (Files and Message Batches) as a handler: every file and batch exists
    and every batch has ended."""

    BASE = "https://api.anthropic.com"

    @staticmethod
    def file_json(file_id: str) -> dict[str, Any]:
        return {"id": file_id, "type": "file", "filename": "data.jsonl", "mime_type": "application/x-jsonl",
                "size_bytes": 3, "created_at": "2025-06-15T15:06:40Z", "downloadable": True}

    def batch_json(self, batch_id: str) -> dict[str, Any]:
        return {"id": batch_id, "type": "message_batch", "processing_status": "ended",
                "request_counts": {"processing": 0, "succeeded": 1, "errored": 0, "canceled": 0, "expired": 0},
                "ended_at": "2025-06-15T15:07:00Z", "created_at": "2025-06-15T15:06:40Z",
                "expires_at": "2025-06-16T15:06:40Z", "archived_at": None, "cancel_initiated_at": None,
                "results_url": f"{self.BASE}/v1/messages/batches/{batch_id}/results"}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        if path == "/v1/files":
            if method == "POST":
                return httpx.Response(200, json=self.file_json("file_new"))
            return httpx.Response(200, json={"data": [self.file_json("file_a")], "has_more": False,
                                             "first_id": "file_a", "last_id": "file_a"})
        if path.endswith("/content"):
            return httpx.Response(200, content=b"abc", headers={"content-type": "application/octet-stream"})
        if path.startswith("/v1/files/"):
            file_id = path.rsplit("/", 1)[1]
            if method == "DELETE":
                return httpx.Response(200, json={"id": file_id, "type": "file_deleted"})
            return httpx.Response(200, json=self.file_json(file_id))
        if path == "/v1/messages/batches":
            if method == "POST":
                return httpx.Response(200, json=self.batch_json("msgbatch_new"))
            return httpx.Response(200, json={"data": [self.batch_json("msgbatch_a")], "has_more": False,
                                             "first_id": "msgbatch_a", "last_id": "msgbatch_a"})
        if path.endswith("/results"):
            line = {"custom_id": "a", "result": {"type": "canceled"}}
            return httpx.Response(200, content=(json.dumps(line) + "\n").encode(),
                                  headers={"content-type": "application/x-jsonl"})
        if path.startswith("/v1/messages/batches/"):
            batch_id = path.split("/")[4]
            return httpx.Response(200, json=self.batch_json(batch_id))
        return httpx.Response(404, json={"type": "error", "request_id": None,
                                         "error": {"type": "not_found_error", "message": f"no {method} {path}"}})


class FakeOpenAI:
    """A minimal OpenAI API (Files, Uploads, Batches) as a handler: every file and batch exists and
    every batch has completed."""

    def __init__(self) -> None:
        self.seen = 0  # requests answered, numbering the upload parts

    @staticmethod
    def file(file_id: str, **extra: Any) -> dict[str, Any]:
        return {"id": file_id, "object": "file", "bytes": 3, "created_at": 1750000000, "filename": "f.jsonl",
                "purpose": "batch", "status": "processed", **extra}

    @staticmethod
    def batch(batch_id: str) -> dict[str, Any]:
        return {"id": batch_id, "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "file-in",
                "completion_window": "24h", "status": "completed", "created_at": 1750000000,
                "output_file_id": "file-out", "error_file_id": None,
                "request_counts": {"total": 1, "completed": 1, "failed": 0}}

    @staticmethod
    def content(file_id: str) -> bytes:
        """A file's content: the batch input for ``file-in``, one output line for any other."""
        if file_id == "file-in":
            text = json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}})
        else:
            text = json.dumps({"id": "r", "custom_id": "a", "response": {"status_code": 200, "body": {
                "id": "c", "object": "chat.completion", "model": "m", "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}},
                "error": None})
        return (text + "\n").encode()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        method, path = request.method, request.url.path.removeprefix("/v1")
        if path == "/files" and method == "POST":
            return httpx.Response(200, json=self.file("file-new"))
        if path == "/files":
            return httpx.Response(200, json={"object": "list", "data": [self.file("file-a")], "first_id": "file-a",
                                             "last_id": "file-a", "has_more": False})
        if path.endswith("/content"):
            return httpx.Response(200, content=self.content(path.split("/")[2]))
        if path.startswith("/files/"):
            file_id = path.rsplit("/", 1)[1]
            if method == "DELETE":
                return httpx.Response(200, json={"id": file_id, "object": "file", "deleted": True})
            return httpx.Response(200, json=self.file(file_id, bytes=len(self.content(file_id))))
        if path == "/uploads":
            return httpx.Response(200, json={"id": "upload_1", "object": "upload", "status": "pending"})
        if path.endswith("/parts"):
            return httpx.Response(200, json={"id": f"part_{self.seen}", "object": "upload.part",
                                             "created_at": 1, "upload_id": "upload_1"})
        if path.endswith("/complete"):
            return httpx.Response(200, json={"id": "upload_1", "object": "upload", "status": "completed",
                                             "file": self.file("file-big")})
        if path == "/batches" and method == "POST":
            return httpx.Response(200, json=self.batch("batch_new"))
        if path == "/batches":
            return httpx.Response(200, json={"object": "list", "data": [self.batch("batch_a")], "has_more": False})
        if path.startswith("/batches/"):
            return httpx.Response(200, json=self.batch(path.split("/")[2]))
        return httpx.Response(404, json={"error": {"message": f"no {method} {path}", "type": "invalid_request_error",
                                                   "param": None, "code": None}})


# ------------------------------------------------------------------------------------------------
# a real server on a loopback port

Route = Callable[[BaseHTTPRequestHandler], None]


class Loopback:
    """A loopback HTTP/1.1 server; ``route(handler)`` answers each request (its body is in
    ``handler.body``). Routes may block on ``release`` (set when the test ends) to hold a
    transfer open. ``requests`` records ``(method, path)`` of each request."""

    def __init__(self, route: Route):
        self.release = threading.Event()
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            body = b""

            def _handle(self) -> None:
                self.body = self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.requests.append((self.command, self.path))
                route(self)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def send_json(h: BaseHTTPRequestHandler, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
    """Answer with ``body`` as JSON (``headers`` may replace the content type)."""
    data = json.dumps(body).encode()
    h.send_response(status)
    for name, value in {"content-type": "application/json", **(headers or {})}.items():
        h.send_header(name, value)
    h.send_header("content-length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


# ------------------------------------------------------------------------------------------------
# targets on a fake, and Anthropic's objects as its API answers them

ANTHROPIC_KEY = "sk-ant-test-KEY-0123456789"
VIRTUAL_KEY = "sk-bf-virtual-KEY-987654"
ANTHROPIC = "https://api.anthropic.com"
GATEWAY = "https://gateway.example.test"


def settings(tmp_path: Path, **flags: Any) -> Any:
    """Settings from these flags only (no environment, no config file), with two retries."""
    return resolve({"max_retries": 2, **flags}, environ={}, path=tmp_path / "absent.toml")


def anthropic_target(tmp_path: Path, handler: Handler, **flags: Any) -> Any:
    """Anthropic's API, directly, on ``handler``."""
    return build_target(settings(tmp_path, anthropic_api_key=ANTHROPIC_KEY, **flags), transport=httpx.MockTransport(handler))


def gateway_target(tmp_path: Path, handler: Handler, provider: str = "anthropic", **flags: Any) -> Any:
    """A Bifrost gateway for ``provider`` on ``handler``, with a virtual key (and a provider key it must never send)."""
    values = {"base_url": GATEWAY, "api_key": VIRTUAL_KEY, "anthropic_api_key": ANTHROPIC_KEY, "provider": provider, **flags}
    s = settings(tmp_path, **values)
    return build_target(s, transport=httpx.MockTransport(handler))


def file_obj(i: int | str, **extra: Any) -> dict[str, Any]:
    fid = i if isinstance(i, str) else f"file_{i:03d}"
    return {
        "id": fid,
        "type": "file",
        "filename": f"{fid}.jsonl",
        "mime_type": "application/jsonl",
        "size_bytes": 10,
        "created_at": "2025-04-14T12:00:00Z",
        **extra,
    }


def batch_obj(bid: str = "msgbatch_1", status: str = "ended", **extra: Any) -> dict[str, Any]:
    return {
        "id": bid,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": {"processing": 0, "succeeded": 2, "errored": 0, "canceled": 0, "expired": 0},
        "created_at": "2025-04-14T12:00:00Z",
        "ended_at": None,
        "expires_at": "2025-04-15T12:00:00Z",
        "cancel_initiated_at": None,
        "results_url": None,
        **extra,
    }


def succeeded_line(custom_id: str, text: str = "hi") -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "result": {
            "type": "succeeded",
            "message": {
                "id": f"msg_{custom_id}",
                "type": "message",
                "role": "assistant",
                "model": "claude-x",
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 3, "output_tokens": 1},
            },
        },
    }


def jsonl_response(items: list[dict[str, Any]], content_type: str = "application/binary") -> httpx.Response:
    return httpx.Response(200, content="".join(json.dumps(i) + "\n" for i in items).encode(), headers={"content-type": content_type})


def write_requests(tmp_path: Path, models: list[str]) -> Path:
    path = tmp_path / "requests.jsonl"
    lines = [
        {"custom_id": f"r{i}", "params": {"model": m, "max_tokens": 8, "messages": [{"role": "user", "content": f"q{i} é"}]}}
        for i, m in enumerate(models)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------
# Anthropic's API on a Loopback: one downloadable file and one ended batch

SIZE = 8 * 1024 * 1024  # what the slow server promises, and never finishes sending
ENDED_BATCH = {
    "id": "msgbatch_1",
    "type": "message_batch",
    "processing_status": "ended",
    "request_counts": {"processing": 0, "succeeded": 3, "errored": 0, "canceled": 0, "expired": 0},
    "created_at": "2026-01-01T00:00:00Z",
}


FILE_META = {
    "id": "file_1",
    "type": "file",
    "filename": "data.bin",
    "size_bytes": SIZE,
    "mime_type": "application/octet-stream",
    "downloadable": True,
    "created_at": "2026-01-01T00:00:00Z",
}


RESULT_LINE = json.dumps({"custom_id": "a", "result": {"type": "succeeded", "message": {"content": []}}}, separators=(",", ":")).encode() + b"\n"


def anthropic_api(*, content: Callable[[BaseHTTPRequestHandler], None], results: Callable[[BaseHTTPRequestHandler], None]):
    """Anthropic's API for one downloadable file and one ended batch, with the given bodies."""

    def route(h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        if path == "/v1/files/file_1":
            send_json(h, FILE_META)
        elif path == "/v1/files/file_1/content":
            content(h)
        elif path == "/v1/messages/batches/msgbatch_1":
            send_json(h, ENDED_BATCH)
        elif path == "/v1/messages/batches/msgbatch_1/results":
            results(h)
        else:
            send_json(h, {"type": "error", "error": {"type": "not_found_error", "message": path}}, 404)

    return route


def direct_env(server: Loopback) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": ANTHROPIC_KEY}


def start_body(h: BaseHTTPRequestHandler, content_type: str, first: bytes, **headers: str) -> None:
    """Headers that promise more than ``first``, the bytes actually sent."""
    h.send_response(200)
    h.send_header("content-type", content_type)
    for name, value in (headers or {"content-length": str(SIZE)}).items():
        h.send_header(name.replace("_", "-"), value)
    h.end_headers()
    h.wfile.write(first)
    h.wfile.flush()


def cut_content(h: BaseHTTPRequestHandler) -> None:
    start_body(h, "application/octet-stream", b"x" * 1000)
    h.close_connection = True  # and the connection drops


def cut_results(h: BaseHTTPRequestHandler) -> None:
    chunk = b"%x\r\n%s\r\n" % (len(RESULT_LINE), RESULT_LINE)
    start_body(h, "application/binary", chunk, transfer_encoding="chunked")  # no final chunk
    h.close_connection = True


def drip_json(body: Any, *, every: float = 0.2, release: threading.Event | None = None) -> Route:
    """A route answering ``body`` as JSON one byte at a time, ``every`` seconds apart (each read
    gets something, so only an overall deadline ends it); it stops early once ``release`` is set."""
    data = json.dumps(body).encode()

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        for i in range(len(data)):
            try:
                h.wfile.write(data[i : i + 1])
                h.wfile.flush()
            except OSError:
                return  # the client gave up
            if release is not None and release.wait(every):
                return
            if release is None:
                threading.Event().wait(every)

    return route


# ------------------------------------------------------------------------------------------------
# a file served with HTTP Range, whose answers can be cut short


class RangeFile:
    """One file's content (a :data:`Route`): honours ``Range: bytes=N-`` (unless ``ignore_range``) with a
    206 and its Content-Range; the answer number ``i`` is cut after ``cuts[i]`` bytes of its body."""

    def __init__(
        self,
        data: bytes,
        *,
        cuts: tuple[int | None, ...] = (),
        ignore_range: bool = False,
        etag: str | None = '"v1"',
        accept_ranges: str | None = "bytes",
        content_range: str | None = None,
        last_modified: str | None = None,
    ):
        self.data = data
        self.cuts = list(cuts)
        self.ignore_range = ignore_range
        self.etag = etag
        self.accept_ranges = accept_ranges
        self.content_range = content_range
        self.last_modified = last_modified
        self.seen: list[tuple[str | None, str | None]] = []  # (Range, If-Range) of each request

    def __call__(self, h: BaseHTTPRequestHandler) -> None:
        wanted = h.headers.get("range")
        self.seen.append((wanted, h.headers.get("if-range")))
        start = 0
        if wanted and not self.ignore_range:
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
        body = self.data[start:]
        h.send_response(206 if start else 200)
        h.send_header("content-type", "application/octet-stream")
        h.send_header("content-length", str(len(body)))
        if self.etag:
            h.send_header("etag", self.etag)
        if self.accept_ranges:
            h.send_header("accept-ranges", self.accept_ranges)
        if self.last_modified:
            h.send_header("last-modified", self.last_modified)
        if start:
            h.send_header("content-range", self.content_range or f"bytes {start}-{len(self.data) - 1}/{len(self.data)}")
        h.end_headers()
        cut = self.cuts.pop(0) if self.cuts else None
        h.wfile.write(body if cut is None else body[:cut])
        h.wfile.flush()
        if cut is not None:
            h.close_connection = True  # the connection drops short of the Content-Length
