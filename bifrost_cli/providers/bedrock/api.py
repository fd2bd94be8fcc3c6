"""AWS Bedrock batch inference: files are S3 objects, batches are model invocation jobs.

Two targets share the job preparation (translation, quotas, idempotency token) in this module:

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

import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any

from bifrost_cli.errors import (
    APIError,
    AuthError,
    BifrostError,
    ConflictError,
    NotFoundError,
    RateLimitError,
    ResponseError,
    UnavailableError,
    UsageError,
)
from bifrost_cli.inputs import FIX_HINT, Problems
from bifrost_cli.models import Batch, BatchResult, DeletedFile, File, RequestCounts
from bifrost_cli.providers.bedrock import format as fmt
from bifrost_cli.providers.common import Leftover, counts_with_leftover, require_ended
from bifrost_cli.providers.base import BaseTarget, BatchOptions, Progress, UploadSource, guess_mime, require_format

PROVIDER = "bedrock"
INSTALL_HINT = "pip install 'bifrost-cli[bedrock]'"
MAX_PAGE = 1000
DEFAULT_MULTIPART_THRESHOLD = 64 * 1024 * 1024
DEFAULT_MULTIPART_CHUNKSIZE = 16 * 1024 * 1024
RUNS_FOLDER = "bifrost-batches"
JOB_NAME_PREFIX = "bifrost-"
DIRECT_HINT = "use direct Bedrock access with AWS credentials: drop --base-url (and set --region, --s3-uri)"

_RUNNING = {"Submitted", "Validating", "Scheduled", "InProgress"}
_CANCELING = {"Stopping"}
_ENDED = {"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"}
_SAFE_KEY = re.compile(r"[^-!_*'().a-zA-Z0-9]+")

# What each missing setting is and how to set it.
SETTING_HELP = {
    "region": "the AWS region: --region REGION or AWS_REGION",
    "s3_uri": "where batch files live: --s3-uri s3://BUCKET/PREFIX or BIFROST_BEDROCK_S3_URI",
    "role_arn": "the service role Bedrock assumes: --role-arn arn:aws:iam::ACCOUNT:role/NAME or BIFROST_BEDROCK_ROLE_ARN",
    "credentials": "AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or `aws sso login`",
}


def unified_status(native: str | None) -> str:
    if native in _CANCELING:
        return "canceling"
    if native in _ENDED:
        return "ended"
    return "in_progress"


# ------------------------------------------------------------------------------------------------
# S3 locations


def parse_s3_uri(uri: str, *, what: str = "S3 URI") -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/key`` (the key may be empty)."""
    if not uri.startswith("s3://"):
        raise UsageError(f"{what} {uri!r} is not an s3:// URI", hint="Write it as s3://BUCKET/PREFIX.")
    bucket, _, key = uri[5:].partition("/")
    if not fmt.BUCKET_RE.match(bucket):
        raise UsageError(f"{what} {uri!r}: {bucket!r} is not a valid S3 bucket name")
    return bucket, key


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def _basename(key: str) -> str:
    return key.rstrip("/").rsplit("/", 1)[-1]


def output_key(output_uri: str, job_id: str, input_key: str) -> tuple[str, str]:
    """``(bucket, key)`` of the output Bedrock writes for one input file: ``<out>/<job-id>/<name>.out``."""
    bucket, prefix = parse_s3_uri(output_uri, what="the job's output URI")
    return bucket, _join(prefix, job_id, _basename(input_key) + ".out")


def manifest_key(output_uri: str, job_id: str) -> tuple[str, str]:
    bucket, prefix = parse_s3_uri(output_uri, what="the job's output URI")
    return bucket, _join(prefix, job_id, "manifest.json.out")


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


# ------------------------------------------------------------------------------------------------
# settings


@dataclass
class Location:
    bucket: str
    prefix: str  # without a trailing slash; may be empty

    def key(self, *parts: str) -> str:
        return _join(self.prefix, *parts)

    def list_prefix(self) -> str:
        return self.prefix + "/" if self.prefix else ""


def check_settings(settings: Any, needed: tuple[str, ...], *, credentials: Callable[[], bool] | None = None) -> None:
    """Raise one UsageError naming every missing or bad setting (and what to set), before any I/O."""
    missing = [name for name in needed if name != "credentials" and not settings.text(name)]
    if "credentials" in needed and credentials is not None and not credentials():
        missing.append("credentials")
    bad: list[str] = []
    if "s3_uri" in needed and settings.text("s3_uri"):
        try:
            parse_s3_uri(settings.text("s3_uri"), what="--s3-uri")
        except UsageError as exc:
            bad.append(exc.message)
    if "role_arn" in needed and settings.text("role_arn") and not fmt.ROLE_ARN_RE.match(settings.text("role_arn")):
        bad.append(f"--role-arn {settings.text('role_arn')!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    if not missing and not bad:
        return
    parts = []
    if missing:
        parts.append("missing Bedrock settings: " + ", ".join(missing))
    parts.extend(bad)
    hint = "Set:\n" + "\n".join(f"  {SETTING_HELP[name]}" for name in missing) if missing else None
    keys = [name for name in missing if name != "credentials"]
    if hint and keys:
        hint += f"\n(or {', '.join(keys)} in the config file or a profile)"
    if hint and ("region" in missing or "credentials" in missing):
        hint += "\nOr reach Bedrock through a Bifrost gateway: --base-url URL (with --s3-uri and --role-arn)."
    raise UsageError("; ".join(parts), hint=hint)


def location(settings: Any) -> Location:
    bucket, prefix = parse_s3_uri(settings.text("s3_uri"), what="--s3-uri")
    return Location(bucket, prefix.strip("/"))


# ------------------------------------------------------------------------------------------------
# job preparation (shared by the direct and gateway targets)


@dataclass
class PreparedJob:
    """A job ready to send: where its input goes, its records, and the CreateModelInvocationJob body."""

    requests: Any
    model: str
    invocation_type: str
    count: int
    size: int
    digest: str
    bucket: str
    input_key: str
    body: dict[str, Any]

    def lines(self) -> Iterator[bytes]:
        """The JSONL records, produced again from the input (never held whole in memory)."""
        yield from _records(self.requests, self.model, self.invocation_type, problems=None)


def _records(requests: Any, model: str, invocation: str, problems: Problems | None) -> Iterator[bytes]:
    native = requests.input_format == "bedrock"
    for request in requests.iter_requests():
        if native:
            record = {"recordId": request["custom_id"], "modelInput": request["params"]}
            found = []
            kind = fmt.native_invocation_type(request["params"])
            if kind != invocation:
                found.append(
                    f"modelInput is a {kind} body, but the first record's is {invocation}; a job takes one kind"
                )
        else:
            record, found = fmt.to_record(request, model)
        if problems is not None:
            for problem in found:
                problems.add(requests.line_of(request["custom_id"]), problem)
        yield (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def _first_params(requests: Any) -> dict[str, Any]:
    for request in requests.iter_requests():
        return request["params"]
    return {}


def job_model(requests: Any) -> str:
    models = sorted(requests.models)
    if not models:
        raise UsageError(
            f"{requests.display_name} names no model: Bedrock records carry none",
            hint="Pass the job's model with --model MODEL_ID (e.g. anthropic.claude-3-5-haiku-20241022-v1:0).",
        )
    if len(models) > 1:
        raise UsageError(
            f"a Bedrock batch job runs one model; {requests.display_name} uses {len(models)}: {', '.join(models)}",
            hint="Split the input into one file per model, or set the same params.model on every line.",
        )
    return models[0]


def job_invocation(requests: Any, model: str) -> str:
    """The job's modelInvocationType: from the model for the provider-neutral input, from the first
    record's body for native records (any other format is refused)."""
    require_format(requests, "bedrock", PROVIDER)
    if requests.input_format == "bedrock":
        return fmt.native_invocation_type(_first_params(requests))
    return fmt.invocation_type(model)


def prepare_job(requests: Any, options: BatchOptions, settings: Any, *, limits: fmt.Limits | None = None) -> PreparedJob:
    """Translate and check every request, and check Bedrock's quotas, before anything is sent."""
    limits = limits or fmt.Limits.from_env()
    model = job_model(requests)
    invocation = job_invocation(requests, model)
    timeout = options.timeout_hours
    if timeout is not None and not 24 <= timeout <= 168:
        raise UsageError(f"--timeout-hours {timeout}: Bedrock takes 24 to 168 hours")
    problems = Problems(requests.display_name)
    digest = hashlib.sha256()
    size = 0
    for line in _records(requests, model, invocation, problems):
        digest.update(line)
        size += len(line)
    count = requests.count
    quota = limits.problems(count, size)
    for problem in quota:
        problems.add(None, problem, first=True)
    hint = FIX_HINT
    if quota and count < limits.min_records:
        hint += " (If your account's quota is lower, set BIFROST_BEDROCK_MIN_RECORDS.)"
    problems.raise_any(hint)
    loc = location(settings)
    name = _SAFE_KEY.sub("-", requests.display_name.replace("\\", "/").rsplit("/", 1)[-1]).strip("-.") or "input"
    name = name.removesuffix(".jsonl").removesuffix(".json")[:100] + ".jsonl"
    digest.update(f"\x00{model}\x00{invocation}\x00{name}".encode())
    hexdigest = digest.hexdigest()
    run = loc.key(RUNS_FOLDER, hexdigest[:20])
    input_key = _join(run, name)
    output_uri = s3_uri(loc.bucket, _join(run, "output")) + "/"
    body: dict[str, Any] = {
        "roleArn": settings.text("role_arn"),
        "modelId": model,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": s3_uri(loc.bucket, input_key), "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": output_uri}},
        "modelInvocationType": invocation,
    }
    if timeout is not None:
        body["timeoutDurationInHours"] = timeout
    if options.metadata:
        body["tags"] = [{"key": k, "value": v} for k, v in sorted(options.metadata.items())]
    # The default name follows every parameter too, so a changed create never reuses a job's name
    # (and the gateway, which drops clientRequestToken, can find a repeated create by it).
    job_name = options.job_name or f"{JOB_NAME_PREFIX}{request_token(hexdigest, body)[:20]}"
    if not fmt.JOB_NAME_RE.match(job_name) or len(job_name) > 63:
        raise UsageError(f"job name {job_name!r} is not valid for Bedrock (1-63 letters, digits, '-', '+', '.')")
    body = {"jobName": job_name, **body}
    body["clientRequestToken"] = request_token(hexdigest, body)
    return PreparedJob(requests, model, invocation, count, size, hexdigest, loc.bucket, input_key, body)


def request_token(digest: str, body: dict[str, Any]) -> str:
    """The clientRequestToken: a hash of the records and every create parameter (model, input and
    output locations, role, name, timeout, tags), so the same create never starts a second job and a
    changed one is not mistaken for it."""
    params = json.dumps({k: v for k, v in body.items() if k != "clientRequestToken"}, sort_keys=True)
    return hashlib.sha256(f"{digest}\x00{params}".encode()).hexdigest()


# ------------------------------------------------------------------------------------------------
# job -> Batch


def job_counts(data: dict[str, Any]) -> RequestCounts | None:
    """Counts in Anthropic's five buckets from the job's record counts (None when absent)."""
    total = data.get("totalRecordCount")
    if not total:
        return None
    succeeded = int(data.get("successRecordCount") or 0)
    errored = int(data.get("errorRecordCount") or 0)
    rest = max(int(total) - succeeded - errored, 0)
    return counts_with_leftover(succeeded, errored, rest, _leftover(data.get("status")))


def _leftover(status: str | None) -> Leftover:
    """Where a job's records without an outcome went: still processing while it runs; canceled
    when it was stopped, expired when it ran out of time, errored otherwise."""
    if status not in _ENDED:
        return "processing"
    if status == "Stopped":
        return "canceled"
    if status in ("Expired", "PartiallyCompleted"):
        return "expired"
    return "errored"


def parse_job(data: Any, provider: str = PROVIDER) -> Batch:
    if not isinstance(data, dict) or not data.get("jobArn"):
        raise ResponseError(f"expected a model invocation job, got: {json.dumps(data, default=str)[:200]}")
    native = data.get("status")
    details: dict[str, Any] = {"job_name": data.get("jobName"), "model": data.get("modelId")}
    s3_in = ((data.get("inputDataConfig") or {}).get("s3InputDataConfig") or {}).get("s3Uri")
    s3_out = ((data.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}).get("s3Uri")
    details.update({"input": s3_in, "output": s3_out, "invocation_type": data.get("modelInvocationType")})
    if data.get("timeoutDurationInHours"):
        details["timeout_hours"] = data["timeoutDurationInHours"]
    return Batch(
        id=str(data["jobArn"]),
        provider=provider,
        status=unified_status(native),  # type: ignore[arg-type]
        native_status=native,
        request_counts=job_counts(data),
        created_at=data.get("submitTime") or None,
        ended_at=data.get("endTime") or None,
        expires_at=data.get("jobExpirationTime") or None,
        message=data.get("message") or None,
        details={k: v for k, v in details.items() if v is not None},
    )


def check_job_id(identifier: str) -> str:
    if not fmt.is_job_identifier(identifier):
        raise UsageError(
            f"{identifier!r} is not a Bedrock batch job: give its ARN "
            "(arn:aws:bedrock:REGION:ACCOUNT:model-invocation-job/ID) or its 12-character id",
            hint="`bifrost -p bedrock batches list` shows the jobs.",
        )
    return identifier


def join_results(job: dict[str, Any], input_ids: list[str], lines: Iterator[dict[str, Any]], where: str) -> Iterator[BatchResult]:
    """Output records joined to the input on recordId (never on order); every input record without
    an output comes last, as ``canceled`` (a stopped job), ``expired`` (an expired or partially
    completed one) or ``errored`` with type ``missing_result``."""
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        record_id = line.get("recordId") if isinstance(line, dict) else None
        if not isinstance(record_id, str) or not record_id:
            raise ResponseError(f"{where}, record {n}: no recordId: {json.dumps(line)[:200]}")
        if record_id in seen:
            continue
        seen.add(record_id)
        yield BatchResult.model_validate(fmt.to_result(line, record_id))
    status = job.get("status")
    leftover = _leftover(status)
    for record_id in input_ids:
        if record_id in seen:
            continue
        if leftover in ("canceled", "expired"):
            body: dict[str, Any] = {"type": leftover}
        else:
            reason = f"Bedrock wrote no output for this record (job {status}"
            reason += f": {job['message']})" if job.get("message") else ")"
            body = {"type": "errored", "error": fmt.missing_envelope(reason)}
        yield BatchResult.model_validate({"custom_id": record_id, "result": body})


def _record_ids(lines: Iterator[str]) -> list[str]:
    ids: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            continue
        record_id = item.get("recordId") if isinstance(item, dict) else None
        if isinstance(record_id, str):
            ids.append(record_id)
    return ids


# ------------------------------------------------------------------------------------------------
# botocore errors -> our errors

_AUTH_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
    "MissingAuthenticationTokenException",
}
_NOT_FOUND_CODES = {"ResourceNotFoundException", "NoSuchKey", "NoSuchBucket", "NotFound", "404"}
_THROTTLE_CODES = {"ThrottlingException", "Throttling", "SlowDown", "TooManyRequestsException", "RequestLimitExceeded"}
_CONFLICT_CODES = {"ConflictException", "ServiceQuotaExceededException"}
AUTH_HINT = "Check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID...) and that they may use Bedrock and the S3 bucket."


def classify(code: str, status: int | None) -> type[APIError]:
    if code in _AUTH_CODES or status in (401, 403):
        return AuthError
    if code in _NOT_FOUND_CODES or status == 404:
        return NotFoundError
    if code in _THROTTLE_CODES or status == 429:
        return RateLimitError
    if code in _CONFLICT_CODES or status == 409:
        return ConflictError
    if status is not None and (status >= 500 or status == 408):
        return UnavailableError
    return APIError


def aws_error(exc: Exception, what: str, redact: Callable[[str], str]) -> BifrostError:
    """A botocore/boto3 exception as one of our errors, with secrets redacted."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error") or {}
        meta = exc.response.get("ResponseMetadata") or {}
        code = str(error.get("Code") or "")
        status = meta.get("HTTPStatusCode")
        message = redact(str(error.get("Message") or "") or "no error message in the answer")
        cls = classify(code, status)
        hint = None
        if cls is AuthError:
            hint = AUTH_HINT
        elif cls is RateLimitError:
            hint = "Still throttled after retries; wait and try again, or raise --max-retries."
        elif cls is ConflictError and code == "ServiceQuotaExceededException":
            hint = "A Bedrock quota is reached (e.g. jobs in progress per model); wait for jobs to end or raise the quota."
        return cls(
            f"{what}: AWS answered {status or '?'} {code}: {message}",
            status=status,
            error_type=code or None,
            request_id=meta.get("RequestId"),
            hint=hint,
        )
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.CredentialRetrievalError):
        return AuthError(f"{what}: {redact(str(exc))}", hint="Set " + SETTING_HELP["credentials"] + ".")
    if isinstance(exc, bx.NoRegionError):
        return UsageError(f"{what}: no AWS region", hint="Set " + SETTING_HELP["region"] + ".")
    if isinstance(exc, bx.ParamValidationError):
        return UsageError(f"{what}: {redact(str(exc))}")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ConnectionClosedError):
        return UnavailableError(
            f"{what}: {redact(str(exc))}",
            hint="Is the endpoint reachable? Check AWS_REGION and any AWS_ENDPOINT_URL_* setting.",
        )
    if isinstance(exc, bx.BotoCoreError):
        return UnavailableError(f"{what}: {redact(str(exc))}")
    return ResponseError(f"{what}: {redact(str(exc))}")


# ------------------------------------------------------------------------------------------------
# streaming helpers


class IterReader(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (what boto3's managed upload reads)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


class S3Download:
    """An open S3 object (``providers.base.Download``'s interface): ``chunks()`` streams its body."""

    def __init__(self, body: Any, size: int | None, filename: str, errors: Callable[[], Any]):
        self._body = body
        self.size = size
        self.filename = filename
        self._errors = errors

    def chunks(self) -> Iterator[bytes]:
        with self._errors():
            yield from self._body.iter_chunks(1024 * 1024)

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> S3Download:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _env_size(name: str, default: int) -> int:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(f"{name} must be a number of bytes, got {raw!r}")
    return int(raw)


# ------------------------------------------------------------------------------------------------
# direct access (boto3)


class BedrockAPI(BaseTarget):
    """Bedrock's control plane and S3, through boto3 with the standard AWS credential chain."""

    provider = PROVIDER

    def __init__(
        self,
        settings: Any,
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
        if file_id.startswith("s3://"):
            bucket, key = parse_s3_uri(file_id, what="file id")
        else:
            self._need("s3_uri")
            loc = location(self.settings)
            bucket, key = loc.bucket, loc.key(file_id)
        if not key or key.endswith("/"):
            raise UsageError(f"{file_id!r} names no S3 object (it ends with '/')")
        return bucket, key

    def _transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=_env_size("BIFROST_S3_MULTIPART_THRESHOLD", DEFAULT_MULTIPART_THRESHOLD),
            multipart_chunksize=_env_size("BIFROST_S3_MULTIPART_CHUNKSIZE", DEFAULT_MULTIPART_CHUNKSIZE),
        )

    def _head(self, bucket: str, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            code = str((exc.response.get("Error") or {}).get("Code"))
            if code in _NOT_FOUND_CODES:
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
        key = loc.key(_SAFE_KEY.sub("_", source.filename.replace("\\", "/").rsplit("/", 1)[-1]) or "upload")
        uri = s3_uri(loc.bucket, key)
        with self._aws(f"upload to {uri}"):
            if self._head(loc.bucket, key) is not None:
                raise UsageError(
                    f"{uri} already exists",
                    hint=f"Delete it first (bifrost -p bedrock files delete {uri}), or upload under another name with --filename.",
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
                    filename=_basename(item["Key"]),
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
            filename=_basename(key),
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
        return S3Download(reply["Body"], reply.get("ContentLength"), _basename(key), lambda: self._aws(f"download {uri}"))

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

    def create_batch(self, requests: Any, options: BatchOptions | None = None) -> Batch:
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
            batch = self._counts_from_manifest(data, batch)
        return batch

    def _counts_from_manifest(self, data: dict[str, Any], batch: Batch) -> Batch:
        out = batch.details.get("output")
        if not out:
            return batch
        try:
            bucket, key = manifest_key(out, fmt.job_id_of(batch.id))
            with self._aws("read the job's manifest"):
                manifest = json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except (BifrostError, ValueError):
            return batch
        if not isinstance(manifest, dict):
            return batch
        return batch.model_copy(update={"request_counts": job_counts({**manifest, "status": data.get("status")})})

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

    def _inputs(self, job: dict[str, Any]) -> list[tuple[str, str]]:
        """``(bucket, key)`` of every input file of a job (one file, or each ``.jsonl`` under a prefix)."""
        uri = job["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        bucket, key = parse_s3_uri(uri, what="the job's input URI")
        if key.endswith(".jsonl"):
            return [(bucket, key)]
        found: list[tuple[str, str]] = []
        with self._aws(f"list {uri}"):
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
                found.extend((bucket, o["Key"]) for o in page.get("Contents") or [] if o["Key"].endswith(".jsonl"))
        return found

    def _outputs(self, job: dict[str, Any], batch_id: str) -> Iterator[tuple[list[str], Iterator[dict[str, Any]]]]:
        """For each input file: its record ids and its output records (nothing when Bedrock wrote none)."""
        out_uri = job["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
        job_id = fmt.job_id_of(job["jobArn"])
        for bucket, key in self._inputs(job):
            ids = _record_ids(self._lines(bucket, key))
            out_bucket, out_key = output_key(out_uri, job_id, key)
            with self._aws("find the job's output"):
                exists = self._head(out_bucket, out_key) is not None
            yield ids, self._records_of(out_bucket, out_key, batch_id) if exists else iter(())

    def _records_of(self, bucket: str, key: str, batch_id: str) -> Iterator[dict[str, Any]]:
        for n, line in enumerate(self._lines(bucket, key), 1):
            try:
                yield json.loads(line)
            except ValueError:
                raise ResponseError(f"output of {batch_id} ({s3_uri(bucket, key)}), line {n}: not JSON") from None

    def _ended_job(self, batch_id: str) -> dict[str, Any]:
        job = self._job(batch_id)
        require_ended(parse_job(job), provider=PROVIDER, noun="job")
        return job

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        job = self._ended_job(batch_id)
        for _, records in self._outputs(job, batch_id):
            yield from records

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]:
        job = self._ended_job(batch_id)
        for ids, records in self._outputs(job, batch_id):
            yield from join_results(job, ids, records, f"results of {batch_id}")


def direct_target(settings: Any, **http_kwargs: Any) -> BedrockAPI:
    """Bedrock and S3 with boto3 (the ``bifrost-cli[bedrock]`` extra)."""
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise UsageError(
            "direct Bedrock access needs boto3, which is not installed",
            hint=f"Install the extra: {INSTALL_HINT}",
        ) from None
    return BedrockAPI(settings, **http_kwargs)
