"""Google's Gemini API (files and Batch Mode), directly and through a Bifrost gateway's ``/genai`` routes.

Direct: ``{GEMINI_BASE_URL}/{GEMINI_API_VERSION}/...`` with ``x-goog-api-key``. Files are uploaded with
the resumable protocol (:mod:`~bifrost_cli.providers.gemini.resumable`: chunks with offsets; a lost
chunk is sent again from the offset the server reports); batches are long-running Operations (``batches/...``). The provider-neutral input is
translated here (see :mod:`bifrost_cli.providers.gemini_format`), so nothing is dropped on the way.

Gateway: the same wire format under ``/genai`` (``x-model-provider: gemini``, the virtual key as
``x-bf-vk``), with its two-step upload (one streamed ``upload, finalize``) and results read from the
gateway's ``/anthropic`` results route, which knows Gemini batches as ``batches-x``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bifrost_cli.hints import suggest
from bifrost_cli.errors import (
    BifrostError,
    BatchIncomplete,
    ExitCode,
    InputError,
    NotFoundError,
    ResponseError,
    UnavailableError,
    UnsupportedError,
    UsageError,
)
from bifrost_cli.http import Body, HttpClient, Response
from bifrost_cli.http.retry import ErrorAdvice
from bifrost_cli.models import Batch, BatchResult, DeletedFile, File, RequestCounts
from bifrost_cli.providers.base import (
    BaseTarget,
    BatchOptions,
    Checksum,
    Download,
    Progress,
    UploadSource,
    expected_size,
    paginate,
)
from bifrost_cli.providers.common import Leftover, counts_with_leftover, iter_sized_jsonl, require_ended
from bifrost_cli.providers.gateway import refuse_web_page
from bifrost_cli.providers.gemini import resumable
from bifrost_cli.providers.gemini.format import to_anthropic_result, to_gemini_request
from bifrost_cli.providers.common import MalformedAnswer, parses, reading, shape

from bifrost_cli.providers.gemini import SPEC

if TYPE_CHECKING:
    from bifrost_cli.http.ranged import Ranged
    from bifrost_cli.inputs import RequestSet
    from bifrost_cli.config import Settings

INLINE_LIMIT = 20_000_000  # Gemini's limit on an inline batch request
INLINE_LIMIT_ENV = "BIFROST_GEMINI_INLINE_LIMIT"
MAX_PAGE = 100
ACTIVE_WAIT_SECONDS = 600.0
BATCH_LIFETIME = timedelta(hours=48)  # a batch pending or running longer than this expires

_RUNNING = {"PENDING", "RUNNING", "QUEUED", "PAUSED", "UPDATING", "UNSPECIFIED", ""}
_ENDED = {"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED", "PARTIALLY_SUCCEEDED"}


# ------------------------------------------------------------------------------------------------
# names and errors


def batch_name(batch_id: str) -> str:
    """``batches/x`` from ``batches/x``, ``x``, or the gateway's ``batches-x``."""
    value = batch_id.strip()
    if value.startswith("batches/"):
        return value
    if value.startswith("batches-"):
        return "batches/" + value[len("batches-") :]
    return "batches/" + value


def file_name(file_id: str) -> str:
    """``files/x`` from ``files/x``, ``x``, or the gateway's ``files-x``."""
    value = file_id.strip()
    if value.startswith("files/"):
        return value
    if value.startswith("files-"):
        return "files/" + value[len("files-") :]
    return "files/" + value


def _segment(name: str, prefix: str) -> str:
    return quote(name[len(prefix) :], safe="-_.~")


def _retry_delay(value: Any) -> float | None:
    """``"37s"`` / ``"1.5s"`` (a protobuf Duration in JSON) as seconds."""
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        return max(float(value[:-1]), 0.0)
    except ValueError:
        return None


def gemini_error_hook(status: int, body: Any) -> ErrorAdvice | None:
    """Gemini's quirks: 400 API_KEY_INVALID is an authentication error, 403 for a file that does
    not exist is "not found", and 429 says how long to wait in ``RetryInfo.retryDelay``."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    details = [d for d in error.get("details") or [] if isinstance(d, dict)]
    message = str(error.get("message") or "")
    if status == 400 and (
        any(d.get("reason") == "API_KEY_INVALID" for d in details) or "API key not valid" in message
    ):
        return ErrorAdvice(status=401)
    if status == 403 and ("may not exist" in message or "not found" in message.lower()):
        return ErrorAdvice(status=404)
    if status == 429:
        for detail in details:
            if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
                return ErrorAdvice(retry_after=_retry_delay(detail.get("retryDelay")))
    return None


def request_lines(requests: RequestSet) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(key, GenerateContentRequest)`` for each input line (checked by ``checks.check_model``)."""
    native = requests.input_format == "gemini"
    for line in requests.iter_checked():
        if native:
            request = {k: v for k, v in line["request"].items() if k != "model"}
            yield line["key"], request
        else:
            request, problems = to_gemini_request(line["params"])
            if problems:  # the input changed after it was checked
                raise InputError([f"{requests.display_name}: {problems[0]}"])
            yield line["custom_id"], request


def inline_limit() -> int:
    raw = os.environ.get(INLINE_LIMIT_ENV, "").strip()
    if not raw:
        return INLINE_LIMIT
    try:
        return max(0, int(raw))
    except ValueError:
        raise UsageError(f"{INLINE_LIMIT_ENV} must be a number of bytes, not {raw!r}") from None


# ------------------------------------------------------------------------------------------------
# parsing


def _int(value: Any) -> int | None:
    """An int64 field (a JSON string, or a number from some proxies)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@parses("a file")
def parse_file(data: Any, provider: str) -> File:
    if isinstance(data, dict) and isinstance(data.get("file"), dict):
        data = data["file"]
    if not isinstance(data, dict) or not data.get("name"):
        raise MalformedAnswer(f"expected a Gemini file with a name, got {shape(data)}")
    return File(
        id=data["name"],
        filename=data.get("displayName") or data.get("display_name") or None,
        size_bytes=_int(data.get("sizeBytes")),
        mime_type=data.get("mimeType") or None,
        created_at=data.get("createTime") or None,
        expires_at=data.get("expirationTime") or None,
        downloadable=data.get("source") == "GENERATED" or bool(data.get("downloadUri")),
        provider=provider,
        status=data.get("state") if isinstance(data.get("state"), str) and data.get("state") else None,
        error=error_text(data.get("error")),
    )


def error_text(error: Any) -> str | None:
    """A ``google.rpc.Status`` (``{code, message, details}``) as one line, or nothing."""
    if not isinstance(error, dict):
        return None
    message = error.get("message")
    code = error.get("status") or error.get("code")
    text = message if isinstance(message, str) and message.strip() else None
    if text and isinstance(code, (str, int)) and not isinstance(code, bool) and str(code):
        return f"{text} ({code})"
    return text or (f"error {code}" if isinstance(code, (str, int)) and not isinstance(code, bool) else None)


def sha256_checksum(data: Any) -> Checksum | None:
    """A Gemini file's ``sha256Hash`` (base64 of the SHA-256 of its bytes), if it gives a valid one."""
    import base64
    import binascii

    if isinstance(data, dict) and isinstance(data.get("file"), dict):
        data = data["file"]
    value = data.get("sha256Hash") if isinstance(data, dict) else None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    digest: bytes | None = None
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        digest = bytes.fromhex(text)
    else:
        try:
            digest = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if ("-" in text or "_" in text) else None)
        except (binascii.Error, ValueError):
            return None
    if len(digest) != 32:
        return None
    return Checksum("sha256", digest, "sha256Hash")


def parse_state(state: Any) -> str:
    """``BATCH_STATE_RUNNING`` / ``JOB_STATE_RUNNING`` -> ``RUNNING``."""
    text = str(state or "")
    for prefix in ("BATCH_STATE_", "JOB_STATE_"):
        text = text.removeprefix(prefix)
    return text


def field(data: Any, name: str) -> Any:
    """``data[name]`` for a camelCase field, else its snake_case spelling (``batch_stats``: some
    proxies rewrite the API's JSON that way, as the Python SDK's objects are named)."""
    if not isinstance(data, dict):
        return None
    value = data.get(name)
    if value is None:
        value = data.get(re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower())
    return value


def operation_output(data: dict[str, Any]) -> dict[str, Any]:
    """The batch output of an Operation: ``response``, else ``metadata.output``, else the SDK's ``dest``,
    with its fields by their API (camelCase) names."""
    for candidate in (data.get("response"), field(data.get("metadata"), "output"), data.get("dest")):
        if not isinstance(candidate, dict):
            continue
        found = {
            name: field(candidate, name)
            for name in ("inlinedResponses", "responsesFile", "fileName")
            if field(candidate, name)
        }
        if found:
            return found
    return {}


_TOKEN = re.compile(r"bifrost-[0-9a-f]{24}\b")


def _token_in(display_name: Any) -> str | None:
    """The client token a batch's display name carries (``BatchOptions.client_token``)."""
    match = _TOKEN.search(display_name) if isinstance(display_name, str) else None
    return match.group(0) if match else None


@parses("a batch operation")
def parse_operation(data: Any, provider: str) -> Batch:
    if not isinstance(data, dict):
        raise MalformedAnswer(f"expected a batch operation, got {shape(data)}")
    raw_meta = data.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    name = data.get("name") or meta.get("name")
    if not name:
        raise MalformedAnswer("expected a batch operation with a name, got an object without one")
    raw_state = meta.get("state") or ""
    state = parse_state(raw_state)
    raw_error = data.get("error")
    error: dict[str, Any] | None = raw_error if isinstance(raw_error, dict) and raw_error else None
    if data.get("done") and error is not None and state in _RUNNING:
        state = "FAILED"  # a done operation with an error and no final state: the batch failed
    if state == "CANCELLING":
        status = "canceling"
    elif state in _ENDED or (data.get("done") and state in _RUNNING):
        status = "ended"
    else:
        status = "in_progress"
    native = state.lower() or ("done" if data.get("done") else None)
    output = operation_output(data)
    display_name = field(meta, "displayName")
    details: dict[str, Any] = {"state": raw_state or None}
    for key, value in (
        ("model", meta.get("model")),
        ("display_name", display_name),
        ("client_token", _token_in(display_name)),
        ("input_file", field(field(meta, "inputConfig"), "fileName")),
        ("responses_file", output.get("responsesFile") or output.get("fileName")),
    ):
        if value:
            details[key] = value
    created = _time(field(meta, "createTime"))
    ended = status == "ended"
    counts, unexplained = _counts(field(meta, "batchStats"), state, ended=ended)
    return Batch(
        id=name,
        provider=provider,
        status=status,  # type: ignore[arg-type]
        native_status=native,
        request_counts=counts,
        counts_need_results=unexplained,
        created_at=created or field(meta, "createTime") or None,
        ended_at=field(meta, "endTime") or None,
        expires_at=created + BATCH_LIFETIME if created is not None and status != "ended" else None,
        message=error_text(error),
        details=details,
    )


def _time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (``2025-07-01T10:00:00.123456Z``), None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _counts(stats: Any, state: str, *, ended: bool) -> tuple[RequestCounts | None, bool]:
    """The batch's counts, and whether they leave requests unexplained (an ended batch whose stats
    give only ``requestCount``: its results must say how each request ended, not "all errored")."""
    if not isinstance(stats, dict):
        return None, False
    total = _int(field(stats, "requestCount")) or 0
    if total <= 0:
        return None, False
    raw_succeeded = _int(field(stats, "successfulRequestCount"))
    failed = _int(field(stats, "failedRequestCount"))
    pending = _int(field(stats, "pendingRequestCount"))
    if ended and raw_succeeded is None and failed is None and pending is None:
        return None, True
    succeeded = raw_succeeded or 0
    if failed is None:
        failed = max(0, total - succeeded - (pending or 0))
    if pending is None:
        pending = max(0, total - succeeded - failed)
    bucket: Leftover
    if not ended:
        bucket = "processing"
    elif state == "CANCELLED":
        bucket = "canceled"
    elif state == "FAILED":
        bucket = "errored"  # the batch failed as a whole: its unprocessed requests did not expire
    else:
        bucket = "expired"
    return counts_with_leftover(succeeded, failed, pending, bucket), False


# ------------------------------------------------------------------------------------------------
# the direct adapter


class GeminiAPI(BaseTarget):
    """Direct access to the Gemini API (``GEMINI_BASE_URL``, API version ``GEMINI_API_VERSION``)."""

    route: str | None = None  # the gateway's route prefix, when through one
    carries_token = True  # in the batch's display name

    def __init__(self, http: HttpClient, *, version: str = "v1beta", provider: str = "gemini", root: str = ""):
        self.http = http
        self.provider = provider
        self.version = version
        self.prefix = f"{root}/{version}"
        self.upload_prefix = f"{root}/upload/{version}"
        self.download_prefix = f"{root}/download/{version}"

    def describe(self) -> str:
        return f"Gemini API at {self.http.base_url} ({self.version})"

    def close(self) -> None:
        self.http.close()

    # -- request helpers ----------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        return self._json(response, method, path)

    def _json(self, response: Response, method: str, path: str) -> Any:
        refuse_web_page(response, base_url=self.http.base_url, method=method, path=path, route=self.route)
        data = response.read()
        if not data.strip():
            return {}
        return response.json()

    def _paged(self, path: str, key: str, limit: int | None, parse: Any) -> Iterator[Any]:
        yield from paginate(
            lambda size, token: self._call("GET", self.prefix + path, params={"pageSize": size, "pageToken": token}),
            lambda page: page.get(key) or [],
            lambda item: parse(item, self.provider),
            lambda page, items: page.get("nextPageToken") or None,
            limit=limit,
            page_max=MAX_PAGE,
            where=path,
        )

    # -- files --------------------------------------------------------------------------------

    def upload_file(
        self,
        source: UploadSource,
        *,
        purpose: str | None,
        progress: Progress | None = None,
        expires_after: int | None = None,
    ) -> File:
        url = resumable.start(self.http, self.upload_prefix + "/files", source)
        final = self._send_upload(url, source, progress)
        file = parse_file(final, self.provider)
        return self._wait_active(file, final)

    def _send_upload(self, url: str, source: UploadSource, progress: Progress | None) -> Any:
        """Send the bytes in resumable chunks (:mod:`~bifrost_cli.providers.gemini.resumable`)."""
        return resumable.send(self.http, url, source, progress, self._json)

    def _wait_active(self, file: File, raw: Any) -> File:
        """Poll a file until it is ACTIVE (large media are PROCESSING for a while)."""
        data = raw.get("file", raw) if isinstance(raw, dict) else {}
        waited = 0.0
        while data.get("state") == "PROCESSING":
            if waited >= ACTIVE_WAIT_SECONDS:
                raise UnavailableError(
                    f"{file.id} is still PROCESSING after {waited:.0f} s", exit_code=ExitCode.UNAVAILABLE,
                    hint=f"Check later with `{suggest('files get', file.id, provider=self.provider)}`.",
                )
            self.http.sleep(1.0)
            waited += 1.0
            data = self._call("GET", self.prefix + "/" + quote(file.id, safe="/-_.~"))
            file = parse_file(data, self.provider)
        if data.get("state") == "FAILED":
            reason = (data.get("error") or {}).get("message") or "processing failed"
            raise ResponseError(f"Gemini could not process {file.id}: {reason}")
        return file

    def list_files(self, *, limit: int | None) -> Iterator[File]:
        yield from self._paged("/files", "files", limit, parse_file)

    def get_file(self, file_id: str) -> File:
        name = file_name(file_id)
        return parse_file(self._call("GET", f"{self.prefix}/files/{_segment(name, 'files/')}"), self.provider)

    def delete_file(self, file_id: str) -> DeletedFile:
        name = file_name(file_id)
        self._call("DELETE", f"{self.prefix}/files/{_segment(name, 'files/')}")
        return DeletedFile(id=name, deleted=True)

    def open_download(self, file_id: str) -> Download:
        """A generated file's bytes, checked against its ``sizeBytes`` and ``sha256Hash``."""
        name = file_name(file_id)
        data = self._call("GET", f"{self.prefix}/files/{_segment(name, 'files/')}")
        meta = parse_file(data, self.provider)
        if not meta.downloadable:
            raise UnsupportedError(
                f"{meta.id} cannot be downloaded: Gemini never serves uploaded files back; only files it "
                "generated (batch results) are downloadable",
                hint=f"Keep your own copy of what you upload; `{suggest('files get', meta.id, provider=self.provider)}` "
                "shows its metadata.",
            )
        response = self._media(meta.id, download_first=False)
        return Download(
            response,
            size=expected_size(meta.size_bytes, response),
            filename=meta.filename or meta.id,
            checksum=sha256_checksum(data),
        )

    def _media(self, name: str, *, download_first: bool) -> Ranged:
        """A generated file's bytes: ``/v1beta/files/x:download`` or ``/download/v1beta/files/x:download``."""
        tail = f"/files/{_segment(name, 'files/')}:download"
        first, second = self.download_prefix + tail, self.prefix + tail
        if not download_first:
            first, second = second, first
        from bifrost_cli.http.ranged import open_ranged

        try:
            return open_ranged(self.http, first, params={"alt": "media"})
        except NotFoundError:
            return open_ranged(self.http, second, params={"alt": "media"})

    # -- batches ------------------------------------------------------------------------------

    def _lines(self, requests: RequestSet) -> Iterator[tuple[str, dict[str, Any]]]:
        return request_lines(requests)

    def _check(self, requests: RequestSet) -> str:
        """Every line translatable and one model for all; returns the model. Nothing is sent."""
        from bifrost_cli.providers.gemini.checks import check_model

        return check_model(requests)

    def _batch_fields(self, display_name: str) -> tuple[str, str, str, str]:
        """Key names of the create body (the gateway reads snake_case)."""
        return "displayName", "inputConfig", "requests", "fileName"

    def _inline_body(self, requests: RequestSet, display_name: str) -> Body:
        display, config, reqs, _ = self._batch_fields(display_name)

        def pieces() -> Iterator[bytes]:
            head = {"batch": {display: display_name, config: {reqs: {"requests": []}}}}
            text = json.dumps(head, separators=(",", ":"), ensure_ascii=False)
            before, _, after = text.partition("[]")
            yield (before + "[").encode()
            for i, (key, request) in enumerate(self._lines(requests)):
                item = json.dumps({"request": request, "metadata": {"key": key}}, separators=(",", ":"), ensure_ascii=False)
                yield (("," if i else "") + item).encode()
            yield ("]" + after).encode()

        length = sum(len(p) for p in pieces())
        return Body(pieces, length=length, content_type="application/json")

    def create_batch(self, requests: RequestSet, options: BatchOptions | None = None) -> Batch:
        from bifrost_cli.providers.gemini.checks import check_size, refuse_options

        options = options or BatchOptions()
        refuse_options(options)
        model = self._check(requests)
        display_name = options.job_name or f"bifrost-{Path(requests.display_name).stem or 'batch'}"
        if options.client_token:  # the display name is the one field a Gemini batch keeps for us
            stem = Path(requests.display_name).stem or "batch"
            given = options.job_name
            display_name = f"{given[:90]} {options.client_token}" if given else f"{options.client_token}-{stem[:90]}"
        path = f"{self.prefix}/models/{quote(model, safe='-_.~')}:batchGenerateContent"
        body = self._inline_body(requests, display_name)
        check_size(requests, body.length or 0)
        if body.length is not None and body.length <= inline_limit():
            return parse_operation(self._call("POST", path, body=body, retry="unsent"), self.provider)
        uploaded = self._upload_requests(requests, display_name)
        display, config, _, fname = self._batch_fields(display_name)
        payload = {"batch": {display: display_name, config: {fname: uploaded.id}}}
        return parse_operation(self._call("POST", path, json=payload, retry="unsent"), self.provider)

    def _upload_requests(self, requests: RequestSet, display_name: str) -> File:
        """Write the requests as ``{key, request}`` JSONL to a temporary file and upload it."""
        fd, tmp = tempfile.mkstemp(prefix="bifrost-gemini-", suffix=".jsonl")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                for key, request in self._lines(requests):
                    out.write(json.dumps({"key": key, "request": request}, ensure_ascii=False) + "\n")
            source = UploadSource.from_path(Path(tmp), filename=f"{display_name}.jsonl")
            return self.upload_file(source, purpose=None)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _operation(self, batch_id: str) -> dict[str, Any]:
        name = batch_name(batch_id)
        data = self._call("GET", f"{self.prefix}/batches/{_segment(name, 'batches/')}")
        if not isinstance(data, dict):
            raise MalformedAnswer(f"expected a batch operation, got {shape(data)}")
        return data

    def list_batches(self, *, limit: int | None) -> Iterator[Batch]:
        yield from self._paged("/batches", "operations", limit, parse_operation)

    def get_batch(self, batch_id: str) -> Batch:
        return parse_operation(self._operation(batch_id), self.provider)

    def cancel_batch(self, batch_id: str) -> Batch:
        """Ask for the cancel; Gemini keeps saying RUNNING until the batch is CANCELLED, so the
        batch is reported ``canceling`` until then."""
        name = batch_name(batch_id)
        self._call("POST", f"{self.prefix}/batches/{_segment(name, 'batches/')}:cancel")
        batch = self.get_batch(name)
        if batch.status == "in_progress":
            batch = batch.model_copy(update={"status": "canceling"})
        return batch

    def delete_batch(self, batch_id: str) -> None:
        """Delete the batch's record (Gemini does not cancel it for that)."""
        name = batch_name(batch_id)
        self._call("DELETE", f"{self.prefix}/batches/{_segment(name, 'batches/')}")

    def _outputs(self, batch_id: str) -> tuple[Batch, Iterator[dict[str, Any]]]:
        """The ended batch, and each output as Gemini gives it: inlined responses, or the lines of
        the responses file (streamed)."""
        data = self._operation(batch_id)
        batch = parse_operation(data, self.provider)
        _require_ended(batch)
        output = operation_output(data)
        inlined = output.get("inlinedResponses")
        if isinstance(inlined, dict):
            inlined = field(inlined, "inlinedResponses")
        if isinstance(inlined, list):
            return batch, iter(inlined)
        responses_file = output.get("responsesFile") or output.get("fileName")
        if not responses_file:
            raise _no_results(batch)
        return batch, self._responses_lines(batch.id, file_name(responses_file))

    def _responses_lines(self, batch_id: str, name: str) -> Iterator[dict[str, Any]]:
        """The lines of the batch's responses file, all of them: as many bytes as its
        ``sizeBytes`` (it is resumed with Range if it breaks off)."""
        try:
            size = self.get_file(name).size_bytes
        except BifrostError:
            size = None  # the file's metadata cannot be read: only a broken transfer can be told
        lines = iter_sized_jsonl(self._media(name, download_first=True), size, what=f"the responses file {name}")
        for n, line in enumerate(lines, 1):
            try:
                yield json.loads(line)
            except ValueError:
                raise MalformedAnswer(f"results of {batch_id}, line {n}: not JSON") from None

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        yield from self._outputs(batch_id)[1]

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]:
        batch, outputs = self._outputs(batch_id)
        model = batch.details.get("model")
        for n, item in enumerate(outputs, 1):
            if not isinstance(item, dict):
                raise MalformedAnswer(f"results of {batch_id}, item {n}: not an object")
            with reading(f"results of {batch_id}, item {n}"):
                key = item.get("key") or (item.get("metadata") or {}).get("key")
            if not isinstance(key, str) or not key:
                raise MalformedAnswer(
                    f"results of {batch_id}, item {n} carries no key, so it cannot be matched to a request",
                    hint="Use --raw to see the outputs as Gemini gave them.",
                )
            with reading(f"results of {batch_id}, item {n}"):
                result = BatchResult.model_validate(to_anthropic_result(key, item, model))
            yield result


def _require_ended(batch: Batch) -> Batch:
    return require_ended(batch, provider="gemini", state=f"state {batch.details.get('state')}")


def _no_results(batch: Batch) -> BatchIncomplete:
    reason = f": {batch.message}" if batch.message else ""
    return BatchIncomplete(
        f"batch {batch.id} ended ({batch.native_status}) without results{reason}", exit_code=ExitCode.ERROR
    )


def direct_target(settings: Settings, **http_kwargs: Any) -> GeminiAPI:
    """The Gemini API, with ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``)."""
    key = settings.text("gemini_api_key")
    if not key:
        raise UsageError(
            "no Gemini API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)",
            hint="Or go through a gateway (--base-url URL), or try the built-in emulator: "
            f"`{suggest('batches list', provider='gemini', adding='--emulator')}`.",
        )
    version = (settings.text("gemini_api_version") or "v1beta").strip("/")
    base = (settings.text("gemini_base_url") or "https://generativelanguage.googleapis.com").rstrip("/")
    if base.endswith("/" + version):  # given with the version already
        base = base[: -len(version) - 1]
    http = HttpClient(
        base,
        label="gemini",
        auth_headers={"x-goog-api-key": key},
        auth_hint="Check GEMINI_API_KEY (or GOOGLE_API_KEY).",
        error_hook=gemini_error_hook,
        refusal_proof=SPEC.refusal_proof,
        **http_kwargs,
    )
    return GeminiAPI(http, version=version)
