"""Waiting that is never stuck and never silent: the installed `bifrost` as a subprocess against
loopback servers and the served emulator. A poll error that cannot pass ends the wait at once; one
that may pass is retried with a count, then given up (exit 6); the id of a created batch reaches
stdout at once (-q) and survives SIGTERM; an answer dripped past BIFROST_TIMEOUT is cut off."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.conftest import EXAMPLES, bifrost_executable, clean_env
from tests.fakes import ENDED_BATCH, Loopback, batch_obj, direct_env, drip_json, send_json

REQUESTS = EXAMPLES / "requests.jsonl"
HANG_GUARD = 60  # seconds: a run that lasts longer is stuck


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*bifrost_executable(), *args], env=clean_env(**env), capture_output=True, text=True, timeout=HANG_GUARD)


def batch_api(status_answers: list[Callable[[BaseHTTPRequestHandler], None]]) -> Callable[[BaseHTTPRequestHandler], None]:
    """Anthropic's batches API for one batch, msgbatch_1: a create answers it in progress; each
    status check gets the next answer of ``status_answers`` (the last repeats)."""
    polls: list[int] = []

    def route(h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        if h.command == "POST" and path == "/v1/messages/batches":
            send_json(h, batch_obj("msgbatch_1", "in_progress", results_url=None))
        elif h.command == "GET" and path == "/v1/messages/batches/msgbatch_1":
            answer = status_answers[min(len(polls), len(status_answers) - 1)]
            polls.append(1)
            answer(h)
        else:
            send_json(h, {"type": "error", "error": {"type": "not_found_error", "message": path}}, 404)

    return route


def error(status: int, etype: str, message: str) -> Callable[[BaseHTTPRequestHandler], None]:
    return lambda h: send_json(h, {"type": "error", "error": {"type": etype, "message": message}}, status)


def ended(h: BaseHTTPRequestHandler) -> None:
    send_json(h, ENDED_BATCH)


def running(h: BaseHTTPRequestHandler) -> None:
    send_json(h, batch_obj("msgbatch_1", "in_progress"))


def web_page(h: BaseHTTPRequestHandler) -> None:
    page = b"<!doctype html><html><body>web UI</body></html>"
    h.send_response(200)
    h.send_header("content-type", "text/html")
    h.send_header("content-length", str(len(page)))
    h.end_headers()
    h.wfile.write(page)


def env_for(server: Loopback, **extra: str) -> dict[str, str]:
    return {**direct_env(server), "BIFROST_MAX_RETRIES": "0", **extra}


# -- permanent errors end the wait at once ---------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "code", "says"),
    [
        (error(401, "authentication_error", "invalid x-api-key"), 3, "401"),
        (error(403, "permission_error", "not allowed"), 3, "403"),
        (error(400, "invalid_request_error", "bad id"), 1, "400"),
        (web_page, 1, "not JSON"),
    ],
    ids=["401", "403", "400", "html"],
)
def test_a_permanent_poll_error_ends_the_wait_at_once(loopback, answer: Any, code: int, says: str) -> None:
    server = loopback(batch_api([answer]))
    result = run(["batches", "wait", "msgbatch_1", "--poll", "0.1"], env_for(server))
    assert result.returncode == code, result.stderr
    assert says in result.stderr and "Hint:" in result.stderr and "Nothing was canceled" in result.stderr
    assert len(server.requests) == 1  # not polled again
    assert "Traceback" not in result.stderr


def test_waiting_on_another_providers_id_through_the_gateway_ends_at_once(served) -> None:
    """A Gemini batch id with -p anthropic is recognised before any request: exit 2 at once, naming Gemini."""
    gemini = run(["--base-url", served.url, "-p", "gemini", "batches", "create", str(REQUESTS), "-q"], {})
    assert gemini.returncode == 0, gemini.stderr
    batch_id = gemini.stdout.strip()
    result = run(["--base-url", served.url, "-p", "anthropic", "batches", "wait", batch_id, "--poll", "0.1"], {})
    assert result.returncode == 2, result.stderr
    assert f"{batch_id} looks like a Gemini batch id, and the provider is anthropic: add -p gemini" in result.stderr
    assert result.stderr.count("poll failed") == 0 and "web page" not in result.stderr


def test_wait_on_a_batch_that_does_not_exist_is_not_found_after_the_grace(served) -> None:
    result = run(["--base-url", served.url, "batches", "wait", "msgbatch_nonexistent", "--poll", "1"], {})
    assert result.returncode == 4, result.stderr
    assert "not found yet" in result.stderr  # tolerated for a while (a new batch may not be visible yet)
    assert "still not found" in result.stderr and "check the id" in result.stderr


# -- transient errors: retried with a count, then given up -----------------------------------------


def test_transient_poll_errors_give_up_after_max_poll_errors_with_exit_6(loopback) -> None:
    server = loopback(batch_api([error(503, "overloaded_error", "try later")]))
    result = run(["batches", "wait", "msgbatch_1", "--poll", "0.1", "--max-poll-errors", "2"], env_for(server))
    assert result.returncode == 6, result.stderr
    assert "poll failed once" in result.stderr and "poll failed 2 times in a row" in result.stderr
    assert "failed 3 times in a row" in result.stderr and "try later" in result.stderr
    assert "resume with: bifrost batches wait msgbatch_1" in result.stderr
    assert len(server.requests) == 3


def test_a_successful_poll_resets_the_count_of_failures(loopback) -> None:
    down = error(503, "overloaded_error", "try later")
    server = loopback(batch_api([down, down, running, down, down, ended]))
    result = run(["batches", "wait", "msgbatch_1", "--poll", "0.1", "--max-poll-errors", "2"], env_for(server))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("poll failed 2 times in a row") == 2


# -- create --wait: a 404 right after the create is tolerated ---------------------------------------


def test_create_wait_tolerates_404s_right_after_the_create(loopback) -> None:
    missing = error(404, "not_found_error", "no such batch")
    server = loopback(batch_api([missing, missing, running, ended]))
    result = run(["batches", "create", str(REQUESTS), "--wait", "--poll", "0.1", "-q"], env_for(server))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "msgbatch_1\n"  # printed once, when it was created
    assert "not found yet" in result.stderr


# -- the id is never lost ---------------------------------------------------------------------------


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a test runner's worker may ignore it


def _start_waiting(server: Loopback, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*bifrost_executable(), "batches", "create", str(REQUESTS), "--wait", "--poll", "0.1", *flags],
        env=clean_env(**env_for(server)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def _first_line(proc: subprocess.Popen[str]) -> str:
    """The first line on the process's stdout, or "" when none came within the hang guard."""
    line: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(HANG_GUARD)
    return line[0] if line else ""


def _until_polled(server: Loopback, proc: subprocess.Popen[str], times: int = 2) -> None:
    for _ in range(HANG_GUARD * 100):
        if sum(1 for m, p in server.requests if m == "GET") >= times or proc.poll() is not None:
            return
        threading.Event().wait(0.01)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)])
def test_create_wait_quiet_prints_the_id_at_once_and_a_stop_says_how_to_resume(loopback, signum: int, code: int) -> None:
    server = loopback(batch_api([running]))
    proc = _start_waiting(server, "-q")
    try:
        assert _first_line(proc) == "msgbatch_1\n"  # while the wait goes on
        _until_polled(server, proc)
        assert proc.poll() is None
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert out == ""  # the id is not printed again
    assert "stopped waiting; nothing was canceled" in err
    assert "Resume with: bifrost batches wait msgbatch_1" in err
    assert "Traceback" not in err and "internal error" not in err


def test_an_interrupted_json_wait_says_the_id_on_stderr_and_prints_nothing_on_stdout(loopback) -> None:
    server = loopback(batch_api([running]))
    proc = _start_waiting(server, "--json")
    try:
        _until_polled(server, proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert out == ""
    assert "Created batch msgbatch_1" in err and "Resume with: bifrost batches wait msgbatch_1" in err


def test_create_wait_json_prints_the_final_batch_only(served) -> None:
    result = run(["--base-url", served.url, "batches", "create", str(REQUESTS), "--wait", "--poll", "0.2", "--json"], {})
    assert result.returncode == 0, result.stderr
    batch = json.loads(result.stdout)
    assert batch["status"] == "ended" and batch["id"] in result.stderr


# -- an overall deadline for each answer ------------------------------------------------------------


def test_an_answer_dripped_past_bifrost_timeout_ends_with_exit_6(loopback) -> None:
    release = threading.Event()
    server = loopback(drip_json(ENDED_BATCH, every=0.1, release=release))
    try:
        result = run(["batches", "get", "msgbatch_1"], env_for(server, BIFROST_TIMEOUT="1"))
    finally:
        release.set()
    assert result.returncode == 6, result.stderr
    assert "did not finish sending the answer" in result.stderr and "within 1 s" in result.stderr
