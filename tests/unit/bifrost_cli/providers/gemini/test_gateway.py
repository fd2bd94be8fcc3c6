"""Gemini through a Bifrost gateway's ``/genai`` routes (``providers/gemini/gateway.py``): results read as
directly, on fake gateways behind ``httpx.MockTransport``."""

from __future__ import annotations

import pytest

from tests.unit.bifrost_cli.providers.gemini import client, done_operation, json_server


def test_gateway_results_read_gemini_errors_as_directly_and_name_the_model() -> None:
    from bifrost_cli.providers.gemini.gateway import GeminiGateway

    items = [
        {"custom_id": "a", "response": {"status_code": 200, "body": {"text": "hi", "finish_reason": "STOP",
                                                                     "usage": {"prompt_tokens": 2, "completion_tokens": 1}}}},
        {"custom_id": "b", "error": {"code": "504", "message": "request expired before it was processed"}},
        {"custom_id": "c", "error": {"code": "1", "message": "cancelled"}},
        {"custom_id": "d", "error": {"code": "400", "message": "bad"}},
    ]
    gateway = GeminiGateway(client(json_server({
        "/genai/v1beta/batches/b1": done_operation("models/gemini-2.5-flash"),
        "/anthropic/v1/messages/batches/batches-b1/results": {"batch_id": "batches-b1", "results": items},
    })))
    results = {r.custom_id: r.result for r in gateway.iter_results("batches/b1")}
    assert results["a"].message is not None and results["a"].message["model"] == "gemini-2.5-flash"
    assert (results["b"].type, results["c"].type, results["d"].type) == ("expired", "canceled", "errored")
    assert results["d"].error is not None and results["d"].error.error == {"type": "invalid_request_error", "message": "bad",
                                                                         "native_type": "INVALID_ARGUMENT"}


@pytest.mark.parametrize("state", ["JOB_STATE_FAILED", "JOB_STATE_EXPIRED"])
def test_gateway_results_of_a_batch_that_ended_without_any_say_so_as_directly(state: str) -> None:
    from bifrost_cli.errors import BatchIncomplete
    from bifrost_cli.providers.gemini.gateway import GeminiGateway

    server = json_server({"/genai/v1beta/batches/b1": done_operation(None, state)})
    gateway = GeminiGateway(client(server))
    with pytest.raises(BatchIncomplete, match=r"ended \((failed|expired)\) without results"):
        list(gateway.iter_results("b1"))
    assert server.paths() == ["/genai/v1beta/batches/b1"]  # the results route was not asked
