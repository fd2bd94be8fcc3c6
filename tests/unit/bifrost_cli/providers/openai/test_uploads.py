"""OpenAI's Uploads API (bifrost_cli.providers.openai.uploads) under faults: a part is retried by the
client's one retry policy (its budget, its jittered backoff, the server's wait), is hashed once
however often it is sent, and an upload that fails for good is cancelled. Faults come from a fake
server behind ``httpx.MockTransport``, or from the emulator's own fault injection."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import httpx
import pytest

from bifrost_cli.emulator import EmulatorConfig, create_app
from bifrost_cli.errors import UnavailableError
from bifrost_cli.http import HttpClient
from bifrost_cli.http.wsgi import WSGIStreamTransport
from bifrost_cli.providers.base import UploadSource
from bifrost_cli.providers.openai.api import OpenAIAPI

DATA = bytes(range(256)) + bytes(range(255, -1, -1))  # eight 64-byte parts, no two alike
PART = 64


class FakeUploads:
    """The Uploads API, failing the attempts at a part given in ``faults`` (``(part, attempt)``,
    both from 1) with the answer or transport error given there; parts may come two at a time.
    ``complete`` checks the MD5 of the parts it is given, in the order given."""

    def __init__(self, faults: dict[tuple[int, int], httpx.Response | type[httpx.TransportError]]):
        self.faults = faults
        self.part_attempts = 0
        self.attempts_at: dict[int, int] = {}
        self.parts: dict[str, bytes] = {}
        self.completed = b""
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        route = request.url.path.removeprefix("/v1/uploads")
        with self.lock:
            self.calls.append(route or "/")
        if route == "":
            return httpx.Response(200, json={"id": "up1", "object": "upload", "status": "pending"})
        if route == "/up1/parts":
            data = request.content.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]
            number = DATA.find(data) // PART + 1
            with self.lock:
                self.part_attempts += 1
                attempt = self.attempts_at[number] = self.attempts_at.get(number, 0) + 1
                fault = self.faults.get((number, attempt))
                if fault is None:
                    part_id = f"part_{len(self.parts)}"
                    self.parts[part_id] = data
            if isinstance(fault, httpx.Response):
                return fault
            if fault is not None:
                raise fault("the connection broke after the part was sent", request=request)
            return httpx.Response(200, json={"id": part_id, "object": "upload.part"})
        if route == "/up1/complete":
            sent = json.loads(request.content)
            whole = b"".join(self.parts[p] for p in sent["part_ids"])
            if sent["md5"] != hashlib.md5(whole).hexdigest():
                return httpx.Response(400, json={"error": {"message": "md5 mismatch", "type": "invalid_request_error"}})
            self.completed = whole
            return httpx.Response(200, json={"id": "up1", "status": "completed", "file": {
                "id": "file-big", "object": "file", "bytes": len(whole), "created_at": 1, "filename": "big.bin",
                "purpose": "batch"}})
        if route == "/up1/cancel":
            return httpx.Response(200, json={"id": "up1", "status": "cancelled"})
        raise AssertionError(f"unexpected {request.method} {request.url}")


def upload(tmp_path: Path, transport: httpx.BaseTransport, sleeps: list[float], base: str = "https://api.openai.test/v1"):
    path = tmp_path / "big.bin"
    path.write_bytes(DATA)
    http = HttpClient(base, label="openai", auth_headers={"Authorization": "Bearer sk-test-uploads"},
                      transport=transport, trusted_transport=True, sleep=sleeps.append, max_retries=2)
    api = OpenAIAPI(http, upload_threshold=100, part_size=PART)
    return api.upload_file(UploadSource.from_path(path), purpose="batch")


def test_a_part_whose_connection_broke_after_sending_is_sent_again_and_hashed_once(tmp_path: Path) -> None:
    server = FakeUploads({(3, 1): httpx.ReadError, (6, 1): httpx.RemoteProtocolError})
    sleeps: list[float] = []
    file = upload(tmp_path, httpx.MockTransport(server), sleeps)
    assert file.id == "file-big" and file.size_bytes == len(DATA)  # complete accepted the MD5
    assert server.completed == DATA  # the part ids in file order, whatever order the parts came in
    assert server.part_attempts == len(DATA) // PART + 2
    assert len(sleeps) == 2 and all(0.375 <= s <= 0.5 for s in sleeps)  # the first backoff, with jitter


def test_a_part_refused_again_and_again_is_retried_as_the_policy_allows_then_the_upload_is_cancelled(
    tmp_path: Path,
) -> None:
    refused = httpx.Response(503, json={"error": {"message": "overloaded", "type": "server_error"}})
    server = FakeUploads({(2, 1): refused, (2, 2): refused, (2, 3): refused})
    sleeps: list[float] = []
    with pytest.raises(UnavailableError):
        upload(tmp_path, httpx.MockTransport(server), sleeps)
    assert server.attempts_at[2] == 3  # the second part three times: max_retries is 2
    assert 0.375 <= sleeps[0] <= 0.5 and 0.75 <= sleeps[1] <= 1.0 and len(sleeps) == 2
    assert server.calls[-1] == "/up1/cancel"
    assert "/up1/complete" not in server.calls


def test_a_part_waits_as_long_as_the_server_asks(tmp_path: Path) -> None:
    limited = httpx.Response(429, headers={"retry-after": "3"}, json={"error": {"message": "slow down"}})
    sleeps: list[float] = []
    upload(tmp_path, httpx.MockTransport(FakeUploads({(1, 1): limited})), sleeps)
    assert sleeps == [3.0]


def test_parts_through_a_flaky_emulator_complete_with_the_right_md5(tmp_path: Path) -> None:
    """Every third request to the emulator is a 503 (``retry-after: 0``): the parts are sent again
    and the emulator, which checks the MD5 on complete, accepts the upload."""
    app = create_app(EmulatorConfig(state_dir=tmp_path / "state", flaky_every=3))
    sleeps: list[float] = []
    file = upload(tmp_path, WSGIStreamTransport(app), sleeps, base="http://emulator.localhost/native/openai/v1")
    assert file.size_bytes == len(DATA)
    assert sleeps and set(sleeps) == {0.0}


def test_two_parts_are_in_flight_at_once(tmp_path: Path) -> None:
    """The server holds the first part until a second one arrives beside it (sent one at a time,
    the barrier would break and the upload fail)."""
    server = FakeUploads({})
    together = threading.Barrier(2, timeout=30)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/parts"):
            data = request.read().split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]
            if DATA.find(data) < 2 * PART:  # the first two parts
                together.wait()
        return server(request)

    file = upload(tmp_path, httpx.MockTransport(handler), [])
    assert file.size_bytes == len(DATA) and server.completed == DATA
