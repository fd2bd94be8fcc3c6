"""The registry: provider name -> its spec. One line per built-in provider; more with :func:`register`.

Only the specs (cheap data) are imported here; adapters are imported when a command needs one.
"""

from __future__ import annotations

import importlib

from bifrost_cli.providers.spec import ProviderSpec, Setting

# name -> the package whose ``SPEC`` describes it
BUILTIN: dict[str, str] = {
    "anthropic": "bifrost_cli.providers.anthropic",
    "openai": "bifrost_cli.providers.openai",
    "gemini": "bifrost_cli.providers.gemini",
    "bedrock": "bifrost_cli.providers.bedrock",
}

_specs: dict[str, ProviderSpec] = {}


def _load() -> dict[str, ProviderSpec]:
    for name, package in BUILTIN.items():
        if name not in _specs:
            spec: ProviderSpec = importlib.import_module(package).SPEC
            _specs[name] = spec
    return _specs


def register(spec: ProviderSpec) -> None:
    """Add a provider (or replace one of the same name) for the rest of this process."""
    _load()
    _specs[spec.name] = spec


def unregister(name: str) -> None:
    """Remove a provider added with :func:`register` (built-in ones come back on next use)."""
    _specs.pop(name, None)


def specs() -> tuple[ProviderSpec, ...]:
    return tuple(_load().values())


def names() -> tuple[str, ...]:
    return tuple(_load())


def get(name: str) -> ProviderSpec:
    """The spec of ``name``; a KeyError when there is none (config checks names first)."""
    return _load()[name]


def provider_settings() -> tuple[Setting, ...]:
    """Every provider's settings, in registry order."""
    return tuple(s for spec in specs() for s in spec.settings)


def secret_headers() -> frozenset[str]:
    return frozenset(h for spec in specs() for h in spec.secret_headers)
