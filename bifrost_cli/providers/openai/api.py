"""OpenAI's Files, Uploads and Batches APIs, directly (:class:`OpenAIAPI`) or through a Bifrost
gateway's OpenAI-compatible ``/openai`` routes (:class:`OpenAIGateway`).

- Uploads above ``BIFROST_OPENAI_UPLOAD_THRESHOLD`` (default 512 MB, OpenAI's single-request limit)
  go through the Uploads API in ``BIFROST_OPENAI_PART_SIZE`` parts (default 64 MiB), with an MD5.
- A batch's input (provider-neutral lines translated to Chat Completions, or native lines) is
  checked whole, then streamed into a ``purpose=batch`` file, then ``POST /batches`` (never retried
  once it may have been received).
- Results are the output file then the error file (either may be missing); requests of the input
  file that appear in neither are reported as ``errored`` with the error type ``missing_result``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from bifrost_cli.hints import suggest
from bifrost_cli.errors import BifrostError, ResponseError, UsageError
from bifrost_cli.providers.openai.checks import MAX_BATCH_INPUT_BYTES as MAX_BATCH_INPUT_BYTES
from bifrost_cli.providers.openai.checks import MAX_BATCH_REQUESTS as MAX_BATCH_REQUESTS
from bifrost_cli.providers.openai.checks import MAX_METADATA_KEYS
from bifrost_cli.http import HttpClient, Response
from bifrost_cli.models import Batch, BatchResult, DeletedFile, File, RequestCounts, Usage
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
    Leftover,
    counts_with_leftover,
    iter_jsonl,
    iter_sized_jsonl,
    parse_file,
    path_segment,
    require_ended,
    unified_status,
)
from bifrost_cli.providers.openai import uploads
from bifrost_cli.providers.common import MalformedAnswer, load_json, parses, shape

from bifrost_cli.providers.openai import SPEC

if TYPE_CHECKING:
    from bifrost_cli.http.ranged import Ranged
    from bifrost_cli.inputs import RequestSet
    from bifrost_cli.config import Settings
    from bifrost_cli.providers.openai.format import InputSummary

DEFAULT_BASE_URL = "https://api.openai.com/v1"
UPLOAD_THRESHOLD = 512 * 1000 * 1000  # OpenAI's limit for one POST /files
PART_SIZE = 64 * 1024 * 1024  # the official SDK's part size; OpenAI takes at most 64 MB a part
ENV_UPLOAD_THRESHOLD = "BIFROST_OPENAI_UPLOAD_THRESHOLD"
ENV_PART_SIZE = "BIFROST_OPENAI_PART_SIZE"
EXPIRES_AFTER_RANGE = (3600, 2_592_000)
FILES_PAGE, BATCHES_PAGE = 10_000, 100

# Where the requests a batch left unfinished (neither completed nor failed) went, by how it ended:
# a cancelled or expired batch did not run them; a failed one (its input was rejected) ran none.
_REMAINDER: dict[str, Leftover] = {"cancelled": "canceled", "canceled": "canceled", "expired": "expired", "failed": "errored"}


def _counts(native: str, data: Any, ended: bool) -> RequestCounts | None:
    """total/completed/failed as the five buckets. ``None`` when they cannot tell: while
    validating (total 0), and for a batch that completed with requests neither completed nor
    failed (then its results decide: ``Batch.counts_need_results``). Requests left over when a
    batch was cancelled or expired are counted canceled or expired; when it failed, errored."""
    if not isinstance(data, dict):
        return None
    try:
        total, completed, failed = (int(data.get(k) or 0) for k in ("total", "completed", "failed"))
    except (TypeError, ValueError):
        return None
    if total <= 0:
        return None
    bucket: Leftover | None = "processing" if not ended else _REMAINDER.get(native)
    return counts_with_leftover(completed, failed, max(total - completed - failed, 0), bucket)


def _validation_message(errors: Any) -> tuple[str | None, list[dict[str, Any]]]:
    data = errors.get("data") if isinstance(errors, dict) else None
    if not isinstance(data, list) or not data:
        return None, []
    parts = []
    for item in data[:10]:
        if not isinstance(item, dict):
            continue
        where = f"line {item['line']}: " if item.get("line") is not None else ""
        code = f" ({item['code']})" if item.get("code") else ""
        parts.append(f"{where}{item.get('message') or 'invalid'}{code}")
    more = f" (and {len(data) - 10} more)" if len(data) > 10 else ""
    return "input file rejected: " + "; ".join(parts) + more, data


def _reported_total(data: dict[str, Any]) -> int:
    counts = data.get("request_counts")
    try:
        return int(counts.get("total") or 0) if isinstance(counts, dict) else 0
    except (TypeError, ValueError):
        return 0


TOKEN_KEY = "bifrost_token"
"""The batch metadata key that carries the client token (``BatchOptions.client_token``)."""


@parses("a batch")
def parse_batch(data: Any, provider: str) -> Batch:
    if not isinstance(data, dict) or not data.get("id"):
        raise MalformedAnswer(f"expected a batch object with an id, got {shape(data)}")
    native = str(data.get("status") or "")
    status = unified_status(native)
    ended = status == "ended"
    message, errors = _validation_message(data.get("errors"))
    ended_at = next(
        (data[k] for k in ("completed_at", "failed_at", "expired_at", "cancelled_at") if data.get(k)), None
    )
    details = {
        key: data.get(key)
        for key in ("endpoint", "model", "input_file_id", "output_file_id", "error_file_id", "completion_window", "metadata")
    }
    if errors:
        details["errors"] = errors
    meta = data.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get(TOKEN_KEY), str):
        details["client_token"] = meta[TOKEN_KEY]
    counts = _counts(native, data.get("request_counts"), ended)
    return Batch(
        id=data["id"],  # validated as a string: an object here is refused, not shown
        provider=provider,
        status=status,  # type: ignore[arg-type]
        native_status=native or None,
        request_counts=counts,
        counts_need_results=ended and counts is None and _reported_total(data) > 0,
        created_at=data.get("created_at") or None,
        ended_at=ended_at if ended else None,
        expires_at=data.get("expires_at") or None,
        cancel_initiated_at=data.get("cancelling_at") or None,
        message=message,
        usage=_usage(data.get("usage")),
        details=details,
    )


def _usage(data: Any) -> Usage | None:
    """OpenAI's batch ``usage`` (input, cached, output and reasoning tokens), when it gives one."""
    if not isinstance(data, dict):
        return None

    def count(value: Any) -> int:
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    inputs = data.get("input_tokens_details")
    outputs = data.get("output_tokens_details")
    usage = Usage(
        input_tokens=count(data.get("input_tokens")),
        cached_tokens=count(inputs.get("cached_tokens")) if isinstance(inputs, dict) else 0,
        output_tokens=count(data.get("output_tokens")),
        reasoning_tokens=count(outputs.get("reasoning_tokens")) if isinstance(outputs, dict) else 0,
        total_tokens=count(data.get("total_tokens")),
    )
    return usage if any(usage.model_dump().values()) else None


def _env_size(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name} must be a number of bytes, not {raw!r}") from None
    if value < 1:
        raise UsageError(f"{name} must be at least 1 byte")
    return value


class _Lines:
    """A generated JSONL file, as ``multipart_body`` reads a source (re-generated on each attempt)."""

    def __init__(self, filename: str, size: int, lines: Callable[[], Iterable[bytes]]):
        self.filename = filename
        self.mime_type = "application/jsonl"
        self.size = size
        self.replayable = True
        self._lines = lines

    def chunks(self, progress: Progress | None = None) -> Iterator[bytes]:
        buffer = bytearray()
        for line in self._lines():
            if not buffer and len(line) >= 1 << 20:  # already a block: no copy
                yield line
                continue
            buffer += line
            if len(buffer) >= 1 << 20:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)


class OpenAIAPI(BaseTarget):
    """Direct access to ``https://api.openai.com/v1`` (or ``OPENAI_BASE_URL``)."""

    prefix = ""  # the base URL already ends in /v1

    def __init__(
        self,
        http: HttpClient,
        provider: str = "openai",
        *,
        upload_threshold: int = UPLOAD_THRESHOLD,
        part_size: int = PART_SIZE,
    ):
        self.http = http
        self.provider = provider
        self.upload_threshold = upload_threshold
        self.part_size = part_size

    def describe(self) -> str:
        return f"OpenAI API at {self.http.base_url}"

    def close(self) -> None:
        self.http.close()

    # -- request helpers (the gateway adds its provider selector here) ------------------------

    def _query(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return dict(params or {})

    def _fields(self, fields: dict[str, str]) -> dict[str, str]:
        return fields

    def _json_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        response = self.http.request(method, self.prefix + path, params=self._query(params), **kwargs)
        return self._json(response, method, path)

    def _json(self, response: Response, method: str, path: str) -> Any:
        self._refuse_web_page(response, method, path)
        return response.json()

    def _refuse_web_page(self, response: Response | Ranged, method: str, path: str) -> None:
        """Nothing to check at OpenAI itself (a gateway's web page answers a route it lacks)."""

    # -- files --------------------------------------------------------------------------------

    def _file_fields(self, purpose: str | None, expires_after: int | None) -> dict[str, str]:
        fields = {"purpose": purpose or "batch"}
        if expires_after is not None:
            fields["expires_after[anchor]"] = "created_at"
            fields["expires_after[seconds]"] = str(expires_after)
        return self._fields(fields)

    def upload_file(
        self,
        source: UploadSource,
        *,
        purpose: str | None,
        progress: Progress | None = None,
        expires_after: int | None = None,
    ) -> File:
        if expires_after is not None and not EXPIRES_AFTER_RANGE[0] <= expires_after <= EXPIRES_AFTER_RANGE[1]:
            low, high = EXPIRES_AFTER_RANGE
            raise UsageError(f"--expires-after {expires_after}: OpenAI takes {low} to {high} seconds (1 hour to 30 days)")
        if source.size is not None and source.size > self.upload_threshold:
            return self._upload_in_parts(source, purpose or "batch", progress, expires_after)
        body = multipart_body(self._file_fields(purpose, expires_after), "file", source, progress)
        return parse_file(self._call("POST", "/files", body=body, retry="unsent"), self.provider)

    def _upload_in_parts(
        self, source: UploadSource, purpose: str, progress: Progress | None, expires_after: int | None
    ) -> File:
        """The Uploads API (:mod:`~bifrost_cli.providers.openai.uploads`)."""
        return uploads.upload_in_parts(self, source, purpose, progress, expires_after)

    def list_files(self, *, limit: int | None) -> Iterator[File]:
        yield from self._paged("/files", limit, FILES_PAGE, parse_file)

    def get_file(self, file_id: str) -> File:
        return parse_file(self._call("GET", f"/files/{path_segment(file_id)}"), self.provider)

    def delete_file(self, file_id: str) -> DeletedFile:
        data = self._call("DELETE", f"/files/{path_segment(file_id)}")
        if not isinstance(data, dict):
            raise MalformedAnswer(f"expected a deletion answer, got {shape(data)}")
        return DeletedFile(id=str(data.get("id") or file_id), deleted=bool(data.get("deleted", True)))

    def _content(self, file_id: str) -> Ranged:
        """A file's bytes, resumed with Range if the transfer breaks (output files too)."""
        from bifrost_cli.http.ranged import open_ranged

        response = open_ranged(
            self.http,
            self.prefix + f"/files/{path_segment(file_id)}/content",
            params=self._query(),
            headers={"accept": "application/binary"},
        )
        self._refuse_web_page(response, "GET", f"/files/{file_id}/content")
        return response

    def open_download(self, file_id: str) -> Download:
        """The file's bytes, named after its filename (the content answer does not say it)."""
        meta = self.get_file(file_id)
        response = self._content(file_id)
        return Download(response, size=expected_size(meta.size_bytes, response), filename=meta.filename or file_id)

    # -- batches ------------------------------------------------------------------------------

    carries_token = True  # in the batch's metadata, which the gateway's /openai route passes on too

    def preflight(self, options: BatchOptions) -> None:
        _check_metadata(options.metadata)

    def create_batch(self, requests: RequestSet, options: BatchOptions | None = None) -> Batch:
        from bifrost_cli.providers.openai import format as openai_format
        from bifrost_cli.providers.openai.checks import check_request_set

        require_format(requests, "openai", self.provider)
        options = options or BatchOptions()
        metadata = check_request_set(requests, options)  # as `batches validate` checks it
        checked = openai_format.check_input(requests, keep=True)  # every problem, before anything is sent
        try:
            return self._create_checked(requests, checked, options, metadata)
        finally:
            if checked.lines is not None:
                checked.lines.close()

    def _create_checked(
        self,
        requests: RequestSet,
        checked: InputSummary,
        options: BatchOptions,
        metadata: dict[str, str],
    ) -> Batch:
        from bifrost_cli.providers.openai import format as openai_format
        from bifrost_cli.providers.openai.checks import check_size

        check_size(requests, checked.size)
        base = os.path.basename(requests.display_name) if requests.display_name != "<stdin>" else "stdin"
        filename = (base.rsplit(".", 1)[0] or "requests") + ".openai.jsonl"
        source = _Lines(filename, checked.size, lambda: openai_format.read_kept(checked))
        body = multipart_body(self._file_fields("batch", None), "file", source)  # type: ignore[arg-type]
        input_file = parse_file(self._call("POST", "/files", body=body, retry="unsent"), self.provider)
        create: dict[str, Any] = {
            "input_file_id": input_file.id,
            "endpoint": checked.endpoint,
            "completion_window": options.completion_window,
        }
        if options.client_token and TOKEN_KEY not in metadata and len(metadata) < MAX_METADATA_KEYS:
            metadata = {**metadata, TOKEN_KEY: options.client_token}  # so an earlier create can be found
        if metadata:
            create["metadata"] = metadata
        try:
            data = self._call("POST", "/batches", json=self._json_body(create), retry="unsent")
        except BifrostError as exc:
            removes = suggest("files delete", input_file.id, provider=self.provider)
            note = f"The input file {input_file.id} was uploaded and kept; `{removes}` removes it."
            exc.hint = f"{exc.hint} {note}" if exc.hint else note
            raise
        return parse_batch(data, self.provider)

    def list_batches(self, *, limit: int | None) -> Iterator[Batch]:
        yield from self._paged("/batches", limit, BATCHES_PAGE, parse_batch)

    def _raw_batch(self, batch_id: str) -> Any:
        return self._call("GET", f"/batches/{path_segment(batch_id)}")

    def get_batch(self, batch_id: str) -> Batch:
        """The batch as OpenAI reports it: one that ended with requests its counts leave
        unexplained (a ``completed`` batch whose completed + failed < total) has no counts, and
        says that its results must be counted (``counts_need_results``)."""
        return parse_batch(self._raw_batch(batch_id), self.provider)

    def cancel_batch(self, batch_id: str) -> Batch:
        body = self._json_body({})
        return parse_batch(
            self._call("POST", f"/batches/{path_segment(batch_id)}/cancel", json=body or None), self.provider
        )

    # -- results ------------------------------------------------------------------------------

    def _file_lines(self, file_id: str, what: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The lines of an output or error file, all of them: as many bytes as the file holds
        (it is resumed with Range if it breaks off)."""
        try:
            size = self.get_file(file_id).size_bytes
        except BifrostError:
            size = None  # the file's metadata cannot be read: only a broken transfer can be told
        lines = iter_sized_jsonl(self._content(file_id), size, what=f"{what} {file_id}")
        for n, line in enumerate(lines, 1):
            try:
                item = load_json(line)
            except ValueError:
                raise ResponseError(f"{what} {file_id}, line {n}: not JSON") from None
            yield f"{what} {file_id}, line {n}", item

    def _input_ids(self, file_id: str) -> Iterator[str]:
        """The custom_ids of a batch's input file (lines that cannot be read are skipped)."""
        for line in iter_jsonl(self._content(file_id)):
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and isinstance(item.get("custom_id"), str):
                yield item["custom_id"]

    def _raw_lines(self, batch_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Output lines, error lines, then a native-shaped error line for each input request that
        came back in neither (``missing_result``; ``batch_failed`` when the batch failed). Each file
        is read once; the input file only when the batch failed or its results do not account for
        as many distinct requests as it counts."""
        data = self._raw_batch(batch_id)
        batch = require_ended(parse_batch(data, self.provider), provider="openai")
        seen: set[str] = set()
        for key, what in (("output_file_id", "output file"), ("error_file_id", "error file")):
            file_id = data.get(key)
            if file_id:
                for where, item in self._file_lines(str(file_id), what):
                    if isinstance(item, dict) and isinstance(item.get("custom_id"), str):
                        seen.add(item["custom_id"])
                    yield where, item
        input_id = data.get("input_file_id")
        if not input_id:
            return
        failed = batch.native_status == "failed"
        if not failed and 0 < _reported_total(data) <= len(seen):
            # every request the batch counts came back: the input file (up to 200 MB) is read only
            # to find requests that did not
            return
        code = "batch_failed" if failed else "missing_result"
        text = (
            batch.message or "the batch failed before running its requests"
            if failed
            else "this request is in the input file but in neither the output nor the error file"
        )
        try:
            ids = list(dict.fromkeys(self._input_ids(str(input_id))))
        except BifrostError:
            return  # the input file is gone: nothing to compare with
        for custom_id in ids:
            if custom_id not in seen:
                yield f"input file {input_id}", {
                    "id": None,
                    "custom_id": custom_id,
                    "response": None,
                    "error": {"code": code, "message": text},
                }

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        for _, item in self._raw_lines(batch_id):
            yield item

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]:
        from bifrost_cli.providers.results import normalize_line

        for where, item in self._raw_lines(batch_id):
            yield normalize_line(item, where=where)

    def iter_result_texts(self, batch_id: str) -> Iterator[tuple[str, bytes]]:
        """``(result type, line)`` of each result as ``batches results`` writes it (the fast path
        of :meth:`iter_results`: the same lines, byte for byte)."""
        from bifrost_cli.providers.results import lines_text

        yield from lines_text(self._raw_lines(batch_id))

    # -- paging -------------------------------------------------------------------------------

    def _paged(self, path: str, limit: int | None, page_max: int, parse: Any) -> Iterator[Any]:
        """Cursor paging: ``after`` = the previous page's cursor (``next_cursor`` from a gateway,
        else ``last_id``, else the last item's id) while ``has_more``."""

        def next_cursor(page: dict[str, Any], items: list[Any]) -> Any:
            if not page.get("has_more"):
                return None
            return page.get("next_cursor") or page.get("last_id") or items[-1].get("id")

        yield from paginate(
            lambda size, cursor: self._call("GET", path, params={"limit": size, "after": cursor}),
            lambda page: page.get("data"),
            lambda item: parse(item, self.provider),
            next_cursor,
            limit=limit,
            page_max=page_max,
            where=path,
        )


def _check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    from bifrost_cli.providers.openai.checks import check_metadata

    return check_metadata(metadata)


def direct_target(settings: Settings, **http_kwargs: Any) -> OpenAIAPI:
    """OpenAI's own API, with ``OPENAI_API_KEY`` (and optional organization and project)."""
    key = settings.text("openai_api_key")
    if not key:
        raise UsageError(
            "no OpenAI API key: set OPENAI_API_KEY",
            hint="Or go through a gateway (--base-url URL -p openai), or try the built-in emulator (--emulator -p openai).",
        )
    headers: dict[str, str] = {}
    organization, project = settings.text("openai_organization"), settings.text("openai_project")
    if organization:
        headers["OpenAI-Organization"] = organization
    if project:
        headers["OpenAI-Project"] = project
    http = HttpClient(
        settings.text("openai_base_url") or DEFAULT_BASE_URL,
        label="openai",
        headers=headers,
        auth_headers={"Authorization": f"Bearer {key}"},
        auth_hint="Check OPENAI_API_KEY (and OPENAI_ORG_ID / OPENAI_PROJECT_ID if set).",
        refusal_proof=SPEC.refusal_proof,
        **http_kwargs,
    )
    return OpenAIAPI(
        http,
        upload_threshold=_env_size(ENV_UPLOAD_THRESHOLD, UPLOAD_THRESHOLD),
        part_size=_env_size(ENV_PART_SIZE, PART_SIZE),
    )
