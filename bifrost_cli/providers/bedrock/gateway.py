"""Bedrock's files and jobs through a Bifrost gateway's ``/bedrock`` routes (plain HTTP with the virtual key)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bifrost_cli.errors import (
    UnsupportedError,
)
from bifrost_cli.models import Batch, File
from bifrost_cli.providers.base import BaseTarget, BatchOptions, Progress, UploadSource, paginate
from bifrost_cli.providers.bedrock import format as fmt
from bifrost_cli.providers.bedrock.errors import classify
from bifrost_cli.providers.bedrock.jobs import (
    DIRECT_HINT,
    MAX_PAGE,
    PROVIDER,
    SAFE_KEY,
    check_job_id,
    check_job_options,
    check_settings,
    job_invocation,
    job_model,
    location,
    parse_job,
    prepare_job,
)
from bifrost_cli.providers.bedrock.s3 import basename, s3_uri
from bifrost_cli.providers.gateway import gateway_http, refuse_web_page
from bifrost_cli.providers.common import MalformedAnswer, shape

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

    def upload_file(self, source: UploadSource, *, purpose: str | None, progress: Progress | None = None, expires_after: int | None = None) -> File:
        check_settings(self.settings, ("s3_uri",))
        from bifrost_cli.http import Body

        loc = location(self.settings)
        key = loc.key(SAFE_KEY.sub("_", source.filename.replace("\\", "/").rsplit("/", 1)[-1]) or "upload")
        body = Body(lambda: source.chunks(progress), length=source.size, content_type=source.mime_type or "application/octet-stream", replayable=source.replayable)
        self._put(loc.bucket, key, body)
        return File(id=s3_uri(loc.bucket, key), filename=basename(key), size_bytes=source.size, mime_type=source.mime_type, downloadable=True, provider=PROVIDER)

    # -- batches --------------------------------------------------------------------------------

    def preflight(self, options: BatchOptions) -> None:
        if options.metadata:
            raise UnsupportedError(
                "--metadata: the gateway's /bedrock job route does not pass tags on to Bedrock, so they would be lost",
                hint=f"Drop --metadata, or {DIRECT_HINT}.",
            )
        check_job_options(options, self.settings)

    def create_batch(self, requests: RequestSet, options: BatchOptions | None = None) -> Batch:
        check_settings(self.settings, ("s3_uri", "role_arn"))
        from bifrost_cli.http import Body

        options = options or BatchOptions()
        self.preflight(options)
        model = job_model(requests)
        if job_invocation(requests, model) == fmt.CONVERSE:
            raise UnsupportedError(
                f"{model} takes Converse records (modelInvocationType: Converse), which the gateway's /bedrock job "
                "route does not pass on: the job would run them as InvokeModel bodies and every record would fail",
                hint=f"Use an Anthropic model, or native InvokeModel records (--input-format bedrock), or {DIRECT_HINT}.",
            )
        job = prepare_job(requests, options, self.settings)
        existing = self._job_named(job.body["jobName"]) if not options.job_name else None
        if existing is not None:  # the gateway drops clientRequestToken: find a repeated create by its name
            return existing
        self._put(job.bucket, job.input_key, Body(job.lines, length=job.size, content_type="application/jsonl"))
        data = self._call_json("POST", f"{self.prefix}/model-invocation-job", json=job.body, retry="unsent")
        arn = data.get("jobArn") if isinstance(data, dict) else None
        if not arn:
            raise MalformedAnswer(f"the job create answered without a jobArn (got {shape(data)})")
        return self.get_batch(arn)

    def _call_json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._call(method, path, **kwargs)
        refuse_web_page(response, base_url=self.http.base_url, method=method, path=path, route=self.prefix)
        return response.json()

    def _job_path(self, batch_id: str) -> str:
        check_job_id(batch_id)
        return f"{self.prefix}/model-invocation-job/{quote(batch_id, safe='')}"

    def get_batch(self, batch_id: str) -> Batch:
        return parse_job(self._call_json("GET", self._job_path(batch_id)))

    def _job_named(self, name: str) -> Batch | None:
        """The job called ``name`` (the gateway's list filters by name; the match here is exact)."""
        for batch in self._list(None, name_contains=name):
            if batch.details.get("job_name") == name:
                return self.get_batch(batch.id)
        return None

    def list_batches(self, *, limit: int | None) -> Iterator[Batch]:
        return self._list(limit)

    def _list(self, limit: int | None, *, name_contains: str | None = None) -> Iterator[Batch]:
        """Jobs across every page (``nextToken``), up to ``limit``."""
        path = f"{self.prefix}/model-invocation-jobs"

        def fetch(size: int, token: str | None) -> Any:
            query = {"maxResults": size, "nextToken": token, "nameContains": name_contains}
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


def gateway_target(
    base_url: str, provider: str, key: str | None, *, trusted: bool = False, settings: Settings, **http_kwargs: Any
) -> BedrockGateway:
    """A gateway's ``/bedrock`` routes (``trusted``: the in-process emulator, whose spec table refuses
    every operation: Bedrock jobs need S3)."""
    http = gateway_http(base_url, key, trusted=trusted, headers={"x-model-provider": provider}, **http_kwargs)
    return BedrockGateway(http, settings)
