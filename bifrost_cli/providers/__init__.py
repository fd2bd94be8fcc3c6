"""Providers and the one way into them: :func:`build_target`.

- ``emulator`` set: the built-in emulator, in-process, addressed as a gateway;
- ``base_url`` set: a running Bifrost gateway;
- otherwise the provider's own API.

What each provider is lives in its package's spec (:mod:`bifrost_cli.providers.registry`); its
adapters are imported only when chosen, so ``--help`` stays fast. Every target comes back wrapped
in :class:`~bifrost_cli.providers.base.CheckedTarget`, which refuses what the target cannot do
before any I/O.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from bifrost_cli.errors import UnsupportedError, UsageError

if TYPE_CHECKING:
    import httpx

    from bifrost_cli.config import Settings
    from bifrost_cli.providers.base import CheckedTarget, Target
    from bifrost_cli.providers.spec import Mode

EMULATOR_URL = "http://emulator.localhost"
FALLBACK_GATEWAY = "anthropic"
"""The provider whose gateway route carries a provider that has none of its own."""


def resolve_ref(ref: str) -> Callable[..., Target]:
    """The function a ``"module:function"`` reference names."""
    module, _, name = ref.partition(":")
    factory: Callable[..., Target] = getattr(importlib.import_module(module), name)
    return factory


def build_target(
    settings: Settings,
    *,
    log: Callable[[str], None] | None = None,
    transport: httpx.BaseTransport | None = None,
    warn: Callable[[str], None] | None = None,
) -> CheckedTarget:
    """The target for these settings. Raises before any I/O when it cannot be used."""
    from bifrost_cli.http import Redactor
    from bifrost_cli.providers import registry
    from bifrost_cli.providers.base import Capabilities, CheckedTarget

    spec = registry.get(settings.provider)
    http_kwargs: dict[str, object] = {
        "max_retries": settings.max_retries,
        "timeout": settings.timeout,
        "log": log,
        "redactor": Redactor(settings.secrets()),
        "transport": transport,
        "allow_insecure_http": settings.allow_insecure_http,
        "warn": warn,
    }
    mode: Mode = "emulator" if settings.emulator else "gateway" if settings.base_url else "direct"
    unsupported = target_unsupported(settings)
    if mode == "direct":
        if spec.direct is None:
            raise UnsupportedError(
                f"this version cannot reach {spec.name} directly",
                hint=f"Go through a Bifrost gateway: --base-url URL -p {spec.name} (or BIFROST_BASE_URL), "
                f"or try it on the built-in emulator: --emulator -p {spec.name}.",
            )
        target = resolve_ref(spec.direct)(settings, **http_kwargs)
        return CheckedTarget(target, Capabilities(unsupported), target_identity(settings, mode))
    gateway_ref = spec.gateway
    if gateway_ref is None:  # through the gateway's Anthropic-compatible route
        fallback = registry.get(FALLBACK_GATEWAY)
        gateway_ref = fallback.gateway
    assert gateway_ref is not None
    gateway = resolve_ref(gateway_ref)
    if mode == "emulator":
        http_kwargs["transport"] = transport or _emulator_transport(settings)
        target = gateway(EMULATOR_URL, spec.name, settings.api_key, trusted=True, settings=settings, **http_kwargs)
    else:
        target = gateway(settings.base_url, spec.name, settings.api_key, settings=settings, **http_kwargs)
    return CheckedTarget(target, Capabilities(unsupported), target_identity(settings, mode))


def target_unsupported(settings: Settings) -> dict[str, str]:
    """What the target these settings build cannot do (operation -> what to do instead), with no
    I/O and no credentials: the spec's table for the mode, over the fallback route's where the
    provider has no gateway route of its own."""
    from bifrost_cli.providers import registry

    spec = registry.get(settings.provider)
    mode: Mode = "emulator" if settings.emulator else "gateway" if settings.base_url else "direct"
    unsupported = spec.unsupported_in(mode)
    if mode != "direct" and spec.gateway is None:
        unsupported = {**registry.get(FALLBACK_GATEWAY).unsupported_in(mode), **unsupported}
    return unsupported


def target_identity(settings: Settings, mode: Mode) -> str:
    """``mode:provider:address``: the gateway's URL, the emulator's state dir, or the provider's
    own non-secret settings (base URL, region, S3 prefix...). Never a key."""
    from bifrost_cli.config import redact_url
    from bifrost_cli.providers import registry

    if mode == "gateway":
        address = redact_url(settings.base_url or "")
    elif mode == "emulator":
        address = settings.emulator_state_dir or "default"
    else:
        spec = registry.get(settings.provider)
        address = ",".join(redact_url(settings.text(s.name) or "") for s in spec.settings if not s.secret)
    return f"{mode}:{settings.provider}:{address}"


def _emulator_transport(settings: Settings) -> httpx.BaseTransport:
    from pathlib import Path

    from bifrost_cli.emulator import EmulatorConfig, create_app
    from bifrost_cli.http.wsgi import WSGIStreamTransport

    state_dir = Path(settings.emulator_state_dir).expanduser() if settings.emulator_state_dir else None
    try:
        config = EmulatorConfig.from_env(state_dir)
    except ValueError as exc:
        raise UsageError(f"emulator settings: {exc}") from None
    return WSGIStreamTransport(create_app(config))
