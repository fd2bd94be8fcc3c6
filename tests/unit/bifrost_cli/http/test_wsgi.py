"""The WSGI transport (``http/wsgi.py``): the in-process emulator behind the HTTP client, streamed both ways."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from bifrost_cli.errors import NotFoundError
from bifrost_cli.http import Body, HttpClient
from bifrost_cli.http.wsgi import WSGIStreamTransport

KEY = "sk-test-SECRET-0123456789"


def echo_app(environ: dict, start_response: Callable) -> Iterator[bytes]:
    """Reads the whole request body, then streams an answer in several chunks."""
    body = environ["wsgi.input"].read()
    start_response("201 Created", [("content-type", "application/jsonl"), ("x-path", environ["PATH_INFO"])])
    yield json.dumps({"length": len(body), "query": environ["QUERY_STRING"], "method": environ["REQUEST_METHOD"]}).encode() + b"\n"
    for i in range(3):
        yield f'{{"chunk":{i}}}\n'.encode()


def list_app(environ: dict, start_response: Callable) -> list[bytes]:
    lines = list(environ["wsgi.input"])  # reads line by line
    start_response("200 OK", [("content-type", "application/json"), ("x-auth", environ.get("HTTP_X_API_KEY", ""))])
    return [json.dumps({"lines": len(lines), "ctype": environ.get("CONTENT_TYPE")}).encode()]


def test_wsgi_transport_streams_request_and_response() -> None:
    http = HttpClient("http://emulator.localhost", label="emulator", transport=WSGIStreamTransport(echo_app))
    chunks = [b"x" * 1000, b"y" * 2345, b"z"]
    body = Body(lambda: iter(chunks), length=None, content_type="application/octet-stream")
    with http.request("POST", "/a%20b/c", params={"q": "1"}, body=body, stream=True) as response:
        assert response.status == 201
        assert response.headers["x-path"] == "/a b/c"
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert lines[0] == {"length": 3346, "query": "q=1", "method": "POST"}
    assert lines[1:] == [{"chunk": 0}, {"chunk": 1}, {"chunk": 2}]


def test_wsgi_transport_passes_headers_and_line_reading() -> None:
    http = HttpClient(
        "http://emulator.localhost",
        label="emulator",
        auth_headers={"x-api-key": KEY},
        transport=WSGIStreamTransport(list_app),
    )
    data = b"a\nbb\nccc\n" * 10
    body = Body(lambda: [data[:7], data[7:]], length=len(data), content_type="text/plain")
    result = http.request("POST", "/lines", body=body).json()
    assert result == {"lines": 30, "ctype": "text/plain"}


def test_wsgi_transport_error_status_is_mapped() -> None:
    def app(environ: dict, start_response: Callable) -> list[bytes]:
        start_response("404 Not Found", [("content-type", "application/json")])
        return [b'{"type":"error","error":{"type":"not_found_error","message":"no such batch"}}']

    http = HttpClient("http://emulator.localhost", label="emulator", transport=WSGIStreamTransport(app))
    with pytest.raises(NotFoundError) as info:
        http.request("GET", "/v1/messages/batches/nope")
    assert "no such batch" in info.value.message
