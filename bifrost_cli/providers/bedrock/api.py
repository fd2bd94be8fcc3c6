"""AWS Bedrock batch inference: files are S3 objects, batches are model invocation jobs.

Two targets share the job preparation (translation, quotas, idempotency token) in :mod:`.jobs`:

- :class:`BedrockAPI` calls Bedrock and S3 directly with boto3 (the optional extra
  ``bifrost-cli[bedrock]``), with credentials from the standard AWS chain. botocore honours
  ``AWS_ENDPOINT_URL_BEDROCK`` and ``AWS_ENDPOINT_URL_S3`` by itself.
- :class:`BedrockGateway` goes through a Bifrost gateway's ``/bedrock`` routes over plain HTTP with
  the virtual key: its S3-compatible PutObject (``/bedrock/files/{bucket}/{key}``) for uploads and its
  ``/bedrock/model-invocation-job...`` routes for jobs. What the gateway cannot serve is refused
  before any I/O with what to do instead. Its create route passes on neither
  ``clientRequestToken`` nor ``modelInvocationType`` nor ``tags``: a repeated create is found by the
  job's name (derived, like the token, from the input and every parameter), and Converse jobs and
  ``--metadata`` are refused.

boto3 and botocore are imported only inside this module's functions, never at CLI startup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import TYPE_CHECKING, Any

from bifrost_cli.hints import suggest
from bifrost_cli.errors import (
    UsageError,
)
from bifrost_cli.models import Batch, BatchResult, DeletedFile, File
from bifrost_cli.providers.base import BaseTarget, BatchOptions, Progress, UploadSource, guess_mime
from bifrost_cli.providers.bedrock.errors import NOT_FOUND_CODES, aws_error
from bifrost_cli.providers.bedrock.outputs import counts_from_manifest, job_outputs
from bifrost_cli.providers.bedrock.jobs import (
    DEFAULT_MULTIPART_CHUNKSIZE,
    DEFAULT_MULTIPART_THRESHOLD,
    INSTALL_HINT,
    MAX_PAGE,
    PROVIDER,
    SAFE_KEY,
    check_job_id,
    check_job_options,
    check_settings,
    resolve_file_id,
    join_results,
    location,
    parse_job,
    prepare_job,
)
from bifrost_cli.providers.bedrock.s3 import (
    IterReader,
    S3Download,
    etag_checksum,
    basename,
    env_size,
    s3_uri,
)
from bifrost_cli.providers.common import require_ended

if TYPE_CHECKING:
    from bifrost_cli.inputs import RequestSet
    from bifrost_cli.config import Settings

# ------------------------------------------------------------------------------------------------
# direct access (boto3)


class BedrockAPI(BaseTarget):
    """Bedrock's control plane and S3, through boto3 with the standard AWS credential chain."""

    provider = PROVIDER
    carries_token = True  # as the job's name

    def __init__(
        self,
        settings: Settings,
        *,
        max_retries: int = 2,
        timeout: float | None = None,
        log: Callable[[str], None] | None = None,
        redactor: Any = None,
        **_: Any,
    ):
        import boto3
        from botocore.config import Config

        self.settings = settings
        self._redact: Callable[[str], str] = redactor or (lambda text: text)
        self._session = boto3.session.Session(region_name=settings.text("region") or None)
        self._config = Config(
            retries={"total_max_attempts": max(0, max_retries) + 1, "mode": "standard"},
            connect_timeout=10,
            read_timeout=timeout or 300,
            user_agent_extra="bifrost-cli",
        )
        self._log = log
        self._clients: dict[str, Any] = {}
        self._checked: set[str] = set()

    def preflight(self, options: BatchOptions) -> None:
        check_job_options(options, self.settings)

    def describe(self) -> str:
        return f"AWS Bedrock in {self.settings.text('region') or '(no region)'}, files under {self.settings.text('s3_uri') or '(no --s3-uri)'}"

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    # -- plumbing -------------------------------------------------------------------------------

    def _has_credentials(self) -> bool:
        creds = self._session.get_credentials()
        if creds is not None and hasattr(self._redact, "add"):
            frozen = creds.get_frozen_credentials()
            self._redact.add(frozen.secret_key)
            self._redact.add(frozen.token)
        return creds is not None

    def _need(self, *names: str) -> None:
        key = ",".join(names)
        if key in self._checked:
            return
        check_settings(self.settings, (*names, "credentials"), credentials=self._has_credentials)
        self._checked.add(key)

    def _client(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            client = self._session.client(service, config=self._config)
            if self._log is not None:
                log = self._log
                redact = self._redact

                def before_send(request: Any, **_: Any) -> None:
                    log(redact(f"> {request.method} {request.url}"))

                client.meta.events.register("before-send", before_send)
            self._clients[service] = client
        return client

    @property
    def s3(self) -> Any:
        return self._client("s3")

    @property
    def bedrock(self) -> Any:
        return self._client("bedrock")

    @contextmanager
    def _aws(self, what: str) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise aws_error(exc, what, self._redact) from None

    def _resolve(self, file_id: str) -> tuple[str, str]:
        if not file_id.startswith("s3://"):
            self._need("s3_uri")
        return resolve_file_id(file_id, self.settings)

    def _transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=env_size("BIFROST_S3_MULTIPART_THRESHOLD", DEFAULT_MULTIPART_THRESHOLD),
            multipart_chunksize=env_size("BIFROST_S3_MULTIPART_CHUNKSIZE", DEFAULT_MULTIPART_CHUNKSIZE),
        )

    def _head(self, bucket: str, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            code = str((exc.response.get("Error") or {}).get("Code"))
            if code in NOT_FOUND_CODES:
                return None
            raise

    # -- files ----------------------------------------------------------------------------------

    def upload_file(
        self,
        source: UploadSource,
        *,
        purpose: str | None,
        progress: Progress | None = None,
        expires_after: int | None = None,
    ) -> File:
        self._need("s3_uri")
        loc = location(self.settings)
        key = loc.key(SAFE_KEY.sub("_", source.filename.replace("\\", "/").rsplit("/", 1)[-1]) or "upload")
        uri = s3_uri(loc.bucket, key)
        with self._aws(f"upload to {uri}"):
            if self._head(loc.bucket, key) is not None:
                raise UsageError(
                    f"{uri} already exists",
                    hint=f"Delete it first (`{suggest('files delete', uri, provider='bedrock')}`), "
                    "or upload under another name with --filename.",
                )
            extra = {"ContentType": source.mime_type or guess_mime(source.filename)}
            if source.path is not None:
                with open(source.path, "rb") as fh:
                    self.s3.upload_fileobj(fh, loc.bucket, key, ExtraArgs=extra, Callback=progress, Config=self._transfer_config())
            else:
                assert source.stream is not None
                self.s3.upload_fileobj(source.stream, loc.bucket, key, ExtraArgs=extra, Callback=progress, Config=self._transfer_config())
        return self.get_file(uri)

    def list_files(self, *, limit: int | None) -> Iterator[File]:
        self._need("s3_uri")
        loc = location(self.settings)
        paginator = self.s3.get_paginator("list_objects_v2")
        with self._aws(f"list {self.settings.text('s3_uri')}"):
            pages = paginator.paginate(Bucket=loc.bucket, Prefix=loc.list_prefix(), PaginationConfig={"PageSize": MAX_PAGE})
            objects = (item for page in pages for item in page.get("Contents") or [] if not item["Key"].endswith("/"))
            for item in islice(objects, limit):
                yield File(
                    id=s3_uri(loc.bucket, item["Key"]),
                    filename=basename(item["Key"]),
                    size_bytes=item.get("Size"),
                    created_at=item.get("LastModified"),
                    downloadable=True,
                    provider=PROVIDER,
                )

    def get_file(self, file_id: str) -> File:
        bucket, key = self._resolve(file_id)
        self._need()
        with self._aws(f"get {s3_uri(bucket, key)}"):
            head = self.s3.head_object(Bucket=bucket, Key=key)
        return File(
            id=s3_uri(bucket, key),
            filename=basename(key),
            size_bytes=head.get("ContentLength"),
            mime_type=head.get("ContentType") or None,
            created_at=head.get("LastModified"),
            downloadable=True,
            provider=PROVIDER,
        )

    def delete_file(self, file_id: str) -> DeletedFile:
        bucket, key = self._resolve(file_id)
        self._need()
        uri = s3_uri(bucket, key)
        with self._aws(f"delete {uri}"):
            self.s3.head_object(Bucket=bucket, Key=key)  # S3 deletes missing keys silently: say so instead
            self.s3.delete_object(Bucket=bucket, Key=key)
        return DeletedFile(id=uri, deleted=True)

    def open_download(self, file_id: str) -> S3Download:
        bucket, key = self._resolve(file_id)
        self._need()
        uri = s3_uri(bucket, key)
        with self._aws(f"download {uri}"):
            reply = self.s3.get_object(Bucket=bucket, Key=key)
        errors = lambda: self._aws(f"download {uri}")  # noqa: E731
        return S3Download(reply["Body"], reply.get("ContentLength"), basename(key), errors, etag_checksum(reply))

    def _lines(self, bucket: str, key: str) -> Iterator[str]:
        uri = s3_uri(bucket, key)
        with self._aws(f"read {uri}"):
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
            try:
                for raw in body.iter_lines():
                    if raw.strip():
                        yield raw.decode("utf-8")
            finally:
                body.close()

    # -- batches --------------------------------------------------------------------------------

    def create_batch(self, requests: RequestSet, options: BatchOptions | None = None) -> Batch:
        self._need("region", "s3_uri", "role_arn")
        job = prepare_job(requests, options or BatchOptions(), self.settings)
        uri = s3_uri(job.bucket, job.input_key)
        with self._aws(f"upload the job's input to {uri}"):
            head = self._head(job.bucket, job.input_key)
            if (head or {}).get("Metadata", {}).get("bifrost-sha256") != job.digest:
                self.s3.upload_fileobj(
                    IterReader(job.lines()),
                    job.bucket,
                    job.input_key,
                    ExtraArgs={"ContentType": "application/jsonl", "Metadata": {"bifrost-sha256": job.digest}},
                    Config=self._transfer_config(),
                )
        with self._aws("create the batch job"):
            arn = self.bedrock.create_model_invocation_job(**job.body)["jobArn"]
        return self.get_batch(arn)

    def _job(self, batch_id: str) -> dict[str, Any]:
        self._need("region")
        check_job_id(batch_id)
        with self._aws(f"get job {batch_id}"):
            return self.bedrock.get_model_invocation_job(jobIdentifier=batch_id)

    def get_batch(self, batch_id: str) -> Batch:
        data = self._job(batch_id)
        batch = parse_job(data)
        if batch.ended and batch.request_counts is None:
            batch = counts_from_manifest(self._store, data, batch)
        return batch

    def list_batches(self, *, limit: int | None) -> Iterator[Batch]:
        self._need("region")
        paginator = self.bedrock.get_paginator("list_model_invocation_jobs")
        with self._aws("list jobs"):
            config = {"PageSize": min(limit or MAX_PAGE, MAX_PAGE)}
            pages = paginator.paginate(sortOrder="Descending", PaginationConfig=config)
            jobs = (item for page in pages for item in page.get("invocationJobSummaries") or [])
            for item in islice(jobs, limit):
                yield parse_job(item)

    def cancel_batch(self, batch_id: str) -> Batch:
        self._need("region")
        check_job_id(batch_id)
        with self._aws(f"stop job {batch_id}"):
            self.bedrock.stop_model_invocation_job(jobIdentifier=batch_id)
        return self.get_batch(batch_id)

    @property
    def _store(self) -> _Store:
        return _Store(self)

    def _ended_job(self, batch_id: str) -> dict[str, Any]:
        job = self._job(batch_id)
        require_ended(parse_job(job), provider=PROVIDER, noun="job")
        return job

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        job = self._ended_job(batch_id)
        for _, records in job_outputs(self._store, job, batch_id):
            yield from records

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]:
        job = self._ended_job(batch_id)
        for ids, records in job_outputs(self._store, job, batch_id):
            yield from join_results(job, ids, records, f"results of {batch_id}")


class _Store:
    """The job data reads of :mod:`~bifrost_cli.providers.bedrock.outputs`, with boto3."""

    def __init__(self, api: BedrockAPI):
        self.api = api

    def lines(self, bucket: str, key: str) -> Iterator[str]:
        return self.api._lines(bucket, key)

    def exists(self, bucket: str, key: str) -> bool:
        with self.api._aws(f"find {s3_uri(bucket, key)}"):
            return self.api._head(bucket, key) is not None

    def keys(self, bucket: str, prefix: str) -> Iterator[str]:
        with self.api._aws(f"list {s3_uri(bucket, prefix)}"):
            for page in self.api.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents") or []:
                    yield item["Key"]


def direct_target(settings: Settings, **http_kwargs: Any) -> BedrockAPI:
    """Bedrock and S3 with boto3 (the ``bifrost-cli[bedrock]`` extra)."""
    try:
        import boto3  # noqa: F401
        import botocore
    except ImportError:
        raise UsageError(
            "direct Bedrock access needs boto3, which is not installed",
            hint=f"Install the extra: {INSTALL_HINT}",
        ) from None
    found = _version(getattr(botocore, "__version__", ""))
    if found < MIN_BOTOCORE:
        wanted = ".".join(map(str, MIN_BOTOCORE))
        raise UsageError(
            f"botocore {getattr(botocore, '__version__', '?')} is too old for Bedrock batch jobs: "
            f"model invocation jobs with modelInvocationType need botocore {wanted} or newer",
            hint=f"Upgrade it: pip install -U 'boto3>={wanted}' (or {INSTALL_HINT})",
        )
    return BedrockAPI(settings, **http_kwargs)


# The first botocore (and boto3) whose Bedrock model has CreateModelInvocationJob's
# modelInvocationType, which every create sends; model invocation jobs themselves came in 1.35.1.
MIN_BOTOCORE = (1, 42, 59)


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = re.match(r"\d+", piece)
        parts.append(int(digits.group()) if digits else 0)
    return tuple(parts) if parts else (0,)
