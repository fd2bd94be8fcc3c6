"""Anthropic's Files and Message Batches APIs, called directly.

The gateway adapter (:mod:`bifrost_cli.providers.gateway`) speaks the same protocol under
``/anthropic`` and subclasses this one, overriding only where the gateway differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from bifrost_cli.hints import suggest
from bifrost_cli.http import Body, HttpClient, Response
from bifrost_cli.models import Batch, BatchResult, DeletedFile, File
from bifrost_cli.providers.base import (
    BaseTarget,
    BatchOptions,
    Download,
    Progress,
    expected_size,
    UploadSource,
    multipart_body,
    paginate,
    require_format,
)
from bifrost_cli.providers.common import (
    MalformedAnswer,
    iter_jsonl,
    parse_file,
    parse_result_line,
    raw_line_object,
    parses,
    path_segment,
    require_ended,
    shape,
    timestamp,
    unified_status,
)

from bifrost_cli.providers.anthropic import SPEC

if TYPE_CHECKING:
    from bifrost_cli.http.ranged import Ranged
    from bifrost_cli.inputs import RequestSet
    from bifrost_cli.config import Settings

ANTHROPIC_VERSION = "2023-06-01"
FILES_BETA = "files-api-2025-04-14"
MAX_PAGE = 1000

_HEAD, _TAIL = b'{"requests":[', b"]}"


def batch_pieces(requests: RequestSet) -> Iterator[bytes]:
    """The body ``{"requests":[...]}`` of a create: the checked JSONL with each line's ``\n``
    turned into ``,`` (compact JSON holds no raw newline), the last one dropped."""
    yield _HEAD
    held = b""
    for chunk in requests.iter_encoded():
        if held:
            yield held.replace(b"\n", b",")
        held = chunk
    yield held[:-1].replace(b"\n", b",")  # the last line's newline
    yield _TAIL


def batch_length(requests: RequestSet) -> int:
    size = requests.encoded_bytes
    if size is None:
        size = sum(len(chunk) for chunk in requests.iter_encoded())
    return len(_HEAD) + size - 1 + len(_TAIL)


@parses("a batch")
def parse_batch(data: Any, provider: str) -> Batch:
    if not isinstance(data, dict) or not data.get("id"):
        raise MalformedAnswer(f"expected a batch object with an id, got {shape(data)}")
    native = data.get("processing_status") or data.get("status")
    counts = data.get("request_counts")
    request_counts: Any = None
    if isinstance(counts, dict) and {"processing", "succeeded", "errored"} & counts.keys():
        request_counts = counts  # validated as Batch.request_counts (so an error names that path)
    return Batch(
        id=data["id"],  # validated as a string: an object here is refused, not shown
        provider=provider,
        status=unified_status(native),  # type: ignore[arg-type]
        native_status=native,
        request_counts=request_counts,
        created_at=timestamp(data.get("created_at")),
        ended_at=timestamp(data.get("ended_at")),
        expires_at=timestamp(data.get("expires_at")),
        cancel_initiated_at=timestamp(data.get("cancel_initiated_at")),
        results_url=data.get("results_url") or None,
    )


class AnthropicAPI(BaseTarget):
    """Direct access to ``https://api.anthropic.com`` (or ``ANTHROPIC_BASE_URL``)."""

    prefix = "/v1"

    def __init__(self, http: HttpClient, provider: str = "anthropic"):
        self.http = http
        self.provider = provider

    def describe(self) -> str:
        return f"Anthropic API at {self.http.base_url}"

    def close(self) -> None:
        self.http.close()

    # -- request helpers ----------------------------------------------------------------------

    def _files_headers(self) -> dict[str, str]:
        return {"anthropic-beta": FILES_BETA}

    def _call(self, method: str, path: str, *, files: bool = False, **kwargs: Any) -> Any:
        """One API call under ``prefix``, answered with JSON."""
        headers = {**(self._files_headers() if files else {}), **kwargs.pop("headers", {})}
        response = self.http.request(method, self.prefix + path, headers=headers, **kwargs)
        return self._json(response, method, path)

    def _json(self, response: Response, method: str, path: str) -> Any:
        return response.json()

    def _get_json(self, path: str, *, params: dict[str, Any] | None = None, files: bool = False) -> Any:
        return self._call("GET", path, params=params, files=files)

    # -- files --------------------------------------------------------------------------------

    def _upload_fields(self, purpose: str | None) -> dict[str, str]:
        return {}  # Anthropic's upload takes no purpose

    def upload_file(
        self,
        source: UploadSource,
        *,
        purpose: str | None,
        progress: Progress | None = None,
        expires_after: int | None = None,
    ) -> File:
        body = multipart_body(self._upload_fields(purpose), "file", source, progress)
        return parse_file(self._call("POST", "/files", body=body, files=True, retry="unsent"), self.provider)

    def list_files(self, *, limit: int | None) -> Iterator[File]:
        yield from self._paged("/files", limit, parse_file, files=True)

    def get_file(self, file_id: str) -> File:
        return parse_file(self._get_json(f"/files/{path_segment(file_id)}", files=True), self.provider)

    def delete_file(self, file_id: str) -> DeletedFile:
        data = self._call("DELETE", f"/files/{path_segment(file_id)}", files=True)
        deleted = isinstance(data, dict) and data.get("type", "file_deleted") == "file_deleted"
        return DeletedFile(id=str(data.get("id", file_id)) if isinstance(data, dict) else file_id, deleted=deleted)

    def downloadable(self, file_id: str) -> File:
        """The file's metadata, once it says the file can be downloaded: refused before any
        download otherwise (directly, and through the gateway, which would only answer 400)."""
        meta = self.get_file(file_id)
        if meta.downloadable is False:
            from bifrost_cli.errors import UnsupportedError

            raise UnsupportedError(
                f"{file_id} cannot be downloaded: Anthropic never serves uploaded files back; only files "
                "created by tools (code execution, skills) are downloadable",
                hint=f"Keep your own copy of what you upload; `{suggest('files get', file_id)}` shows its metadata.",
            )
        return meta

    def open_download(self, file_id: str) -> Download:
        meta = self.downloadable(file_id)
        from bifrost_cli.http.ranged import open_ranged

        response = open_ranged(
            self.http,
            self.prefix + f"/files/{path_segment(file_id)}/content",
            headers={**self._files_headers(), "accept": "application/octet-stream"},
        )
        return Download(response, size=expected_size(meta.size_bytes, response), filename=meta.filename)

    # -- batches ------------------------------------------------------------------------------

    def _batch_body(self, requests: RequestSet) -> Body:
        """``{"requests": [...]}`` streamed from the requests as checked (their JSONL copy, its
        newlines turned into commas), with its exact length: nothing is parsed or checked again,
        on any attempt."""
        return Body(lambda: batch_pieces(requests), length=batch_length(requests), content_type="application/json")

    def create_batch(self, requests: RequestSet, options: BatchOptions | None = None) -> Batch:
        from bifrost_cli.providers.anthropic.checks import check_size

        require_format(requests, "anthropic", self.provider)
        check_size(requests)  # Anthropic's limits, as `batches validate` checks them
        body = self._batch_body(requests)
        return parse_batch(self._call("POST", "/messages/batches", body=body, retry="unsent"), self.provider)

    def list_batches(self, *, limit: int | None) -> Iterator[Batch]:
        yield from self._paged("/messages/batches", limit, parse_batch)

    def get_batch(self, batch_id: str) -> Batch:
        return parse_batch(self._get_json(f"/messages/batches/{path_segment(batch_id)}"), self.provider)

    def cancel_batch(self, batch_id: str) -> Batch:
        return parse_batch(self._call("POST", f"/messages/batches/{path_segment(batch_id)}/cancel"), self.provider)

    def delete_batch(self, batch_id: str) -> None:
        self._call("DELETE", f"/messages/batches/{path_segment(batch_id)}")

    def _results_response(self, batch_id: str) -> Ranged:
        batch = require_ended(self.get_batch(batch_id))
        url = batch.results_url
        from bifrost_cli.http import same_origin

        if not url or not same_origin(url, self.http.base_url):
            # Never send our key to another origin: ask the configured one instead.
            url = self.prefix + f"/messages/batches/{path_segment(batch_id)}/results"
        from bifrost_cli.http.ranged import open_ranged

        return open_ranged(self.http, url, headers={"accept": "application/binary"})

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        for n, line in enumerate(iter_jsonl(self._results_response(batch_id)), 1):
            yield raw_line_object(line, where=f"results of {batch_id}, line {n}")

    def iter_raw_lines(self, batch_id: str) -> Iterator[str]:
        """Anthropic's own lines, untouched (each checked to be one JSON object, nothing more: a
        result type the CLI does not know yet passes through)."""
        for n, line in enumerate(iter_jsonl(self._results_response(batch_id)), 1):
            raw_line_object(line, where=f"results of {batch_id}, line {n}")
            yield line

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]:
        for _, result in self._parsed_results(batch_id):
            yield result

    def iter_result_texts(self, batch_id: str) -> Iterator[tuple[str, bytes]]:
        """``(result type, line)`` of each result as ``batches results`` writes it (the fast path
        of :meth:`iter_results`: the same lines, byte for byte)."""
        from bifrost_cli.providers.results import result_lines_text

        yield from result_lines_text(iter_jsonl(self._results_response(batch_id)),
                                     lambda n: f"results of {batch_id}, line {n}")

    def _parsed_results(self, batch_id: str) -> Iterator[tuple[dict[str, Any], BatchResult]]:
        for n, line in enumerate(iter_jsonl(self._results_response(batch_id)), 1):
            yield parse_result_line(line, where=f"results of {batch_id}, line {n}")

    # -- paging -------------------------------------------------------------------------------

    def _page_params(self, size: int, cursor: str | None, token: str | None) -> dict[str, Any]:
        if token is not None:
            return {"limit": size, "page": token}
        return {"limit": size, "after_id": cursor}

    def _paged(self, path: str, limit: int | None, parse: Any, *, files: bool = False) -> Iterator[Any]:
        """Walk every page: ``next_page`` tokens (files, new style) or ``has_more``/``last_id``.
        The state between pages is ``(cursor, token)``."""

        def fetch(size: int, state: Any) -> Any:
            cursor, token = state or (None, None)
            return self._get_json(path, params=self._page_params(size, cursor, token), files=files)

        def next_state(page: dict[str, Any], items: list[Any]) -> Any:
            if page.get("next_page"):
                return None, page["next_page"]
            if not page.get("has_more"):
                return None
            return page.get("last_id") or items[-1].get("id"), None

        yield from paginate(
            fetch,
            lambda page: page.get("data"),
            lambda item: parse(item, self.provider),
            next_state,
            limit=limit,
            page_max=MAX_PAGE,
            where=path,
        )


def direct_target(settings: Settings, **http_kwargs: Any) -> AnthropicAPI:
    """Anthropic's own API, with ``ANTHROPIC_API_KEY``."""
    from bifrost_cli.errors import UsageError

    key = settings.text("anthropic_api_key")
    if not key:
        raise UsageError(
            "no Anthropic API key: set ANTHROPIC_API_KEY",
            hint="Or go through a gateway (--base-url URL), or try the built-in emulator (--emulator).",
        )
    http = HttpClient(
        settings.text("anthropic_base_url") or "https://api.anthropic.com",
        label="anthropic",
        headers={"anthropic-version": ANTHROPIC_VERSION},
        auth_headers={"x-api-key": key},
        auth_hint="Check ANTHROPIC_API_KEY (and its workspace's permissions).",
        refusal_proof=SPEC.refusal_proof,
        **http_kwargs,
    )
    return AnthropicAPI(http)
