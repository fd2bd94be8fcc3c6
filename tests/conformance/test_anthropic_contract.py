"""Contract tests against Anthropic's OpenAPI 3.1 description (``../shared/specs/anthropic-openapi.json``).

Three things are checked:

1. the built-in emulator's native Anthropic answers (``/native/anthropic``) validate against the
   spec's response schemas (batches, result lines, files, error envelopes);
2. the requests the CLI's direct Anthropic adapter sends (batch create body, auth, version and
   files beta headers) validate against the spec's request schemas;
3. every method + path the direct adapter calls is described by the spec.

The spec is reference data kept next to the repository (``shared/specs`` beside the checkout) and is
never copied into it: without it, this whole module is skipped. Schemas are found by walking
``paths -> operation -> responses/requestBody`` and validated with JSON Schema Draft 2020-12 (the
dialect of OpenAPI 3.1), resolving ``$ref``s inside the spec document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import EXAMPLES, ROOT

SPECS_DIR = ROOT.parent / "shared" / "specs"
SPEC_FILE = SPECS_DIR / "anthropic-openapi.json"
EXAMPLE_REQUESTS = EXAMPLES / "requests.jsonl"

if not SPEC_FILE.is_file():
    pytest.skip(f"the API descriptions are not checked out next to the repository ({SPEC_FILE.name} not found)",
                allow_module_level=True)

jsonschema = pytest.importorskip("jsonschema", reason="contract tests need jsonschema (the `test` extra)")
referencing = pytest.importorskip("referencing", reason="contract tests need jsonschema>=4.18 (referencing)")

import httpx  # noqa: E402
from jsonschema import Draft202012Validator, FormatChecker  # noqa: E402
from jsonschema.exceptions import best_match  # noqa: E402
from referencing import Registry, Resource  # noqa: E402
from referencing.jsonschema import DRAFT202012  # noqa: E402

from bifrost_cli.config import resolve  # noqa: E402
from bifrost_cli.emulator.config import EmulatorConfig  # noqa: E402
from bifrost_cli.emulator.testing import ManualClock, running_server  # noqa: E402
from bifrost_cli.inputs import load_requests  # noqa: E402
from bifrost_cli.providers import build_target  # noqa: E402
from bifrost_cli.providers.anthropic.api import ANTHROPIC_VERSION, FILES_BETA, AnthropicAPI  # noqa: E402
from bifrost_cli.providers.base import UploadSource  # noqa: E402
from tests.fakes import FakeAnthropic, Recorder  # noqa: E402

SPEC_URI = "urn:bifrost-contract:anthropic-openapi"
API_KEY = "sk-ant-contract-test-key"
VERSION = "2023-06-01"
BETA_SUFFIX = "?beta=true"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
BATCH_SECONDS = 10.0
START = 1_750_000_000.0  # a fixed instant, so timestamps are reproducible


# --------------------------------------------------------------------------------------------
# the spec


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _format_checker() -> FormatChecker:
    """Assert ``date-time`` as RFC 3339 (jsonschema skips it unless an optional package is installed)."""
    checker = FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def is_datetime(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _RFC3339.match(value):
            return False
        datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))  # raises on 2025-13-45
        return True

    return checker


def _pointer(*parts: str) -> str:
    """A URI fragment JSON pointer (``~``/``/`` escaped, then percent-encoded) to ``parts``."""
    return "".join("/" + quote(p.replace("~", "~0").replace("/", "~1"), safe="~") for p in parts)


@dataclass
class Operation:
    method: str
    path: str  # the key under ``paths`` (may end in ``?beta=true``)
    body: dict[str, Any]


class Spec:
    """Anthropic's OpenAPI document with schema lookups and a Draft 2020-12 validator."""

    def __init__(self, document: dict[str, Any]):
        self.doc = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(SPEC_URI, resource)
        self.formats = _format_checker()

    # -- lookups ------------------------------------------------------------------------------

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation for ``method path``, trying the GA key first, then the ``?beta=true`` one."""
        method = method.lower()
        for key in (path, path + BETA_SUFFIX):
            item = self.doc["paths"].get(key)
            if isinstance(item, dict) and isinstance(item.get(method), dict):
                return Operation(method, key, item[method])
        return None

    def require(self, method: str, path: str) -> Operation:
        op = self.operation(method, path)
        assert op is not None, f"the spec describes no {method.upper()} {path} (nor {path}{BETA_SUFFIX})"
        return op

    def response_ref(self, method: str, path: str, status: int | str = 200,
                     content_type: str = "application/json", *, fallback: str | None = None) -> str:
        """A ``$ref`` to the response schema of ``method path`` for ``status``.

        ``status`` 404 finds ``404``, else ``4XX``, else ``default``. ``fallback`` names a schema
        under ``components/schemas`` to use when the path lookup finds nothing.
        """
        op = self.operation(method, path)
        if op is not None:
            responses = op.body.get("responses", {})
            code = str(status)
            for key in (code, code[0] + "XX", "default"):
                content = (responses.get(key) or {}).get("content") or {}
                if isinstance(content.get(content_type), dict) and "schema" in content[content_type]:
                    return SPEC_URI + "#" + _pointer("paths", op.path, op.method, "responses", key, "content",
                                                     content_type, "schema")
        if fallback is not None and fallback in self.doc.get("components", {}).get("schemas", {}):
            return SPEC_URI + "#" + _pointer("components", "schemas", fallback)
        raise AssertionError(f"no {status} {content_type} response schema for {method.upper()} {path} in the spec")

    def request_ref(self, method: str, path: str, content_type: str = "application/json",
                    *, fallback: str | None = None) -> str:
        op = self.operation(method, path)
        if op is not None:
            content = (op.body.get("requestBody") or {}).get("content") or {}
            if isinstance(content.get(content_type), dict) and "schema" in content[content_type]:
                return SPEC_URI + "#" + _pointer("paths", op.path, op.method, "requestBody", "content",
                                                 content_type, "schema")
        if fallback is not None and fallback in self.doc.get("components", {}).get("schemas", {}):
            return SPEC_URI + "#" + _pointer("components", "schemas", fallback)
        raise AssertionError(f"no {content_type} request body schema for {method.upper()} {path} in the spec")

    def resolve(self, ref: str) -> Any:
        """The schema a ``$ref`` (from this spec) points at."""
        return self.registry.resolver().lookup(ref).contents

    def component(self, name: str) -> dict[str, Any]:
        return self.doc["components"]["schemas"][name]

    # -- validation ---------------------------------------------------------------------------

    def errors(self, instance: Any, ref: str) -> list[str]:
        validator = Draft202012Validator({"$ref": ref}, registry=self.registry, format_checker=self.formats)
        found = list(validator.iter_errors(instance))
        if not found:
            return []
        lines = []
        best = best_match(found)
        if best is not None:
            lines.append(f"best match at /{'/'.join(map(str, best.absolute_path))}: {best.message[:300]}")
        for err in sorted(found, key=lambda e: list(map(str, e.absolute_path)))[:10]:
            lines.append(f"/{'/'.join(map(str, err.absolute_path))}: {err.message[:300]}")
        return lines

    def assert_valid(self, instance: Any, ref: str, what: str) -> None:
        problems = self.errors(instance, ref)
        assert not problems, (
            f"{what} does not match the spec ({ref.split('#', 1)[1]}):\n  " + "\n  ".join(problems)
            + f"\ninstance: {json.dumps(instance)[:1500]}"
        )


@pytest.fixture(scope="module")
def spec() -> Spec:
    with SPEC_FILE.open(encoding="utf-8") as fh:
        return Spec(json.load(fh))


# --------------------------------------------------------------------------------------------
# 1. the emulator's answers


@dataclass
class Exchange:
    """One recorded answer of the emulator."""

    method: str
    url: str
    status: int
    headers: httpx.Headers
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def _request(cid: str, text: str) -> dict[str, Any]:
    return {"custom_id": cid, "params": {"model": "claude-sonnet-4-5", "max_tokens": 16,
                                         "messages": [{"role": "user", "content": text}]}}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run one scenario against a served emulator and record every answer (and the result lines)."""
    clock = ManualClock(START)
    config = EmulatorConfig(state_dir=tmp_path_factory.mktemp("contract-emulator"),
                            batch_seconds=BATCH_SECONDS, clock=clock)
    rec: dict[str, Any] = {}
    headers = {"x-api-key": API_KEY, "anthropic-version": VERSION}
    files_headers = {**headers, "anthropic-beta": FILES_BETA}
    with running_server(config) as server, \
            httpx.Client(base_url=server.url + "/native/anthropic", headers=headers, timeout=10) as client:

        def call(key: str, method: str, url: str, **kwargs: Any) -> Exchange:
            r = client.request(method, url, **kwargs)
            rec[key] = Exchange(method, url, r.status_code, r.headers, r.text)
            return rec[key]

        # batches: one with a success, an error and an expiry; one canceled at once
        mixed = call("batch_create", "POST", "/v1/messages/batches", json={"requests": [
            _request("ok-1", "Say hi"),
            _request("err-1", "[emulator:error] please fail"),
            _request("exp-1", "[emulator:expire] please expire"),
        ]}).json()["id"]
        doomed = call("batch_create_2", "POST", "/v1/messages/batches",
                      json={"requests": [_request("can-1", "never answered"), _request("can-2", "nor this")]}).json()["id"]
        call("batch_cancel", "POST", f"/v1/messages/batches/{doomed}/cancel")
        clock.advance(BATCH_SECONDS / 2)
        call("batch_get_in_progress", "GET", f"/v1/messages/batches/{mixed}")
        call("error_400_delete_unfinished", "DELETE", f"/v1/messages/batches/{mixed}")
        clock.advance(BATCH_SECONDS)
        call("batch_get_ended", "GET", f"/v1/messages/batches/{mixed}")
        call("batch_get_canceled_ended", "GET", f"/v1/messages/batches/{doomed}")
        call("batch_list", "GET", "/v1/messages/batches", params={"limit": 10})
        lines: dict[str, dict] = {}
        for batch_id in (mixed, doomed):
            results = call(f"results_{batch_id}", "GET", f"/v1/messages/batches/{batch_id}/results")
            assert results.status == 200, results.text
            for line in results.text.splitlines():
                if line.strip():
                    data = json.loads(line)
                    lines[data["custom_id"]] = data
        rec["result_lines"] = lines
        call("batch_delete", "DELETE", f"/v1/messages/batches/{mixed}")
        call("error_404_batch", "GET", f"/v1/messages/batches/{mixed}")

        # files (the spec describes only the beta form: /v1/files?beta=true + anthropic-beta)
        upload = call("file_upload", "POST", "/v1/files?beta=true", headers=files_headers,
                      files={"file": ("requests.jsonl", b'{"custom_id":"a","params":{}}\n', "application/x-jsonl")})
        file_id = upload.json()["id"]
        call("file_list", "GET", "/v1/files?beta=true", headers=files_headers, params={"limit": 20})
        call("file_get", "GET", f"/v1/files/{file_id}?beta=true", headers=files_headers)
        call("file_delete", "DELETE", f"/v1/files/{file_id}?beta=true", headers=files_headers)
        call("error_404_file", "GET", f"/v1/files/{file_id}?beta=true", headers=files_headers)
    return rec


# (recorded answer, method, spec path template, fallback schema name)
JSON_ANSWERS = [
    ("batch_create", "POST", "/v1/messages/batches", "MessageBatch"),
    ("batch_get_in_progress", "GET", "/v1/messages/batches/{message_batch_id}", "MessageBatch"),
    ("batch_get_ended", "GET", "/v1/messages/batches/{message_batch_id}", "MessageBatch"),
    ("batch_get_canceled_ended", "GET", "/v1/messages/batches/{message_batch_id}", "MessageBatch"),
    ("batch_list", "GET", "/v1/messages/batches", "ListResponse_MessageBatch_"),
    ("batch_cancel", "POST", "/v1/messages/batches/{message_batch_id}/cancel", "MessageBatch"),
    ("batch_delete", "DELETE", "/v1/messages/batches/{message_batch_id}", "DeleteMessageBatchResponse"),
    ("file_upload", "POST", "/v1/files", "BetaFileMetadataSchema"),
    ("file_list", "GET", "/v1/files", "BetaFileListResponse"),
    ("file_get", "GET", "/v1/files/{file_id}", "BetaFileMetadataSchema"),
    ("file_delete", "DELETE", "/v1/files/{file_id}", "BetaFileDeleteResponse"),
]


@pytest.mark.parametrize(("key", "method", "path", "fallback"), JSON_ANSWERS, ids=[a[0] for a in JSON_ANSWERS])
def test_emulator_answer_matches_spec(spec: Spec, emulator: dict[str, Any], key: str, method: str, path: str,
                                      fallback: str) -> None:
    answer: Exchange = emulator[key]
    assert answer.status == 200, f"{method} {answer.url}: {answer.status} {answer.text[:300]}"
    assert answer.content_type == "application/json"
    assert answer.headers.get("request-id", "").startswith("req_")
    spec.assert_valid(answer.json(), spec.response_ref(method, path, 200, fallback=fallback),
                      f"the emulator's {method} {path} answer")


def test_emulator_batch_states_along_the_scenario(emulator: dict[str, Any]) -> None:
    """The recorded answers really cover the states the schema checks above claim to cover."""
    assert emulator["batch_create"].json()["processing_status"] == "in_progress"
    assert emulator["batch_get_in_progress"].json()["processing_status"] == "in_progress"
    cancel = emulator["batch_cancel"].json()
    assert cancel["processing_status"] == "canceling" and cancel["cancel_initiated_at"]
    ended = emulator["batch_get_ended"].json()
    assert ended["processing_status"] == "ended" and ended["results_url"] and ended["ended_at"]
    assert ended["request_counts"] == {"processing": 0, "succeeded": 1, "errored": 1, "canceled": 0, "expired": 1}
    assert emulator["batch_get_canceled_ended"].json()["request_counts"]["canceled"] == 2
    assert len(emulator["batch_list"].json()["data"]) == 2


ERROR_ANSWERS = [
    ("error_404_file", "GET", "/v1/files/{file_id}", 404, "not_found_error"),
    ("error_404_batch", "GET", "/v1/messages/batches/{message_batch_id}", 404, "not_found_error"),
    ("error_400_delete_unfinished", "DELETE", "/v1/messages/batches/{message_batch_id}", 400, "invalid_request_error"),
]


@pytest.mark.parametrize(("key", "method", "path", "status", "etype"), ERROR_ANSWERS, ids=[a[0] for a in ERROR_ANSWERS])
def test_emulator_error_envelope_matches_spec(spec: Spec, emulator: dict[str, Any], key: str, method: str, path: str,
                                              status: int, etype: str) -> None:
    answer: Exchange = emulator[key]
    assert answer.status == status, answer.text[:300]
    assert answer.content_type == "application/json"
    body = answer.json()
    spec.assert_valid(body, spec.response_ref(method, path, status, fallback="ErrorResponse"),
                      f"the emulator's {status} answer to {method} {path}")
    assert body["error"]["type"] == etype
    assert body["request_id"] == answer.headers.get("request-id")


RESULTS_PATH = "/v1/messages/batches/{message_batch_id}/results"
RESULT_LINES = {"succeeded": "ok-1", "errored": "err-1", "expired": "exp-1", "canceled": "can-1"}



def test_results_answer_is_jsonl(spec: Spec, emulator: dict[str, Any]) -> None:
    op = spec.require("GET", RESULTS_PATH)
    declared = set(op.body["responses"]["200"].get("content") or {})
    answers = [v for k, v in emulator.items() if k.startswith("results_")]
    assert answers
    for answer in answers:
        assert answer.content_type in declared, f"{answer.content_type} not in the spec's {sorted(declared)}"


@pytest.mark.parametrize("outcome", [
    pytest.param("succeeded"),
    "errored",
    "canceled",
    "expired",
])
def test_emulator_result_line_matches_spec(spec: Spec, emulator: dict[str, Any], outcome: str) -> None:
    line = emulator["result_lines"][RESULT_LINES[outcome]]
    assert line["result"]["type"] == outcome
    ref = spec.response_ref("GET", RESULTS_PATH, 200, "application/x-jsonl", fallback="MessageBatchIndividualResponse")
    spec.assert_valid(line, ref, f"the emulator's {outcome} result line")


def _fill_nullable_required(spec: Spec, obj: dict[str, Any], schema_name: str) -> dict[str, Any]:
    """``obj`` with absent required keys whose spec default is null filled in with null."""
    schema = spec.component(schema_name)
    filled = dict(obj)
    for name in schema.get("required", []):
        prop = schema.get("properties", {}).get(name, {})
        if name not in filled and "default" in prop and prop["default"] is None:
            filled[name] = None
    return filled


def test_emulator_succeeded_line_matches_spec_when_absent_means_null(spec: Spec, emulator: dict[str, Any]) -> None:
    """Accept both shapes (providers.md): the classic message without the newer nullable keys.

    Everything else in the succeeded line must match the spec exactly.
    """
    line = json.loads(json.dumps(emulator["result_lines"][RESULT_LINES["succeeded"]]))
    message = _fill_nullable_required(spec, line["result"]["message"], "Message")
    message["usage"] = _fill_nullable_required(spec, message["usage"], "Usage")
    message["content"] = [_fill_nullable_required(spec, block, "ResponseTextBlock") if block.get("type") == "text"
                          else block for block in message["content"]]
    line["result"]["message"] = message
    ref = spec.response_ref("GET", RESULTS_PATH, 200, "application/x-jsonl", fallback="MessageBatchIndividualResponse")
    spec.assert_valid(line, ref, "the emulator's succeeded result line (absent nullable keys read as null)")


def test_errored_line_nests_a_full_error_envelope(spec: Spec, emulator: dict[str, Any]) -> None:
    error = emulator["result_lines"][RESULT_LINES["errored"]]["result"]["error"]
    spec.assert_valid(error, SPEC_URI + "#" + _pointer("components", "schemas", "ErrorResponse"),
                      "the errored result's error envelope")
    assert error["error"]["type"] == "invalid_request_error"


# --------------------------------------------------------------------------------------------
# 2. and 3. what the CLI's direct Anthropic adapter sends


def _direct_target(tmp_path: Path, recorder: Recorder) -> Any:
    """The target the CLI builds for direct Anthropic access, on a recording mock transport."""
    settings = resolve({"anthropic_api_key": API_KEY, "max_retries": 0}, environ={}, path=tmp_path / "absent.toml")
    assert settings.provider == "anthropic" and not settings.base_url and not settings.emulator
    target = build_target(settings, transport=httpx.MockTransport(recorder))
    assert isinstance(target.inner, AnthropicAPI)
    return target


def _drive_every_call(target: Any, tmp_path: Path) -> None:
    """Call each Files and Message Batches operation of the adapter once."""
    data = tmp_path / "data.jsonl"
    data.write_bytes(b"{}\n")
    target.upload_file(UploadSource.from_path(data), purpose=None)
    list(target.list_files(limit=5))
    target.get_file("file_a")
    with target.open_download("file_a") as download:
        b"".join(download.chunks())
    target.delete_file("file_a")
    target.create_batch(load_requests(str(EXAMPLE_REQUESTS)))
    list(target.list_batches(limit=5))
    target.get_batch("msgbatch_a")
    target.cancel_batch("msgbatch_a")
    list(target.iter_raw_results("msgbatch_a"))


@pytest.fixture
def recorded(tmp_path: Path) -> Recorder:
    recorder = Recorder(FakeAnthropic())
    target = _direct_target(tmp_path, recorder)
    try:
        _drive_every_call(target, tmp_path)
    finally:
        target.close()
    return recorder


def test_cli_batch_create_body_matches_spec(spec: Spec, recorded: Recorder) -> None:
    request = recorded.only("POST", "/v1/messages/batches")
    assert request.headers["content-type"].split(";")[0] == "application/json"
    body = json.loads(request.content)
    spec.assert_valid(body, spec.request_ref("POST", "/v1/messages/batches", fallback="CreateMessageBatchParams"),
                      "the CLI's batch create body")
    sent = [r["custom_id"] for r in body["requests"]]
    expected = [json.loads(line)["custom_id"] for line in EXAMPLE_REQUESTS.read_text().splitlines() if line.strip()]
    assert sent == expected


def test_cli_sends_auth_and_version_on_every_call(recorded: Recorder) -> None:
    assert recorded.requests
    for request in recorded.requests:
        assert request.headers.get("x-api-key") == API_KEY, f"{request.method} {request.url.path}"
        assert request.headers.get("anthropic-version") == VERSION == ANTHROPIC_VERSION, request.url.path


def test_cli_sends_files_beta_header_on_files_calls(spec: Spec, recorded: Recorder) -> None:
    upload = recorded.only("POST", "/v1/files")
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"' in upload.content  # the spec's multipart schema requires the `file` part
    multipart = spec.require("POST", "/v1/files").body["requestBody"]["content"]
    assert "multipart/form-data" in multipart and "file" in multipart["multipart/form-data"]["schema"]["required"]
    files_calls = [r for r in recorded.requests if r.url.path.startswith("/v1/files")]
    assert {r.method for r in files_calls} == {"POST", "GET", "DELETE"}
    for request in files_calls:
        betas = [b.strip() for b in request.headers.get("anthropic-beta", "").split(",")]
        assert FILES_BETA == "files-api-2025-04-14" and FILES_BETA in betas, f"{request.method} {request.url.path}"
    for request in recorded.requests:
        if request.url.path.startswith("/v1/messages/batches"):
            assert "anthropic-beta" not in request.headers, "Message Batches are GA: no beta header"


# Every call the direct adapter makes, as spec path templates (before the ``?beta=true`` suffix).
ADAPTER_CALLS = [
    ("POST", "/v1/files"),  # upload_file
    ("GET", "/v1/files"),  # list_files
    ("GET", "/v1/files/{file_id}"),  # get_file
    ("DELETE", "/v1/files/{file_id}"),  # delete_file
    ("GET", "/v1/files/{file_id}/content"),  # open_download
    ("POST", "/v1/messages/batches"),  # create_batch
    ("GET", "/v1/messages/batches"),  # list_batches
    ("GET", "/v1/messages/batches/{message_batch_id}"),  # get_batch
    ("POST", "/v1/messages/batches/{message_batch_id}/cancel"),  # cancel_batch
    ("GET", "/v1/messages/batches/{message_batch_id}/results"),  # iter_results / iter_raw_results
]


@pytest.mark.parametrize(("method", "path"), ADAPTER_CALLS, ids=[f"{m} {p}" for m, p in ADAPTER_CALLS])
def test_adapter_call_is_in_spec(spec: Spec, method: str, path: str) -> None:
    spec.require(method, path)


def _template_matchers(spec: Spec) -> Iterator[tuple[str, str, re.Pattern[str]]]:
    for key, item in spec.doc["paths"].items():
        template = key.split("?", 1)[0]
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
        for method in METHODS:
            if isinstance(item, dict) and method in item:
                yield method.upper(), template, pattern


def test_every_request_the_adapter_sends_is_in_spec(spec: Spec, recorded: Recorder) -> None:
    """The calls actually made (not just the list above) are described, with declared query parameters."""
    matchers = [m for m in _template_matchers(spec) if m[1].startswith(("/v1/files", "/v1/messages/batches"))]
    seen: set[tuple[str, str]] = set()
    for request in recorded.requests:
        hits = [t for m, t, p in matchers if m == request.method and p.match(request.url.path)]
        assert hits, f"{request.method} {request.url.path} is not in the spec"
        template = max(hits, key=lambda t: t.count("/") - t.count("{"))  # the most literal template wins
        seen.add((request.method, template))
        op = spec.require(request.method, template)
        declared = {p["name"] for p in op.body.get("parameters", []) if p.get("in") == "query"}
        sent = set(request.url.params.keys())
        assert sent <= declared, f"{request.method} {template}: query {sorted(sent - declared)} not in the spec"
        limit = request.url.params.get("limit")
        if limit is not None:
            assert 1 <= int(limit) <= 1000
    assert seen == set(ADAPTER_CALLS), "the explicit list of adapter calls is out of date"
