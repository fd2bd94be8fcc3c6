"""`bifrost ... | head -1`: a reader that has had enough and closes the pipe is not a failure. The
command stops writing and exits 0 without a word on stderr, for a table, JSON and streamed results.
The installed `bifrost` as a subprocess against a loopback Anthropic API."""

from __future__ import annotations

import subprocess
from http.server import BaseHTTPRequestHandler

import pytest

from tests.conftest import bifrost_executable, clean_env
from tests.fakes import ENDED_BATCH, RESULT_LINE, anthropic_api, direct_env, send_json


def _results(h: BaseHTTPRequestHandler) -> None:
    body = RESULT_LINE * 20000  # megabytes: far more than a pipe holds
    h.send_response(200)
    h.send_header("content-type", "application/binary")
    h.send_header("content-length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


@pytest.mark.parametrize("command", [
    ["batches", "results", "msgbatch_1"],
    ["batches", "get", "msgbatch_1"],
    ["batches", "get", "msgbatch_1", "--json"],
    ["batches", "get", "msgbatch_1", "-q"],
])
def test_a_reader_that_closes_the_pipe_early_is_not_a_failure(loopback, command: list[str]) -> None:
    def content(h: BaseHTTPRequestHandler) -> None:
        send_json(h, ENDED_BATCH)

    server = loopback(anthropic_api(content=content, results=_results))
    proc = subprocess.Popen([*bifrost_executable(), *command], env=clean_env(**direct_env(server)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before the command has written a byte
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0, err
    assert err == ""
