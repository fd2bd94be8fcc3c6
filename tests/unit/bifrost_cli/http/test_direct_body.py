"""Tests for the large-body fast path of bifrost_cli.http.response: a big answer framed by its
Content-Length alone is read straight from the socket; every other framing (chunked, gzip) goes
through httpx. Each case is a real loopback server (plain and TLS), and each must hand on exactly
the bytes the server meant, keep the connection usable, and break, resume and time out the way
the normal path does."""

from __future__ import annotations

import gzip
import random
import shutil
import ssl
import subprocess
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from bifrost_cli.errors import BifrostError, UnavailableError
from bifrost_cli.http import HttpClient
from bifrost_cli.http.ranged import open_ranged
from tests.fakes import Loopback, RangeFile, Route

MiB = 1024 * 1024
DATA = bytes(range(256)) * (3 * MiB // 256) + b"tail"  # 3 MiB: well past the direct-read threshold


def http_for(url: str, *, timeout: float | None = None, sleeps: list[float] | None = None) -> HttpClient:
    return HttpClient(url, label="the server", max_retries=2, timeout=timeout, sleep=(sleeps if sleeps is not None else []).append)


def whole(http: HttpClient, path: str = "/file") -> bytes:
    with open_ranged(http, path) as body:
        return b"".join(body.iter_bytes())


def test_a_large_body_arrives_byte_identical_and_the_connection_stays_usable(loopback) -> None:
    served = RangeFile(DATA)
    server = loopback(served)
    with http_for(server.url) as http:
        assert whole(http) == DATA
        assert whole(http) == DATA  # the same client again: a fresh connection, not a half-read one
    assert len(served.seen) == 2


def test_body_bytes_sent_with_the_headers_are_not_lost(loopback) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        head = f"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {len(DATA)}\r\n\r\n".encode()
        h.wfile.write(head + DATA[:200_000])  # one write: the first read holds headers and body
        h.wfile.flush()
        h.wfile.write(DATA[200_000:])

    with http_for(loopback(route).url) as http:
        assert whole(http) == DATA


def test_a_chunked_large_body_is_decoded(loopback) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("transfer-encoding", "chunked")
        h.end_headers()
        for i in range(0, len(DATA), 700_000):
            piece = DATA[i : i + 700_000]
            h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        h.wfile.write(b"0\r\n\r\n")

    with http_for(loopback(route).url) as http:
        assert whole(http) == DATA
        assert whole(http) == DATA  # keep-alive after a chunked answer


def test_a_gzip_large_body_is_decompressed(loopback) -> None:
    plain = random.Random(10).randbytes(2 * MiB)  # incompressible: the coded body stays large
    packed = gzip.compress(plain, compresslevel=1)
    assert len(packed) > 1024 * 1024  # large enough that only its coding keeps it off the direct path

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("content-encoding", "gzip")
        h.send_header("content-length", str(len(packed)))
        h.end_headers()
        h.wfile.write(packed)

    with http_for(loopback(route).url) as http:
        assert whole(http) == plain


def test_a_large_body_cut_twice_is_resumed_byte_identical(loopback) -> None:
    served = RangeFile(DATA, cuts=(MiB + 12_345, MiB + 777))
    sleeps: list[float] = []
    with http_for(loopback(served).url, sleeps=sleeps) as http, open_ranged(http, "/file") as body:
        data = b"".join(body.iter_bytes())
        assert body.resumes == 2
    assert data == DATA
    assert [r for r, _ in served.seen[1:]] == [f"bytes={MiB + 12_345}-", f"bytes={2 * MiB + 12_345 + 777}-"]
    assert len(sleeps) == 2


def test_a_large_body_that_stops_arriving_times_out(loopback) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("content-length", str(len(DATA)))
        h.end_headers()
        h.wfile.write(DATA[: 2 * MiB])
        h.wfile.flush()
        server.release.wait(30)  # then nothing more, the connection held open

    server = loopback(route)
    with http_for(server.url, timeout=0.5) as http:
        response = http.request("GET", "/file", stream=True)
        got = bytearray()
        with pytest.raises(UnavailableError) as caught:
            for chunk in response.iter_bytes():
                got += chunk
        response.close()
    assert got == DATA[: 2 * MiB]
    assert "timed out" in caught.value.message


def test_a_large_body_cut_without_ranges_is_an_error_not_a_short_file(loopback) -> None:
    served = RangeFile(DATA, cuts=(MiB + 5,), etag=None, accept_ranges=None)
    with http_for(loopback(served).url) as http, pytest.raises(UnavailableError):
        whole(http)
    assert len(served.seen) == 1


@pytest.fixture
def tls_server(loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``tls_server(route)``: a loopback server speaking TLS with a certificate the client trusts
    (through SSL_CERT_FILE, as a user would)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def start(route: Route) -> Loopback:
        server = loopback(route)
        server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
        server.url = server.url.replace("http://", "https://")
        return server

    return start


def test_a_large_body_over_tls_arrives_byte_identical_and_resumes(tls_server) -> None:
    served = RangeFile(DATA, cuts=(None, MiB + 99))
    server = tls_server(served)
    with http_for(server.url) as http:
        assert whole(http) == DATA
        assert whole(http) == DATA  # cut once, resumed
    assert [r for r, _ in served.seen] == [None, None, f"bytes={MiB + 99}-"]


def test_a_certificate_the_client_does_not_trust_is_refused(tls_server, monkeypatch: pytest.MonkeyPatch) -> None:
    served = RangeFile(DATA)
    server = tls_server(served)
    monkeypatch.delenv("SSL_CERT_FILE")  # the default trust store, which never signed this certificate
    with http_for(server.url) as http, pytest.raises(BifrostError) as caught:
        whole(http)
    assert "certificate" in caught.value.message.lower()
    assert served.seen == []  # nothing was asked over the connection it refused
