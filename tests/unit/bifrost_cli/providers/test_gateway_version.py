"""What ``bifrost doctor`` shows as the gateway's version (``providers/gateway.py``
``gateway_version``): the JSON string ``GET /api/version`` answers, and nothing for anything else."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bifrost_cli.errors import AuthError
from bifrost_cli.providers.gateway import gateway_version
from tests.fakes import Recorder, gateway_target


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.Response(200, json="v1.3.9"), "v1.3.9"),
        (httpx.Response(200, json={"version": "v1.4.0"}), "v1.4.0"),
        (httpx.Response(200, text="<html>the web UI</html>", headers={"content-type": "text/html"}), None),
        (httpx.Response(404, json={"error": "not found"}), None),
        (httpx.Response(200, text="not json", headers={"content-type": "application/json"}), None),
        (httpx.Response(200, json=["v1"]), None),
        (httpx.Response(200, json="x" * 500), None),
    ],
)
def test_version_or_none(tmp_path: Path, answer: httpx.Response, expected: str | None) -> None:
    server = Recorder(lambda request: answer)
    assert gateway_version(gateway_target(tmp_path, server, provider="openai")) == expected
    [request] = server.requests
    assert (request.method, request.url.path) == ("GET", "/api/version")
    assert request.headers.get("x-bf-vk")  # the virtual key, as every gateway request


def test_a_refused_key_is_raised(tmp_path: Path) -> None:
    server = Recorder(lambda request: httpx.Response(401, json={"error": {"message": "bad key"}}))
    with pytest.raises(AuthError):
        gateway_version(gateway_target(tmp_path, server))
