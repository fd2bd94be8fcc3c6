"""Bedrock model invocation jobs, shared by the direct and gateway targets: the settings a job needs,
its records and idempotency token from the input, a job as a Batch, and results joined on recordId."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bifrost_cli.hints import suggest
from bifrost_cli.errors import (
    UsageError,
)
from bifrost_cli.inputs import FIX_HINT, Problems
from bifrost_cli.models import Batch, BatchResult, RequestCounts
from bifrost_cli.providers.base import SPLIT_HINT, BatchOptions, require_format
from bifrost_cli.providers.bedrock import format as fmt
from bifrost_cli.providers.bedrock.errors import SETTING_HELP
from bifrost_cli.providers.bedrock.s3 import join_key, parse_s3_uri, s3_uri
from bifrost_cli.providers.common import Leftover, counts_with_leftover
from bifrost_cli.providers.common import MalformedAnswer, parses, shape

if TYPE_CHECKING:
    from bifrost_cli.inputs import RequestSet
    from bifrost_cli.config import Settings

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
SAFE_KEY = re.compile(r"[^-!_*'().a-zA-Z0-9]+")



def unified_status(native: str | None) -> str:
    if native in _CANCELING:
        return "canceling"
    if native in _ENDED:
        return "ended"
    return "in_progress"


# ------------------------------------------------------------------------------------------------
# settings


@dataclass
class Location:
    bucket: str
    prefix: str  # without a trailing slash; may be empty

    def key(self, *parts: str) -> str:
        return join_key(self.prefix, *parts)

    def list_prefix(self) -> str:
        return self.prefix + "/" if self.prefix else ""


def resolve_file_id(file_id: str, settings: Settings) -> tuple[str, str]:
    """``(bucket, key)`` of a file id: an ``s3://`` URI, or a key relative to ``--s3-uri``."""
    if file_id.startswith("s3://"):
        bucket, key = parse_s3_uri(file_id, what="file id")
    else:
        check_settings(settings, ("s3_uri",))
        loc = location(settings)
        bucket, key = loc.bucket, loc.key(file_id)
    if not key or key.endswith("/"):
        raise UsageError(f"{file_id!r} names no S3 object (it ends with '/')")
    return bucket, key


def check_settings(settings: Settings, needed: tuple[str, ...], *, credentials: Callable[[], bool] | None = None) -> None:
    """Raise one UsageError naming every missing or bad setting (and what to set), before any I/O."""
    missing = [name for name in needed if name != "credentials" and not settings.text(name)]
    if "credentials" in needed and credentials is not None and not credentials():
        missing.append("credentials")
    bad: list[str] = []
    s3, role = settings.text("s3_uri"), settings.text("role_arn")
    if "s3_uri" in needed and s3:
        try:
            parse_s3_uri(s3, what="--s3-uri")
        except UsageError as exc:
            bad.append(exc.message)
    if "role_arn" in needed and role and not fmt.ROLE_ARN_RE.match(role):
        bad.append(f"--role-arn {role!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    if not missing and not bad:
        return
    parts = []
    if missing:
        parts.append("missing Bedrock settings: " + ", ".join(missing))
    parts.extend(bad)
    # one line: a hint is printed on one line (line breaks in it are shown escaped)
    hint = "Set " + "; ".join(SETTING_HELP[name] for name in missing) if missing else None
    keys = [name for name in missing if name != "credentials"]
    if hint and keys:
        hint += f" (or {', '.join(keys)} in the config file or a profile)"
    if hint:
        hint += "."
    if hint and ("region" in missing or "credentials" in missing):
        hint += " Or reach Bedrock through a Bifrost gateway: --base-url URL (with --s3-uri and --role-arn)."
    raise UsageError("; ".join(parts), hint=hint)


def location(settings: Settings) -> Location:
    bucket, prefix = parse_s3_uri(settings.text("s3_uri") or "", what="--s3-uri")
    return Location(bucket, prefix.strip("/"))


# ------------------------------------------------------------------------------------------------
# job preparation (shared by the direct and gateway targets)


@dataclass
class PreparedJob:
    """A job ready to send: where its input goes, its records, and the CreateModelInvocationJob body."""

    requests: RequestSet
    model: str
    invocation_type: str
    count: int
    size: int
    digest: str
    bucket: str
    input_key: str
    body: dict[str, Any]

    def lines(self) -> Iterator[bytes]:
        """The JSONL records, produced again from the checked copy of the input (never held whole in memory)."""
        yield from _records(self.requests, self.model, self.invocation_type, problems=None)


def _records(requests: RequestSet, model: str, invocation: str, problems: Problems | None) -> Iterator[bytes]:
    native = requests.input_format == "bedrock"
    for request in requests.iter_checked():
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


def _first_params(requests: RequestSet) -> dict[str, Any]:
    for request in requests.iter_checked():
        return request["params"]
    return {}


def job_model(requests: RequestSet) -> str:
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


def job_invocation(requests: RequestSet, model: str) -> str:
    """The job's modelInvocationType: from the model for the provider-neutral input, from the first
    record's body for native records (any other format is refused)."""
    require_format(requests, "bedrock", PROVIDER)
    if requests.input_format == "bedrock":
        return fmt.native_invocation_type(_first_params(requests))
    return fmt.invocation_type(model)


def check_job_options(options: BatchOptions, settings: Settings, uris: tuple[str, ...] = ()) -> None:
    """Refuse, before any I/O, job tags (``--metadata``) and S3 locations that Bedrock would refuse
    only after the records were uploaded: botocore's Tag and S3Uri patterns. Without ``uris``, the
    locations a job would get under ``--s3-uri`` (a run folder of the same characters below it)."""
    bad_tags = fmt.tag_problems(options.metadata)
    if bad_tags:
        raise UsageError("; ".join(bad_tags), hint="Change or drop those --metadata pairs; nothing was sent.")
    configured = settings.text("s3_uri")
    if not uris and configured:
        loc = location(settings)
        uris = (s3_uri(loc.bucket, loc.key(RUNS_FOLDER, "0" * 20, "input.jsonl")),)
    for where in uris:
        if len(where) > 1024 or not fmt.S3_URI_RE.match(where):
            raise UsageError(
                f"--s3-uri {configured}: Bedrock refuses a job's S3 location under it ({where}): its S3 URIs take "
                "lower-case bucket names and keys of letters, digits and - ! _ * ' ( ) . only "
                "(no '=' or spaces, as in hive-style dt=2025-07-01 prefixes)",
                hint="Pick an --s3-uri prefix of those characters (e.g. s3://bucket/batches/dt-2025-07-01); nothing was sent.",
            )


def prepare_job(requests: RequestSet, options: BatchOptions, settings: Settings, *, limits: fmt.Limits | None = None) -> PreparedJob:
    """Translate and check every request, and check Bedrock's quotas, before anything is sent."""
    model = job_model(requests)
    invocation = job_invocation(requests, model)
    timeout = options.timeout_hours
    check_timeout(timeout)
    size, digest = check_records(requests, model, invocation, limits)
    loc = location(settings)
    name = SAFE_KEY.sub("-", requests.display_name.replace("\\", "/").rsplit("/", 1)[-1]).strip("-.") or "input"
    name = name.removesuffix(".jsonl").removesuffix(".json")[:100] + ".jsonl"
    digest.update(f"\x00{model}\x00{invocation}\x00{name}".encode())
    hexdigest = digest.hexdigest()
    run = loc.key(RUNS_FOLDER, hexdigest[:20])
    input_key = join_key(run, name)
    output_uri = s3_uri(loc.bucket, join_key(run, "output")) + "/"
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
    check_job_options(options, settings, (body["inputDataConfig"]["s3InputDataConfig"]["s3Uri"], output_uri))
    # The default name follows every parameter too, so a changed create never reuses a job's name
    # (and the gateway, which drops clientRequestToken, can find a repeated create by it).
    job_name = options.job_name or options.client_token or f"{JOB_NAME_PREFIX}{request_token(hexdigest, body)[:20]}"
    if not fmt.JOB_NAME_RE.match(job_name) or len(job_name) > 63:
        raise UsageError(f"job name {job_name!r} is not valid for Bedrock (1-63 letters, digits, '-', '+', '.')")
    body = {"jobName": job_name, **body}
    body["clientRequestToken"] = request_token(hexdigest, body)
    return PreparedJob(requests, model, invocation, requests.count, size, hexdigest, loc.bucket, input_key, body)


def check_timeout(timeout: int | None) -> None:
    if timeout is not None and not 24 <= timeout <= 168:
        raise UsageError(f"--timeout-hours {timeout}: Bedrock takes 24 to 168 hours")


def check_records(
    requests: RequestSet, model: str, invocation: str, limits: fmt.Limits | None = None
) -> tuple[int, hashlib._Hash]:
    """Translate and check every record, and Bedrock's quotas (records and bytes per job), with no
    I/O: the records' size and their running sha256. Raises :class:`InputError` listing every problem."""
    limits = limits or fmt.Limits.from_env()
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
    elif quota:
        hint += " " + SPLIT_HINT.removesuffix("; nothing was sent.") + "."
    problems.raise_any(hint)
    return size, digest


CLIENT_TOKEN = re.compile(r"bifrost-[0-9a-f]{24}")


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


@parses("a model invocation job")
def parse_job(data: Any, provider: str = PROVIDER) -> Batch:
    if not isinstance(data, dict) or not data.get("jobArn"):
        raise MalformedAnswer(f"expected a model invocation job with a jobArn, got {shape(data)}")
    native = data.get("status")
    details: dict[str, Any] = {"job_name": data.get("jobName"), "model": data.get("modelId")}
    if isinstance(data.get("jobName"), str) and CLIENT_TOKEN.fullmatch(data["jobName"]):
        details["client_token"] = data["jobName"]  # a job named by its client token (BatchOptions)
    s3_in = ((data.get("inputDataConfig") or {}).get("s3InputDataConfig") or {}).get("s3Uri")
    s3_out = ((data.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}).get("s3Uri")
    details.update({"input": s3_in, "output": s3_out, "invocation_type": data.get("modelInvocationType")})
    if data.get("timeoutDurationInHours"):
        details["timeout_hours"] = data["timeoutDurationInHours"]
    return Batch(
        id=data["jobArn"],
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
            hint=f"`{suggest('batches list', provider='bedrock')}` shows the jobs.",
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
            raise MalformedAnswer(f"{where}, record {n}: no recordId")
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


def record_ids(lines: Iterator[str]) -> list[str]:
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
