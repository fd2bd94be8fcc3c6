"""The Bifrost gateway's Bedrock-compatible routes (``/bedrock/...``) for its ``bedrock`` upstream.

The upstream is the same emulated Bedrock (same store, same S3 at ``AWS_ENDPOINT_URL_S3``) as
``/native/bedrock``. Reproduced behaviours of the real gateway (its default configuration):

* provider from the ``x-model-provider`` header (default ``bedrock``); the virtual key in ``x-bf-vk``
  (or the other key headers) when one is configured; no AWS signature;
* ``/bedrock/files`` is five S3 operations on the S3 behind it: ``PUT``, ``GET``, ``HEAD`` and
  ``DELETE`` on ``/bedrock/files/{bucket}/{key...}`` and ``GET /bedrock/files/{bucket}`` as
  ListObjectsV2 (``prefix``, ``max-keys``, ``continuation-token``; the S3 server's own answer). HEAD
  and DELETE take the file id (``s3://bucket/key``) from ``If-Match`` (the path when there is none);
  a PUT answers with the file id in quotes as its ETag, ``Content-Type: application/xml`` and
  ``x-amz-request-id: bifrost``; errors are S3 XML;
* ``POST /bedrock/model-invocation-job`` reads only ``jobName``, ``modelId``, ``roleArn``,
  ``inputDataConfig``, ``outputDataConfig``, ``timeoutDurationInHours`` and a ``file_id`` tag (which
  overrides the input S3 URI): ``clientRequestToken``, ``modelInvocationType`` and the other tags are
  not passed on, so every create starts a new job;
* with ``legacy_gateway`` (older gateways): ``timeoutDurationInHours`` is dropped, list sends only
  ``maxResults``/``nextToken`` upstream (``statusEquals`` and ``nameContains`` are not applied) and
  its summaries have empty ``jobName`` and ``modelId``; get has no ``jobName`` and no ``message``;
* other providers (``x-model-provider`` = openai, anthropic, gemini): the S3 routes store and serve
  that upstream's files (the ETag and the ``If-Match`` id are its file id); jobs need a ``file_id``
  tag (and ``endpoint`` for openai), read that upstream's file, and are named
  ``arn:aws:bedrock:us-east-1:444444444444:batch:<upstream batch id>``;
* ``/openai`` routes with ``provider`` = bedrock are served here (:func:`openai_route`);
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
from . import ops
from .gateway import presented_keys, spa_page
from .ops import Context
from .web import ApiError, Request, Response, Router, bad_request, json_response, not_found

PREFIX = "/bedrock"
MAX_OBJECT = 5 * 1024**3
# the create fields the gateway's request type has
_CREATE_FIELDS = ("jobName", "modelId", "roleArn", "inputDataConfig", "outputDataConfig", "timeoutDurationInHours")
# Bedrock status -> the gateway's own status -> the Bedrock status it shows
_SHOWN_STATUS = {"Submitted": "Validating", "Scheduled": "Validating", "PartiallyCompleted": "Failed"}


def _status(body: dict) -> str:
    return _SHOWN_STATUS.get(body["status"], body["status"])


def job_json(record: dict, now: float, legacy: bool = False) -> dict:
    full = native.job_json(record, now)
    body: dict[str, Any] = {"jobArn": full["jobArn"], "status": _status(full)}
    if not legacy:  # older gateways leave out jobName and message
        body["jobName"] = full["jobName"]
    shown = () if legacy else ("message", "timeoutDurationInHours", "jobExpirationTime")
    for key in ("submitTime", "endTime", "inputDataConfig", "outputDataConfig", *shown):
        if full.get(key):
            body[key] = full[key]
    return body


def summary_json(record: dict, now: float, legacy: bool = False) -> dict:
    full = native.job_json(record, now)
    body = {"jobArn": full["jobArn"], "jobName": "" if legacy else full["jobName"],
            "modelId": "" if legacy else full["modelId"], "status": _status(full)}
    body.update((key, full[key]) for key in ("submitTime", "endTime") if full.get(key))
    return body


# ---------------------------------------------------------------- /bedrock/files: S3 operations


def _s3() -> native.S3:
    try:
        return native.S3.from_env("us-east-1")
    except native.S3Error as exc:
        raise ApiError(500, "InternalError", str(exc)) from None


def _s3_call(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except native.S3Error as exc:
        raise ApiError(500, "InternalError", str(exc)) from None


def _file_id_header(req: Request, bucket: str, key: str) -> str:
    """HEAD and DELETE take the file id from ``If-Match`` (quotes dropped); the path otherwise."""
    raw = (req.header("if-match") or "").strip().strip('"')
    return raw or f"s3://{bucket}/{key}"


def _s3_split(file_id: str) -> tuple[str, str]:
    if not file_id.startswith("s3://") or "/" not in file_id[5:]:
        raise ApiError(400, "InvalidArgument", f"invalid file id {file_id!r}: expected s3://bucket/key")
    return native.split_uri(file_id)


def _no_such_key(key: str) -> ApiError:
    return ApiError(404, "NoSuchKey", f"The specified key does not exist: {key}")


def _s3_headers() -> list[tuple[str, str]]:
    return [("x-amz-request-id", "bifrost")]


def put_object(ctx: Context, req: Request, provider: str, bucket: str, key: str) -> Response:
    data = req.read_body(MAX_OBJECT)
    if provider == "bedrock":
        _s3_call(_s3().put, bucket, key, data)
        file_id = f"s3://{bucket}/{key}"
    else:
        from . import gateway_cross as core

        name = key.rsplit("/", 1)[-1]
        file_id = core.upload_bytes(ctx, provider, data, filename=name, mime_type=ops.guess_mime(name, None),
                                    purpose="batch")["id"]
    return Response(200, b"", headers=[("ETag", f'"{file_id}"'), *_s3_headers()], content_type="application/xml")


def _object(ctx: Context, provider: str, file_id: str) -> tuple[bytes | None, Response | None, str]:
    """``(data, None, etag)`` for S3 objects, ``(None, streamed response, etag)`` for stored files."""
    if provider == "bedrock":
        bucket, key = _s3_split(file_id)
        data = _s3_call(_s3().get, bucket, key)
        if data is None:
            raise _no_such_key(key)
        return data, None, '"' + hashlib.md5(data).hexdigest() + '"'  # noqa: S324 - an ETag
    from . import gateway_cross as core
    from .anthropic_native import stream_file

    try:
        record = core.file_record(ctx, provider, file_id)
    except ApiError:
        raise _no_such_key(file_id) from None
    return None, stream_file(ctx, provider, record), f'"{record["id"]}"'


def get_object(ctx: Context, req: Request, provider: str, bucket: str, key: str) -> Response:
    file_id = f"s3://{bucket}/{key}" if provider == "bedrock" else key
    data, streamed, etag = _object(ctx, provider, file_id)
    if streamed is not None:
        streamed.add_header("ETag", etag)
        streamed.add_header("x-amz-request-id", "bifrost")
        return streamed
    return Response(200, data or b"", headers=[("ETag", etag), *_s3_headers()],
                    content_type="application/octet-stream")


def head_object(ctx: Context, req: Request, provider: str, bucket: str, key: str) -> Response:
    req.drain()
    file_id = _file_id_header(req, bucket, key)
    if provider != "bedrock" and file_id.startswith("s3://"):
        file_id = key
    data, streamed, etag = _object(ctx, provider, file_id)
    if streamed is not None:
        streamed.close()
        from . import gateway_cross as core

        size = core.get_file(ctx, provider, file_id)["bytes"]
    else:
        size = len(data or b"")
    return Response(200, iter(()), headers=[("ETag", etag), ("Content-Length", str(size)), *_s3_headers()],
                    content_type="application/octet-stream")


def delete_object(ctx: Context, req: Request, provider: str, bucket: str, key: str) -> Response:
    req.drain()
    file_id = _file_id_header(req, bucket, key)
    if provider == "bedrock":
        b, k = _s3_split(file_id)
        _s3_call(_s3().delete, b, k)
    else:
        from . import gateway_cross as core

        core.delete_file(ctx, provider, key if file_id.startswith("s3://") else file_id)
    return Response(204, b"", headers=_s3_headers())


def list_objects(ctx: Context, req: Request, provider: str, bucket: str) -> Response:
    req.drain()
    query = {name: value for name in ("prefix", "max-keys", "continuation-token")
             if (value := req.arg(name)) is not None}
    if provider == "bedrock":
        body = _s3_call(_s3().list_xml, bucket, query)
        if body is None:
            raise ApiError(404, "NoSuchBucket", f"The specified bucket does not exist: {bucket}")
        return Response(200, body, headers=_s3_headers(), content_type="application/xml")
    from xml.sax.saxutils import escape

    from . import gateway_cross as core

    views = [v for v in reversed(core.files(ctx, provider)) if v["id"].startswith(query.get("prefix", ""))]
    limit = int(query["max-keys"]) if query.get("max-keys", "").isdigit() else 1000
    start = int(query["continuation-token"]) if query.get("continuation-token", "").isdigit() else 0
    page = views[start:start + limit]
    more = start + limit < len(views)
    items = "".join(f"<Contents><Key>{escape(v['id'])}</Key><Size>{v['bytes']}</Size>"
                    f"<ETag>&quot;{escape(v['id'])}&quot;</ETag></Contents>" for v in page)
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
           f"<Name>{escape(bucket)}</Name><Prefix>{escape(query.get('prefix', ''))}</Prefix>"
           f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{limit}</MaxKeys>"
           f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>{items}"
           + (f"<NextContinuationToken>{start + limit}</NextContinuationToken>" if more else "")
           + "</ListBucketResult>")
    return Response(200, xml.encode(), headers=_s3_headers(), content_type="application/xml")


# ---------------------------------------------------------------- jobs


def create_job(ctx: Context, req: Request, provider: str) -> Response:
    body = req.read_json()
    if not isinstance(body, dict):
        raise native.validation("The request body must be a JSON object")
    if provider != "bedrock":
        return json_response(cross_job(create_cross(ctx, provider, body), provider))
    kept = {k: body[k] for k in _CREATE_FIELDS if k in body}
    if not kept.get("timeoutDurationInHours") or ctx.config.legacy_gateway:
        kept.pop("timeoutDurationInHours", None)  # older gateways take the timeout only from the completion window
    tag_file = _tag(body, "file_id")
    if tag_file:  # a file_id tag overrides the input S3 URI
        kept["inputDataConfig"] = {"s3InputDataConfig": {"s3Uri": tag_file}}
    record = native.create_record(ctx, native.validated_create(kept), "us-east-1")
    return json_response(job_json(record, ctx.now(), ctx.config.legacy_gateway))


def list_jobs(ctx: Context, req: Request, provider: str) -> Response:
    if provider != "bedrock":
        return json_response(cross_list(ctx, req, provider))
    legacy = ctx.config.legacy_gateway
    if legacy:  # parsed by the route, not forwarded
        req.query = {k: v for k, v in req.query.items() if k not in ("statusEquals", "nameContains")}
    page, _ = native.list_page(ctx, req)
    now = ctx.now()
    answer: dict[str, Any] = {"invocationJobSummaries": [summary_json(r, now, legacy) for r in page]}
    if page:  # the gateway hands back the page's last id, even on the last page
        answer["nextToken"] = native.page_token(page[-1])
    return json_response(answer)


def get_job(ctx: Context, req: Request, provider: str, job: str) -> Response:
    if provider != "bedrock":
        from . import gateway_cross as core

        return json_response(cross_job(core.get_batch(ctx, provider, _cross_id(job)), provider))
    return json_response(job_json(native.find_job(ctx, job), ctx.now(), ctx.config.legacy_gateway))


def stop_job(ctx: Context, req: Request, provider: str, job: str) -> Response:
    req.drain()
    if provider != "bedrock":
        from . import gateway_cross as core

        view = core.cancel_batch(ctx, provider, _cross_id(job))
        return json_response({"jobArn": SYNTHETIC_ARN + view["id"], "status": _CROSS_STATUS[view["status"]]})
    record = native.stop_record(ctx, job)
    return json_response({"jobArn": record["jobArn"], "status": _status(native.job_json(record, ctx.now()))})


# ---------------------------------------------------------------- other providers on /bedrock

SYNTHETIC_ARN = "arn:aws:bedrock:us-east-1:444444444444:batch:"
_CROSS_STATUS = {"validating": "Validating", "in_progress": "InProgress", "finalizing": "InProgress",
                 "completed": "Completed", "failed": "Failed", "expired": "Expired", "cancelling": "Stopping",
                 "cancelled": "Stopped"}


def _tag(body: dict, key: str) -> str | None:
    for tag in body.get("tags") or []:
        if isinstance(tag, dict) and tag.get("key") == key and tag.get("value"):
            return str(tag["value"])
    return None


def _cross_id(job: str) -> str:
    return job.removeprefix(SYNTHETIC_ARN)


def create_cross(ctx: Context, provider: str, body: dict) -> dict:
    from . import gateway_cross as core

    file_id, endpoint = _tag(body, "file_id"), _tag(body, "endpoint")
    if provider == "openai" and not (file_id and endpoint):
        raise native.validation("file_id and endpoint are required for OpenAI batch API. Specify them in tags "
                                "(key: file_id, key: endpoint)")
    if not file_id:
        raise native.validation(f"file_id is required for {provider} batches. Specify it in tags (key: file_id)")
    model = str(body.get("modelId") or "") or None
    return core.create_from_file(ctx, provider, file_id, endpoint=endpoint, model=model)


def cross_job(view: dict, provider: str) -> dict:
    body: dict[str, Any] = {"jobArn": SYNTHETIC_ARN + view["id"], "status": _CROSS_STATUS[view["status"]],
                            "submitTime": ops.rfc3339(view["created_at"], micros=False)}
    if view.get("ended_at"):
        body["endTime"] = ops.rfc3339(view["ended_at"], micros=False)
    if view.get("model"):
        body["modelId"] = view["model"]
    return body


def cross_list(ctx: Context, req: Request, provider: str) -> dict:
    from . import gateway_cross as core

    views = core.batches(ctx, provider)
    raw_max = req.arg("maxResults")
    limit = int(raw_max) if raw_max and raw_max.isdigit() and int(raw_max) > 0 else 1000
    token = req.arg("nextToken")
    ids = [v["id"] for v in views]
    start = ids.index(token) + 1 if token in ids else 0
    page = views[start:start + limit]
    answer: dict[str, Any] = {"invocationJobSummaries": [
        {**cross_job(v, provider), "jobName": "", "modelId": ""} for v in page]}
    if page:
        answer["nextToken"] = page[-1]["id"]
    return answer


# ---------------------------------------------------------------- /openai routes with provider bedrock


def openai_route(ctx: Context, req: Request, name: str, params: dict, body: Any, flavor: Any) -> Response:
    """``/openai`` files and batches for the ``bedrock`` upstream: files are S3 objects (uploaded to
    ``storage_config[s3][bucket]``/``[prefix]``), jobs are model invocation jobs; ids are the base64 of
    the S3 URI or the job ARN."""
    from .gateway_openai import _b64, _extra, _unb64, batch_shape

    def file_shape(uri: str, size: int, created: float, request_type: str) -> dict:
        return {"id": _b64(uri), "object": "file", "bytes": size, "created_at": int(created),
                "filename": uri.rsplit("/", 1)[-1], "purpose": "batch", "status": "processed",
                "status_details": None, "storage_backend": "s3", "storage_uri": uri,
                "extra_fields": _extra("bedrock", request_type)}

    if name == "upload_file":
        fields, upload = body
        try:
            bucket = fields.get("storage_config[s3][bucket]") or req.arg("storage_config[s3][bucket]") or ""
            prefix = (fields.get("storage_config[s3][prefix]") or req.arg("storage_config[s3][prefix]") or "").strip("/")
            if not bucket:
                raise bad_request("storage_config[s3][bucket] is required for provider bedrock")
            filename = (upload["filename"] or "input.jsonl").rsplit("/", 1)[-1]
            key = f"{prefix}/{filename}" if prefix else filename
            with open(upload["tmp"], "rb") as fh:
                data = fh.read()
        finally:
            ops.remove_quietly(upload["tmp"])
        _s3_call(_s3().put, bucket, key, data)
        return json_response(file_shape(f"s3://{bucket}/{key}", len(data), ctx.now(), "file_upload"))
    if name in ("retrieve_file", "file_content", "delete_file"):
        uri = _unb64(params["file_id"], "file id")
        bucket, key = _s3_split(uri)
        if name == "delete_file":
            _s3_call(_s3().delete, bucket, key)
            return json_response({"id": params["file_id"], "object": "file", "deleted": True,
                                  "extra_fields": _extra("bedrock", "file_delete")})
        data = _s3_call(_s3().get, bucket, key)
        if data is None:
            raise not_found(f"file not found: {uri}")
        if name == "file_content":
            return Response(200, data, content_type="application/octet-stream")
        return json_response(file_shape(uri, len(data), ctx.now(), "file_retrieve"))
    if name == "create_batch":
        if not isinstance(body, dict):
            raise bad_request("Request body must be a JSON object")
        for key in ("input_file_id", "model", "role_arn", "output_s3_uri"):
            if not body.get(key):
                raise bad_request(f"{key} is required for provider bedrock")
        params = {"jobName": str(body.get("job_name") or f"bifrost-batch-{int(ctx.now())}"),
                  "roleArn": body["role_arn"], "modelId": body["model"],
                  "inputDataConfig": {"s3InputDataConfig": {"s3Uri": _unb64(str(body["input_file_id"]), "file id")}},
                  "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": body["output_s3_uri"]}}}
        record = native.create_record(ctx, native.validated_create(params), "us-east-1")
        return json_response(batch_shape(_openai_view(record, ctx.now()), "bedrock", "batch_create"))
    if name == "list_batches":
        now = ctx.now()
        shaped = [batch_shape(_openai_view(native.settle(ctx, r), now), "bedrock", "batch_list")
                  for r in ctx.store.batches(native.PROVIDER).all()]
        from .gateway_openai import _page

        for item in shaped:
            item.pop("extra_fields")
        return json_response(_page(shaped, req, "batch_list", 30))
    if name in ("retrieve_batch", "cancel_batch"):
        arn = _unb64(params["batch_id"], "batch id")
        record = native.stop_record(ctx, arn) if name == "cancel_batch" else native.settle(ctx, native.find_job(ctx, arn))
        return json_response(batch_shape(_openai_view(record, ctx.now()), "bedrock",
                                         "batch_cancel" if name == "cancel_batch" else "batch_retrieve"))
    raise bad_request(f"unsupported_operation: {name} is not supported for provider bedrock")


_OPENAI_STATUS = {"Submitted": "validating", "Validating": "validating", "Scheduled": "validating",
                  "InProgress": "in_progress", "Completed": "completed", "PartiallyCompleted": "completed",
                  "Failed": "failed", "Stopping": "cancelling", "Stopped": "cancelled", "Expired": "expired"}


def _openai_view(record: dict, now: float) -> dict:
    from datetime import datetime

    from .gateway_openai import _b64

    full = native.job_json(record, now)
    total = int(full.get("totalRecordCount") or 0)
    processed = int(full.get("processedRecordCount") or 0)
    failed = int(full.get("errorRecordCount") or 0)
    end = full.get("endTime")
    return {"id": _b64(full["jobArn"]), "status": _OPENAI_STATUS.get(full["status"], "in_progress"),
            "total": total, "completed": max(0, processed - failed), "failed": failed,
            "created_at": int(record["created_at"]),
            "ended_at": int(datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp()) if end else None,
            "input_file_id": _b64(full["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]),
            "output_file_id": None, "error_file_id": None, "model": full.get("modelId"), "endpoint": ""}


ROUTER = Router()
ROUTER.add("PUT", r"/files/(?P<bucket>[^/]+)/(?P<key>.+)", put_object)
ROUTER.add("GET", r"/files/(?P<bucket>[^/]+)/(?P<key>.+)", get_object)
ROUTER.add("HEAD", r"/files/(?P<bucket>[^/]+)/(?P<key>.+)", head_object)
ROUTER.add("DELETE", r"/files/(?P<bucket>[^/]+)/(?P<key>.+)", delete_object)
ROUTER.add("GET", r"/files/(?P<bucket>[^/]+)/?", list_objects)
ROUTER.add("POST", r"/model-invocation-job", create_job)
ROUTER.add("GET", r"/model-invocation-jobs", list_jobs)
ROUTER.add("POST", r"/model-invocation-job/(?P<job>.+)/stop", stop_job)  # the ARN arrives decoded
ROUTER.add("GET", r"/model-invocation-job/(?P<job>.+)", get_job)
_S3_HANDLERS = (put_object, get_object, head_object, delete_object, list_objects)


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
        if provider not in ("bedrock", "openai", "anthropic", "gemini"):
            raise native.validation(f"unsupported provider {provider!r} (x-model-provider): expected bedrock, "
                                    "openai, anthropic or gemini")
        return handler(ctx, req, provider, **params)
    except ApiError as error:
        req.drain()
        return error_response(error, handler in _S3_HANDLERS)
