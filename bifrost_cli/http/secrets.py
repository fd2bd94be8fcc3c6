"""What never leaks: secret values hidden in any text, credential headers never shown, and the
origin rules (credentials go only to the configured origin, never over plain HTTP off loopback)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

# Headers that carry credentials whatever the provider (each provider's spec adds its own).
GATEWAY_SECRET_HEADERS = frozenset({"authorization", "x-bf-vk", "x-bf-api-key", "api-key", "cookie"})


# --------------------------------------------------------------------------------------------
# redaction


MIN_SECRET = 8  # shorter values are not keys, and hiding them would garble ordinary words


class Redactor:
    """Replaces known secret values with ``***`` in any text."""

    def __init__(self, secrets: Iterable[str | None] = ()):
        self._secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= MIN_SECRET and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        hidden = sensitive_headers()
        return {k: ("***" if k.lower() in hidden else self(v)) for k, v in headers.items()}


def sensitive_headers() -> frozenset[str]:
    """Headers never shown: the gateway's and every registered provider's credential headers."""
    from bifrost_cli.providers import registry

    return GATEWAY_SECRET_HEADERS | registry.secret_headers()


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)
