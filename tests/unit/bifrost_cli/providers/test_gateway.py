"""What the gateway targets of every provider share: the gateway's root from the base URL as SDKs are
configured, and refusals before any request (``providers/gateway.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bifrost_cli.errors import UsageError
from bifrost_cli.inputs import load_requests
from bifrost_cli.providers.gateway import gateway_root
from tests.fakes import Recorder, gateway_target, never_called, write_requests


@pytest.mark.parametrize("provider", ["gemini", "openai"])
def test_two_models_in_a_non_anthropic_batch_are_refused_before_any_request(tmp_path: Path, provider: str) -> None:
    path = write_requests(tmp_path, ["model-a", "model-b", "model-a"])
    server = Recorder(never_called)
    with load_requests(str(path)) as requests, pytest.raises(UsageError) as info:
        gateway_target(tmp_path, server, provider=provider).create_batch(requests)
    assert "model-a, model-b" in info.value.message
    assert server.requests == []


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("http://gw:8080", "http://gw:8080"),
        ("http://gw:8080/", "http://gw:8080"),
        ("http://gw:8080/anthropic", "http://gw:8080"),
        ("http://gw:8080/anthropic/v1/", "http://gw:8080"),
        ("http://gw:8080/openai/v1", "http://gw:8080"),
        ("http://gw:8080/genai/v1beta", "http://gw:8080"),
        ("https://proxy/bifrost/bedrock", "https://proxy/bifrost"),
        ("https://proxy/x/v1", "https://proxy/x/v1"),
        ("https://proxy/anthropicx", "https://proxy/anthropicx"),
    ],
)
def test_gateway_root_table(given: str, root: str) -> None:
    assert gateway_root(given) == root
