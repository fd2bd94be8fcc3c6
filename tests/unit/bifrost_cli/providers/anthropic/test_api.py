"""Anthropic's Files and Message Batches APIs called directly (``AnthropicAPI``).

The servers are small fakes behind ``httpx.MockTransport``, injected through ``build_target``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bifrost_cli.errors import BatchNotEnded, ExitCode, ResponseError, UnavailableError, UnsupportedError, UsageError
from bifrost_cli.inputs import load_requests
from bifrost_cli.providers import build_target
from bifrost_cli.providers.base import UploadSource
from tests.fakes import (
    ANTHROPIC,
    ANTHROPIC_KEY,
    Recorder,
    anthropic_target,
    batch_obj,
    file_obj,
    jsonl_response,
    never_called,
    settings,
    succeeded_line,
    write_requests,
)

# ================================================================================================
# AnthropicAPI, direct


def test_direct_anthropic_needs_a_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        build_target(settings(tmp_path), transport=httpx.MockTransport(never_called))
    assert "ANTHROPIC_API_KEY" in info.value.message


@pytest.mark.parametrize(
    ("call", "is_file_call"),
    [
        (lambda t: t.get_file("file_001"), True),
        (lambda t: list(t.list_files(limit=1)), True),
        (lambda t: t.delete_file("file_001"), True),
        (lambda t: t.get_batch("msgbatch_1"), False),
        (lambda t: list(t.list_batches(limit=1)), False),
        (lambda t: t.cancel_batch("msgbatch_1"), False),
    ],
)
def test_anthropic_headers(tmp_path: Path, call: Callable[[Any], Any], is_file_call: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/files") or path.endswith("/batches"):
            return httpx.Response(200, json={"data": [], "has_more": False})
        if request.method == "DELETE":
            return httpx.Response(200, json={"id": "file_001", "type": "file_deleted"})
        if "/files/" in path:
            return httpx.Response(200, json=file_obj(1))
        return httpx.Response(200, json=batch_obj(status="canceling"))

    server = Recorder(handler)
    call(anthropic_target(tmp_path, server))
    assert server.requests
    for request in server.requests:
        assert request.url.host == "api.anthropic.com"
        assert request.headers["x-api-key"] == ANTHROPIC_KEY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert "x-bf-vk" not in request.headers
        if is_file_call:
            assert request.headers["anthropic-beta"] == "files-api-2025-04-14"
        else:
            assert "anthropic-beta" not in request.headers


def test_ids_are_one_path_segment(tmp_path: Path) -> None:
    server = Recorder(lambda r: httpx.Response(200, json=file_obj("file/../x?y")))
    anthropic_target(tmp_path, server).get_file("file/../x?y")
    assert server.requests[0].url.raw_path == b"/v1/files/file%2F..%2Fx%3Fy"


class PagedFiles:
    """A fake file list of ``total`` files; ``style`` is classic (has_more/last_id) or next_page."""

    def __init__(self, total: int, style: str, ignore_cursor: bool = False, max_page: int = 1000):
        self.files = [file_obj(i) for i in range(total)]
        self.style = style
        self.ignore_cursor = ignore_cursor
        self.max_page = max_page

    def __call__(self, request: httpx.Request) -> httpx.Response:
        q = request.url.params
        limit = min(int(q.get("limit", "20")), self.max_page)
        start = 0
        if not self.ignore_cursor:
            if "after_id" in q:
                start = next(i for i, f in enumerate(self.files) if f["id"] == q["after_id"]) + 1
            if "page" in q:
                start = int(q["page"].removeprefix("page_"))
        data = self.files[start : start + limit]
        more = start + limit < len(self.files)
        if self.style == "classic":
            body = {"data": data, "has_more": more, "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}
        else:
            body = {"data": data, "next_page": f"page_{start + limit}" if more else None}
        return httpx.Response(200, json=body)


@pytest.mark.parametrize("style", ["classic", "next_page"])
def test_file_list_walks_every_page(tmp_path: Path, style: str) -> None:
    fake = PagedFiles(2500, style)
    server = Recorder(fake)
    files = list(anthropic_target(tmp_path, server).list_files(limit=None))
    assert [f.id for f in files] == [f["id"] for f in fake.files]
    assert len(server.requests) == 3
    params = [dict(r.url.params) for r in server.requests]
    assert params[0] == {"limit": "1000"}
    if style == "classic":
        assert params[1] == {"limit": "1000", "after_id": "file_999"}
    else:
        assert params[1] == {"limit": "1000", "page": "page_1000"}


@pytest.mark.parametrize("style", ["classic", "next_page"])
@pytest.mark.parametrize(("limit", "requests"), [(1, 1), (1000, 1), (1001, 2), (1500, 2)])
def test_file_list_limit_stops_early(tmp_path: Path, style: str, limit: int, requests: int) -> None:
    server = Recorder(PagedFiles(2500, style))
    files = list(anthropic_target(tmp_path, server).list_files(limit=limit))
    assert len(files) == limit
    assert len(server.requests) == requests
    if requests == 2:
        assert server.requests[1].url.params["limit"] == str(limit - 1000)


@pytest.mark.parametrize("style", ["classic", "next_page"])
def test_a_server_ignoring_the_cursor_does_not_loop_forever(tmp_path: Path, style: str) -> None:
    # the server pages by 10 but always answers the first page, claiming there is more
    server = Recorder(PagedFiles(30, style, ignore_cursor=True, max_page=10))
    files = list(anthropic_target(tmp_path, server).list_files(limit=None))
    assert [f.id for f in files] == [f"file_{i:03d}" for i in range(10)]
    assert len(server.requests) == 2


def test_batch_list_pages_by_after_id(tmp_path: Path) -> None:
    pages = {
        None: {"data": [batch_obj("b1"), batch_obj("b2")], "has_more": True, "first_id": "b1", "last_id": "b2"},
        "b2": {"data": [batch_obj("b3")], "has_more": False, "first_id": "b3", "last_id": "b3"},
    }
    server = Recorder(lambda r: httpx.Response(200, json=pages[r.url.params.get("after_id")]))
    batches = list(anthropic_target(tmp_path, server).list_batches(limit=None))
    assert [b.id for b in batches] == ["b1", "b2", "b3"]


@pytest.mark.parametrize("page", [{"items": []}, [], {"data": "nope"}])
def test_a_list_answer_without_data_is_a_response_error(tmp_path: Path, page: Any) -> None:
    with pytest.raises(ResponseError):
        list(anthropic_target(tmp_path, lambda r: httpx.Response(200, json=page)).list_files(limit=None))


def test_batch_create_sends_exactly_the_input_lines(tmp_path: Path) -> None:
    path = write_requests(tmp_path, ["claude-a", "claude-b", "claude-a"])
    server = Recorder(lambda r: httpx.Response(200, json=batch_obj(status="in_progress")))
    with load_requests(str(path)) as requests:
        batch = anthropic_target(tmp_path, server).create_batch(requests)
    assert batch.id == "msgbatch_1"
    assert batch.status == "in_progress"
    (request,) = server.requests
    assert request.method == "POST"
    assert request.url.path == "/v1/messages/batches"
    assert request.headers["content-type"] == "application/json"
    assert int(request.headers["content-length"]) == len(request.content)
    expected = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert json.loads(request.content) == {"requests": expected}


def test_batch_create_with_model_flag_fills_missing_models(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"custom_id": "a", "params": {"max_tokens": 4, "messages": [{"role": "user", "content": "x"}]}}) + "\n")
    server = Recorder(lambda r: httpx.Response(200, json=batch_obj(status="in_progress")))
    with load_requests(str(path), model="claude-m") as requests:
        anthropic_target(tmp_path, server).create_batch(requests)
    assert json.loads(server.requests[0].content)["requests"][0]["params"]["model"] == "claude-m"


@pytest.mark.parametrize("code", [500, 502])
def test_batch_create_is_sent_once_even_on_a_server_error(tmp_path: Path, code: int) -> None:
    path = write_requests(tmp_path, ["claude-a"])
    server = Recorder(lambda r: httpx.Response(code, json={"type": "error", "error": {"type": "api_error", "message": "boom"}}))
    with load_requests(str(path)) as requests, pytest.raises(UnavailableError) as info:
        anthropic_target(tmp_path, server).create_batch(requests)
    assert len(server.requests) == 1
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert "may have received" in (info.value.hint or "")


def test_batch_create_retries_when_overloaded(tmp_path: Path) -> None:
    path = write_requests(tmp_path, ["claude-a"])
    refusal = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    answers = [httpx.Response(529, json=refusal, headers={"retry-after": "0", "request-id": "req_1"}),
               httpx.Response(200, json=batch_obj(status="in_progress"))]
    server = Recorder(lambda r: answers[len(server.requests) - 1])
    with load_requests(str(path)) as requests:
        anthropic_target(tmp_path, server).create_batch(requests)
    assert len(server.requests) == 2
    assert server.requests[0].content == server.requests[1].content


@pytest.mark.parametrize("headers", [{}, {"retry-after": "0"}])
def test_batch_create_answered_a_bare_overload_is_not_sent_again(tmp_path: Path, headers: dict[str, str]) -> None:
    """Without Anthropic's request id, a 529 may come from something in front of the API after
    the batch was created: sending it again could make two."""
    path = write_requests(tmp_path, ["claude-a"])
    server = Recorder(lambda r: httpx.Response(529, text="overloaded", headers=headers))
    with load_requests(str(path)) as requests, pytest.raises(UnavailableError) as info:
        anthropic_target(tmp_path, server).create_batch(requests)
    assert len(server.requests) == 1
    assert info.value.may_have_been_received


def results_server(results_url: str | None, status: str = "ended") -> Recorder:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/messages/batches/msgbatch_1":
            return httpx.Response(200, json=batch_obj(status=status, results_url=results_url))
        if "results" in request.url.path:
            return jsonl_response([succeeded_line("r1"), {"custom_id": "r2", "result": {"type": "expired"}}])
        return httpx.Response(404, json={"type": "error", "error": {"type": "not_found_error", "message": "no"}})

    return Recorder(handler)


def test_results_are_streamed_from_a_same_origin_results_url(tmp_path: Path) -> None:
    url = f"{ANTHROPIC}/v1/results-store/msgbatch_1/results"
    server = results_server(url)
    results = list(anthropic_target(tmp_path, server).iter_results("msgbatch_1"))
    assert [(r.custom_id, r.result.type) for r in results] == [("r1", "succeeded"), ("r2", "expired")]
    assert str(server.requests[1].url) == url
    assert server.requests[1].headers["x-api-key"] == ANTHROPIC_KEY


def test_results_url_query_string_is_kept(tmp_path: Path) -> None:
    url = f"{ANTHROPIC}/v1/results-store/msgbatch_1/results?token=abc"
    server = results_server(url)
    list(anthropic_target(tmp_path, server).iter_results("msgbatch_1"))
    assert str(server.requests[1].url) == url


@pytest.mark.parametrize(
    "url", ["https://results.elsewhere.test/v1/messages/batches/msgbatch_1/results", "http://api.anthropic.com/v1/messages/batches/msgbatch_1/results"]
)
def test_results_from_another_origin_are_fetched_from_the_configured_base(tmp_path: Path, url: str) -> None:
    server = results_server(url)
    raw = list(anthropic_target(tmp_path, server).iter_raw_results("msgbatch_1"))
    assert [r["custom_id"] for r in raw] == ["r1", "r2"]
    hosts = {(r.url.scheme, r.url.host) for r in server.requests}
    assert hosts == {("https", "api.anthropic.com")}
    assert server.requests[1].url.path == "/v1/messages/batches/msgbatch_1/results"


@pytest.mark.parametrize("status", ["in_progress", "canceling"])
def test_results_before_the_batch_ended_say_to_wait(tmp_path: Path, status: str) -> None:
    server = results_server(None, status=status)
    with pytest.raises(BatchNotEnded) as info:
        list(anthropic_target(tmp_path, server).iter_results("msgbatch_1"))
    assert info.value.exit_code == ExitCode.ERROR
    assert "wait" in (info.value.hint or "")
    assert len(server.requests) == 1


def test_a_garbled_result_line_is_a_response_error(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/results"):
            return httpx.Response(200, content=b'{"custom_id":"r1","result":{"type":"succeeded"}}\nnot json\n')
        return httpx.Response(200, json=batch_obj())

    with pytest.raises(ResponseError) as info:
        list(anthropic_target(tmp_path, handler).iter_results("msgbatch_1"))
    assert "line 2" in info.value.message


def test_download_of_a_non_downloadable_file_is_refused_before_any_content_request(tmp_path: Path) -> None:
    server = Recorder(lambda r: httpx.Response(200, json=file_obj(1, downloadable=False)))
    with pytest.raises(UnsupportedError) as info:
        anthropic_target(tmp_path, server).open_download("file_001")
    assert info.value.exit_code == ExitCode.USAGE
    assert server.paths() == ["/v1/files/file_001"]


def test_download_of_a_downloadable_file_streams_its_bytes(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/content"):
            return httpx.Response(200, content=b"hello world", headers={"content-type": "application/octet-stream"})
        return httpx.Response(200, json=file_obj(1, downloadable=True, filename="out.csv", size_bytes=11))

    server = Recorder(handler)
    with anthropic_target(tmp_path, server).open_download("file_001") as download:
        assert b"".join(download.chunks()) == b"hello world"
        assert download.size == 11
        assert download.filename == "out.csv"
    assert server.requests[1].headers["anthropic-beta"] == "files-api-2025-04-14"


def test_upload_sends_multipart_with_the_file(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"a":1}\n')
    server = Recorder(lambda r: httpx.Response(200, json=file_obj("file_up", filename="in.jsonl", size_bytes=8)))
    f = anthropic_target(tmp_path, server).upload_file(UploadSource.from_path(src), purpose="batch")
    assert f.id == "file_up"
    (request,) = server.requests
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert int(request.headers["content-length"]) == len(request.content)
    assert b'filename="in.jsonl"' in request.content and b'{"a":1}\n' in request.content
    assert b'name="purpose"' not in request.content  # Anthropic's upload takes no purpose


def _big_input(tmp_path: Path, count: int = 2500) -> tuple[Path, list[dict[str, Any]]]:
    """Requests filling several of the 1 MiB blocks the body is streamed in."""
    lines = [{"custom_id": f"r{i}", "params": {"model": "claude-a", "max_tokens": 8,
                                               "messages": [{"role": "user", "content": f"q{i} é " + "x" * 1000}]}}
             for i in range(count)]
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path, lines


def test_batch_create_sends_the_requests_as_checked_even_if_the_file_changes_meanwhile(tmp_path: Path) -> None:
    path, lines = _big_input(tmp_path)
    server = Recorder(lambda r: httpx.Response(200, json=batch_obj(status="in_progress")))
    with load_requests(str(path)) as requests:
        path.write_text(json.dumps({"custom_id": "other", "params": {}}) + "\n")
        anthropic_target(tmp_path, server).create_batch(requests)
    (request,) = server.requests
    assert len(request.content) > 2 << 20
    assert int(request.headers["content-length"]) == len(request.content)
    assert json.loads(request.content) == {"requests": lines}


def test_a_retried_create_sends_the_same_large_body_again(tmp_path: Path) -> None:
    path, lines = _big_input(tmp_path)
    refusal = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    answers = [httpx.Response(529, json=refusal, headers={"retry-after": "0", "request-id": "req_1"}),
               httpx.Response(200, json=batch_obj(status="in_progress"))]
    server = Recorder(lambda r: answers[len(server.requests) - 1])
    with load_requests(str(path)) as requests:
        anthropic_target(tmp_path, server).create_batch(requests)
    first, second = server.requests
    assert first.content == second.content
    assert json.loads(second.content) == {"requests": lines}


def test_a_request_with_a_lone_surrogate_escape_is_sent_as_valid_json(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"custom_id": "a", "params": {"model": "m", "max_tokens": 4, '
                    '"messages": [{"role": "user", "content": "x\\ud800y"}]}}\n')
    server = Recorder(lambda r: httpx.Response(200, json=batch_obj(status="in_progress")))
    with load_requests(str(path)) as requests:
        anthropic_target(tmp_path, server).create_batch(requests)
    sent = json.loads(server.requests[0].content)
    assert sent["requests"][0]["params"]["messages"][0]["content"] == "x\ud800y"
