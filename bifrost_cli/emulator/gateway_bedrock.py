"""The Bifrost gateway's Bedrock-compatible routes (``/bedrock/...``) for its ``bedrock`` upstream.

The upstream is the same emulated Bedrock (same store, same S3 at ``AWS_ENDPOINT_URL_S3``) as
``/native/bedrock``. Reproduced behaviours of the real gateway (its default configuration):

* provider from the ``x-model-provider`` header (default ``bedrock``); the virtual key in ``x-bf-vk``
  (or the other key headers) when one is configured; no AWS signature;
* ``PUT /bedrock/files/{bucket}/{key...}`` is S3 PutObject: the body is written to S3, the answer is
  empty with an ``ETag``; its errors are S3 XML;
* ``POST /bedrock/model-invocation-job`` reads only ``jobName``, ``modelId``, ``roleArn``,
  ``inputDataConfig``, ``outputDataConfig`` and ``timeoutDurationInHours``: ``clientRequestToken``,
  ``modelInvocationType`` and ``tags`` are not passed on, so every create starts a new job;
* answers are the gateway's conversions, not Bedrock's own: a job has ``jobArn``, ``status``,
  ``jobName``, ``message``, ``submitTime``, ``endTime`` and the S3 locations, without ``modelId`` or
  record counts; statuses go through the gateway's own ones, so Submitted and Scheduled read
  ``Validating`` and PartiallyCompleted reads ``Failed``; list summaries carry ``jobArn``,
  ``jobName``, ``modelId``, ``status`` and the times; stop answers ``{"jobArn", "status"}``;
* the ARN in a path is percent-encoded (or the bare id); errors are ``{"__type", "message"}``;
* unknown GET paths answer the web UI's HTML page.
"""

from __future__ import annotations

import hashlib
from typing import Any

from . import bedrock_native as native
from .gateway import presented_keys, spa_page
from .ops import Context
from .web import ApiError, Request, Response, Router, json_response

PREFIX = "/bedrock"
MAX_OBJECT = 5 * 1024**3
# the create fields the gateway's request type has
_CREATE_FIELDS = ("jobName", "modelId", "roleArn", "inputDataConfig", "outputDataConfig", "timeoutDurationInHours")
# Bedrock status -> the gateway's own status -> the Bedrock status it shows
_SHOWN_STATUS = {"Submitted": "Validating", "Scheduled": "Validating", "PartiallyCompleted": "Failed"}


def _status(body: dict) -> str:
    return _SHOWN_STATUS.get(body["status"], body["status"])


def job_json(record: dict, now: float) -> dict:
    full = native.job_json(record, now)
    body: dict[str, Any] = {"jobArn": full["jobArn"], "status": _status(full), "jobName": full["jobName"]}
    for key in ("message", "submitTime", "endTime", "inputDataConfig", "outputDataConfig"):
        if full.get(key):
            body[key] = full[key]
    return body


def summary_json(record: dict, now: float) -> dict:
    full = native.job_json(record, now)
    body = {"jobArn": full["jobArn"], "jobName": full["jobName"], "modelId": full["modelId"], "status": _status(full)}
    body.update((key, full[key]) for key in ("submitTime", "endTime") if full.get(key))
    return body


def put_object(ctx: Context, req: Request, bucket: str, key: str) -> Response:
    data = req.read_body(MAX_OBJECT)
    try:
        native.S3.from_env("us-east-1").put(bucket, key, data)
    except native.S3Error as exc:
        raise ApiError(500, "InternalError", str(exc)) from None
    return Response(200, b"", headers=[("ETag", '"' + hashlib.md5(data).hexdigest() + '"')])  # noqa: S324 - an ETag


def create_job(ctx: Context, req: Request) -> Response:
    body = req.read_json()
    if not isinstance(body, dict):
        raise native.validation("The request body must be a JSON object")
    kept = {k: body[k] for k in _CREATE_FIELDS if k in body}
    if not kept.get("timeoutDurationInHours"):
        kept.pop("timeoutDurationInHours", None)
    record = native.create_record(ctx, native.validated_create(kept), "us-east-1")
    return json_response(job_json(record, ctx.now()))


def list_jobs(ctx: Context, req: Request) -> Response:
    page, _ = native.list_page(ctx, req)
    now = ctx.now()
    answer: dict[str, Any] = {"invocationJobSummaries": [summary_json(r, now) for r in page]}
    if page:  # the gateway hands back the page's last id, even on the last page
        answer["nextToken"] = native.page_token(page[-1])
    return json_response(answer)


def get_job(ctx: Context, req: Request, job: str) -> Response:
    return json_response(job_json(native.find_job(ctx, job), ctx.now()))


def stop_job(ctx: Context, req: Request, job: str) -> Response:
    req.drain()
    record = native.stop_record(ctx, job)
    return json_response({"jobArn": record["jobArn"], "status": _status(native.job_json(record, ctx.now()))})


ROUTER = Router()
ROUTER.add("PUT", r"/files/(?P<bucket>[^/]+)/(?P<key>.+)", put_object)
ROUTER.add("POST", r"/model-invocation-job", create_job)
ROUTER.add("GET", r"/model-invocation-jobs", list_jobs)
ROUTER.add("POST", r"/model-invocation-job/(?P<job>.+)/stop", stop_job)  # the ARN arrives decoded
ROUTER.add("GET", r"/model-invocation-job/(?P<job>.+)", get_job)


def error_response(error: ApiError, s3: bool) -> Response:
    if s3:
        from xml.sax.saxutils import escape

        xml = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{escape(error.type)}</Code><Message>{escape(error.message)}</Message></Error>"
        return Response(error.status, xml.encode(), content_type="application/xml")
    aws_type = native.AWS_TYPES.get(error.type, error.type if error.type[:1].isupper() else "InternalServerError")
    return json_response({"__type": aws_type, "message": error.message}, error.status)


def handle(ctx: Context, req: Request, path: str) -> Response:
    """Serve one request whose path (without :data:`PREFIX`) is ``path``."""
    handler, params, _ = ROUTER.match(req.method, path)
    if handler is None:
        if req.method in ("GET", "HEAD"):
            return spa_page()
        req.drain()
        return error_response(ApiError(404, "UnknownOperationException", f"route not found: {req.method} {PREFIX}{path}"), False)
    try:
        expected = ctx.config.virtual_key
        if expected is not None and expected not in presented_keys(req):
            raise ApiError(401, "AccessDeniedException", "invalid or missing virtual key")
        provider = (req.header("x-model-provider") or "bedrock").strip().lower() or "bedrock"
        if provider != "bedrock":
            raise native.validation(f"unsupported_operation: the emulated gateway serves only provider bedrock on its "
                                    f"/bedrock routes, not {provider!r}")
        return handler(ctx, req, **params)
    except ApiError as error:
        req.drain()
        return error_response(error, handler is put_object)
