"""OpenAI's files and batches through a Bifrost gateway's ``/openai`` routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bifrost_cli.hints import suggest
from bifrost_cli.errors import UnsupportedError
from bifrost_cli.http import Response
from bifrost_cli.models import File
from bifrost_cli.providers.base import (
    Progress,
    UploadSource,
)
from bifrost_cli.providers.gateway import gateway_http, refuse_web_page
from bifrost_cli.providers.openai.api import PART_SIZE, UPLOAD_THRESHOLD, OpenAIAPI

if TYPE_CHECKING:
    from bifrost_cli.http.ranged import Ranged
    from bifrost_cli.config import Settings


EXPIRY_SLACK = 300
"""Seconds an upload's reported expiry may differ from ``created_at + --expires-after`` (clocks, rounding)."""


class OpenAIGateway(OpenAIAPI):
    """A Bifrost gateway's ``/openai/v1`` routes: the provider goes in the ``provider`` query
    parameter, JSON field or form field; the virtual key in ``x-bf-vk``. The gateway has no
    Uploads route, so a file above OpenAI's single-request limit is refused before sending."""

    prefix = "/openai/v1"

    def describe(self) -> str:
        return f"Bifrost gateway at {self.http.base_url} (provider {self.provider}, OpenAI routes)"

    def _query(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**(params or {}), "provider": self.provider}

    def _fields(self, fields: dict[str, str]) -> dict[str, str]:
        return {**fields, "provider": self.provider}

    def _json_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "provider": self.provider}

    def _refuse_web_page(self, response: Response | Ranged, method: str, path: str) -> None:
        refuse_web_page(response, base_url=self.http.base_url, method=method, path=self.prefix + path, route="/openai")

    def upload_file(
        self,
        source: UploadSource,
        *,
        purpose: str | None,
        progress: Progress | None = None,
        expires_after: int | None = None,
    ) -> File:
        uploaded = super().upload_file(source, purpose=purpose, progress=progress, expires_after=expires_after)
        if expires_after is not None:  # some gateway versions drop expires_after[...]: check what the answer shows
            self._check_expiry(uploaded, expires_after)
        return uploaded

    def _check_expiry(self, uploaded: File, expires_after: int) -> None:
        from datetime import UTC, datetime, timedelta

        from bifrost_cli.timestamps import rfc3339

        start = uploaded.created_at or datetime.now(UTC)
        expected = start + timedelta(seconds=expires_after)
        if uploaded.expires_at is not None and abs((uploaded.expires_at - expected).total_seconds()) <= EXPIRY_SLACK:
            return
        when = f"expires at {rfc3339(uploaded.expires_at)}" if uploaded.expires_at else "does not expire"
        self.http.warn(
            f"the gateway did not pass --expires-after {expires_after} on: {uploaded.id} {when} "
            f"(delete it when done with `{suggest('files delete', uploaded.id)}`)"
        )

    def _upload_in_parts(self, source: UploadSource, purpose: str, progress: Progress | None, expires_after: int | None) -> File:
        raise UnsupportedError(
            f"{source.filename} is {source.size:,} bytes: above OpenAI's {UPLOAD_THRESHOLD // 1_000_000} MB "
            "limit for one upload, and the gateway has no route for OpenAI's Uploads API",
            hint="Upload it directly to OpenAI (unset --base-url, set OPENAI_API_KEY), or split it.",
        )


def gateway_target(
    base_url: str, provider: str, key: str | None, *, trusted: bool = False, settings: Settings, **http_kwargs: Any
) -> OpenAIGateway:
    """A gateway, through its OpenAI-compatible ``/openai`` routes, for ``provider``."""
    http = gateway_http(base_url, key, trusted=trusted, **http_kwargs)
    return OpenAIGateway(http, provider, upload_threshold=UPLOAD_THRESHOLD, part_size=PART_SIZE)
