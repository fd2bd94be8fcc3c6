"""Anthropic's API through a Bifrost gateway's ``/anthropic`` routes (``GatewayTarget``), on fake gateways
behind ``httpx.MockTransport``, injected through ``build_target``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bifrost_cli import service
from bifrost_cli.errors import ExitCode, NotFoundError, ResponseError
from bifrost_cli.inputs import load_requests
from tests.fakes import (
    ANTHROPIC_KEY,
    GATEWAY,
    VIRTUAL_KEY,
    Handler,
    Recorder,
    batch_obj,
    file_obj,
    gateway_target,
    succeeded_line,
    write_requests,
)


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
    server = Recorder(lambda r: httpx.Response(200, json=file_obj("file_abc")))
    with pytest.raises(ResponseError) as info:
        gateway_target(tmp_path, server, provider="anthropic").open_download("file_abc")
    assert "metadata" in info.value.message
    assert "upgrade" in (info.value.hint or "").lower()


def test_gateway_download_of_a_real_json_file_is_kept(tmp_path: Path) -> None:
    content = b'{"id": "something else", "type": "file"}'
    server = Recorder(lambda r: httpx.Response(200, content=content, headers={"content-type": "application/json"}))
    with gateway_target(tmp_path, server, provider="anthropic").open_download("file_abc") as download:
        assert b"".join(download.chunks()) == content
        assert download.size == len(content)


def test_gateway_download_streams_binary_content(tmp_path: Path) -> None:
    server = Recorder(lambda r: httpx.Response(200, content=b"\x00\x01" * 100, headers={"content-type": "application/octet-stream"}))
    with gateway_target(tmp_path, server, provider="anthropic").open_download("file_abc") as download:
        assert b"".join(download.chunks()) == b"\x00\x01" * 100
    # the file's metadata first (its size: the content answer may carry none), then its content
    assert server.paths() == ["/anthropic/v1/files/file_abc", "/anthropic/v1/files/file_abc/content"]


def test_gateway_upload_sends_the_purpose(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"{}\n")
    server = Recorder(lambda r: httpx.Response(200, json=file_obj("file-up")))
    list(service.upload_files(gateway_target(tmp_path, server, provider="anthropic"), [str(src)], purpose="batch"))
    assert b'name="purpose"\r\n\r\nbatch\r\n' in server.requests[0].content


def test_two_models_are_fine_for_anthropic_through_the_gateway(tmp_path: Path) -> None:
    path = write_requests(tmp_path, ["model-a", "model-b"])
    server = Recorder(lambda r: httpx.Response(200, json=batch_obj(status="in_progress")))
    with load_requests(str(path)) as requests:
        gateway_target(tmp_path, server).create_batch(requests)
    assert len(json.loads(server.requests[0].content)["requests"]) == 2
    assert "anthropic-beta" not in server.requests[0].headers
