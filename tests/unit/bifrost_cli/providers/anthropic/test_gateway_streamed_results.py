"""The gateway's results route answers ONE JSON object (``{"batch_id", "results": [...],
"extra_fields"}``): it is parsed as a stream, so results come out while the body is still arriving
(proved by a loopback gateway that holds the rest of its answer back), and a document cut short is
exit 6, never a partial list taken for the whole."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from bifrost_cli import service
from bifrost_cli.errors import ResponseError, TransferIncomplete
from bifrost_cli.providers import build_target
from tests.fakes import VIRTUAL_KEY, send_json, settings, succeeded_line

BATCH = {"id": "b1", "type": "message_batch", "processing_status": "ended", "created_at": "2026-01-01T00:00:00Z",
         "request_counts": {"processing": 0, "succeeded": 2000, "errored": 0, "canceled": 0, "expired": 0}}
ITEMS = [json.dumps(succeeded_line(f"r{i}", "x" * 100)).encode() for i in range(2000)]  # ~600 KB in all
HEAD = b'{"batch_id":"b1","results":[' + b",".join(ITEMS[:1000]) + b","
TAIL = b",".join(ITEMS[1000:]) + b'],"extra_fields":{"provider":"anthropic"}}'


def gateway(results) -> object:
    def route(h: BaseHTTPRequestHandler) -> None:
        if h.path.split("?")[0].endswith("/results"):
            results(h)
        else:
            send_json(h, BATCH)

    return route


def target(tmp_path: Path, url: str):
    return build_target(settings(tmp_path, base_url=url, api_key=VIRTUAL_KEY, provider="anthropic"))


def test_results_come_out_while_the_rest_of_the_document_is_held_back(loopback, tmp_path: Path) -> None:
    release = threading.Event()

    def results(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(HEAD) + len(TAIL)))
        h.end_headers()
        h.wfile.write(HEAD)
        h.wfile.flush()
        release.wait(30)  # the rest only once the test has seen results
        h.wfile.write(TAIL)

    server = loopback(gateway(results))
    stream = target(tmp_path, server.url).iter_results("b1")
    first = next(stream)
    assert not release.is_set()  # a result arrived while most of the document had not been sent
    assert first.custom_id == "r0"
    release.set()
    rest = list(stream)
    assert [r.custom_id for r in [first, *rest]] == [f"r{i}" for i in range(2000)]


def test_a_document_cut_short_is_exit_6_with_nothing_in_place(loopback, tmp_path: Path) -> None:
    def results(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("content-type", "application/json")
        h.end_headers()
        h.wfile.write(HEAD)  # no length, and the connection closes: only the JSON can tell
        h.close_connection = True

    server = loopback(gateway(results))
    dest = tmp_path / "out" / "results.jsonl"
    dest.parent.mkdir()
    with pytest.raises(TransferIncomplete) as info:
        service.write_results(target(tmp_path, server.url), "b1", output=str(dest))
    assert info.value.exit_code == 6 and "ended before its JSON did, after 1000 results" in info.value.message
    assert list(dest.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [(b'{"batch_id":"b1","results":[{"custom_id":"r0"},}', "not valid JSON after"),
     (b'{"batch_id":"b1","extra_fields":{}}', 'no "results" list'),
     (b'"results"', "expected a JSON object with results")],
    ids=["garbled", "no-results", "a-string"],
)
def test_a_document_that_is_not_results_is_a_response_error(loopback, tmp_path: Path, document: bytes, message: str) -> None:
    server = loopback(gateway(lambda h: _raw(h, document)))
    with pytest.raises(ResponseError, match=message):
        list(target(tmp_path, server.url).iter_raw_results("b1"))


def _raw(h: BaseHTTPRequestHandler, document: bytes) -> None:
    h.send_response(200)
    h.send_header("content-type", "application/json")
    h.send_header("content-length", str(len(document)))
    h.end_headers()
    h.wfile.write(document)
