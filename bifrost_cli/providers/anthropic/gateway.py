"""A running Bifrost gateway, through its Anthropic-compatible ``/anthropic`` routes.

The gateway picks the upstream provider from the ``x-model-provider`` header, which is sent on every
call. Its real behaviour differs from Anthropic's in ways handled here:

- batch results come back as ONE JSON object (``{"batch_id", "results": [...]}``), sometimes JSONL;
  items may carry an Anthropic ``result``, or an OpenAI/Gemini-style ``response``/``error``;
- ``processing_status`` may be ``failed``/``expired`` (ended) or ``finalizing`` (still running);
- ``request_counts`` may be missing;
- batch lists page by ``page_size``/``page_token``, file lists by ``limit``/``after_id`` without
  ``first_id``/``last_id``;
- a route the gateway lacks answers ``200 text/html`` (its web UI), which must not be parsed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from bifrost_cli.errors import ResponseError
from bifrost_cli.http import Response
from bifrost_cli.models import BatchResult, File
from bifrost_cli.providers.anthropic.api import ANTHROPIC_VERSION, AnthropicAPI
from bifrost_cli.providers.base import Download
from bifrost_cli.providers.common import iter_jsonl, parse_file, path_segment
from bifrost_cli.providers.gateway import BytesResponse, gateway_http, refuse_web_page
from bifrost_cli.providers.results import normalize_result
from bifrost_cli.providers.common import MalformedAnswer, shape

if TYPE_CHECKING:
    from bifrost_cli.config import Settings

class GatewayTarget(AnthropicAPI):
    prefix = "/anthropic/v1"

    def describe(self) -> str:
        return f"Bifrost gateway at {self.http.base_url} (provider {self.provider})"

    # Every request carries the provider; ``_get_json`` and friends go through here.
    def _files_headers(self) -> dict[str, str]:
        return {}

    def _upload_fields(self, purpose: str | None) -> dict[str, str]:
        return {"purpose": purpose} if purpose else {}

    def _json(self, response: Response, method: str, path: str) -> Any:
        self._reject_html(response, method, path)
        return response.json()

    def _reject_html(self, response: Response, method: str, path: str) -> None:
        refuse_web_page(response, base_url=self.http.base_url, method=method, path=self.prefix + path, route="/anthropic")

    def get_file(self, file_id: str) -> File:
        response = self.http.request("GET", self.prefix + f"/files/{path_segment(file_id)}")
        if response.is_html:
            # Gateways before Bifrost PR #6765 have no per-file route: find it in the list instead.
            response.close()
            for item in self.list_files(limit=None):
                if item.id == file_id:
                    return item
            from bifrost_cli.errors import NotFoundError

            raise NotFoundError(f"no file {file_id} at the gateway (provider {self.provider})", status=404)
        return parse_file(response.json(), self.provider)

    def open_download(self, file_id: str) -> Download:
        response = self.http.request("GET", self.prefix + f"/files/{path_segment(file_id)}/content", stream=True)
        self._reject_html(response, "GET", f"/files/{file_id}/content")
        if response.content_type == "application/json" and (response.content_length or 0) < 65536:
            data = response.read()
            response.close()
            try:
                meta = json.loads(data)
            except ValueError:
                meta = None
            if isinstance(meta, dict) and meta.get("id") == file_id and meta.get("type") == "file":
                raise ResponseError(
                    f"the gateway answered the download of {file_id} with the file's metadata, not its content",
                    hint="Gateways before Bifrost PR #6765 have this bug on /anthropic/v1/files/ID/content; upgrade the gateway.",
                )
            return Download(BytesResponse(data), size=len(data))
        return Download(response, size=response.content_length)

    # -- batches ------------------------------------------------------------------------------

    def _page_params(self, size: int, cursor: str | None, token: str | None) -> dict[str, Any]:
        # The gateway's batch list reads page_size/page_token and ignores limit/after_id; its file
        # list reads limit/after_id. Send both so either works.
        return {"limit": size, "after_id": cursor, "page_size": size, "page_token": token or cursor}

    def _result_items(self, batch_id: str) -> Iterator[dict[str, Any]]:
        response = self.http.request(
            "GET", self.prefix + f"/messages/batches/{path_segment(batch_id)}/results", stream=True
        )
        self._reject_html(response, "GET", f"/messages/batches/{batch_id}/results")
        if response.content_type == "application/json":
            with response:
                data = response.json()
            if isinstance(data, dict) and isinstance(data.get("results"), list):
                yield from data["results"]
                return
            if isinstance(data, list):
                yield from data
                return
            raise MalformedAnswer(f"the results answer for {batch_id} is {shape(data)}, not what the route returns")
        for n, line in enumerate(iter_jsonl(response), 1):
            try:
                yield json.loads(line)
            except ValueError:
                raise ResponseError(f"results of {batch_id}, line {n}: not JSON") from None

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        yield from self._result_items(batch_id)

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]:
        for n, item in enumerate(self._result_items(batch_id), 1):
            yield normalize_result(item, where=f"results of {batch_id}, item {n}")


def gateway_target(
    base_url: str, provider: str, key: str | None, *, trusted: bool = False, settings: Settings, **http_kwargs: Any
) -> GatewayTarget:
    """A gateway, through its Anthropic-compatible ``/anthropic`` route, for ``provider``."""
    headers = {"x-model-provider": provider, "anthropic-version": ANTHROPIC_VERSION}
    return GatewayTarget(gateway_http(base_url, key, trusted=trusted, headers=headers, **http_kwargs), provider)


