"""One error ``type`` vocabulary for errored results: the same failure reads the same on every
provider (Anthropic directly and through the gateway, OpenAI's output and error files, Gemini
directly and through the gateway, Bedrock's records), the provider's own type kept in
``native_type``; the fast path writes the same bytes as the model does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bifrost_cli.models import BatchResult
from bifrost_cli.providers.bedrock.format import to_result
from bifrost_cli.providers.common import ERROR_TYPES
from bifrost_cli.providers.gemini.format import error_result, to_anthropic_result
from bifrost_cli.providers import results
from bifrost_cli.providers.results import dump_result, normalize_result, result_text

# failure -> (HTTP status, Anthropic's type, OpenAI's error (type, code), Gemini's status name, the one type)
FAILURES = {
    "bad request": (400, "invalid_request_error", ("invalid_request_error", None), "INVALID_ARGUMENT", "invalid_request_error"),
    "refused key": (401, "authentication_error", ("invalid_request_error", "invalid_api_key"), "UNAUTHENTICATED",
                    "authentication_error"),
    "no permission": (403, "permission_error", ("invalid_request_error", None), "PERMISSION_DENIED", "permission_error"),
    "unknown model": (404, "not_found_error", ("invalid_request_error", "model_not_found"), "NOT_FOUND", "not_found_error"),
    "rate limited": (429, "rate_limit_error", ("tokens", "rate_limit_exceeded"), "RESOURCE_EXHAUSTED", "rate_limit_error"),
    "server error": (500, "api_error", ("server_error", None), "INTERNAL", "api_error"),
    "overloaded": (503, "overloaded_error", ("server_error", "server_overloaded"), "UNAVAILABLE", "overloaded_error"),
}


def anthropic_line(status: int, atype: str) -> str:
    return json.dumps({"custom_id": "r", "result": {"type": "errored", "error": {"type": "error", "error": {"type": atype, "message": "m"}}}})


def openai_line(status: int, error: tuple[str, str | None]) -> dict[str, Any]:
    etype, code = error
    return {"id": "x", "custom_id": "r", "response": {"status_code": status, "request_id": "q",
            "body": {"error": {"message": "m", "type": etype, "param": None, "code": code}}}, "error": None}


def errors_of(failure: str) -> dict[str, dict[str, Any]]:
    """The error object each provider's results give for ``failure``, each read both ways."""
    status, atype, oerror, gstatus, _ = FAILURES[failure]
    found: dict[str, dict[str, Any]] = {}

    def both(name: str, fast: tuple[str, bytes], general: BatchResult) -> None:
        assert fast == (general.result.type, dump_result(general)), name  # byte-identical
        found[name] = json.loads(fast[1])["result"]["error"]["error"]

    line = anthropic_line(status, atype)
    both("anthropic", results.result_line_text(line, where="w"), BatchResult.model_validate_json(line))
    item = openai_line(status, oerror)
    both("openai", results.line_text(item, where="w"), results.normalize_line(item, where="w"))
    both("gateway (openai item)", results.normalized_text(item, where="w"), normalize_result(item, where="w"))
    anthropic_item = json.loads(line)
    both("gateway (anthropic item)", results.normalized_text(anthropic_item, where="w"), normalize_result(anthropic_item, where="w"))
    gemini = to_anthropic_result("r", {"error": {"code": status, "message": "m", "status": gstatus}})
    both("gemini", result_text(gemini, where="w"), BatchResult.model_validate(gemini))
    via_gateway = {"custom_id": "r", "result": error_result({"code": str(status), "message": "m"})}
    both("gemini gateway", result_text(via_gateway, where="w"), BatchResult.model_validate(via_gateway))
    bedrock = to_result({"recordId": "r", "modelInput": {}, "error": {"errorCode": status, "errorMessage": "m"}}, "r")
    both("bedrock", result_text(bedrock, where="w"), BatchResult.model_validate(bedrock))
    return found


@pytest.mark.parametrize("failure", list(FAILURES))
def test_the_same_failure_has_the_same_type_on_every_provider(failure: str) -> None:
    expected = FAILURES[failure][-1]
    found = errors_of(failure)
    assert {name: e["type"] for name, e in found.items()} == dict.fromkeys(found, expected)
    assert all(e["message"] == "m" for e in found.values())
    assert "native_type" not in found["anthropic"]  # Anthropic's own line, as it came
    assert found["gemini"]["native_type"] == found["gemini gateway"]["native_type"] == FAILURES[failure][3]
    assert found["bedrock"]["native_type"] == str(FAILURES[failure][0])
    openai_native = FAILURES[failure][2][1] or FAILURES[failure][2][0]
    assert found["openai"].get("native_type", expected) == openai_native


def test_every_type_written_is_in_the_vocabulary() -> None:
    for failure in FAILURES:
        assert {e["type"] for e in errors_of(failure).values()} <= set(ERROR_TYPES)
    blocked = to_anthropic_result("r", {"response": {"promptFeedback": {"blockReason": "SAFETY"}}})
    assert blocked["result"]["error"]["error"]["type"] == "blocked"
    failed = results.normalize_line({"custom_id": "r", "response": None, "error": {"code": "batch_failed", "message": "m"}}, where="w")
    assert failed.result.error is not None  # OpenAI: a failed batch's requests (its input was rejected)
    assert failed.result.error.error == {"type": "invalid_request_error", "message": "m", "native_type": "batch_failed"}
    unknown = normalize_result({"custom_id": "r", "error": {"code": "weird_thing", "message": "m"}}, where="w")
    assert unknown.result.error is not None
    assert unknown.result.error.error == {"type": "api_error", "message": "m", "native_type": "weird_thing"}
