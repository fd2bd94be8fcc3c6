"""Each provider spec's ``refusal_proof``: what proves a 429/503/529 is the API's own refusal (so a
create or upload was not acted on and may be sent again), and what does not."""

from __future__ import annotations

import pytest

from bifrost_cli.providers import registry

ANTHROPIC_BODY = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
OPENAI_BODY = {"error": {"message": "The server is overloaded", "type": "server_error", "param": None, "code": None}}
GEMINI_429 = {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}}
GEMINI_503 = {"error": {"code": 503, "message": "The model is overloaded", "status": "UNAVAILABLE"}}
BEDROCK_BODY = {"message": "Too many requests, please wait before trying again."}
BEDROCK_HEADERS = {"x-amzn-errortype": "ThrottlingException", "x-amzn-requestid": "0f1e2d3c"}


def proves(provider: str, headers: dict[str, str], body: object) -> bool:
    proof = registry.get(provider).refusal_proof
    assert proof is not None
    return proof(headers, body)


@pytest.mark.parametrize(
    ("provider", "headers", "body"),
    [
        ("anthropic", {"request-id": "req_011"}, ANTHROPIC_BODY),
        ("openai", {"x-request-id": "req_abc"}, OPENAI_BODY),
        ("gemini", {}, GEMINI_429),
        ("bedrock", BEDROCK_HEADERS, BEDROCK_BODY),
    ],
)
def test_the_providers_own_refusal_is_proof(provider: str, headers: dict[str, str], body: object) -> None:
    assert proves(provider, headers, body)


@pytest.mark.parametrize(
    ("provider", "headers", "body"),
    [
        ("anthropic", {}, ANTHROPIC_BODY),  # no request id: could be anything in front of the API
        ("anthropic", {"request-id": "req_011"}, "<html>503</html>"),
        ("anthropic", {"request-id": "req_011"}, OPENAI_BODY),  # another provider's shape
        ("anthropic", {"request-id": ""}, ANTHROPIC_BODY),
        ("openai", {}, OPENAI_BODY),
        ("openai", {"x-request-id": "req_abc"}, {"error": "overloaded"}),
        ("openai", {"x-request-id": "req_abc"}, {"message": "overloaded"}),
        ("gemini", {}, GEMINI_503),  # UNAVAILABLE may come after the backend acted
        ("gemini", {}, {"error": {"code": 429, "message": "x", "status": "UNAVAILABLE"}}),
        ("gemini", {}, {"error": {"code": "429", "message": "x", "status": "RESOURCE_EXHAUSTED"}}),
        ("gemini", {}, None),
        ("bedrock", {"x-amzn-errortype": "ThrottlingException"}, BEDROCK_BODY),
        ("bedrock", {"x-amzn-requestid": "0f1e2d3c"}, BEDROCK_BODY),
        ("bedrock", BEDROCK_HEADERS, {"Message": ""}),
        ("bedrock", BEDROCK_HEADERS, ["not", "an", "object"]),
    ],
)
def test_anything_less_is_no_proof(provider: str, headers: dict[str, str], body: object) -> None:
    assert not proves(provider, headers, body)
