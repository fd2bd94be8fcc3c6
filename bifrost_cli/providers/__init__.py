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

# provider -> "module:function" building a target that calls the provider's own API:
#   function(settings, **http_kwargs) -> Target
DIRECT: dict[str, str] = {
    "anthropic": "bifrost_cli.providers.anthropic:direct_target",
    "gemini": "bifrost_cli.providers.gemini:direct_target",
    "openai": "bifrost_cli.providers.openai:direct_target",
    "bedrock": "bifrost_cli.providers.bedrock:direct_target",
}
# provider -> "module:function" building a target that reaches the provider through a gateway:
#   function(base_url, provider, key, *, trusted, **http_kwargs) -> Target
# A provider not listed goes through the gateway's Anthropic-compatible route.
GATEWAY: dict[str, str] = {
    "anthropic": "bifrost_cli.providers.gateway:gateway_target",
    "gemini": "bifrost_cli.providers.gemini:gateway_target",
    "openai": "bifrost_cli.providers.openai:gateway_target",
    "bedrock": "bifrost_cli.providers.bedrock:gateway_target",
}


def _resolve(ref: str) -> Callable[..., Target]:
    import importlib

    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def build_target(settings: Settings, *, log: Callable[[str], None] | None = None, transport: Any = None) -> Target:
    """The target for these settings. Raises before any I/O when it cannot be used."""
    from bifrost_cli.http import Redactor

    from bifrost_cli.config import url_password

    redactor = Redactor(
        [settings.api_key, settings.anthropic_api_key, settings.openai_api_key, settings.gemini_api_key]
        + [url_password(getattr(settings, name)) for name in ("base_url", "anthropic_base_url", "openai_base_url", "gemini_base_url")]
    )
    http_kwargs: dict[str, Any] = {
        "max_retries": settings.max_retries,
        "timeout": settings.timeout,
        "log": log,
        "redactor": redactor,
        "transport": transport,
    }
    provider = settings.provider
    gateway = _resolve(GATEWAY.get(provider, GATEWAY["anthropic"]))
    if settings.emulator:
        from pathlib import Path

        from bifrost_cli.emulator import EmulatorConfig, create_app
        from bifrost_cli.http import WSGIStreamTransport

        state_dir = Path(settings.emulator_state_dir).expanduser() if settings.emulator_state_dir else None
        try:
            config = EmulatorConfig.from_env(state_dir)
        except ValueError as exc:
            raise UsageError(f"emulator settings: {exc}") from None
        http_kwargs["transport"] = transport or WSGIStreamTransport(create_app(config))
        return gateway(EMULATOR_URL, provider, settings.api_key, trusted=True, settings=settings, **http_kwargs)
    if settings.base_url:
        return gateway(settings.base_url, provider, settings.api_key, settings=settings, **http_kwargs)
    ref = DIRECT.get(provider)
    if ref is None:
        raise UnsupportedError(
            f"this version cannot reach {provider} directly",
            hint=f"Go through a Bifrost gateway: --base-url URL -p {provider} (or BIFROST_BASE_URL), "
            f"or try it on the built-in emulator: --emulator -p {provider}.",
        )
    return _resolve(ref)(settings, **http_kwargs)
