"""A gateway answers a route it lacks with its web page: every route (``/anthropic``, ``/openai``,
``/genai``, ``/bedrock``) says so in the same words, naming the request and the prefix that does
not belong in --base-url; Gemini's own API says it without calling itself a gateway."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bifrost_cli.config import resolve
from bifrost_cli.errors import ResponseError
from bifrost_cli.providers import build_target
from bifrost_cli.providers.base import CheckedTarget

GATEWAY = "https://gateway.example.test"
PAGE = "<!doctype html><html><body>Bifrost</body></html>"


def web_page(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text=PAGE, headers={"content-type": "text/html; charset=utf-8"})


def target(tmp_path: Path, **flags: str) -> CheckedTarget:
    settings = resolve({"max_retries": 0, **flags}, environ={}, path=tmp_path / "absent.toml")
    return build_target(settings, transport=httpx.MockTransport(web_page))


@pytest.mark.parametrize(
    ("provider", "request_line", "route"),
    [
        ("anthropic", "GET /anthropic/v1/messages/batches", "/anthropic"),
        ("openai", "GET /openai/v1/batches", "/openai"),
        ("gemini", "GET /genai/v1beta/batches", "/genai"),
        ("bedrock", "GET /bedrock/model-invocation-jobs", "/bedrock"),
    ],
)
def test_every_gateway_route_says_it_got_the_web_page(tmp_path: Path, provider: str, request_line: str, route: str) -> None:
    with pytest.raises(ResponseError) as info:
        list(target(tmp_path, base_url=GATEWAY, provider=provider).list_batches(limit=5))
    assert info.value.message == (
        f"the gateway at {GATEWAY} has no route for {request_line}: it answered with its web page instead of the API"
    )
    assert info.value.hint == (
        "This gateway version lacks the route; upgrade Bifrost, or check that --base-url "
        f"points at the gateway itself (without {route})."
    )
    assert PAGE not in info.value.message


def test_gemini_own_api_answering_a_web_page_points_at_the_base_url(tmp_path: Path) -> None:
    base = "https://not-gemini.example.test"
    with pytest.raises(ResponseError) as info:
        target(tmp_path, provider="gemini", gemini_api_key="g-key", gemini_base_url=base).get_batch("b1")
    assert info.value.message == (
        f"{base} has no route for GET /v1beta/batches/b1: it answered with a web page instead of the API"
    )
    assert info.value.hint == "Check the base URL."
