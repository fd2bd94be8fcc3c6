"""Gemini's resumable upload (bifrost_cli.providers.gemini.resumable) under faults: a chunk lost on
the way is sent again from the server's offset as often, and after such jittered waits, as the
client's one retry policy allows; a refusal that is not about the offset, or an offset the chunk
cannot resume from, ends the upload. Faults come from a fake server behind ``httpx.MockTransport``,
or from the emulator's own fault injection."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bifrost_cli.emulator import EmulatorConfig, create_app
from bifrost_cli.errors import APIError, AuthError, ResponseError, UnavailableError
from bifrost_cli.http import HttpClient
from bifrost_cli.http.wsgi import WSGIStreamTransport
from bifrost_cli.models import File
from bifrost_cli.providers.base import UploadSource
from bifrost_cli.providers.gemini.api import GeminiAPI

DATA = bytes(range(256)) * 40  # one chunk
FILE = {"file": {"name": "files/f1", "displayName": "data.bin", "sizeBytes": str(len(DATA)), "state": "ACTIVE"}}


class FakeSession:
    """A resumable session: each chunk attempt gets the next of ``faults`` (an answer, a transport
    error after the bytes arrived, or None to take the chunk); ``query`` reports ``held`` bytes,
    or ``query_answer`` when given."""

    def __init__(self, *faults: httpx.Response | type[httpx.TransportError] | None, query_answer: httpx.Response | None = None):
        self.faults = list(faults)
        self.query_answer = query_answer
        self.held = 0
        self.commands: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        command = request.headers.get("x-goog-upload-command", "")
        self.commands.append(command)
        if command == "start":
            return httpx.Response(200, headers={"x-goog-upload-url": "https://elsewhere.test/upload/v1beta/files?upload_id=u1"})
        if command == "query":
            return self.query_answer or httpx.Response(
                200, headers={"x-goog-upload-status": "active", "x-goog-upload-size-received": str(self.held)})
        fault = self.faults.pop(0) if self.faults else None
        if isinstance(fault, httpx.Response):
            return fault
        if fault is not None:
            raise fault("the connection broke after the chunk was sent", request=request)
        self.held = int(request.headers["x-goog-upload-offset"]) + len(request.content)
        return httpx.Response(200, headers={"x-goog-upload-status": "final"}, json=FILE)


def upload(tmp_path: Path, transport: httpx.BaseTransport, sleeps: list[float], base: str = "https://gemini.test") -> File:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    http = HttpClient(base, label="gemini", auth_headers={"x-goog-api-key": "gemini-test-key"}, transport=transport,
                      trusted_transport=True, sleep=sleeps.append, max_retries=2)
    return GeminiAPI(http).upload_file(UploadSource.from_path(path), purpose=None)


def test_a_lost_chunk_is_sent_again_after_a_jittered_backoff(tmp_path: Path) -> None:
    server = FakeSession(httpx.ReadError, httpx.ReadError)
    sleeps: list[float] = []
    assert upload(tmp_path, httpx.MockTransport(server), sleeps).id == "files/f1"
    chunk = "upload, finalize"
    assert server.commands == ["start", chunk, "query", chunk, "query", chunk]
    assert len(sleeps) == 2 and 0.375 <= sleeps[0] <= 0.5 and 0.75 <= sleeps[1] <= 1.0


def test_a_chunk_lost_more_often_than_the_policy_allows_ends_the_upload(tmp_path: Path) -> None:
    server = FakeSession(httpx.ReadError, httpx.ReadError, httpx.ReadError, None)
    sleeps: list[float] = []
    with pytest.raises(UnavailableError):
        upload(tmp_path, httpx.MockTransport(server), sleeps)
    assert server.commands.count("upload, finalize") == 3  # max_retries is 2
    assert len(sleeps) == 2


def test_a_chunk_refused_for_a_wrong_offset_resumes_from_the_servers(tmp_path: Path) -> None:
    wrong = httpx.Response(400, json={"error": {"code": 400, "message": "wrong offset"}})
    server = FakeSession(wrong)
    server.held = 100  # the server already holds the first 100 bytes
    sent: list[str] = []

    def recorder(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("x-goog-upload-offset", "-"))
        return server(request)

    upload(tmp_path, httpx.MockTransport(recorder), [])
    assert sent == ["-", "0", "-", "100"]


def test_a_refusal_not_about_the_offset_is_raised_after_one_query(tmp_path: Path) -> None:
    server = FakeSession(httpx.Response(400, json={"error": {"code": 400, "message": "bad chunk"}}))
    sleeps: list[float] = []
    with pytest.raises(APIError, match="bad chunk"):
        upload(tmp_path, httpx.MockTransport(server), sleeps)
    assert server.commands == ["start", "upload, finalize", "query"]
    assert sleeps == []


def test_a_refusal_of_another_kind_is_raised_at_once(tmp_path: Path) -> None:
    server = FakeSession(httpx.Response(401, json={"error": {"code": 401, "message": "no"}}))
    with pytest.raises(AuthError):
        upload(tmp_path, httpx.MockTransport(server), [])
    assert server.commands == ["start", "upload, finalize"]


def test_an_upload_the_server_finalized_meanwhile_is_done(tmp_path: Path) -> None:
    final = httpx.Response(200, headers={"x-goog-upload-status": "final"}, json=FILE)
    server = FakeSession(httpx.ReadError, query_answer=final)
    sleeps: list[float] = []
    assert upload(tmp_path, httpx.MockTransport(server), sleeps).id == "files/f1"
    assert server.commands == ["start", "upload, finalize", "query"]
    assert sleeps == []


def test_an_offset_the_chunk_cannot_resume_from_ends_the_upload(tmp_path: Path) -> None:
    beyond = httpx.Response(200, headers={"x-goog-upload-status": "active", "x-goog-upload-size-received": str(len(DATA) + 1)})
    server = FakeSession(httpx.ReadError, query_answer=beyond)
    with pytest.raises(ResponseError, match="cannot resume"):
        upload(tmp_path, httpx.MockTransport(server), [])


def test_chunks_go_to_the_configured_origin_only(tmp_path: Path) -> None:
    hosts: list[str] = []
    server = FakeSession()

    def recorder(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return server(request)

    upload(tmp_path, httpx.MockTransport(recorder), [])
    assert set(hosts) == {"gemini.test"}


def test_an_upload_through_a_flaky_emulator_resumes_from_the_servers_offset_and_gives_up_bounded(tmp_path: Path) -> None:
    """Every second request to the emulator is a bare 503, the finalizing chunk included: no proof
    the chunk was not stored, so it is never re-sent blindly; each time the server is asked how
    much it holds and the chunk is sent from there, within the retry budget, then the error."""
    app = create_app(EmulatorConfig(state_dir=tmp_path / "state", flaky_every=2))
    sleeps: list[float] = []
    with pytest.raises(UnavailableError):
        upload(tmp_path, WSGIStreamTransport(app), sleeps, base="http://emulator.localhost/native/gemini")
    assert len(sleeps) == 2  # two resumes after asking the server, then the error


def test_a_file_cut_midway_is_sent_from_the_servers_offset_read_again_from_the_file(tmp_path: Path) -> None:
    """A file goes as one streamed request; cut after part of it arrived, the rest is read from the
    file at the offset the server holds and sent once, and the server ends up with the file whole."""
    data = bytes(range(251)) * (3 * 4096 + 7)  # several reads' worth, not a round size
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    held = bytearray()
    offsets: list[int] = []

    def server(request: httpx.Request) -> httpx.Response:
        command = request.headers.get("x-goog-upload-command", "")
        if command == "start":
            return httpx.Response(200, headers={"x-goog-upload-url": "https://gemini.test/upload/v1beta/files?upload_id=u1"})
        if command == "query":
            return httpx.Response(200, headers={"x-goog-upload-status": "active", "x-goog-upload-size-received": str(len(held))})
        offsets.append(int(request.headers["x-goog-upload-offset"]))
        content = request.read()
        if len(offsets) == 1:
            held.extend(content[: len(content) // 3])  # the connection broke a third of the way
            raise httpx.ReadError("cut", request=request)
        held.extend(content)
        body = {"file": {"name": "files/f1", "displayName": "big.bin", "sizeBytes": str(len(held)), "state": "ACTIVE"}}
        return httpx.Response(200, headers={"x-goog-upload-status": "final"}, json=body)

    http = HttpClient("https://gemini.test", label="gemini", auth_headers={"x-goog-api-key": "gemini-test-key"},
                      transport=httpx.MockTransport(server), trusted_transport=True, sleep=lambda s: None, max_retries=2)
    reported: list[int] = []
    file = GeminiAPI(http).upload_file(UploadSource.from_path(path), purpose=None, progress=reported.append)
    assert file.id == "files/f1"
    assert offsets == [0, len(data) // 3]
    assert bytes(held) == data
    assert sum(reported) == len(data)  # each byte counted once, however often it was sent
