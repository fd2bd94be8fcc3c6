"""Tests for the adapters: Anthropic's API called directly, and a Bifrost gateway in front of a provider.

The servers are small fakes behind ``httpx.MockTransport``, injected through ``build_target``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bifrost_cli import service
from bifrost_cli.config import resolve
from bifrost_cli.errors import (
    BatchIncomplete,
    ExitCode,
    NotFoundError,
    ResponseError,
    UnavailableError,
    UnsupportedError,
    UsageError,
)
from bifrost_cli.inputs import load_requests
from bifrost_cli.providers import build_target
from bifrost_cli.providers.base import UploadSource
from bifrost_cli.providers.results import normalize_result
from tests.fakes import Handler, Recorder, never_called

ANTHROPIC_KEY = "sk-ant-test-KEY-0123456789"
VIRTUAL_KEY = "sk-bf-virtual-KEY-987654"
ANTHROPIC = "https://api.anthropic.com"
GATEWAY = "https://gateway.example.test"


def settings(tmp_path: Path, **flags: Any) -> Any:
    return resolve({"max_retries": 2, **flags}, environ={}, path=tmp_path / "absent.toml")


def anthropic_target(tmp_path: Path, handler: Handler, **flags: Any) -> Any:
    return build_target(settings(tmp_path, anthropic_api_key=ANTHROPIC_KEY, **flags), transport=httpx.MockTransport(handler))


def gateway_target(tmp_path: Path, handler: Handler, provider: str = "anthropic", **flags: Any) -> Any:
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


# ================================================================================================
# AnthropicAPI, direct


def test_direct_anthropic_needs_a_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        build_target(settings(tmp_path), transport=httpx.MockTransport(never_called))
    assert "ANTHROPIC_API_KEY" in info.value.message


@pytest.mark.parametrize(("provider", "needs"), [("openai", "OPENAI_API_KEY"), ("gemini", "GEMINI_API_KEY"), ("bedrock", "region")])
def test_direct_providers_say_what_credentials_they_need(tmp_path: Path, provider: str, needs: str) -> None:
    with pytest.raises(UsageError) as info:  # at build time, or at the first call: before any I/O
        target = build_target(settings(tmp_path, provider=provider, anthropic_api_key=ANTHROPIC_KEY), transport=httpx.MockTransport(never_called))
        list(target.list_batches(limit=1))
    assert needs in info.value.message
    assert "--base-url" in (info.value.hint or "")


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
    answers = [httpx.Response(529, json={"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}, headers={"retry-after": "0"}),
               httpx.Response(200, json=batch_obj(status="in_progress"))]
    server = Recorder(lambda r: answers[len(server.requests) - 1])
    with load_requests(str(path)) as requests:
        anthropic_target(tmp_path, server).create_batch(requests)
    assert len(server.requests) == 2
    assert server.requests[0].content == server.requests[1].content


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
    with pytest.raises(BatchIncomplete) as info:
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
        return httpx.Response(200, json=file_obj(1, downloadable=True, filename="out.csv"))

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


# ================================================================================================
# GatewayTarget


def test_gateway_base_url_with_anthropic_suffix_is_accepted(tmp_path: Path) -> None:
    server = Recorder(lambda r: httpx.Response(200, json=batch_obj()))
    gateway_target(tmp_path, server, base_url=GATEWAY + "/anthropic/").get_batch("msgbatch_1")
    assert server.paths() == ["/anthropic/v1/messages/batches/msgbatch_1"]


def test_gateway_sends_provider_and_virtual_key_never_the_provider_key(tmp_path: Path) -> None:
    provider = "anthropic"
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/files") or request.url.path.endswith("/batches"):
            return httpx.Response(200, json={"data": [], "has_more": False})
        if "/files/" in request.url.path:
            return httpx.Response(200, json=file_obj(1))
        return httpx.Response(200, json=batch_obj())

    server = Recorder(handler)
    target = gateway_target(tmp_path, server, provider=provider)
    target.get_batch("b")
    list(target.list_batches(limit=None))
    list(target.list_files(limit=None))
    target.get_file("file_001")
    assert len(server.requests) == 4
    for request in server.requests:
        assert request.url.path.startswith("/anthropic/v1/")
        assert request.headers["x-model-provider"] == provider
        assert request.headers["x-bf-vk"] == VIRTUAL_KEY
        assert "x-api-key" not in request.headers
        assert ANTHROPIC_KEY.encode() not in request.content
        assert all(ANTHROPIC_KEY not in v for v in request.headers.values())


def gateway_results(body: Any, content_type: str = "application/json") -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/results"):
            if isinstance(body, bytes):
                return httpx.Response(200, content=body, headers={"content-type": content_type})
            return httpx.Response(200, json=body)
        return httpx.Response(200, json=batch_obj())

    return handler


def test_gateway_results_as_one_json_object_with_anthropic_items(tmp_path: Path) -> None:
    body = {
        "batch_id": "msgbatch_1",
        "results": [
            succeeded_line("request-1", "4"),
            {"custom_id": "request-2", "result": {"type": "errored"}, "error": {"code": "invalid_request_error", "message": "bad max_tokens"}},
            {"custom_id": "request-3", "result": {"type": "canceled"}},
        ],
        "extra_fields": {"request_type": "batch_results", "provider": "anthropic"},
    }
    results = list(gateway_target(tmp_path, gateway_results(body)).iter_results("msgbatch_1"))
    assert [r.custom_id for r in results] == ["request-1", "request-2", "request-3"]
    assert results[0].result.message["content"] == [{"type": "text", "text": "4"}]
    errored = results[1].to_json_dict()["result"]
    assert errored == {
        "type": "errored",
        "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "bad max_tokens"}},
    }
    assert results[2].result.type == "canceled"


def test_gateway_raw_results_keep_the_items_as_answered(tmp_path: Path) -> None:
    item = {"custom_id": "request-2", "result": {"type": "errored"}, "error": {"code": "x", "message": "y"}}
    raw = list(gateway_target(tmp_path, gateway_results({"results": [item]})).iter_raw_results("b"))
    assert raw == [item]


def test_gateway_results_as_a_json_array(tmp_path: Path) -> None:
    results = list(gateway_target(tmp_path, gateway_results([succeeded_line("a")])).iter_results("b"))
    assert [r.custom_id for r in results] == ["a"]


@pytest.mark.parametrize("content_type", ["application/jsonl", "application/x-jsonl", "application/octet-stream"])
def test_gateway_results_as_jsonl(tmp_path: Path, content_type: str) -> None:
    body = (json.dumps(succeeded_line("a")) + "\n\n" + json.dumps({"custom_id": "b", "result": {"type": "expired"}}) + "\n").encode()
    results = list(gateway_target(tmp_path, gateway_results(body, content_type)).iter_results("b"))
    assert [(r.custom_id, r.result.type) for r in results] == [("a", "succeeded"), ("b", "expired")]


def test_gateway_jsonl_results_with_a_bad_line(tmp_path: Path) -> None:
    body = (json.dumps(succeeded_line("a")) + "\n{oops\n").encode()
    with pytest.raises(ResponseError) as info:
        list(gateway_target(tmp_path, gateway_results(body, "application/jsonl")).iter_results("b"))
    assert "line 2" in info.value.message


def test_gateway_results_of_an_unexpected_shape(tmp_path: Path) -> None:
    with pytest.raises(ResponseError):
        list(gateway_target(tmp_path, gateway_results({"batch_id": "b", "data": None})).iter_results("b"))


def chat_completion(**choice: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, **choice}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }


def test_openai_chat_completion_becomes_an_anthropic_message() -> None:
    item = {
        "custom_id": "r1",
        "response": {
            "status_code": 200,
            "request_id": "req_1",
            "body": chat_completion(
                message={
                    "role": "assistant",
                    "content": "Let me look.",
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}},
                        {"id": "call_2", "type": "function", "function": {"name": "broken", "arguments": "{not json"}},
                    ],
                },
                finish_reason="tool_calls",
            ),
        },
        "error": None,
    }
    result = normalize_result(item, where="test")
    assert result.result.type == "succeeded"
    message = result.result.message
    assert message["role"] == "assistant"
    assert message["model"] == "gpt-4o-mini"
    assert message["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "x"}},
        {"type": "tool_use", "id": "call_2", "name": "broken", "input": {"_raw": "{not json"}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {"input_tokens": 12, "output_tokens": 5}


@pytest.mark.parametrize(
    ("finish", "stop"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal"), (None, "end_turn"), ("weird", "end_turn")],
)
def test_openai_finish_reason_mapping(finish: str | None, stop: str) -> None:
    item = {"custom_id": "r", "response": {"status_code": 200, "body": chat_completion(message={"role": "assistant", "content": "x"}, finish_reason=finish)}}
    assert normalize_result(item, where="t").result.message["stop_reason"] == stop


@pytest.mark.parametrize(
    ("finish", "stop"), [("STOP", "end_turn"), ("MAX_TOKENS", "max_tokens"), ("SAFETY", "refusal"), ("RECITATION", "refusal")]
)
def test_gemini_summary_becomes_an_anthropic_message(finish: str, stop: str) -> None:
    item = {
        "custom_id": "request-1",
        "response": {
            "status_code": 200,
            "body": {"text": "Paris", "finish_reason": finish, "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}},
        },
    }
    result = normalize_result(item, where="t")
    message = result.result.message
    assert result.result.type == "succeeded"
    assert message["content"] == [{"type": "text", "text": "Paris"}]
    assert message["stop_reason"] == stop
    assert message["usage"] == {"input_tokens": 7, "output_tokens": 1}
    assert message["id"] == "msg_request-1"


@pytest.mark.parametrize(
    ("item", "etype", "message"),
    [
        (  # OpenAI: a failed request's own body
            {"custom_id": "r", "response": {"status_code": 400, "body": {"error": {"type": "invalid_request_error", "message": "bad model"}}}},
            "invalid_request_error",
            "bad model",
        ),
        (  # OpenAI: top-level error
            {"custom_id": "r", "response": None, "error": {"code": "batch_expired", "message": "expired"}},
            "batch_expired",
            "expired",
        ),
        (  # Gemini: error with a numeric code as text
            {"custom_id": "r", "error": {"code": "400", "message": "invalid argument"}},
            "400",
            "invalid argument",
        ),
        (  # status without a body
            {"custom_id": "r", "response": {"status_code": 500}},
            "500",
            "request failed",
        ),
        (  # a 200 with an error is still an error
            {"custom_id": "r", "response": {"status_code": 200, "body": {}}, "error": {"code": "x", "message": "partial"}},
            "x",
            "partial",
        ),
        ({"custom_id": "r", "error": "plain text"}, "api_error", "plain text"),
    ],
)
def test_failed_items_become_errored_results(item: dict[str, Any], etype: str, message: str) -> None:
    result = normalize_result(item, where="t").to_json_dict()
    assert result == {"custom_id": "r", "result": {"type": "errored", "error": {"type": "error", "error": {"type": etype, "message": message}}}}


def test_failed_item_with_a_text_body_becomes_an_errored_result() -> None:
    item = {"custom_id": "r", "response": {"status_code": 502, "body": "Bad Gateway"}}
    assert normalize_result(item, where="t").result.type == "errored"


@pytest.mark.parametrize(
    "item",
    [{"result": {"type": "succeeded"}}, {"custom_id": 5}, "a string", {"custom_id": "r"}, {"custom_id": "r", "result": {"type": "weird"}}],
)
def test_unusable_items_are_response_errors(item: Any) -> None:
    with pytest.raises(ResponseError):
        normalize_result(item, where="results of b, item 1")


@pytest.mark.parametrize(
    ("native", "status", "failed_as_whole"),
    [
        ("failed", "ended", True),
        ("expired", "ended", True),
        ("ended", "ended", False),
        ("finalizing", "in_progress", False),
        ("validating", "in_progress", False),
        ("canceling", "canceling", False),
        ("something_new", "in_progress", False),
    ],
)
def test_gateway_batch_status_mapping(tmp_path: Path, native: str, status: str, failed_as_whole: bool) -> None:
    batch = gateway_target(tmp_path, lambda r: httpx.Response(200, json=batch_obj(status=native))).get_batch("b")
    assert batch.status == status
    assert batch.native_status == native
    assert batch.failed_as_whole is failed_as_whole
    if failed_as_whole:
        assert batch.fully_succeeded is False


def test_gateway_batch_without_request_counts(tmp_path: Path) -> None:
    data = batch_obj(status="in_progress", created_at="", expires_at="")
    del data["request_counts"]
    batch = gateway_target(tmp_path, lambda r: httpx.Response(200, json=data)).get_batch("b")
    assert batch.request_counts is None
    assert batch.created_at is None and batch.expires_at is None


def test_gateway_batch_list_sends_page_size_and_page_token(tmp_path: Path) -> None:
    pages = [
        {"data": [batch_obj("b1"), batch_obj("b2")], "has_more": True, "first_id": "b1", "last_id": "b2"},
        {"data": [batch_obj("b3")], "has_more": False},
    ]
    server = Recorder(lambda r: httpx.Response(200, json=pages[len(server.requests) - 1]))
    batches = list(gateway_target(tmp_path, server).list_batches(limit=10))
    assert [b.id for b in batches] == ["b1", "b2", "b3"]
    first, second = (dict(r.url.params) for r in server.requests)
    assert first == {"limit": "10", "page_size": "10"}
    assert second["page_size"] == "8"
    assert second["page_token"] == "b2"


HTML = httpx.Response(200, text="<!doctype html><html><body>Bifrost</body></html>", headers={"content-type": "text/html; charset=utf-8"})


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.get_batch("b"),
        lambda t: list(t.list_batches(limit=None)),
        lambda t: list(t.list_files(limit=None)),
        lambda t: t.cancel_batch("b"),
        lambda t: t.delete_file("file_1"),
        lambda t: list(t.iter_results("b")),
        lambda t: t.open_download("file_1"),
    ],
)
def test_gateway_html_answer_is_a_clear_response_error(tmp_path: Path, call: Callable[[Any], Any]) -> None:
    with pytest.raises(ResponseError) as info:
        call(gateway_target(tmp_path, lambda r: HTML))
    assert "web page" in info.value.message
    assert "upgrade" in (info.value.hint or "").lower()


def test_gateway_batch_create_html_is_a_response_error(tmp_path: Path) -> None:
    path = write_requests(tmp_path, ["m"])
    with load_requests(str(path)) as requests, pytest.raises(ResponseError):
        gateway_target(tmp_path, lambda r: HTML).create_batch(requests)


def test_old_gateway_file_get_falls_back_to_the_list(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/anthropic/v1/files":
            return httpx.Response(200, json={"data": [file_obj(1), file_obj(2)], "has_more": False})
        return HTML

    server = Recorder(handler)
    target = gateway_target(tmp_path, server, provider="anthropic")
    f = target.get_file("file_002")
    assert f.id == "file_002" and f.filename == "file_002.jsonl"
    with pytest.raises(NotFoundError) as info:
        target.get_file("file_999")
    assert info.value.exit_code == ExitCode.NOT_FOUND


def test_legacy_content_answering_metadata_asks_to_upgrade(tmp_path: Path) -> None:
    server = Recorder(lambda r: httpx.Response(200, json=file_obj("file-abc")))
    with pytest.raises(ResponseError) as info:
        gateway_target(tmp_path, server, provider="anthropic").open_download("file-abc")
    assert "metadata" in info.value.message
    assert "upgrade" in (info.value.hint or "").lower()


def test_gateway_download_of_a_real_json_file_is_kept(tmp_path: Path) -> None:
    content = b'{"id": "something else", "type": "file"}'
    server = Recorder(lambda r: httpx.Response(200, content=content, headers={"content-type": "application/json"}))
    with gateway_target(tmp_path, server, provider="anthropic").open_download("file-abc") as download:
        assert b"".join(download.chunks()) == content
        assert download.size == len(content)


def test_gateway_download_streams_binary_content(tmp_path: Path) -> None:
    server = Recorder(lambda r: httpx.Response(200, content=b"\x00\x01" * 100, headers={"content-type": "application/octet-stream"}))
    with gateway_target(tmp_path, server, provider="anthropic").open_download("file-abc") as download:
        assert b"".join(download.chunks()) == b"\x00\x01" * 100
    assert server.paths() == ["/anthropic/v1/files/file-abc/content"]


def test_gateway_upload_sends_the_purpose(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"{}\n")
    server = Recorder(lambda r: httpx.Response(200, json=file_obj("file-up")))
    list(service.upload_files(gateway_target(tmp_path, server, provider="anthropic"), [str(src)], purpose="batch"))
    assert b'name="purpose"\r\n\r\nbatch\r\n' in server.requests[0].content


@pytest.mark.parametrize("provider", ["gemini", "openai"])
def test_two_models_in_a_non_anthropic_batch_are_refused_before_any_request(tmp_path: Path, provider: str) -> None:
    path = write_requests(tmp_path, ["model-a", "model-b", "model-a"])
    server = Recorder(never_called)
    with load_requests(str(path)) as requests, pytest.raises(UsageError) as info:
        gateway_target(tmp_path, server, provider=provider).create_batch(requests)
    assert "model-a, model-b" in info.value.message
    assert server.requests == []


def test_two_models_are_fine_for_anthropic_through_the_gateway(tmp_path: Path) -> None:
    path = write_requests(tmp_path, ["model-a", "model-b"])
    server = Recorder(lambda r: httpx.Response(200, json=batch_obj(status="in_progress")))
    with load_requests(str(path)) as requests:
        gateway_target(tmp_path, server).create_batch(requests)
    assert len(json.loads(server.requests[0].content)["requests"]) == 2
    assert "anthropic-beta" not in server.requests[0].headers
