"""``build_target``: each provider's direct target says what it needs before any request."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bifrost_cli.errors import UsageError
from bifrost_cli.providers import build_target
from tests.fakes import ANTHROPIC_KEY, never_called, settings


@pytest.mark.parametrize(("provider", "needs"), [("openai", "OPENAI_API_KEY"), ("gemini", "GEMINI_API_KEY"), ("bedrock", "region")])
def test_direct_providers_say_what_credentials_they_need(tmp_path: Path, provider: str, needs: str) -> None:
    with pytest.raises(UsageError) as info:  # at build time, or at the first call: before any I/O
        target = build_target(settings(tmp_path, provider=provider, anthropic_api_key=ANTHROPIC_KEY), transport=httpx.MockTransport(never_called))
        list(target.list_batches(limit=1))
    assert needs in info.value.message
    assert "--base-url" in (info.value.hint or "")
