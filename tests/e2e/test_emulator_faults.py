"""Fault injection of the served emulator (`bifrost emulator serve`), seen on the wire with raw sockets:
each body-level fault really happens (byte counts, framing, clean close, ordering), `after=` really does
the request, rules armed by --fault and the environment, bad rules refused with exit 2."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import Served, bifrost_executable, clean_env, start_emulator, stop_emulator

AKEY = {"x-api-key": "sk-ant-test"}
DATA = b"".join(b'{"line":%d,"text":"%s"}\n' % (i, b"x" * 40) for i in range(50))


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = start_emulator(tmp_path_factory.mktemp("faults-state"), "--batch-seconds", "1", "--quiet")
    yield server
    stop_emulator(server)


def _exchange(served: Served, method: str, path: str, headers: dict[str, str] | None = None,
              body: bytes = b"") -> tuple[bytes, list[bytes]]:
    """Send one request; return the raw header block and every recv() of the rest until the server closes."""
    parts = urlsplit(served.url)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        received = b""
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)
            assert data, "closed before the headers"
            received += data
        head, _, first = received.partition(b"\r\n\r\n")
        chunks = [first] if first else []
        while data := sock.recv(65536):
            chunks.append(data)
    return head, chunks


def _headers(head: bytes) -> dict[str, str]:
    return {k.strip().lower(): v.strip() for k, _, v in
            (line.partition(":") for line in head.decode().split("\r\n")[1:])}


def _status(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def _arm(served: Served, *rules: str) -> None:
    head, chunks = _exchange(served, "POST", "/_emulator/faults", {"Connection": "close"},
                             json.dumps({"rules": list(rules)}).encode())
    assert _status(head) == 200, b"".join(chunks)


def _file(served: Served) -> str:
    head, chunks = _exchange(served, "POST", "/_emulator/files?filename=out.jsonl", {"Connection": "close"}, DATA)
    assert _status(head) == 200
    file_id = json.loads(b"".join(chunks))["id"]
    return f"/native/anthropic/v1/files/{file_id}/content"


def test_cut_ends_a_close_delimited_body_early_on_a_line_boundary(emu):
    url = _file(emu)
    _arm(emu, "files.download:cut=50%")
    head, chunks = _exchange(emu, "GET", url, AKEY)  # no "Connection: close": the server closes by itself
    body = b"".join(chunks)
    headers = _headers(head)
    assert _status(head) == 200
    assert "content-length" not in headers and "transfer-encoding" not in headers
    assert headers["connection"] == "close"
    assert 0 < len(body) <= len(DATA) // 2
    assert DATA.startswith(body) and body.endswith(b"\n")  # whole lines: looks like a complete JSONL file


def test_cut_length_sends_a_matching_content_length(emu):
    url = _file(emu)
    _arm(emu, "files.download:cut-length=100")
    head, chunks = _exchange(emu, "GET", url, {**AKEY, "Connection": "close"})
    body = b"".join(chunks)
    assert _headers(head)["content-length"] == str(len(body))
    assert 0 < len(body) <= 100 and DATA.startswith(body) and body.endswith(b"\n")


def test_reset_sends_fewer_bytes_than_announced_then_a_range_serves_the_rest(emu):
    url = _file(emu)
    _arm(emu, "files.download:reset=777")
    head, chunks = _exchange(emu, "GET", url, AKEY)
    got = b"".join(chunks)
    headers = _headers(head)
    assert headers["content-length"] == str(len(DATA))
    assert got == DATA[:777]  # then the connection closed
    etag = headers["etag"]
    head, chunks = _exchange(emu, "GET", url, {**AKEY, "Range": f"bytes={len(got)}-", "If-Range": etag,
                                               "Connection": "close"})
    assert _status(head) == 206
    assert _headers(head)["content-range"] == f"bytes 777-{len(DATA) - 1}/{len(DATA)}"
    assert got + b"".join(chunks) == DATA


def test_faults_compose_with_range(emu):
    url = _file(emu)
    _arm(emu, "files.download:reset=10")
    head, chunks = _exchange(emu, "GET", url, {**AKEY, "Range": "bytes=100-199"})
    assert _status(head) == 206 and _headers(head)["content-length"] == "100"
    assert b"".join(chunks) == DATA[100:110]


def _first_read_and_rest(served: Served, url: str) -> tuple[bytes, bytes]:
    parts = urlsplit(served.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\nx-api-key: k\r\nConnection: close\r\n\r\n".encode())
        first = b""
        while b"\r\n\r\n" not in first:
            first += sock.recv(65536)
        rest = b""
        while data := sock.recv(65536):
            rest += data
    return first, rest


def test_stall_sends_the_headers_alone_then_the_body(emu):
    url = _file(emu)
    first, rest = _first_read_and_rest(emu, url)  # control: headers and this small body leave together
    assert not first.endswith(b"\r\n\r\n")
    _arm(emu, "files.download:stall=1")
    first, rest = _first_read_and_rest(emu, url)
    assert first.endswith(b"\r\n\r\n")  # the headers, and not one byte of the body
    assert rest == DATA


def test_drip_sends_the_body_a_byte_at_a_time(emu):
    head, chunks = _exchange(emu, "POST", "/_emulator/files?filename=small.txt", {"Connection": "close"}, b"0123456789" * 3)
    file_id = json.loads(b"".join(chunks))["id"]
    _arm(emu, "files.download:drip=0.02")
    head, chunks = _exchange(emu, "GET", f"/native/anthropic/v1/files/{file_id}/content",
                             {**AKEY, "Connection": "close"})
    assert _status(head) == 200
    assert b"".join(chunks) == b"0123456789" * 3
    assert len(chunks) > 10  # many small reads, not one


def test_after_creates_the_batch_then_answers_a_bare_error(emu):
    request = {"requests": [{"custom_id": "a", "params": {"model": "claude-test", "max_tokens": 8,
                                                          "messages": [{"role": "user", "content": "hi"}]}}]}
    head, chunks = _exchange(emu, "GET", "/native/anthropic/v1/messages/batches?limit=100",
                             {**AKEY, "Connection": "close"})
    before = len(json.loads(b"".join(chunks))["data"])
    _arm(emu, "batches.create:after=502")
    head, chunks = _exchange(emu, "POST", "/native/anthropic/v1/messages/batches",
                             {**AKEY, "Connection": "close", "Content-Type": "application/json"},
                             json.dumps(request).encode())
    assert _status(head) == 502
    assert _headers(head)["content-type"].startswith("text/html") and "request-id" not in _headers(head)
    head, chunks = _exchange(emu, "GET", "/native/anthropic/v1/messages/batches?limit=100",
                             {**AKEY, "Connection": "close"})
    assert len(json.loads(b"".join(chunks))["data"]) == before + 1


def test_rules_given_with_fault_are_armed_at_start(tmp_path):
    served = start_emulator(tmp_path / "state", "--quiet", "--fault", "files.list:status=429x*",
                            env={"BIFROST_EMULATOR_FAULTS": "batches.get:stall=1"})
    try:
        head, chunks = _exchange(served, "GET", "/_emulator/faults", {"Connection": "close"})
        assert json.loads(b"".join(chunks)) == {"rules": [{"rule": "files.list:status=429x*", "remaining": "*"}]}
        head, chunks = _exchange(served, "GET", "/native/anthropic/v1/files", {**AKEY, "Connection": "close"})
        assert _status(head) == 429 and _headers(head)["request-id"].startswith("req_")
    finally:
        stop_emulator(served)


def test_rules_from_the_environment_are_armed_at_start(tmp_path):
    served = start_emulator(tmp_path / "state", "--quiet",
                            env={"BIFROST_EMULATOR_FAULTS": "batches.get:stall=1;files.list:status=500x2"})
    try:
        head, chunks = _exchange(served, "GET", "/_emulator/faults", {"Connection": "close"})
        assert [r["rule"] for r in json.loads(b"".join(chunks))["rules"]] == ["batches.get:stall=1",
                                                                              "files.list:status=500x2"]
    finally:
        stop_emulator(served)


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--fault", "files.download:cut=lots"], {}, "'files.download:cut=lots'"),
        (["--fault", "batches.create:status=503", "--fault", "teleport:status=500"], {}, "unknown operation 'teleport'"),
        ([], {"BIFROST_EMULATOR_FAULTS": "batches.create:status=503;batches.get:after=200"}, "BIFROST_EMULATOR_FAULTS"),
    ],
)
def test_a_bad_rule_stops_serve_with_exit_2(tmp_path: Path, args, env, says):
    done = subprocess.run([*bifrost_executable(), "emulator", "serve", "--port", "0", "--state-dir",
                           str(tmp_path / "s"), *args], env=clean_env(**env), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_a_client_giving_up_on_a_stall_leaves_no_traceback(tmp_path):
    served = start_emulator(tmp_path / "state", "--quiet", "--fault", "files.list:stall=0.2x*")
    try:
        parts = urlsplit(served.url)
        for _ in range(2):
            with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
                sock.sendall(b"GET /native/anthropic/v1/files HTTP/1.1\r\nHost: x\r\nx-api-key: k\r\n\r\n")
                assert b"\r\n\r\n" in sock.recv(65536)  # the headers came; the client leaves before the body
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        time.sleep(1)  # let the stalls end: the server then writes to connections that are gone
        head, chunks = _exchange(served, "GET", "/_emulator/health", {"Connection": "close"})
        assert _status(head) == 200
    finally:
        stop_emulator(served)
        _, stderr = served.proc.communicate(timeout=10)
    assert "Traceback" not in stderr
