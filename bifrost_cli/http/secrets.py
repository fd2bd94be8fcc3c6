"""What never leaks: secret values hidden in any text, credential headers never shown, and the
origin rules (credentials go only to the configured origin, never over plain HTTP off loopback)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

# Headers that carry credentials whatever the provider (each provider's spec adds its own).
GATEWAY_SECRET_HEADERS = frozenset({"authorization", "x-bf-vk", "x-bf-api-key", "api-key", "cookie"})


# --------------------------------------------------------------------------------------------
# redaction


MIN_SECRET = 8  # shorter values are not keys, and hiding them would garble ordinary words
PARTIAL = 8  # any run of this many characters of a secret is hidden too (a key's tail, say)


class Redactor:
    """Hides known secret values in any text: the whole value, and any part of it of
    :data:`PARTIAL` characters or more (a server that echoes the tail of a key, a message clipped
    in the middle of one). Each hidden stretch, however many secrets it spans, becomes one ``***``.

    The parts are kept as a set of the secrets' 8-character windows; only runs of characters
    that occur in some secret, 8 or more long, are looked at, so ordinary prose costs a regex scan.
    """

    def __init__(self, secrets: Iterable[str | None] = ()):
        self._secrets: list[str] = []
        self._grams: set[str] = set()
        self._runs: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < MIN_SECRET or secret in self._secrets:
            return
        self._secrets.append(secret)
        self._grams.update(secret[i : i + PARTIAL] for i in range(len(secret) - PARTIAL + 1))
        alphabet = sorted({c for s in self._secrets for c in s})
        self._runs = re.compile("[" + "".join(re.escape(c) for c in alphabet) + f"]{{{PARTIAL},}}")

    def __call__(self, text: str) -> str:
        if self._runs is None or len(text) < PARTIAL:
            return text
        grams, n = self._grams, PARTIAL
        spans: list[list[int]] = []  # hidden [start, end) stretches, in order, merged as found
        for run in self._runs.finditer(text):
            for i in range(run.start(), run.end() - n + 1):
                if text[i : i + n] in grams:
                    if spans and i <= spans[-1][1]:
                        spans[-1][1] = i + n
                    else:
                        spans.append([i, i + n])
        if not spans:
            return text
        out: list[str] = []
        at = 0
        for start, end in spans:
            out.append(text[at:start])
            out.append("***")
            at = end
        out.append(text[at:])
        return "".join(out)

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
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def plain_http_host(url: str) -> str | None:
    """The host of a plain-HTTP URL that is not a loopback address (``None`` otherwise)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() != "http" or is_loopback(host):
        return None
    return host or "(no host)"


def take_userinfo(url: str, redact: Redactor) -> tuple[str, str | None]:
    """``url`` without its ``user:password@`` part, and that part as an explicit ``Basic``
    credential (httpx would otherwise send it on its own, past the origin and plain-HTTP rules).
    The password joins the secrets hidden from every message."""
    import base64
    from urllib.parse import unquote

    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return url, None
    if user is None and password is None:
        return url, None
    netloc = parts.netloc.rpartition("@")[2]
    bare = parts._replace(netloc=netloc).geturl()
    user, password = unquote(user or ""), unquote(password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    redact.add(password)
    redact.add(token)
    return bare, f"Basic {token}"


_LOOPBACK_NAMES = ("all://localhost", "all://*.localhost", "all://127.0.0.1", "all://[::1]")


def loopback_mounts(base_url: str) -> dict[str, None]:
    """Loopback addresses never go through a proxy from the environment (``HTTP_PROXY`` would
    carry the key in clear to the proxy): map them to the client's own transport (``None``)."""
    mounts: dict[str, None] = dict.fromkeys(_LOOPBACK_NAMES)
    try:
        host = urlsplit(base_url).hostname
    except ValueError:
        host = None
    if host and is_loopback(host):
        mounts[f"all://[{host}]" if ":" in host else f"all://{host}"] = None
    return mounts


def no_cookies() -> Any:
    """A cookie jar that keeps nothing: a cookie a server sets is never sent anywhere."""
    from http.cookiejar import CookieJar, DefaultCookiePolicy

    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
