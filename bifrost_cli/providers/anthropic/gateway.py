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
from bifrost_cli.http import HttpClient, Response
from bifrost_cli.models import BatchResult, File
from bifrost_cli.providers.anthropic.api import ANTHROPIC_VERSION, AnthropicAPI
from bifrost_cli.providers.base import Download, expected_size
from bifrost_cli.providers.common import iter_json_results, iter_jsonl, parse_file, path_segment, require_ended
from bifrost_cli.providers.gateway import BytesResponse, gateway_http, refuse_web_page
from bifrost_cli.providers.results import normalize_result

if TYPE_CHECKING:
    from bifrost_cli.http.ranged import Ranged
    from bifrost_cli.config import Settings

class GatewayTarget(AnthropicAPI):
    prefix = "/anthropic/v1"

    def __init__(self, http: HttpClient, provider: str = "anthropic", *, ended_known: bool = False):
        super().__init__(http, provider)
        self.ended_known = ended_known  # results asked for a batch its caller saw end (Gemini's)

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

    def _reject_html(self, response: Response | Ranged, method: str, path: str) -> None:
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
        """The file's content, named after its filename; its size is the file's metadata size (the
        content answer may carry no length at all). A file the metadata says cannot be downloaded
        (an upload) is refused before asking, as directly."""
        from bifrost_cli.http.ranged import open_ranged

        from bifrost_cli.errors import BifrostError, UnsupportedError

        try:
            meta: File | None = self.downloadable(file_id)
        except UnsupportedError:
            raise
        except BifrostError:  # the file routes cannot say: the content route may still serve it
            meta = None
        meta_size, filename = (meta.size_bytes, meta.filename) if meta else (None, None)
        response = open_ranged(self.http, self.prefix + f"/files/{path_segment(file_id)}/content")
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
            return Download(BytesResponse(data), size=meta_size or len(data), filename=filename)
        return Download(response, size=expected_size(meta_size, response), filename=filename)

    # -- batches ------------------------------------------------------------------------------

    def _page_params(self, size: int, cursor: str | None, token: str | None) -> dict[str, Any]:
        # The gateway's batch list reads page_size/page_token and ignores limit/after_id; its file
        # list reads limit/after_id. Send both so either works.
        return {"limit": size, "after_id": cursor, "page_size": size, "page_token": token or cursor}

    @property
    def result_counts_exact(self) -> bool:
        """Only Anthropic's batches report counts here that every result accounts for: the other
        providers' counts come through this route in part (OpenAI's, only the errored)."""
        return self.provider == "anthropic"

    def _result_items(self, batch_id: str) -> Iterator[dict[str, Any]]:
        """The gateway's results: ONE JSON document (``{"batch_id", "results": [...]}``, or a
        list), parsed as a stream so that memory stays flat whatever its size; or JSONL. A batch
        that has not ended is refused first, as directly (the gateway would answer 400)."""
        from bifrost_cli.http.ranged import open_ranged

        if not self.ended_known:
            require_ended(self.get_batch(batch_id), provider=self.provider)
        response = open_ranged(self.http, self.prefix + f"/messages/batches/{path_segment(batch_id)}/results")
        self._reject_html(response, "GET", f"/messages/batches/{batch_id}/results")
        if response.content_type == "application/json":
            with response:
                yield from iter_json_results(response, where=f"results of {batch_id}")
            return
        for n, line in enumerate(iter_jsonl(response), 1):
            try:
                yield json.loads(line)
            except ValueError:
                raise ResponseError(f"results of {batch_id}, line {n}: not JSON") from None

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        yield from self._result_items(batch_id)

    def iter_raw_lines(self, batch_id: str) -> Iterator[str]:
        """The gateway's items (one JSON document, or JSONL from newer versions), one line each."""
        for item in self._result_items(batch_id):
            yield json.dumps(item, ensure_ascii=False)

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]:
        for n, item in enumerate(self._result_items(batch_id), 1):
            yield normalize_result(item, where=f"results of {batch_id}, item {n}")

    def iter_result_texts(self, batch_id: str) -> Iterator[tuple[str, bytes]]:
        """``(result type, line)`` of each result as ``batches results`` writes it (the fast path
        of :meth:`iter_results`, over the gateway's results: the same lines, byte for byte)."""
        from bifrost_cli.providers.results import normalized_text

        for n, item in enumerate(self._result_items(batch_id), 1):
            yield normalized_text(item, where=f"results of {batch_id}, item {n}")


def gateway_target(
    base_url: str, provider: str, key: str | None, *, trusted: bool = False, settings: Settings, **http_kwargs: Any
) -> GatewayTarget:
    """A gateway, through its Anthropic-compatible ``/anthropic`` route, for ``provider``."""
    headers = {"x-model-provider": provider, "anthropic-version": ANTHROPIC_VERSION}
    return GatewayTarget(gateway_http(base_url, key, trusted=trusted, headers=headers, **http_kwargs), provider)


