"""Cancelling a batch that has ended, and deleting one that is still running, are conflicts (exit 5)
whatever words the provider refuses them with; another refusal keeps its own exit code. Anthropic's
API on a real loopback server."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.conftest import invoke
from tests.fakes import ANTHROPIC_KEY, batch_obj, send_json

REFUSAL = {"type": "error", "error": {"type": "invalid_request_error", "message": "cannot do that now"}}


def serve(loopback: Any, status: str) -> dict[str, str]:
    def route(h: BaseHTTPRequestHandler) -> None:
        if h.command == "GET":
            send_json(h, batch_obj(status=status))
        else:
            send_json(h, REFUSAL, status=400, headers={"request-id": "req_1"})

    return {"ANTHROPIC_BASE_URL": loopback(route).url, "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "BIFROST_MAX_RETRIES": "0"}


def test_cancelling_an_ended_batch_is_a_conflict(loopback: Any) -> None:
    result = invoke("batches", "cancel", "msgbatch_1", env=serve(loopback, "ended"))
    assert result.exit_code == 5, result.stderr
    assert "msgbatch_1 has already ended" in result.stderr and "batches results" in result.stderr


def test_deleting_a_running_batch_is_a_conflict(loopback: Any) -> None:
    result = invoke("batches", "delete", "msgbatch_1", env=serve(loopback, "in_progress"))
    assert result.exit_code == 5, result.stderr
    assert "still running" in result.stderr and "batches cancel" in result.stderr


@pytest.mark.parametrize(("args", "status"), [(("batches", "cancel", "msgbatch_1"), "in_progress"),
                                              (("batches", "delete", "msgbatch_1"), "ended")])
def test_a_refusal_of_another_kind_keeps_its_code(loopback: Any, args: tuple[str, ...], status: str) -> None:
    result = invoke(*args, env=serve(loopback, status))
    assert result.exit_code == 1, result.stderr
    assert "cannot do that now" in result.stderr
