"""Results asked for before a batch ended: the same error from every provider (exit 1, the batch's
status, a hint to wait), never wait's "not every request succeeded" (exit 7)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bifrost_cli import service
from bifrost_cli.config import resolve
from bifrost_cli.errors import BatchIncomplete, BatchNotEnded, ExitCode
from bifrost_cli.providers import build_target
from bifrost_cli.providers.base import CheckedTarget

Handler = Callable[[httpx.Request], httpx.Response]


def target(tmp_path: Path, handler: Handler, **flags: str) -> CheckedTarget:
    settings = resolve({"max_retries": 0, **flags}, environ={}, path=tmp_path / "absent.toml")
    return build_target(settings, transport=httpx.MockTransport(handler))


def anthropic_running(request: httpx.Request) -> httpx.Response:
    assert request.url.path == "/v1/messages/batches/msgbatch_1", request.url
    return httpx.Response(200, json={"id": "msgbatch_1", "type": "message_batch", "processing_status": "in_progress"})


def openai_running(request: httpx.Request) -> httpx.Response:
    assert request.url.path == "/v1/batches/batch_1", request.url
    return httpx.Response(200, json={"id": "batch_1", "object": "batch", "status": "finalizing",
                                     "request_counts": {"total": 2, "completed": 2, "failed": 0}})


def gemini_running(request: httpx.Request) -> httpx.Response:
    assert request.url.path == "/v1beta/batches/b1", request.url
    return httpx.Response(200, json={"name": "batches/b1", "metadata": {"name": "batches/b1", "state": "BATCH_STATE_RUNNING"}})


CASES = [
    pytest.param({"anthropic_api_key": "sk-ant-x"}, anthropic_running, "msgbatch_1",
                 "batch msgbatch_1 has not ended yet (status in_progress); results come once it ends",
                 "Run `bifrost batches wait msgbatch_1` first.", id="anthropic"),
    pytest.param({"provider": "openai", "openai_api_key": "sk-x"}, openai_running, "batch_1",
                 "batch batch_1 has not ended yet (status finalizing); results come once it ends",
                 "Run `bifrost -p openai batches wait batch_1` first.", id="openai"),
    pytest.param({"provider": "gemini", "gemini_api_key": "g-x"}, gemini_running, "b1",
                 "batch batches/b1 has not ended yet (state BATCH_STATE_RUNNING); results come once it ends",
                 "Run `bifrost -p gemini batches wait batches/b1` first.", id="gemini"),
]


@pytest.mark.parametrize(("flags", "handler", "batch_id", "message", "hint"), CASES)
@pytest.mark.parametrize("raw", [False, True], ids=["results", "raw"])
def test_results_of_a_running_batch_say_to_wait_and_exit_1(
    tmp_path: Path, flags: dict[str, str], handler: Handler, batch_id: str, message: str, hint: str, raw: bool
) -> None:
    sink = io.BytesIO()
    with pytest.raises(BatchNotEnded) as info:
        service.write_results(target(tmp_path, handler, **flags), batch_id, output=None, raw=raw, stdout=sink)
    assert info.value.exit_code == ExitCode.ERROR == 1
    assert not isinstance(info.value, BatchIncomplete)  # that one is wait's verdict, exit 7
    assert (info.value.message, info.value.hint) == (message, hint)
    assert sink.getvalue() == b""
