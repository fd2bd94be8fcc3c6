"""Bedrock's batch inference control plane, served under ``/native/bedrock`` (rest-json).

Point boto3 or the CLI at it with ``AWS_ENDPOINT_URL_BEDROCK=<emulator>/native/bedrock``. Routes:
``POST /model-invocation-job``, ``GET /model-invocation-job/{jobIdentifier}`` (ARN percent-encoded, or
the bare id), ``GET /model-invocation-jobs`` and ``POST /model-invocation-job/{jobIdentifier}/stop``.
A SigV4 (or bearer) ``Authorization`` header is required (its shape is checked, not its signature).
Errors are ``{"message"}`` with ``x-amzn-ErrorType``; ConflictException is HTTP 400, like Bedrock's.

Jobs read their input from S3 (the S3 server named by ``AWS_ENDPOINT_URL_S3``, reached with the small
signed client in this module) when created, and progress with time like every emulated batch:
Submitted, Validating, InProgress, then Completed (or PartiallyCompleted when some record
``[emulator:expire]``s, Stopped after a stop, Failed when the input is unusable or its first record
has ``[emulator:batch-fail]``; with ``[emulator:batch-expire]`` in the first record the job stays
Scheduled and ends Expired, with no record processed). Once a job has ended, the first read of it
writes ``<output>/<job-id>/<input-file>.out`` and ``manifest.json.out`` back to S3 (once, under the
store's lock). The ``[emulator:error]`` markers make records fail.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote, urlsplit

from . import engine, ops
from .ops import Context
from .web import ApiError, Request, Response, Router, json_response, random_token

PREFIX = "/native/bedrock"
PROVIDER = "bedrock"
ACCOUNT = "123456789012"
MIN_RECORDS = 100
MAX_RECORDS = 50_000
STATUSES = ("Submitted", "Validating", "Scheduled", "InProgress", "Completed", "PartiallyCompleted",
            "Failed", "Stopping", "Stopped", "Expired")
_JOB_NAME = re.compile(r"^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}$")
_ROLE_ARN = re.compile(r"^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$")
_S3_URI = re.compile(r"^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?$")
_TOKEN = re.compile(r"^[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}$")
_JOB_REF = re.compile(r"^(?:arn:aws(?:-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-invocation-job/)?([a-z0-9]{12})$")
_CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/[^/,\s]+/aws4_request")
_LOWER = "0123456789abcdefghijklmnopqrstuvwxyz"
AWS_TYPES = {
    "invalid_request_error": "ValidationException",
    "request_too_large": "ValidationException",
    "not_found_error": "ResourceNotFoundException",
    "authentication_error": "AccessDeniedException",
    "permission_error": "AccessDeniedException",
}
_CREATE_FIELDS = {"jobName", "roleArn", "clientRequestToken", "modelId", "inputDataConfig", "outputDataConfig",
                  "vpcConfig", "timeoutDurationInHours", "tags", "modelInvocationType"}
# jobs that end without processing any record, so without output
_NO_OUTPUT = ("failed", "expired")
# the create parameters a reused clientRequestToken must repeat
_IDEMPOTENT_FIELDS = ("jobName", "roleArn", "modelId", "inputUri", "outputUri", "timeoutDurationInHours",
                      "modelInvocationType", "tags")


def _error(status: int, aws_type: str, message: str) -> ApiError:
    return ApiError(status, aws_type, message)


def validation(message: str) -> ApiError:
    return _error(400, "ValidationException", message)


def error_response(error: ApiError, request_id: str) -> Response:
    aws_type = AWS_TYPES.get(error.type, error.type if error.type[:1].isupper() else "InternalServerException")
    headers = [*error.headers, ("x-amzn-ErrorType", f"{aws_type}:http://internal.amazon.com/coral/com.amazon.bedrock/")]
    return json_response({"message": error.message}, error.status, headers)


# ---------------------------------------------------------------- a minimal S3 client (SigV4)


class S3Error(Exception):
    pass


class S3:
    """Just enough S3 (path-style GET, PUT, ListObjectsV2) over urllib, signed with SigV4."""

    def __init__(self, endpoint: str, region: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self.access_key = os.environ.get("AWS_ACCESS_KEY_ID") or "emulator"
        self.secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY") or "emulator"
        self.session_token = os.environ.get("AWS_SESSION_TOKEN")

    @classmethod
    def from_env(cls, region: str) -> S3:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint:
            raise S3Error("the emulator has no S3 endpoint: start it with AWS_ENDPOINT_URL_S3 set")
        return cls(endpoint, region)

    def _request(self, method: str, bucket: str, key: str = "", query: dict[str, str] | None = None,
                 data: bytes | None = None) -> bytes | None:
        parts = urlsplit(self.endpoint)
        path = (parts.path.rstrip("/") + "/" + quote(bucket, safe="") + ("/" + quote(key, safe="/~") if key else ""))
        canonical_query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted((query or {}).items()))
        now = dt.datetime.now(dt.UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        headers = {"host": parts.netloc, "x-amz-date": amz_date, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
        if self.session_token:
            headers["x-amz-security-token"] = self.session_token
        signed = ";".join(sorted(headers))
        canonical = "\n".join([method, path, canonical_query, *(f"{k}:{headers[k]}" for k in sorted(headers)), "",
                               signed, "UNSIGNED-PAYLOAD"])
        scope = f"{amz_date[:8]}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key_bytes = ("AWS4" + self.secret_key).encode()
        for piece in (amz_date[:8], self.region, "s3", "aws4_request"):
            key_bytes = hmac.new(key_bytes, piece.encode(), hashlib.sha256).digest()
        signature = hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                                    f"SignedHeaders={signed}, Signature={signature}")
        del headers["host"]
        if data is not None:  # urllib would call it a form, which S3 servers may parse away
            headers["content-type"] = "application/octet-stream"
        url = f"{parts.scheme}://{parts.netloc}{path}" + (f"?{canonical_query}" if canonical_query else "")
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - the configured endpoint
                return reply.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise S3Error(f"S3 answered {exc.code} to {method} s3://{bucket}/{key}") from None
        except OSError as exc:
            raise S3Error(f"cannot reach S3 at {self.endpoint}: {exc}") from None

    def get(self, bucket: str, key: str) -> bytes | None:
        return self._request("GET", bucket, key)

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self._request("PUT", bucket, key, data=data)

    def delete(self, bucket: str, key: str) -> None:
        self._request("DELETE", bucket, key)

    def list_xml(self, bucket: str, query: dict[str, str]) -> bytes | None:
        """A ListObjectsV2 answer as the S3 server gives it (None: no such bucket)."""
        return self._request("GET", bucket, query={**query, "list-type": "2"})

    def keys(self, bucket: str, prefix: str) -> list[str]:
        found: list[str] = []
        token: str | None = None
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            body = self._request("GET", bucket, query=query)
            if body is None:
                raise S3Error(f"no bucket {bucket}")
            root = ET.fromstring(body)
            ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            found.extend(el.text or "" for el in root.iter(f"{ns}Key"))
            token = root.findtext(f"{ns}NextContinuationToken")
            if not token:
                return found


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


# ---------------------------------------------------------------- records -> plan


def _as_messages(model_input: dict, invocation: str, model: str) -> dict:
    """A record's modelInput as Messages-style params, for the engine's planning."""
    if invocation == "Converse":
        messages = []
        for msg in model_input.get("messages") or []:
            if not isinstance(msg, dict):
                continue
            blocks = [{"type": "text", "text": b["text"]} for b in msg.get("content") or []
                      if isinstance(b, dict) and isinstance(b.get("text"), str)]
            messages.append({"role": msg.get("role"), "content": blocks})
        config = model_input.get("inferenceConfig") or {}
        return {"model": model, "max_tokens": config.get("maxTokens", 512), "messages": messages}
    params = {"model": model, **model_input}
    if "messages" not in params:
        prompt = params.get("prompt") or params.get("inputText")
        if isinstance(prompt, str):
            params["messages"] = [{"role": "user", "content": prompt}]
        params.setdefault("max_tokens", params.get("max_gen_len") or 512)
    return params


def plan_record(job_id: str, record_id: str, model_input: Any, invocation: str, model: str) -> list:
    if not isinstance(model_input, dict):
        return [record_id, engine.ERRORED, "invalid_request_error", "modelInput must be an object", model, "", 0, 0]
    if invocation == "InvokeModel" and "anthropic." in model:
        if model_input.get("anthropic_version") != "bedrock-2023-05-31":
            return [record_id, engine.ERRORED, "invalid_request_error",
                    "anthropic_version: must be bedrock-2023-05-31", model, "", 0, 0]
        if "model" in model_input:
            return [record_id, engine.ERRORED, "invalid_request_error", "model: extraneous key is not permitted",
                    model, "", 0, 0]
    return engine.plan_request(job_id, record_id, _as_messages(model_input, invocation, model))


def read_input(s3: S3, uri: str) -> list[tuple[str, str, list[tuple[str, Any]]]]:
    """Every input file of a job: ``(bucket, key, [(recordId, modelInput)...])``."""
    bucket, key = split_uri(uri)
    keys = [key] if key.endswith(".jsonl") else [k for k in s3.keys(bucket, key) if k.endswith(".jsonl")]
    files = []
    for name in keys:
        data = s3.get(bucket, name)
        if data is None:
            raise S3Error(f"the input s3://{bucket}/{name} does not exist")
        records = []
        for lineno, raw in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
            except ValueError:
                raise S3Error(f"s3://{bucket}/{name} line {lineno} is not valid JSON") from None
            if not isinstance(item, dict) or "modelInput" not in item:
                raise S3Error(f"s3://{bucket}/{name} line {lineno} has no modelInput")
            record_id = item.get("recordId")
            if not isinstance(record_id, str) or not record_id:
                record_id = random_token(11, _LOWER).upper()
            records.append((record_id, item["modelInput"]))
        files.append((bucket, name, records))
    if not files:
        raise S3Error(f"no .jsonl input under {uri}")
    return files


# ---------------------------------------------------------------- shapes


def native_status(record: dict, snap: engine.Snapshot, now: float) -> str:
    step = record["batch_seconds"] / (4 * (record["n"] + 1))
    waiting = record.get("fate") == "expired" and snap.phase == "in_progress"
    if snap.phase == "validating" or (waiting and now < record["created_at"] + 2 * step):
        return "Submitted" if now < record["created_at"] + step else "Validating"
    if snap.phase == "failed":
        return "Failed"
    if snap.phase == "expired":
        return "Expired"
    if waiting:
        return "Scheduled"  # validated, waiting for capacity until the job times out
    if snap.phase == "canceling":
        return "Stopping"
    if snap.phase == "ended":
        if snap.canceled:
            return "Stopped"
        return "PartiallyCompleted" if engine.EXPIRED in snap.outcomes else "Completed"
    return "InProgress"


def _counts(record: dict, snap: engine.Snapshot, status: str) -> dict:
    if status in ("Submitted", "Validating", "Scheduled", "Failed"):
        return {}
    head = snap.outcomes[: snap.finished]
    succeeded, errored = head.count(engine.SUCCEEDED), head.count(engine.ERRORED)
    return {"totalRecordCount": snap.n, "processedRecordCount": succeeded + errored,
            "successRecordCount": succeeded, "errorRecordCount": errored}


def job_json(record: dict, now: float) -> dict:
    snap = engine.snapshot(record, now)
    status = native_status(record, snap, now)
    body: dict[str, Any] = {
        "jobArn": record["jobArn"],
        "jobName": record["jobName"],
        "modelId": record["modelId"],
        "clientRequestToken": record["clientRequestToken"],
        "roleArn": record["roleArn"],
        "status": status,
        "submitTime": ops.rfc3339(record["created_at"]),
        "lastModifiedTime": ops.rfc3339(snap.ended_at if snap.ended_at is not None else record["created_at"]),
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": record["inputUri"], "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": record["outputUri"]}},
        "timeoutDurationInHours": record["timeoutDurationInHours"],
        "jobExpirationTime": ops.rfc3339(record["created_at"] + record["timeoutDurationInHours"] * 3600),
        "modelInvocationType": record["modelInvocationType"],
        **_counts(record, snap, status),
    }
    if snap.done and snap.ended_at is not None:
        body["endTime"] = ops.rfc3339(snap.ended_at)
    if status == "Failed" and record.get("message"):
        body["message"] = record["message"]
    elif status == "Stopped":
        body["message"] = "Job stopped by user"
    return body


def model_output(job_id: str, entry: list, record: dict) -> dict:
    _, _, _, _, model, reply, input_tokens, output_tokens = entry
    if record["modelInvocationType"] == "Converse":
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": reply}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens,
                      "totalTokens": input_tokens + output_tokens},
            "metrics": {"latencyMs": 100 + output_tokens},
        }
    if "anthropic." in record["modelId"]:
        message = engine.anthropic_message(job_id, entry)
        message["model"] = record["modelId"]
        return message
    return {"generation": reply, "prompt_token_count": input_tokens, "generation_token_count": output_tokens,
            "stop_reason": "stop"}


# ---------------------------------------------------------------- output writing


def write_outputs(ctx: Context, record: dict, region: str) -> dict | None:
    """Write the ended job's outputs and manifest to S3, once (call under the store's lock)."""
    snap = engine.snapshot(record, ctx.now())
    if not snap.done or record.get("written") or record.get("fate") in _NO_OUTPUT:
        return None
    s3 = S3.from_env(region)
    plan = ops.batch_plan(ctx.store, PROVIDER, record["id"])
    out_bucket, out_prefix = split_uri(record["outputUri"])
    start = 0
    totals = {"succeeded": 0, "errored": 0, "input": 0, "output": 0}
    for bucket, key, count in record["files"]:
        entries = plan[start:start + count]
        indexes = {entry[0]: start + i for i, entry in enumerate(entries)}
        start += count
        data = s3.get(bucket, key) or b""
        inputs: dict[str, Any] = {}
        for raw in data.decode("utf-8", "replace").splitlines():
            try:
                item = json.loads(raw)
            except ValueError:
                continue
            if isinstance(item, dict) and isinstance(item.get("recordId"), str):
                inputs[item["recordId"]] = item.get("modelInput")
        lines = []
        for i in engine.result_order(record["id"], entries):
            entry = entries[i]
            outcome = snap.final_outcome(indexes[entry[0]])
            line: dict[str, Any] = {"recordId": entry[0], "modelInput": inputs.get(entry[0])}
            if outcome == engine.SUCCEEDED:
                line["modelOutput"] = model_output(record["id"], entry, record)
                totals["succeeded"] += 1
                totals["input"] += entry[6]
                totals["output"] += entry[7]
            elif outcome == engine.ERRORED:
                line["error"] = {"errorCode": engine.ERROR_STATUS.get(entry[2], 400), "errorMessage": entry[3]}
                totals["errored"] += 1
            else:
                continue  # expired or stopped: Bedrock writes nothing for it
            lines.append(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
        name = key.rsplit("/", 1)[-1] + ".out"
        s3.put(out_bucket, _join(out_prefix, record["id"], name), ("\n".join(lines) + "\n").encode() if lines else b"")
    manifest = {
        "totalRecordCount": record["n"],
        "processedRecordCount": totals["succeeded"] + totals["errored"],
        "successRecordCount": totals["succeeded"],
        "errorRecordCount": totals["errored"],
        "inputTokenCount": totals["input"],
        "outputTokenCount": totals["output"],
    }
    s3.put(out_bucket, _join(out_prefix, record["id"], "manifest.json.out"), json.dumps(manifest).encode())
    return {**record, "written": True}


def settle(ctx: Context, record: dict) -> dict:
    """The job, after writing its outputs if it has just ended (an S3 failure is retried on a later read)."""
    if record.get("written") or record.get("fate") in _NO_OUTPUT or not engine.snapshot(record, ctx.now()).done:
        return record

    def change(current: dict) -> dict | None:
        try:
            return write_outputs(ctx, current, record.get("region", "us-east-1"))
        except S3Error:
            return None

    return ctx.store.batches(PROVIDER).update(record["id"], change) or record


# ---------------------------------------------------------------- handlers


def _job_or_404(ctx: Context, identifier: str) -> dict:
    match = _JOB_REF.match(identifier)
    record = ctx.store.batches(PROVIDER).get(match.group(1)) if match else None
    if record is None or (match and identifier.startswith("arn:") and record["jobArn"] != identifier):
        raise _error(404, "ResourceNotFoundException", f"Could not find model invocation job {identifier}")
    return record


def _s3_config(body: dict, name: str, inner: str) -> str:
    config = body.get(name)
    uri = config.get(inner, {}).get("s3Uri") if isinstance(config, dict) and isinstance(config.get(inner), dict) else None
    if not isinstance(uri, str) or not _S3_URI.match(uri):
        raise validation(f"{name}.{inner}.s3Uri must be an S3 URI (s3://bucket/prefix)")
    return uri


def validated_create(body: Any) -> dict:
    if not isinstance(body, dict):
        raise validation("The request body must be a JSON object")
    unknown = sorted(set(body) - _CREATE_FIELDS)
    if unknown:
        raise validation(f"Unknown field: {unknown[0]}")
    for name in ("jobName", "roleArn", "modelId", "inputDataConfig", "outputDataConfig"):
        if name not in body:
            raise validation(f"1 validation error detected: Value null at '{name}' failed to satisfy constraint: "
                             "Member must not be null")
    if not isinstance(body["jobName"], str) or not _JOB_NAME.match(body["jobName"]) or len(body["jobName"]) > 63:
        raise validation("jobName must match [a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\\+\\-\\.]){0,63}")
    if not isinstance(body["roleArn"], str) or not _ROLE_ARN.match(body["roleArn"]):
        raise validation("roleArn must be an IAM role ARN")
    if not isinstance(body["modelId"], str) or not body["modelId"]:
        raise validation("modelId must be a non-empty string")
    token = body.get("clientRequestToken")
    if token is not None and (not isinstance(token, str) or not _TOKEN.match(token) or len(token) > 256):
        raise validation("clientRequestToken must be 1-256 letters, digits and hyphens")
    timeout = body.get("timeoutDurationInHours", 168)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 24 <= timeout <= 168:
        raise validation("timeoutDurationInHours must be between 24 and 168")
    invocation = body.get("modelInvocationType", "InvokeModel")
    if invocation not in ("InvokeModel", "Converse"):
        raise validation("modelInvocationType must be InvokeModel or Converse")
    return {
        "jobName": body["jobName"],
        "roleArn": body["roleArn"],
        "modelId": body["modelId"],
        "clientRequestToken": token or random_token(32, _LOWER),
        "inputUri": _s3_config(body, "inputDataConfig", "s3InputDataConfig"),
        "outputUri": _s3_config(body, "outputDataConfig", "s3OutputDataConfig"),
        "timeoutDurationInHours": timeout,
        "modelInvocationType": invocation,
        "tags": body.get("tags") or [],
    }


def region_of(req: Request) -> str:
    found = _CREDENTIAL.search(req.header("authorization") or "")
    return found.group(1) if found else "us-east-1"


def create_job(ctx: Context, req: Request) -> Response:
    record = create_record(ctx, validated_create(req.read_json()), region_of(req))
    return json_response({"jobArn": record["jobArn"]})


def _job_fate(records: list, invocation: str, model: str) -> tuple[str | None, str | None]:
    """``(fate, message)`` chosen by a batch marker in the first record."""
    first = records[0][1] if records else None
    if not isinstance(first, dict):
        return None, None
    kinds = {kind for kind, _ in engine.markers(_as_messages(first, invocation, model))}
    if "batch-fail" in kinds:
        return "failed", "Emulated job failure ([emulator:batch-fail] in the first record)"
    if "batch-expire" in kinds:
        return "expired", None
    return None, None


def create_record(ctx: Context, params: dict, region: str) -> dict:
    """Create a job from validated create parameters (or return the one its clientRequestToken made)."""
    jobs = ctx.store.batches(PROVIDER)
    with ctx.store.locked():
        for existing in jobs.all():
            if existing.get("clientRequestToken") == params["clientRequestToken"]:
                if any(existing.get(k) != params[k] for k in _IDEMPOTENT_FIELDS):
                    raise _error(400, "ConflictException",
                                 "The clientRequestToken was already used with different parameters")
                return existing
        job_id = random_token(12, _LOWER)
        plan: list[list] = []
        files: list[list] = []
        message = fate = None
        try:
            for bucket, key, records in read_input(S3.from_env(region), params["inputUri"]):
                if not files:
                    fate, message = _job_fate(records, params["modelInvocationType"], params["modelId"])
                files.append([bucket, key, len(records)])
                plan.extend(plan_record(job_id, rid, model_input, params["modelInvocationType"], params["modelId"])
                            for rid, model_input in records)
        except S3Error as exc:
            message = str(exc)
        if message is None and len(plan) < MIN_RECORDS:
            message = (f"The number of records in the input ({len(plan)}) is less than the minimum of "
                       f"{MIN_RECORDS} records per batch inference job")
        elif message is None and len(plan) > MAX_RECORDS:
            message = f"The input has {len(plan)} records; a batch inference job takes at most {MAX_RECORDS}"
        if message is not None:
            plan, files, fate = [], [], "failed"
        record = engine.new_batch_record(job_id, PROVIDER, plan, created_at=ctx.now(),
                                         batch_seconds=ctx.config.batch_seconds, fate=fate,
                                         model=params["modelId"])
        if message:
            record["n"] = 1  # the engine's clock needs at least one step to validate
            record["outcomes"] = engine.ERRORED
        record.update(params, jobArn=f"arn:aws:bedrock:{region}:{ACCOUNT}:model-invocation-job/{job_id}",
                      files=files, message=message, region=region, written=False)
        jobs.create(record, documents={".plan.json": plan})
    return record


def find_job(ctx: Context, identifier: str) -> dict:
    """The job (settled: outputs written once it has ended) named by an ARN or a bare id, or a 404."""
    return settle(ctx, _job_or_404(ctx, identifier))


def get_job(ctx: Context, req: Request, job: str) -> Response:
    record = find_job(ctx, job)
    return json_response(job_json(record, ctx.now()))


def _timestamp(raw: str | None, name: str) -> float | None:
    if not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise validation(f"{name} must be an ISO 8601 timestamp") from None


def list_page(ctx: Context, req: Request) -> tuple[list[dict], str | None]:
    """One page of jobs (settled, as Bedrock shows them) for a list request's query, and the token
    of the next page."""
    raw_max = req.arg("maxResults")
    if raw_max is not None and (not raw_max.isdigit() or not 1 <= int(raw_max) <= 1000):
        raise validation("maxResults must be between 1 and 1000")
    limit = int(raw_max) if raw_max else 1000
    status, name = req.arg("statusEquals"), req.arg("nameContains")
    if status is not None and status not in STATUSES:
        raise validation(f"statusEquals must be one of {', '.join(STATUSES)}")
    after, before = _timestamp(req.arg("submitTimeAfter"), "submitTimeAfter"), _timestamp(req.arg("submitTimeBefore"), "submitTimeBefore")
    now = ctx.now()
    records = ctx.store.batches(PROVIDER).all()
    if req.arg("sortOrder") == "Ascending":
        records.reverse()
    jobs = []
    for record in records:
        if name and name not in record["jobName"]:
            continue
        if (after is not None and record["created_at"] <= after) or (before is not None and record["created_at"] >= before):
            continue
        body = job_json(record, now)
        if status is None or body["status"] == status:
            jobs.append((record, body))
    token = req.arg("nextToken")
    start = 0
    if token:
        try:
            last = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        except ValueError:
            raise validation("Invalid nextToken") from None
        ids = [r["id"] for r, _ in jobs]
        start = ids.index(last) + 1 if last in ids else len(ids)
    page = jobs[start:start + limit]
    settled = [settle(ctx, r) for r, _ in page]
    more = start + limit < len(jobs) and page
    return settled, page_token(page[-1][0]) if more else None


def list_jobs(ctx: Context, req: Request) -> Response:
    page, token = list_page(ctx, req)
    now = ctx.now()
    answer: dict[str, Any] = {"invocationJobSummaries": [job_json(r, now) for r in page]}
    if token:
        answer["nextToken"] = token
    return json_response(answer)


def page_token(record: dict) -> str:
    """The list token that continues after ``record``."""
    return base64.urlsafe_b64encode(record["id"].encode()).decode().rstrip("=")


def stop_record(ctx: Context, identifier: str) -> dict:
    record = _job_or_404(ctx, identifier)
    try:
        ops.cancel_batch(ctx.store, PROVIDER, record["id"], ctx.now())
    except ApiError:
        status = native_status(record, engine.snapshot(record, ctx.now()), ctx.now())
        raise _error(400, "ConflictException", f"The job cannot be stopped: its status is {status}") from None
    return _job_or_404(ctx, identifier)


def stop_job(ctx: Context, req: Request, job: str) -> Response:
    stop_record(ctx, job)
    return json_response({})


ROUTER = Router()
ROUTER.add("POST", r"/model-invocation-job", create_job)
ROUTER.add("GET", r"/model-invocation-jobs", list_jobs)
ROUTER.add("POST", r"/model-invocation-job/(?P<job>.+)/stop", stop_job)
ROUTER.add("GET", r"/model-invocation-job/(?P<job>.+)", get_job)


def authenticate(req: Request) -> None:
    auth = (req.header("authorization") or "").strip()
    if auth.startswith("Bearer ") and auth[7:].strip():
        return
    if not auth:
        raise _error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    if not (auth.startswith("AWS4-HMAC-SHA256 ") and _CREDENTIAL.search(auth)
            and "SignedHeaders=" in auth and "Signature=" in auth):
        raise _error(403, "InvalidSignatureException", "The Authorization header is not a SigV4 signature")


def handle(ctx: Context, req: Request, path: str) -> Response:
    """Serve one request whose path (without :data:`PREFIX`) is ``path``."""
    request_id = "-".join(random_token(n, "0123456789abcdef") for n in (8, 4, 4, 4, 12))
    try:
        authenticate(req)
        handler, params, _ = ROUTER.match(req.method, path)
        if handler is None:
            raise _error(404, "UnknownOperationException", f"Not found: {req.method} {PREFIX}{path}")
        response = handler(ctx, req, **params)
    except ApiError as error:
        req.drain()
        response = error_response(error, request_id)
    response.add_header("x-amzn-RequestId", request_id)
    return response

