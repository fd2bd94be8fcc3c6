"""End to end: the installed ``bifrost -p gemini`` against the served emulator, directly
(``GEMINI_BASE_URL=<url>/native/gemini``) and through the gateway's ``/genai`` routes (``--base-url``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Served, start_emulator, stop_emulator

MODEL = "gemini-2.5-flash"
KEY = "gm-test-key-1234"
MODES = ("direct", "gateway")


def line(custom_id: str, text: str, **params: object) -> dict:
    return {"custom_id": custom_id, "params": {"model": MODEL, "max_tokens": 32,
                                               "messages": [{"role": "user", "content": text}], **params}}


def write(tmp_path: Path, lines: list[dict], name: str = "requests.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(item) + "\n" for item in lines))
    return str(path)


class Gemini:
    """Runs the CLI for Gemini in one of the two modes."""

    def __init__(self, served: Served, mode: str):
        self.served = served
        self.mode = mode

    def __call__(self, *args: str, env: dict[str, str] | None = None, **kwargs: object):
        env = dict(env or {})
        if self.mode == "direct":
            env.update(GEMINI_BASE_URL=self.served.url + "/native/gemini", GEMINI_API_KEY=KEY)
            return self.served.run("-p", "gemini", *args, env=env, **kwargs)  # type: ignore[arg-type]
        return self.served.run("--base-url", self.served.url, "-p", "gemini", *args, env=env, **kwargs)  # type: ignore[arg-type]

    def json(self, *args: str, **kwargs: object):
        proc = self(*args, "--json", **kwargs)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)


@pytest.fixture(params=MODES)
def gemini(request: pytest.FixtureRequest, served: Served) -> Gemini:
    return Gemini(served, request.param)


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """An emulator whose batches take a minute (for cancel)."""
    server = start_emulator(tmp_path_factory.mktemp("slow-state"), "--batch-seconds", "60", "--quiet")
    yield server
    stop_emulator(server)


def test_files_round_trip(gemini: Gemini, tmp_path: Path) -> None:
    path = tmp_path / "notes.jsonl"
    path.write_bytes(b'{"a": 1}\n' * 1000)
    uploaded = gemini.json("files", "upload", str(path))
    file = uploaded[0] if isinstance(uploaded, list) else uploaded
    assert file["id"].startswith("files/")
    assert (file["filename"], file["size_bytes"]) == ("notes.jsonl", 9000)
    listed = gemini.json("files", "list", "--all")
    assert file["id"] in [f["id"] for f in listed]
    bare = file["id"].removeprefix("files/")
    assert gemini.json("files", "get", bare)["id"] == file["id"]
    proc = gemini("files", "delete", file["id"])
    assert proc.returncode == 0, proc.stderr
    missing = gemini("files", "get", file["id"])
    assert missing.returncode == 4, missing.stderr


def test_upload_from_stdin(gemini: Gemini) -> None:
    proc = gemini("files", "upload", "-", "--filename", "piped.jsonl", "--json", input=b'{"x": 1}\n')
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    file = data[0] if isinstance(data, list) else data
    assert (file["filename"], file["size_bytes"]) == ("piped.jsonl", 9)


def test_inline_batch_with_a_failing_request(gemini: Gemini, tmp_path: Path) -> None:
    path = write(tmp_path, [
        line("ok-1", "Hello", system="be brief", temperature=0.3, stop_sequences=["END"]),
        line("bad-1", "this one fails [emulator:error]"),
        line("ok-2", "Bonjour"),
        line("late-1", "too late [emulator:expire]"),
    ])
    proc = gemini("batches", "create", path, "--wait", "--poll", "0.2")
    assert proc.returncode == 7, proc.stderr  # ended, not every request succeeded
    batch_id = gemini.json("batches", "list", "--limit", "1")[0]["id"]
    assert batch_id.startswith("batches/")
    batch = gemini.json("batches", "get", batch_id)
    assert batch["status"] == "ended"
    assert batch["request_counts"]["succeeded"] == 2 and batch["request_counts"]["errored"] == 2  # Gemini: 2 failed
    out = gemini("batches", "results", batch_id)
    assert out.returncode == 0, out.stderr
    results = {r["custom_id"]: r["result"] for r in map(json.loads, out.stdout.splitlines())}
    assert set(results) == {"ok-1", "bad-1", "ok-2", "late-1"}
    assert results["ok-1"]["type"] == "succeeded"
    assert results["late-1"] == {"type": "expired"}  # DEADLINE_EXCEEDED, read the same either way
    assert results["ok-1"]["message"]["model"] == MODEL  # through the gateway too (its /genai batches leave it out)
    assert results["bad-1"]["error"]["error"]["type"] == "invalid_request_error"  # the one vocabulary, either way
    assert results["bad-1"]["error"]["error"]["native_type"] == "INVALID_ARGUMENT"
    assert results["ok-1"]["message"]["content"][0]["text"] == "Emulated reply to: Hello"
    assert results["ok-2"]["message"]["content"][0]["text"] == "Emulated reply to: Bonjour"
    assert results["bad-1"]["type"] == "errored"
    raw = gemini("batches", "results", batch_id, "--raw")
    assert raw.returncode == 0 and len(raw.stdout.splitlines()) == 4


def test_file_based_batch_above_the_inline_limit(gemini: Gemini, tmp_path: Path) -> None:
    path = write(tmp_path, [line(f"r{i}", f"question {i}") for i in range(5)])
    env = {"BIFROST_GEMINI_INLINE_LIMIT": "100"}
    proc = gemini("batches", "create", path, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    batch = json.loads(proc.stdout)
    assert batch["details"]["input_file"].startswith("files/")
    waited = gemini("batches", "wait", batch["id"], "--poll", "0.2")
    assert waited.returncode == 0, waited.stderr
    out = gemini("batches", "results", batch["id"], "-o", str(tmp_path / "results.jsonl"))
    assert out.returncode == 0, out.stderr
    results = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert sorted(r["custom_id"] for r in results) == [f"r{i}" for i in range(5)]
    assert {r["result"]["type"] for r in results} == {"succeeded"}
    done = gemini.json("batches", "get", batch["id"])
    assert done["details"]["responses_file"].startswith("files/")
    if gemini.mode == "direct":
        dest = tmp_path / "responses.jsonl"
        got = gemini("files", "download", done["details"]["responses_file"], "-o", str(dest))
        assert got.returncode == 0, got.stderr
        keys = sorted(json.loads(x)["key"] for x in dest.read_text().splitlines())
        assert keys == [f"r{i}" for i in range(5)]


def test_a_batch_that_expired_has_no_results_through_the_gateway_either(served: Served, tmp_path: Path) -> None:
    """Said as directly, before asking the gateway's results route (which answers a bare 400)."""
    gemini = Gemini(served, "gateway")
    path = write(tmp_path, [line("a", "[emulator:batch-expire]"), line("b", "x")])
    proc = gemini("batches", "create", path, "-q", "--wait", "--poll", "0.2")
    assert proc.returncode == 7, proc.stderr
    batch_id = proc.stdout.strip()
    assert gemini.json("batches", "get", batch_id)["native_status"] == "expired"
    out = gemini("batches", "results", batch_id)
    assert out.returncode == 1
    assert f"batch {batch_id} ended (expired) without results" in out.stderr


def test_native_input(gemini: Gemini, tmp_path: Path) -> None:
    native = [{"key": "n1", "request": {"contents": [{"role": "user", "parts": [{"text": "native hi"}]}],
                                        "generationConfig": {"temperature": 0.1}}}]
    path = write(tmp_path, native, "native.jsonl")
    proc = gemini("batches", "create", path, "--input-format", "gemini", "--model", MODEL, "--wait", "--poll", "0.2")
    assert proc.returncode == 0, proc.stderr
    batch_id = gemini.json("batches", "list", "--limit", "1")[0]["id"]
    out = gemini("batches", "results", batch_id)
    result = json.loads(out.stdout)
    assert result["custom_id"] == "n1"
    assert result["result"]["message"]["content"][0]["text"] == "Emulated reply to: native hi"


def test_refused_field_sends_nothing(gemini: Gemini, tmp_path: Path) -> None:
    before = gemini.json("batches", "list", "--all")
    path = write(tmp_path, [line("a", "x"), line("b", "y", tools=[{"name": "t", "input_schema": {}}])])
    proc = gemini("batches", "create", path)
    assert proc.returncode == 2
    assert f"{path}:2: params.tools has no Gemini equivalent" in proc.stderr
    assert gemini.json("batches", "list", "--all") == before


def test_two_models_are_refused(gemini: Gemini, tmp_path: Path) -> None:
    path = write(tmp_path, [line("a", "x"), {**line("b", "y"), "params": {**line("b", "y")["params"], "model": "gemini-2.5-pro"}}])
    proc = gemini("batches", "create", path)
    assert proc.returncode == 2
    assert "one model" in proc.stderr


def test_missing_batch_is_not_found(gemini: Gemini) -> None:
    proc = gemini("batches", "get", "batches/doesnotexist")
    assert proc.returncode == 4, proc.stderr


def test_uploaded_files_cannot_be_downloaded(gemini: Gemini, tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text("{}\n")
    file = gemini.json("files", "upload", str(path))
    file = file[0] if isinstance(file, list) else file
    proc = gemini("files", "download", file["id"], "-o", str(tmp_path / "copy"))
    assert proc.returncode == 2
    assert "cannot be downloaded" in proc.stderr or "not possible" in proc.stderr
    assert not (tmp_path / "copy").exists()


@pytest.mark.parametrize("mode", MODES)
def test_canceled_batch(slow: Served, mode: str, tmp_path: Path) -> None:
    gemini = Gemini(slow, mode)
    path = write(tmp_path, [line(f"c{i}", f"slow {i}") for i in range(3)])
    proc = gemini("batches", "create", path, "-q")
    assert proc.returncode == 0, proc.stderr
    batch_id = proc.stdout.strip()
    canceled = gemini("batches", "cancel", batch_id, "--json")
    assert canceled.returncode == 0, canceled.stderr
    assert json.loads(canceled.stdout)["status"] == "canceling"  # Gemini still says RUNNING: the cancel was asked
    waited = gemini("batches", "wait", batch_id, "--poll", "0.3", "--timeout", "30")
    assert waited.returncode == 7, waited.stderr
    batch = gemini.json("batches", "get", batch_id)
    assert (batch["status"], batch["native_status"]) == ("ended", "cancelled")
    assert batch["request_counts"]["canceled"] == 3


def test_bad_key_is_an_authentication_error(tmp_path: Path) -> None:
    from bifrost_cli.emulator import EmulatorConfig
    from bifrost_cli.emulator.testing import running_server
    from tests.conftest import bifrost_executable, clean_env
    import subprocess

    config = EmulatorConfig(state_dir=tmp_path / "state", gemini_api_key="the-right-key")
    with running_server(config) as server:
        env = clean_env(GEMINI_BASE_URL=server.url + "/native/gemini", GEMINI_API_KEY="a-wrong-key")
        proc = subprocess.run([*bifrost_executable(), "-p", "gemini", "files", "list"], env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 3, proc.stderr
        assert "GEMINI_API_KEY" in proc.stderr
        env["GEMINI_API_KEY"] = "the-right-key"
        ok = subprocess.run([*bifrost_executable(), "-p", "gemini", "files", "list"], env=env,
                            capture_output=True, text=True, timeout=60)
        assert ok.returncode == 0, ok.stderr


def test_no_key_is_a_usage_error(served: Served) -> None:
    proc = served.run("-p", "gemini", "files", "list", env={"GEMINI_BASE_URL": served.url + "/native/gemini"})
    assert proc.returncode == 2
    assert "GEMINI_API_KEY" in proc.stderr


def test_gateway_ids_in_the_anthropic_route_form_are_accepted(served: Served, tmp_path: Path) -> None:
    gemini = Gemini(served, "gateway")
    path = write(tmp_path, [line("a", "x")])
    batch_id = gemini("batches", "create", path, "-q").stdout.strip()
    dashed = "batches-" + batch_id.removeprefix("batches/")
    assert gemini.json("batches", "get", dashed)["id"] == batch_id


def test_a_lost_chunk_is_sent_again_from_the_servers_offset(tmp_path: Path) -> None:
    """A chunk cut off on the way: the client asks the server (``query``) and resumes from there."""
    import httpx

    from bifrost_cli.http import HttpClient
    from bifrost_cli.providers.base import UploadSource
    from bifrost_cli.providers.gemini.api import GeminiAPI

    data = bytes(range(256)) * (9 * 4096 + 7)  # a little over 9 MiB
    held = bytearray()
    commands: list[str] = []
    failed = False

    def server(request: httpx.Request) -> httpx.Response:
        nonlocal failed
        command = request.headers.get("x-goog-upload-command", "")
        commands.append(f"{command}@{request.headers.get('x-goog-upload-offset', '-')}")
        if command == "start":
            return httpx.Response(200, headers={"x-goog-upload-url": "http://127.0.0.1:9/upload/v1beta/files?upload_id=u1"})
        if command == "query":
            return httpx.Response(200, headers={"x-goog-upload-status": "active",
                                                "x-goog-upload-size-received": str(len(held))})
        body = request.read()
        if int(request.headers["x-goog-upload-offset"]) != len(held):
            return httpx.Response(400, json={"error": {"code": 400, "message": "wrong offset"}})
        if not failed:  # the file goes as one streamed request: only half arrives, then the connection drops
            failed = True
            held.extend(body[: len(body) // 2])
            raise httpx.ReadError("connection reset")
        held.extend(body)
        if "finalize" in command:
            return httpx.Response(200, headers={"x-goog-upload-status": "final"}, json={"file": {
                "name": "files/f1", "displayName": "big.bin", "sizeBytes": str(len(held)), "state": "ACTIVE"}})
        return httpx.Response(200, headers={"x-goog-upload-status": "active"})

    path = tmp_path / "big.bin"
    path.write_bytes(data)
    http = HttpClient("http://127.0.0.1:9", label="gemini", transport=httpx.MockTransport(server), sleep=lambda s: None)
    seen: list[int] = []
    file = GeminiAPI(http).upload_file(UploadSource.from_path(path), purpose=None, progress=seen.append)
    assert bytes(held) == data
    assert file.size_bytes == len(data)
    assert sum(seen) == len(data)
    assert commands == ["start@-", "upload, finalize@0", "query@-", f"upload, finalize@{len(data) // 2}"]
