"""Bedrock's files and jobs through a Bifrost gateway's ``/bedrock`` routes (plain HTTP with the virtual key)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bifrost_cli.models import Batch, BatchResult, DeletedFile, File
from bifrost_cli.providers.base import BaseTarget, BatchOptions, Download, Progress, UploadSource, expected_size, paginate
from bifrost_cli.providers.bedrock.errors import classify
from bifrost_cli.providers.bedrock.jobs import (
    MAX_PAGE,
    PROVIDER,
    SAFE_KEY,
    check_job_id,
    check_job_options,
    check_settings,
    job_invocation,
    job_model,
    join_results,
    location,
    parse_job,
    prepare_job,
    resolve_file_id,
)
from bifrost_cli.providers.bedrock.outputs import counts_from_manifest, job_outputs
from bifrost_cli.providers.bedrock.s3 import basename, s3_uri
from bifrost_cli.providers.gateway import gateway_http, refuse_web_page
from bifrost_cli.providers.common import MalformedAnswer, iter_jsonl, require_ended, shape

if TYPE_CHECKING:
    from bifrost_cli.http import HttpClient
    from bifrost_cli.inputs import RequestSet
    from bifrost_cli.config import Settings


class BedrockGateway(BaseTarget):
    """A Bifrost gateway's ``/bedrock`` routes for provider ``bedrock``: uploads (S3 PutObject) and
    jobs; what the gateway does not serve is refused by the spec's ``gateway`` table."""

    carries_token = True  # as the job's name

    provider = PROVIDER
    prefix = "/bedrock"

    def __init__(self, http: HttpClient, settings: Settings):
        self.http = http
        self.settings = settings

    def describe(self) -> str:
        return f"Bifrost gateway at {self.http.base_url} (provider bedrock, /bedrock routes)"

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request whose 400 answers are classified by Bedrock's error type (a ConflictException is
        a 400), read from ``x-amzn-ErrorType`` or the body."""
        response = self.http.request(method, path, ok_statuses=(400,), **kwargs)
        if response.status != 400:
            return response
        data = response.read()
        response.close()
        try:
            body = json.loads(data)
        except ValueError:
            body = {"message": data[:300].decode("utf-8", "replace")}
        kind = (response.headers.get("x-amzn-errortype") or "").split(":", 1)[0]
        if not kind and isinstance(body, dict):
            kind = str(body.get("__type") or body.get("code") or "").rsplit("#", 1)[-1]
        message = body.get("message") or body.get("Message") if isinstance(body, dict) else None
        cls = classify(kind, 400)
        redact = self.http.redact
        raise cls(
            redact(f"the gateway answered 400 {kind or 'Bad Request'}: {message or 'no error message in the answer'}"),
            status=400,
            error_type=kind or None,
            request_id=response.headers.get("x-amzn-requestid"),
        )

    def _put(self, bucket: str, key: str, body: Any) -> None:
        path = f"{self.prefix}/files/{quote(bucket, safe='')}/{quote(key, safe='/')}"
        self._call("PUT", path, body=body).close()

    # -- files ----------------------------------------------------------------------------------
    # The gateway's /bedrock/files routes are five S3 operations: PUT, GET, HEAD and DELETE on
    # /bedrock/files/{bucket}/{key...} (HEAD and DELETE name the file by its id in If-Match), and
    # GET /bedrock/files/{bucket} as ListObjectsV2.

    def _object_path(self, bucket: str, key: str) -> str:
        return f"{self.prefix}/files/{quote(bucket, safe='')}/{quote(key, safe='/')}"

    def upload_file(self, source: UploadSource, *, purpose: str | None, progress: Progress | None = None, expires_after: int | None = None) -> File:
        check_settings(self.settings, ("s3_uri",))
        from bifrost_cli.http import Body

        loc = location(self.settings)
        key = loc.key(SAFE_KEY.sub("_", source.filename.replace("\\", "/").rsplit("/", 1)[-1]) or "upload")
        body = Body(lambda: source.chunks(progress), length=source.size, content_type=source.mime_type or "application/octet-stream", replayable=source.replayable)
        self._put(loc.bucket, key, body)
        return File(id=s3_uri(loc.bucket, key), filename=basename(key), size_bytes=source.size, mime_type=source.mime_type, downloadable=True, provider=PROVIDER)

    def list_files(self, *, limit: int | None) -> Iterator[File]:
        check_settings(self.settings, ("s3_uri",))
        loc = location(self.settings)
        path = f"{self.prefix}/files/{quote(loc.bucket, safe='')}"

        def fetch(size: int, token: str | None) -> dict[str, Any]:
            query = {"list-type": "2", "prefix": loc.list_prefix() or None, "max-keys": size, "continuation-token": token}
            response = self._call("GET", path, params=query)
            refuse_web_page(response, base_url=self.http.base_url, method="GET", path=path, route=self.prefix)
            return parse_listing(response.read(), where=path)

        def parse(item: dict[str, Any]) -> File:
            return File(id=s3_uri(loc.bucket, item["key"]), filename=basename(item["key"]), size_bytes=item.get("size"),
                        created_at=item.get("modified"), downloadable=True, provider=PROVIDER)

        return paginate(
            fetch,
            lambda page: [item for item in page["items"] if not item["key"].endswith("/")],
            parse,
            lambda page, items: page.get("next"),
            limit=limit,
            page_max=MAX_PAGE,
            where=path,
        )

    def _head(self, bucket: str, key: str) -> Any:
        response = self._call("HEAD", self._object_path(bucket, key), headers={"if-match": s3_uri(bucket, key)})
        response.close()
        return response

    def get_file(self, file_id: str) -> File:
        bucket, key = resolve_file_id(file_id, self.settings)
        headers = self._head(bucket, key).headers
        return File(
            id=s3_uri(bucket, key),
            filename=basename(key),
            size_bytes=_length(headers.get("content-length")),
            mime_type=headers.get("content-type") or None,
            created_at=_http_date(headers.get("last-modified")),
            downloadable=True,
            provider=PROVIDER,
        )

    def delete_file(self, file_id: str) -> DeletedFile:
        bucket, key = resolve_file_id(file_id, self.settings)
        uri = s3_uri(bucket, key)
        self._head(bucket, key)  # S3 deletes a missing key silently: say so instead
        self._call("DELETE", self._object_path(bucket, key), headers={"if-match": uri}).close()
        return DeletedFile(id=uri, deleted=True)

    def open_download(self, file_id: str) -> Download:
        from bifrost_cli.http.ranged import open_ranged

        bucket, key = resolve_file_id(file_id, self.settings)
        size = self.get_file(s3_uri(bucket, key)).size_bytes
        path = self._object_path(bucket, key)
        response = open_ranged(self.http, path)
        refuse_web_page(response, base_url=self.http.base_url, method="GET", path=path, route=self.prefix)
        return Download(response, size=expected_size(size, response), filename=basename(key))

    # -- batches --------------------------------------------------------------------------------

    def preflight(self, options: BatchOptions) -> None:
        check_settings(self.settings, ("s3_uri", "role_arn"))  # named first, before the input is read
        check_job_options(options, self.settings)

    def create_batch(self, requests: RequestSet, options: BatchOptions | None = None) -> Batch:
        check_settings(self.settings, ("s3_uri", "role_arn"))
        from bifrost_cli.http import Body

        options = options or BatchOptions()
        self.preflight(options)
        from bifrost_cli.providers.bedrock.checks import refuse_gateway_converse

        model = job_model(requests)
        refuse_gateway_converse(model, job_invocation(requests, model))
        job = prepare_job(requests, options, self.settings)
        input_uri = s3_uri(job.bucket, job.input_key)
        if self._exists(job.bucket, job.input_key):
            # The gateway drops clientRequestToken and shows no job names, so a repeated create is
            # found by its input: the records' own folder, which an earlier create uploaded.
            existing = self._job_reading(input_uri)
            if existing is not None:
                return existing
        self._put(job.bucket, job.input_key, Body(job.lines, length=job.size, content_type="application/jsonl"))
        data = self._call_json("POST", f"{self.prefix}/model-invocation-job", json=job.body, retry="unsent")
        arn = data.get("jobArn") if isinstance(data, dict) else None
        if not arn:
            raise MalformedAnswer(f"the job create answered without a jobArn (got {shape(data)})")
        created = self._job(arn)
        asked = job.body.get("timeoutDurationInHours")
        if asked is not None and created.get("timeoutDurationInHours") not in (None, asked):
            self.http.warn(
                f"the gateway did not pass --timeout-hours {asked} on: the job {arn} times out after "
                f"{created.get('timeoutDurationInHours')} hours"
            )
        elif asked is not None and created.get("timeoutDurationInHours") is None:
            self.http.warn(
                f"the gateway's answer does not show --timeout-hours {asked}: some gateway versions drop it "
                "(the job then times out after Bedrock's default, 72 hours); check with the AWS console or direct access"
            )
        return self._batch(created)

    def _exists(self, bucket: str, key: str) -> bool:
        from bifrost_cli.errors import NotFoundError

        try:
            self._head(bucket, key)
        except NotFoundError:
            return False
        return True

    def _job_reading(self, input_uri: str) -> Batch | None:
        """The most recent job (of the last :data:`LOOKBACK`) whose input is ``input_uri``."""
        for summary in self._list(LOOKBACK):
            data = self._job(summary.id)
            config = data.get("inputDataConfig")
            uri = (config.get("s3InputDataConfig") or {}).get("s3Uri") if isinstance(config, dict) else None
            if uri == input_uri:
                return self._batch(data)
        return None

    def _call_json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._call(method, path, **kwargs)
        refuse_web_page(response, base_url=self.http.base_url, method=method, path=path, route=self.prefix)
        return response.json()

    def _job_path(self, batch_id: str) -> str:
        check_job_id(batch_id)
        return f"{self.prefix}/model-invocation-job/{quote(batch_id, safe='')}"

    def _job(self, batch_id: str) -> dict[str, Any]:
        data = self._call_json("GET", self._job_path(batch_id))
        if not isinstance(data, dict):
            raise MalformedAnswer(f"expected a model invocation job, got {shape(data)}")
        return data

    def _batch(self, data: dict[str, Any]) -> Batch:
        """A job as a batch, with its counts from the manifest Bedrock wrote when it ended."""
        batch = parse_job(data)
        if batch.ended and batch.request_counts is None:
            batch = counts_from_manifest(_Store(self), data, batch)
        return batch

    def get_batch(self, batch_id: str) -> Batch:
        return self._batch(self._job(batch_id))

    def list_batches(self, *, limit: int | None) -> Iterator[Batch]:
        return self._list(limit)

    def _list(self, limit: int | None) -> Iterator[Batch]:
        """Jobs across every page (``nextToken``), up to ``limit``. (The gateway parses but does not
        pass on ``statusEquals`` and ``nameContains``: a filter is applied here, never there.)"""
        path = f"{self.prefix}/model-invocation-jobs"

        def fetch(size: int, token: str | None) -> Any:
            query = {"maxResults": size, "nextToken": token}
            return self._call_json("GET", path, params=query)

        return paginate(
            fetch,
            lambda page: page.get("invocationJobSummaries"),
            parse_job,
            lambda page, items: page.get("nextToken") or None,
            limit=limit,
            page_max=MAX_PAGE,
            where=path,
        )

    def cancel_batch(self, batch_id: str) -> Batch:
        self._call("POST", self._job_path(batch_id) + "/stop").close()
        return self.get_batch(batch_id)

    def _ended_job(self, batch_id: str) -> dict[str, Any]:
        data = self._job(batch_id)
        require_ended(parse_job(data), provider=PROVIDER, noun="job")
        return data

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        job = self._ended_job(batch_id)
        for _, records in job_outputs(_Store(self), job, batch_id):
            yield from records

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]:
        job = self._ended_job(batch_id)
        for ids, records in job_outputs(_Store(self), job, batch_id):
            yield from join_results(job, ids, records, f"results of {batch_id}")


LOOKBACK = 50
"""How many of the most recent jobs a repeated create looks through for one reading its input."""


class _Store:
    """The job data reads of :mod:`~bifrost_cli.providers.bedrock.outputs`, through ``/bedrock/files``."""

    def __init__(self, gateway: BedrockGateway):
        self.gateway = gateway

    def lines(self, bucket: str, key: str) -> Iterator[str]:
        from bifrost_cli.http.ranged import open_ranged

        path = self.gateway._object_path(bucket, key)
        response = open_ranged(self.gateway.http, path)
        refuse_web_page(response, base_url=self.gateway.http.base_url, method="GET", path=path, route=self.gateway.prefix)
        return iter_jsonl(response)

    def exists(self, bucket: str, key: str) -> bool:
        return self.gateway._exists(bucket, key)

    def keys(self, bucket: str, prefix: str) -> Iterator[str]:
        path = f"{self.gateway.prefix}/files/{quote(bucket, safe='')}"
        token: str | None = None
        seen: set[str] = set()
        while True:
            query = {"list-type": "2", "prefix": prefix or None, "max-keys": MAX_PAGE, "continuation-token": token}
            response = self.gateway._call("GET", path, params=query)
            page = parse_listing(response.read(), where=path)
            fresh = [item["key"] for item in page["items"] if item["key"] not in seen]
            seen.update(fresh)
            yield from fresh
            token = page.get("next")
            if not token or not fresh:
                return


def _tag(element: Any) -> str:
    return str(element.tag).rsplit("}", 1)[-1]


def parse_listing(data: bytes, *, where: str) -> dict[str, Any]:
    """A ListObjectsV2 answer (S3's XML): ``{"items": [{"key", "size", "modified"}], "next": token}``."""
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        raise MalformedAnswer(f"{where} answered a list that is not S3's XML ({len(data)} bytes)") from None
    if _tag(root) != "ListBucketResult":
        raise MalformedAnswer(f"{where} answered {_tag(root)[:40]!r} XML, not a ListBucketResult")
    items: list[dict[str, Any]] = []
    next_token: str | None = None
    truncated = False
    for child in root:
        name = _tag(child)
        if name == "Contents":
            fields = {_tag(f): (f.text or "") for f in child}
            key = fields.get("Key")
            if not key:
                raise MalformedAnswer(f"{where} answered an object without a Key")
            items.append({"key": key, "size": _length(fields.get("Size")), "modified": _iso_date(fields.get("LastModified"))})
        elif name == "NextContinuationToken":
            next_token = (child.text or "").strip() or None
        elif name == "IsTruncated":
            truncated = (child.text or "").strip().lower() == "true"
    return {"items": items, "next": next_token if truncated else None}


def _length(value: str | None) -> int | None:
    return int(value) if isinstance(value, str) and value.strip().isdigit() else None


def _iso_date(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")) if value and value.strip() else None
    except ValueError:
        return None


def _http_date(value: str | None) -> datetime | None:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None


def gateway_target(
    base_url: str, provider: str, key: str | None, *, trusted: bool = False, settings: Settings, **http_kwargs: Any
) -> BedrockGateway:
    """A gateway's ``/bedrock`` routes (``trusted``: the in-process emulator, whose spec table refuses
    every operation: Bedrock jobs need S3)."""
    http = gateway_http(base_url, key, trusted=trusted, headers={"x-model-provider": provider}, **http_kwargs)
    return BedrockGateway(http, settings)
