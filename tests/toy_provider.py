"""Toy: a fifth provider that lives entirely in the test suite, written as an outside author would.

It proves that a provider has one home: everything the program knows of Toy is :data:`SPEC` (its
settings, the header that carries a credential, its native input lines, the factory of its
adapter, what it cannot do), registered with ``registry.register(SPEC)``. Nothing under
``bifrost_cli/`` names it.

- :data:`SPEC`: the provider. ``TOY_API_KEY`` (secret) and ``TOY_BASE_URL`` are its settings.
- :data:`INPUT_FORMAT`: Toy's native batch lines, ``{"ref": "q1", "prompt": "...", "model": "..."}``.
- :class:`ToyAPI`: the adapter (``direct_target`` builds it), on ``bifrost_cli.http.HttpClient``
  and the helpers of ``bifrost_cli.providers.base``.
- :class:`ToyServer`: Toy's API itself, a tiny in-memory files and jobs service on a loopback port.

Toy's API: every request carries ``x-toy-key: KEY`` and ``x-toy-signature: sha256(KEY)`` (a
credential that is no setting's value: only the spec's ``secret_headers`` can hide it in the ``-v``
log). ``/v1/files`` takes multipart uploads and lists with ``count``/``cursor``; ``/v1/jobs`` runs
lines; a job moves one step (queued, running, done) each time it is read, and its output is JSONL
of ``{"ref", "answer"}`` or ``{"ref", "error"}`` (a prompt of ``"fail"`` fails).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bifrost_cli.errors import BatchIncomplete, ExitCode, ResponseError, UsageError
from bifrost_cli.http import HttpClient
from bifrost_cli.inputs import Checked, InputFormat
from bifrost_cli.models import Batch, BatchResult, DeletedFile, File, RequestCounts
from bifrost_cli.providers.base import (
    BatchOptions,
    Capabilities,
    Download,
    Progress,
    Target,
    UploadSource,
    multipart_body,
    paginate,
    require_format,
)
from bifrost_cli.providers.spec import NativeInput, ProviderSpec, Setting
from tests.fakes import Loopback, send_json

NO_DOWNLOAD = "Toy never gives an uploaded file back: keep your own copy"
NO_DELETE = "Toy keeps every job: cancel it with `batches cancel ID`"
DEFAULT_MODEL = "toy-1"

SPEC = ProviderSpec(
    name="toy",
    title="Toy",
    settings=(
        Setting("toy_api_key", ("TOY_API_KEY",), secret=True),
        Setting("toy_base_url", ("TOY_BASE_URL",), default="https://api.toy.invalid"),
    ),
    secret_headers=frozenset({"x-toy-signature"}),
    native_input=NativeInput(key="prompt", module="tests.toy_provider"),
    direct="tests.toy_provider:direct_target",
    unsupported={"direct": {"files.download": NO_DOWNLOAD, "batches.delete": NO_DELETE}},
)


def signature(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# ------------------------------------------------------------------------------------------------
# native input: {"ref": ..., "prompt": ..., "model": ...}


def _check(item: Any, model: str | None) -> Checked:
    if not isinstance(item, dict):
        return Checked(['expected a JSON object with "ref" and "prompt"'])
    problems = [f"unknown field {json.dumps(k)} (a Toy line has ref, prompt and model)" for k in item
                if k not in ("ref", "prompt", "model")]
    ref = item.get("ref")
    if not isinstance(ref, str) or not ref.strip():
        problems.append("ref must be a non-empty string")
        ref = None
    if not isinstance(item.get("prompt"), str) or not item["prompt"]:
        problems.append("prompt must be a non-empty string")
    return Checked(problems, ref, item.get("model") or model or DEFAULT_MODEL)


def _request(item: dict[str, Any], model: str | None) -> dict[str, Any]:
    return {"ref": item["ref"], "prompt": item["prompt"], "model": item.get("model") or model or DEFAULT_MODEL}


INPUT_FORMAT = InputFormat(_check, _request, id_name="ref")


# ------------------------------------------------------------------------------------------------
# the adapter


def _timestamp(seconds: Any) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC) if isinstance(seconds, int) else None


def parse_file(data: Any) -> File:
    if not isinstance(data, dict) or "id" not in data:
        raise ResponseError(f"expected a Toy file, got: {str(data)[:200]}")
    return File(id=data["id"], filename=data.get("name"), size_bytes=data.get("size"),
                created_at=_timestamp(data.get("created")), downloadable=False, provider="toy")


def parse_job(data: Any) -> Batch:
    if not isinstance(data, dict) or "id" not in data:
        raise ResponseError(f"expected a Toy job, got: {str(data)[:200]}")
    state = data["state"]
    done, failed, total = data["done"], data["failed"], data["total"]
    status = "ended" if state in ("done", "cancelled") else "in_progress"
    return Batch(
        id=data["id"], provider="toy", status=status, native_status=state,  # type: ignore[arg-type]
        request_counts=RequestCounts(processing=total - done, succeeded=done - failed, errored=failed),
        created_at=_timestamp(data.get("created")), details={"model": data.get("model")},
    )


def to_result(line: dict[str, Any], model: str) -> BatchResult:
    if "error" in line:
        result: dict[str, Any] = {"type": "errored", "error": {"type": "error", "error": {"type": "toy_error", "message": line["error"]}}}
    else:
        result = {"type": "succeeded", "message": {
            "id": f"msg_{line['ref']}", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": line["answer"]}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1}}}
    return BatchResult.model_validate({"custom_id": line["ref"], "result": result})


class ToyAPI(Target):
    """Toy's files and jobs, as the program's ``Target``."""

    name = "toy"
    provider = "toy"

    def __init__(self, http: HttpClient):
        self.http = http
        self.capabilities = Capabilities()

    def describe(self) -> str:
        return f"Toy API at {self.http.base_url}"

    def close(self) -> None:
        self.http.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.http.request(method, "/v1" + path, **kwargs).json()

    def _paged(self, path: str, key: str, parse: Any, limit: int | None) -> Iterator[Any]:
        yield from paginate(
            lambda size, cursor: self._json("GET", path, params={"count": size, "cursor": cursor}),
            lambda page: page.get(key),
            parse,
            lambda page, items: page.get("cursor"),
            limit=limit, page_max=2, where=f"Toy's {path}",
        )

    # -- files

    def upload_file(self, source: UploadSource, *, purpose: str | None, progress: Progress | None = None,
                    expires_after: int | None = None) -> File:
        return parse_file(self._json("POST", "/files", body=multipart_body({}, "file", source, progress), retry="unsent"))

    def list_files(self, *, limit: int | None) -> Iterator[File]:
        return self._paged("/files", "files", parse_file, limit)

    def get_file(self, file_id: str) -> File:
        return parse_file(self._json("GET", f"/files/{file_id}"))

    def delete_file(self, file_id: str) -> DeletedFile:
        data = self._json("DELETE", f"/files/{file_id}")
        return DeletedFile(id=data["id"], deleted=data["deleted"])

    def open_download(self, file_id: str) -> Download:
        raise AssertionError("never called: the spec says Toy cannot")

    # -- jobs

    def create_batch(self, requests: Any, options: BatchOptions) -> Batch:
        require_format(requests, "toy", "toy")
        if requests.input_format == "toy":
            lines = list(requests.iter_requests())
        else:  # provider-neutral lines: the last message is the prompt
            lines = [{"ref": r["custom_id"], "prompt": r["params"]["messages"][-1]["content"],
                      "model": r["params"]["model"]} for r in requests.iter_requests()]
        return parse_job(self._json("POST", "/jobs", json={"lines": lines}, retry="unsent"))

    def list_batches(self, *, limit: int | None) -> Iterator[Batch]:
        return self._paged("/jobs", "jobs", parse_job, limit)

    def get_batch(self, batch_id: str) -> Batch:
        return parse_job(self._json("GET", f"/jobs/{batch_id}"))

    def cancel_batch(self, batch_id: str) -> Batch:
        return parse_job(self._json("POST", f"/jobs/{batch_id}/cancel"))

    def delete_batch(self, batch_id: str) -> None:
        raise AssertionError("never called: the spec says Toy cannot")

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        batch = self.get_batch(batch_id)
        if not batch.ended:
            raise BatchIncomplete(f"job {batch_id} is still {batch.native_status}", exit_code=ExitCode.ERROR)
        with self.http.request("GET", f"/v1/jobs/{batch_id}/output", stream=True) as response:
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]:
        for line in self.iter_raw_results(batch_id):
            yield to_result(line, line.get("model", DEFAULT_MODEL))


def direct_target(settings: Any, **http_kwargs: Any) -> ToyAPI:
    """Toy's API at ``TOY_BASE_URL``, with ``TOY_API_KEY``."""
    key = settings.text("toy_api_key")
    if not key:
        raise UsageError("no Toy API key: set TOY_API_KEY")
    http = HttpClient(settings.text("toy_base_url"), label="toy", headers={"x-toy-signature": signature(key)},
                      auth_headers={"x-toy-key": key}, **http_kwargs)
    return ToyAPI(http)


# ------------------------------------------------------------------------------------------------
# Toy's API: files and jobs in memory, on a loopback port


class ToyServer:
    """Toy's API for one key. ``server.url`` is its base URL; ``close()`` stops it."""

    CREATED = 1_767_225_600  # 2026-01-01T00:00:00Z

    def __init__(self, key: str):
        self.key = key
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.headers: list[dict[str, str]] = []  # of every request, as received
        self.loopback = Loopback(self.route)
        self.url = self.loopback.url

    def close(self) -> None:
        self.loopback.close()

    def route(self, h: BaseHTTPRequestHandler) -> None:
        self.headers.append({k.lower(): v for k, v in h.headers.items()})
        if h.headers.get("x-toy-key") != self.key or h.headers.get("x-toy-signature") != signature(self.key):
            return send_json(h, {"error": "bad key"}, 401)
        url = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body: bytes = getattr(h, "body", b"")
        method, path = h.command, url.path
        if (method, path) == ("POST", "/v1/files"):
            return send_json(h, self._upload(h.headers.get("content-type", ""), body))
        if (method, path) == ("GET", "/v1/files"):
            return send_json(h, self._page(self.files, "files", query))
        if (method, path) == ("POST", "/v1/jobs"):
            return send_json(h, self._create(json.loads(body)["lines"]))
        if (method, path) == ("GET", "/v1/jobs"):
            return send_json(h, self._page(self.jobs, "jobs", query))
        found = re.fullmatch(r"/v1/(files|jobs)/([^/]+)(/output|/cancel)?", path)
        table = self.files if found and found[1] == "files" else self.jobs
        if not found or found[2] not in table:
            return send_json(h, {"error": f"no {path}"}, 404)
        item = table[found[2]]
        if found[1] == "files":
            if method == "DELETE":
                del self.files[item["id"]]
                return send_json(h, {"id": item["id"], "deleted": True})
            return send_json(h, item)
        if found[3] == "/cancel":
            item["state"] = "cancelled"
            return send_json(h, self._view(item))
        if found[3] == "/output":
            return self._output(h, item)
        if item["state"] in ("queued", "running") and item["reads"] >= 1:
            item["state"] = "running" if item["state"] == "queued" else "done"
        item["reads"] += 1
        return send_json(h, self._view(item))

    def _upload(self, content_type: str, body: bytes) -> dict[str, Any]:
        boundary = content_type.split("boundary=", 1)[1].encode()
        part = body.split(b"--" + boundary)[1]
        head, data = part.split(b"\r\n\r\n", 1)
        name = re.search(rb'filename="([^"]*)"', head)
        file = {"id": f"tf-{len(self.files) + 1}", "name": name[1].decode() if name else "upload",
                "size": len(data) - 2, "created": self.CREATED}
        self.files[file["id"]] = file
        return file

    @staticmethod
    def _page(table: dict[str, dict[str, Any]], key: str, query: dict[str, str]) -> dict[str, Any]:
        ids = list(table)
        start = ids.index(query["cursor"]) + 1 if query.get("cursor") in ids else 0
        page = ids[start:start + int(query.get("count", "2"))]
        more = start + len(page) < len(ids)
        return {key: [ToyServer._view(table[i]) for i in page], "cursor": page[-1] if more and page else None}

    def _create(self, lines: list[dict[str, Any]]) -> dict[str, Any]:
        job = {"id": f"tj-{len(self.jobs) + 1}", "state": "queued", "lines": lines, "reads": 0,
               "model": lines[0]["model"], "created": self.CREATED}
        self.jobs[job["id"]] = job
        return self._view(job)

    @staticmethod
    def _view(item: dict[str, Any]) -> dict[str, Any]:
        if "lines" not in item:
            return item
        total = len(item["lines"])
        done = {"queued": 0, "running": total // 2, "done": total, "cancelled": total}[item["state"]]
        failed = sum(1 for line in item["lines"][:done] if line["prompt"] == "fail")
        return {"id": item["id"], "state": item["state"], "model": item["model"], "created": item["created"],
                "total": total, "done": done, "failed": failed}

    def _output(self, h: BaseHTTPRequestHandler, job: dict[str, Any]) -> None:
        if job["state"] != "done":
            return send_json(h, {"error": "not done"}, 409)
        out = []
        for line in job["lines"]:
            answer = {"error": "the toy cannot answer that"} if line["prompt"] == "fail" else {"answer": line["prompt"].upper()}
            out.append(json.dumps({"ref": line["ref"], "model": line["model"], **answer}))
        data = ("\n".join(out) + "\n").encode()
        h.send_response(200)
        h.send_header("content-type", "application/jsonl")
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
