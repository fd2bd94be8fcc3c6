"""Interrupted transfers and waits: the installed `bifrost` as a subprocess, stopped by SIGINT or SIGTERM
while a loopback server holds the transfer open (or while it sleeps between polls)."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, bifrost_executable, clean_env
from tests.fakes import RESULT_LINE, Loopback, anthropic_api, direct_env, start_body

REQUESTS = EXAMPLES / "requests.jsonl"


def _stalled_content(server_release: Callable[[], threading.Event]) -> Callable[[BaseHTTPRequestHandler], None]:
    def content(h: BaseHTTPRequestHandler) -> None:
        start_body(h, "application/octet-stream", b"x" * 65536)
        server_release().wait(30)  # ...and the rest never comes

    return content


def _stalled_results(server_release: Callable[[], threading.Event]) -> Callable[[BaseHTTPRequestHandler], None]:
    def results(h: BaseHTTPRequestHandler) -> None:
        start_body(h, "application/binary", RESULT_LINE * 2000)
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

    def parts() -> list[Path]:  # the temporary file the transfer writes to (a random name beside the destination)
        return list(tmp_path.glob(".out.dat.*.part"))

    proc = subprocess.Popen(
        [*bifrost_executable(), *command, "-o", str(dest)],
        env=clean_env(**direct_env(stalled)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    try:
        for _ in range(2000):  # the transfer is under way once its temporary file exists
            if parts() or proc.poll() is not None:
                break
            threading.Event().wait(0.01)
        assert parts(), proc.communicate(timeout=5)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err and "internal error" not in err
    assert out == ""
    assert list(tmp_path.iterdir()) == []  # neither the destination nor the temporary file


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
