"""Edge cases of the core a demanding user meets: interrupted transfers, connections that break
mid-answer, redirects, huge error bodies, odd ids, odd input files, a config file others can read."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bifrost_cli.cli.app import app
from bifrost_cli.errors import APIError, UsageError
from bifrost_cli.http import HttpClient
from bifrost_cli.output import Output
from bifrost_cli.providers.gateway import gateway_root
from bifrost_cli.service import WaitEvent
from tests.conftest import EXAMPLES, Served, bifrost_executable, clean_env
from tests.fakes import Loopback, Scripted, send_json

runner = CliRunner()
REQUESTS = EXAMPLES / "requests.jsonl"
KEY = "sk-ant-test-key-1234"
SIZE = 8 * 1024 * 1024  # what the slow server promises, and never finishes sending

ENDED_BATCH = {
    "id": "msgbatch_1",
    "type": "message_batch",
    "processing_status": "ended",
    "request_counts": {"processing": 0, "succeeded": 3, "errored": 0, "canceled": 0, "expired": 0},
    "created_at": "2026-01-01T00:00:00Z",
}
FILE_META = {
    "id": "file_1",
    "type": "file",
    "filename": "data.bin",
    "size_bytes": SIZE,
    "mime_type": "application/octet-stream",
    "downloadable": True,
    "created_at": "2026-01-01T00:00:00Z",
}
RESULT_LINE = json.dumps({"custom_id": "a", "result": {"type": "succeeded", "message": {"content": []}}}).encode() + b"\n"


def anthropic_api(*, content: Callable[[BaseHTTPRequestHandler], None], results: Callable[[BaseHTTPRequestHandler], None]):
    """Anthropic's API for one downloadable file and one ended batch, with the given bodies."""

    def route(h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        if path == "/v1/files/file_1":
            send_json(h, FILE_META)
        elif path == "/v1/files/file_1/content":
            content(h)
        elif path == "/v1/messages/batches/msgbatch_1":
            send_json(h, ENDED_BATCH)
        elif path == "/v1/messages/batches/msgbatch_1/results":
            results(h)
        else:
            send_json(h, {"type": "error", "error": {"type": "not_found_error", "message": path}}, 404)

    return route


def direct_env(server: Loopback) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": KEY}


def invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


# ------------------------------------------------------------------------------------------------
# Ctrl-C, SIGTERM: an interrupted `-o PATH` leaves neither PATH nor PATH.part


def _start_body(h: BaseHTTPRequestHandler, content_type: str, first: bytes, **headers: str) -> None:
    """Headers that promise more than ``first``, the bytes actually sent."""
    h.send_response(200)
    h.send_header("content-type", content_type)
    for name, value in (headers or {"content-length": str(SIZE)}).items():
        h.send_header(name.replace("_", "-"), value)
    h.end_headers()
    h.wfile.write(first)
    h.wfile.flush()


def _stalled_content(server_release: Callable[[], threading.Event]) -> Callable[[BaseHTTPRequestHandler], None]:
    def content(h: BaseHTTPRequestHandler) -> None:
        _start_body(h, "application/octet-stream", b"x" * 65536)
        server_release().wait(30)  # ...and the rest never comes

    return content


def _stalled_results(server_release: Callable[[], threading.Event]) -> Callable[[BaseHTTPRequestHandler], None]:
    def results(h: BaseHTTPRequestHandler) -> None:
        _start_body(h, "application/binary", RESULT_LINE * 2000)
        server_release().wait(30)

    return results


@pytest.fixture
def stalled(loopback) -> Loopback:
    holder: list[Loopback] = []
    server = loopback(anthropic_api(content=_stalled_content(lambda: holder[0].release), results=_stalled_results(lambda: holder[0].release)))
    holder.append(server)
    return server


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a test runner's worker may ignore it


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)])
@pytest.mark.parametrize("command", [["files", "download", "file_1"], ["batches", "results", "msgbatch_1"]], ids=["download", "results"])
def test_an_interrupted_transfer_leaves_no_file(stalled: Loopback, tmp_path: Path, command: list[str], signum: int, code: int) -> None:
    dest = tmp_path / "out.dat"
    part = tmp_path / "out.dat.part"
    proc = subprocess.Popen(
        [*bifrost_executable(), *command, "-o", str(dest)],
        env=clean_env(**direct_env(stalled)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    try:
        for _ in range(2000):  # the transfer is under way once PATH.part exists
            if part.exists() or proc.poll() is not None:
                break
            threading.Event().wait(0.01)
        assert part.exists(), proc.communicate(timeout=5)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err and "internal error" not in err
    assert out == ""
    assert not dest.exists() and not part.exists()


# ------------------------------------------------------------------------------------------------
# a connection that breaks in the middle of an answer


def _cut_content(h: BaseHTTPRequestHandler) -> None:
    _start_body(h, "application/octet-stream", b"x" * 1000)
    h.close_connection = True  # and the connection drops


def _cut_results(h: BaseHTTPRequestHandler) -> None:
    chunk = b"%x\r\n%s\r\n" % (len(RESULT_LINE), RESULT_LINE)
    _start_body(h, "application/binary", chunk, transfer_encoding="chunked")  # no final chunk
    h.close_connection = True


@pytest.mark.parametrize(
    "args",
    [["files", "download", "file_1", "-o"], ["files", "download", "file_1", "-o", "-"], ["batches", "results", "msgbatch_1", "-o"], ["batches", "results", "msgbatch_1"]],
    ids=["download-file", "download-stdout", "results-file", "results-stdout"],
)
def test_a_connection_broken_mid_answer_is_exit_6_with_a_message(loopback, tmp_path: Path, args: list[str]) -> None:
    server = loopback(anthropic_api(content=_cut_content, results=_cut_results))
    dest = tmp_path / "out.dat"
    if args[-1] == "-o":
        args = [*args, str(dest)]
    result = invoke(*args, env=direct_env(server))
    assert result.exit_code == 6, (result.stderr, result.exception)
    assert "broke while reading the answer" in result.stderr
    assert "internal error" not in result.stderr
    assert not dest.exists() and not (tmp_path / "out.dat.part").exists()


# ------------------------------------------------------------------------------------------------
# --poll longer than the system's sleep can take


def test_a_huge_poll_waits_instead_of_crashing() -> None:
    env = clean_env(BIFROST_EMULATOR_BATCH_SECONDS="3600")
    created = subprocess.run(
        [*bifrost_executable(), "--emulator", "batches", "create", str(REQUESTS), "-q"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert created.returncode == 0, created.stderr
    batch_id = created.stdout.strip()
    proc = subprocess.Popen(
        [*bifrost_executable(), "--emulator", "batches", "wait", batch_id, "--poll", "1e10"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint,
    )
    try:
        assert proc.stderr is not None
        assert batch_id in proc.stderr.readline()  # the first poll; the wait then sleeps
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "stopped waiting" in err and "internal error" not in err


# ------------------------------------------------------------------------------------------------
# redirects, empty and huge answers


def test_a_redirect_says_where_it_points_and_what_to_set(loopback) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(301)
        h.send_header("location", "https://gateway.example.test" + h.path)
        h.send_header("content-length", "0")
        h.end_headers()

    server = loopback(route)
    result = invoke("--base-url", server.url, "batches", "get", "msgbatch_1")
    assert result.exit_code == 1
    assert "301" in result.stderr and "redirected to https://gateway.example.test/anthropic/v1/messages/batches/msgbatch_1" in result.stderr
    assert "Hint: Use the address it points to as the base URL: https://gateway.example.test" in result.stderr
    assert "not JSON" not in result.stderr
    assert len(server.requests) == 1  # never followed


def test_a_redirect_to_a_login_page_is_not_taken_for_a_missing_route(loopback) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        page = b"<html>sign in</html>"
        h.send_response(302)
        h.send_header("location", "/login")
        h.send_header("content-type", "text/html")
        h.send_header("content-length", str(len(page)))
        h.end_headers()
        h.wfile.write(page)

    server = loopback(route)
    result = invoke("--base-url", server.url, "batches", "list", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"redirected to {server.url}/login" in result.stderr
    assert "web page" not in result.stderr


def test_a_huge_error_message_is_clipped() -> None:
    message = "y" * 50_000
    transport = httpx.MockTransport(lambda r: httpx.Response(400, json={"type": "error", "error": {"type": "invalid_request_error", "message": message}}))
    with pytest.raises(APIError) as info:
        HttpClient("https://api.example.test", label="the server", transport=transport).request("GET", "/v1/x")
    assert len(info.value.message) < 1500
    assert "more characters" in info.value.message


def test_a_huge_error_body_is_not_read_whole() -> None:
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        for _ in range(10_000):  # 640 MB if read to the end
            sent.append(1)
            yield b"<" * 65536

    transport = httpx.MockTransport(lambda r: httpx.Response(502, content=endless(), headers={"content-type": "text/html"}))
    client = HttpClient("https://api.example.test", label="the server", transport=transport, max_retries=0)
    with pytest.raises(APIError) as info:
        client.request("GET", "/v1/x")
    assert info.value.status == 502
    assert len(sent) < 100
    assert len(info.value.message) < 1500


# ------------------------------------------------------------------------------------------------
# ids that would change the URL


@pytest.mark.parametrize("bad", ["", " ", ".", ".."])
@pytest.mark.parametrize(
    "command",
    [["files", "get"], ["files", "delete"], ["files", "download"], ["batches", "get"], ["batches", "cancel"],
     ["batches", "results"], ["batches", "wait"], ["batches", "delete"]],
    ids=" ".join,
)
def test_an_empty_or_dot_id_is_refused_before_sending(loopback, command: list[str], bad: str) -> None:
    server = loopback(lambda h: send_json(h, ENDED_BATCH))
    result = invoke("--base-url", server.url, *command, bad)
    assert result.exit_code == 2, result.stderr
    assert "is not an id" in result.stderr
    assert server.requests == []


@pytest.mark.parametrize("path", ["/v1/files/..", "/v1/files/.", "/v1/files/../cancel", "/v1/./files"])
def test_the_http_layer_refuses_dot_segments(path: str) -> None:
    server = Scripted()
    transport = httpx.MockTransport(server)
    with pytest.raises(UsageError):
        HttpClient("https://api.example.test", label="the server", transport=transport).request("DELETE", path)
    assert server.requests == []


@pytest.mark.parametrize("odd", ["a b", "a/b", "é", "?x", "#f", "%2e%2e", "../../x"])
def test_odd_ids_stay_one_path_segment(loopback, odd: str) -> None:
    server = loopback(lambda h: send_json(h, {"type": "error", "error": {"type": "not_found_error", "message": "no"}}, 404))
    result = invoke("--base-url", server.url, "batches", "get", odd)
    assert result.exit_code == 4
    method, path = server.requests[0]
    assert method == "GET"
    prefix = "/anthropic/v1/messages/batches/"
    assert path.startswith(prefix)
    assert "/" not in path[len(prefix):] and "?" not in path and "#" not in path


# ------------------------------------------------------------------------------------------------
# gateway base URLs as SDKs are configured


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("http://gw:8080", "http://gw:8080"),
        ("http://gw:8080/", "http://gw:8080"),
        ("http://gw:8080/anthropic", "http://gw:8080"),
        ("http://gw:8080/anthropic/v1/", "http://gw:8080"),
        ("http://gw:8080/openai/v1", "http://gw:8080"),
        ("http://gw:8080/genai/v1beta", "http://gw:8080"),
        ("https://proxy/bifrost/bedrock", "https://proxy/bifrost"),
        ("https://proxy/x/v1", "https://proxy/x/v1"),
        ("https://proxy/anthropicx", "https://proxy/anthropicx"),
    ],
)
def test_gateway_root_table(given: str, root: str) -> None:
    assert gateway_root(given) == root


def test_a_gateway_url_with_route_and_version_works(served: Served) -> None:
    for suffix in ("/anthropic/v1", "/openai/v1/"):
        result = served.run("--base-url", served.url + suffix, "batches", "list", "--json")
        assert result.returncode == 0, result.stderr
        assert isinstance(json.loads(result.stdout), list)


# ------------------------------------------------------------------------------------------------
# several uploads, one fails


def test_uploads_that_landed_are_still_shown_when_a_later_one_fails(loopback, tmp_path: Path) -> None:
    count = [0]

    def route(h: BaseHTTPRequestHandler) -> None:
        count[0] += 1
        if count[0] == 1:
            send_json(h, {"id": "file_first", "type": "file", "filename": "a.jsonl", "size_bytes": 2, "created_at": "2026-01-01T00:00:00Z"})
        else:
            send_json(h, {"type": "error", "error": {"type": "api_error", "message": "disk full"}}, 500)

    server = loopback(route)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("{}")
    b.write_text("{}")
    result = invoke("--max-retries", "0", "files", "upload", str(a), str(b), "-q", env=direct_env(server))
    assert result.exit_code == 6
    assert result.stdout == "file_first\n"
    assert "disk full" in result.stderr


# ------------------------------------------------------------------------------------------------
# local files: where results cannot be written, odd inputs


def test_results_to_a_path_under_a_file_is_a_usage_error_before_sending(loopback, tmp_path: Path) -> None:
    server = loopback(anthropic_api(content=_cut_content, results=_cut_results))
    (tmp_path / "afile").write_text("")
    result = invoke("batches", "results", "msgbatch_1", "-o", str(tmp_path / "afile" / "r.jsonl"), env=direct_env(server))
    assert result.exit_code == 2
    assert "no such directory" in result.stderr
    assert server.requests == []


def test_a_destination_that_cannot_be_written_is_a_clear_error(loopback, tmp_path: Path) -> None:
    def results(h: BaseHTTPRequestHandler) -> None:
        _start_body(h, "application/binary", RESULT_LINE, content_length=str(len(RESULT_LINE)))

    server = loopback(anthropic_api(content=_cut_content, results=results))
    (tmp_path / "r.jsonl.part").mkdir()  # the .part name is taken by a directory
    result = invoke("batches", "results", "msgbatch_1", "-o", str(tmp_path / "r.jsonl"), env=direct_env(server))
    assert result.exit_code == 2, (result.stderr, result.exception)
    assert "cannot write" in result.stderr and "internal error" not in result.stderr
    assert not (tmp_path / "r.jsonl").exists()
    assert (tmp_path / "r.jsonl.part").is_dir()  # not ours: left alone


@pytest.mark.parametrize(("encoding", "name"), [("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")])
def test_a_utf16_input_gets_one_clear_message(tmp_path: Path, encoding: str, name: str) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(REQUESTS.read_text().encode(encoding))
    result = invoke("--emulator", "batches", "create", str(path))
    assert result.exit_code == 2
    assert f"{name} text; requests must be UTF-8" in result.stderr
    assert f"iconv -f {name} -t UTF-8" in result.stderr
    assert "line" not in result.stderr.lower().split("hint")[0].replace("requests.jsonl", "")  # no per-line noise


def test_a_binary_input_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(bytes(range(256)) * 4)
    result = invoke("--emulator", "batches", "create", str(path))
    assert result.exit_code == 2
    assert "binary data, not JSON text" in result.stderr


def test_crlf_input_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(REQUESTS.read_bytes().replace(b"\n", b"\r\n"))
    result = invoke("--emulator", "batches", "create", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["request_counts"]["processing"] == 3


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_uploading_a_fifo_says_to_pipe_it(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = invoke("--emulator", "files", "upload", str(fifo))
    assert result.exit_code == 2
    assert "not a regular file" in result.stderr
    assert "files upload - --filename NAME" in result.stderr


# ------------------------------------------------------------------------------------------------
# a config file with secrets that others can read


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize(
    ("content", "mode", "warned"),
    [
        ('api_key = "sk-bf-virtual-key-0001"\n', 0o644, True),
        ('[profiles.ci]\nanthropic_api_key = "sk-ant-key-000000001"\n', 0o604, True),
        ('api_key = "sk-bf-virtual-key-0001"\n', 0o600, False),
        ('base_url = "http://localhost:8080"\n', 0o644, False),
    ],
)
def test_a_readable_config_file_with_secrets_is_warned_about(tmp_path: Path, content: str, mode: int, warned: bool) -> None:
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(content)
    config.chmod(mode)
    result = invoke("config", "show", "--json")
    assert result.exit_code == 0, result.stderr
    json.loads(result.stdout)  # stdout stays pure JSON
    assert ("chmod 600" in result.stderr) is warned
    assert "sk-bf-virtual-key-0001" not in result.stderr + result.stdout
    assert stat.S_IMODE(config.stat().st_mode) == mode  # only warned, never changed


# ------------------------------------------------------------------------------------------------
# -q on a terminal


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_wait_on_a_terminal_draws_no_progress() -> None:
    from bifrost_cli.models import Batch

    err = _Terminal()
    out = Output("quiet", stdout=io.StringIO(), stderr=err)
    batch = Batch(id="msgbatch_1", provider="anthropic", status="in_progress", native_status="in_progress")
    with out.wait_monitor(["msgbatch_1"]) as monitor:
        monitor(WaitEvent("msgbatch_1", batch=batch, elapsed=1.0))
    assert err.getvalue() == ""


def test_expires_after_is_refused_before_sending_where_uploads_take_no_expiry(tmp_path: Path) -> None:
    """Anthropic (directly or through the gateway's Anthropic route) has no upload expiry: saying so
    beats dropping the option silently."""
    src = tmp_path / "a.jsonl"
    src.write_text("{}\n")
    result = CliRunner().invoke(app, ["--emulator", "files", "upload", str(src), "--expires-after", "3600"])
    assert result.exit_code == 2
    assert "--expires-after" in result.stderr
    assert CliRunner().invoke(app, ["--emulator", "files", "list", "-q"]).stdout == ""


def test_a_password_in_a_base_url_is_never_shown() -> None:
    url = "http://gw-user:s3cret-gateway-password@127.0.0.1:9"
    shown = CliRunner().invoke(app, ["--base-url", url, "config", "show", "--json"])
    assert shown.exit_code == 0
    assert "s3cret-gateway-password" not in shown.stdout
    assert json.loads(shown.stdout)["settings"]["base_url"]["value"] == "http://gw-user:***@127.0.0.1:9"
    failed = CliRunner().invoke(app, ["--base-url", url, "--max-retries", "0", "-v", "batches", "list"])
    assert failed.exit_code == 6
    assert "s3cret-gateway-password" not in failed.stdout + failed.stderr
