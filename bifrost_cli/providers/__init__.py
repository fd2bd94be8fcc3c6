"""The registry: which adapter serves the resolved settings.

- ``emulator`` set: the built-in emulator, in-process, addressed as a gateway;
- ``base_url`` set: a running Bifrost gateway;
- otherwise the provider's own API.

Adapter modules are imported only when chosen, so ``--help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bifrost_cli.errors import UnsupportedError, UsageError

if TYPE_CHECKING:
    from bifrost_cli.config import Settings
    from bifrost_cli.providers.base import Target

EMULATOR_URL = "http://emulator.localhost"

# provider -> factory for direct access; providers not listed here work through a gateway only.
DIRECT: dict[str, Callable[..., Target]] = {}


def _direct_anthropic(settings: Settings, **http_kwargs: Any) -> Target:
    from bifrost_cli.http import HttpClient
    from bifrost_cli.providers.anthropic import ANTHROPIC_VERSION, AnthropicAPI

    key = settings.anthropic_api_key
    if not key:
        raise UsageError(
            "no Anthropic API key: set ANTHROPIC_API_KEY",
            hint="Or go through a gateway (--base-url URL), or try the built-in emulator (--emulator).",
        )
    http = HttpClient(
        settings.anthropic_base_url,
        label="anthropic",
        headers={"anthropic-version": ANTHROPIC_VERSION},
        auth_headers={"x-api-key": key},
        auth_hint="Check ANTHROPIC_API_KEY (and its workspace's permissions).",
        **http_kwargs,
    )
    return AnthropicAPI(http)


DIRECT["anthropic"] = _direct_anthropic


def build_target(settings: Settings, *, log: Callable[[str], None] | None = None, transport: Any = None) -> Target:
    """The target for these settings. Raises before any I/O when it cannot be used."""
    from bifrost_cli.http import Redactor

    redactor = Redactor([settings.api_key, settings.anthropic_api_key])
    http_kwargs: dict[str, Any] = {
        "max_retries": settings.max_retries,
        "timeout": settings.timeout,
        "log": log,
        "redactor": redactor,
        "transport": transport,
    }
    provider = settings.provider
    if settings.emulator:
        from bifrost_cli.emulator import EmulatorConfig, create_app
        from pathlib import Path

        from bifrost_cli.http import WSGIStreamTransport

        state_dir = Path(settings.emulator_state_dir).expanduser() if settings.emulator_state_dir else None
        try:
            config = EmulatorConfig.from_env(state_dir)
        except ValueError as exc:
            raise UsageError(f"emulator settings: {exc}") from None
        app = create_app(config)
        http_kwargs["transport"] = transport or WSGIStreamTransport(app)
        return _gateway(EMULATOR_URL, provider, settings.api_key or "emulator", trusted=True, **http_kwargs)
    if settings.base_url:
        return _gateway(settings.base_url, provider, settings.api_key, **http_kwargs)
    factory = DIRECT.get(provider)
    if factory is None:
        raise UnsupportedError(
            f"this version cannot reach {provider} directly",
            hint=f"Go through a Bifrost gateway: --base-url URL -p {provider} (or BIFROST_BASE_URL), "
            f"or try it on the built-in emulator: --emulator -p {provider}.",
        )
    return factory(settings, **http_kwargs)


def _gateway(base_url: str, provider: str, key: str | None, *, trusted: bool = False, **http_kwargs: Any) -> Target:
    from bifrost_cli.http import HttpClient
    from bifrost_cli.providers.anthropic import ANTHROPIC_VERSION
    from bifrost_cli.providers.gateway import GatewayTarget

    if base_url.rstrip("/").endswith("/anthropic"):
        base_url = base_url.rstrip("/")[: -len("/anthropic")]
    http = HttpClient(
        base_url,
        label="the gateway",
        headers={"x-model-provider": provider, "anthropic-version": ANTHROPIC_VERSION},
        auth_headers={"x-bf-vk": key} if key else None,
        auth_hint="Check the gateway's virtual key: --api-key or BIFROST_VIRTUAL_KEY.",
        trusted_transport=trusted,
        **http_kwargs,
    )
    return GatewayTarget(http, provider)
