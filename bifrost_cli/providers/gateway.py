"""The HTTP client for a Bifrost gateway, shared by every provider's gateway adapter: its root URL,
its virtual key, and what it answers for a route it lacks (its web page)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from bifrost_cli.errors import ResponseError
from bifrost_cli.http import HttpClient, Response

if TYPE_CHECKING:
    from bifrost_cli.http.ranged import Ranged


def gateway_http(
    base_url: str, key: str | None, *, trusted: bool = False, headers: dict[str, str] | None = None, **http_kwargs: Any
) -> HttpClient:
    """The HTTP client for a gateway: its root URL, and its virtual key (never a provider's) in
    ``x-bf-vk``. ``trusted``: the in-process emulator."""
    return HttpClient(
        gateway_root(base_url),
        label="the gateway",
        headers=headers,
        auth_headers={"x-bf-vk": key} if key else None,
        auth_hint="Check the gateway's virtual key: --api-key or BIFROST_VIRTUAL_KEY.",
        trusted_transport=trusted,
        **http_kwargs,
    )


def refuse_web_page(response: Response | Ranged, *, base_url: str, method: str, path: str, route: str | None) -> None:
    """Refuse an answer that is a web page (``text/html``) before anything reads it as the API: a
    gateway answers a route it lacks with its web UI. ``route``: the gateway's route prefix
    (``/anthropic``), which does not belong in ``--base-url``; ``None`` for a provider's own API."""
    if not response.is_html:
        return
    response.close()
    if route is None:
        raise ResponseError(
            f"{base_url} has no route for {method} {path}: it answered with a web page instead of the API",
            hint="Check the base URL.",
        )
    raise ResponseError(
        f"the gateway at {base_url} has no route for {method} {path}: it answered with its web page instead of the API",
        hint="This gateway version lacks the route; upgrade Bifrost, or check that --base-url "
        f"points at the gateway itself (without {route}).",
    )


_ROUTE_SUFFIX = re.compile(r"/(?:anthropic|openai|genai|bedrock)(?:/v\d+(?:alpha|beta)?\d*)?$")


def gateway_root(base_url: str) -> str:
    """The gateway's root URL, also when given with one of its route prefixes (``/openai``) or
    a route and its API version (``/openai/v1``, ``/genai/v1beta``), as SDKs are configured."""
    root = base_url.rstrip("/")
    match = _ROUTE_SUFFIX.search(root)
    return root[: match.start()] if match else root


class BytesResponse:
    """A response body already read (what ``Download`` needs: ``iter_bytes`` and ``close``)."""

    def __init__(self, data: bytes):
        self._data = data

    def iter_bytes(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        for i in range(0, len(self._data), chunk_size):
            yield self._data[i : i + chunk_size]

    def close(self) -> None:
        pass


VERSION_PATH = "/api/version"
"""Where a Bifrost gateway tells its version: a JSON string (``"v1.3.9"``); older gateways
answer it with their web page, or not at all."""


def gateway_version(target: object) -> str | None:
    """The version a gateway target's gateway tells at :data:`VERSION_PATH` (one GET, no retry),
    or None when it tells none (no such route, its web page, not a string) or the target is not a
    gateway. Errors that say the gateway cannot be used (auth, unreachable) are raised."""
    from bifrost_cli.errors import NotFoundError

    http = getattr(getattr(target, "inner", target), "http", None)
    if not isinstance(http, HttpClient):
        return None
    try:
        response = http.request("GET", VERSION_PATH, ok_statuses=(404, 405))
    except NotFoundError:
        return None
    with response:
        if response.status >= 400 or response.is_html:
            return None
        try:
            value = response.json()
        except (ValueError, ResponseError):
            return None
    if isinstance(value, dict):
        value = value.get("version")
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        return None
    return value.strip()
