"""Contract tests against OpenAI's OpenAPI description (``../shared/specs/openai-openapi.yaml``) and the
batch line schemas of the 2025-04-29 edition (``BatchRequestInput``/``BatchRequestOutput``).

1. every request the CLI's direct OpenAI adapter sends (captured with ``httpx.MockTransport`` through
   ``build_target``) is an operation of the spec, with declared query parameters and a body that
   validates against the operation's request schema; the batch input lines it uploads validate
   against ``BatchRequestInput`` and their bodies against ``CreateChatCompletionRequest``;
2. the emulator's ``/native/openai/v1`` answers validate against the response schemas.

The specs are reference data kept beside the repository; without them this module is skipped.
OpenAPI 3.0's ``nullable`` (also found in the 3.1 document) is rewritten as ``anyOf [..., null]``.
The spec types several fields the API sends as ``null`` (``output_file_id``, ``errors``, the
``*_at`` timestamps...) as plain strings or integers, so answers are validated with their
``null`` members left out (absent and null mean the same to clients).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, ROOT

SPECS_DIR = ROOT.parent / "shared" / "specs"
SPEC_FILE = SPECS_DIR / "openai-openapi.yaml"
LINES_SPEC_FILE = SPECS_DIR / "openai-openapi-2025-04-29-with-BatchRequestInput.yaml"
EXAMPLE_REQUESTS = EXAMPLES / "requests.jsonl"

if not SPEC_FILE.is_file() or not LINES_SPEC_FILE.is_file():
    pytest.skip("the API descriptions are not checked out next to the repository", allow_module_level=True)

yaml = pytest.importorskip("yaml", reason="the OpenAI specs are YAML (PyYAML)")
pytest.importorskip("jsonschema", reason="contract tests need jsonschema (the `test` extra)")

import httpx  # noqa: E402
from jsonschema import Draft202012Validator  # noqa: E402
from jsonschema.exceptions import best_match  # noqa: E402
from referencing import Registry, Resource  # noqa: E402
from referencing.jsonschema import DRAFT202012  # noqa: E402

from bifrost_cli.config import resolve  # noqa: E402
from bifrost_cli.emulator.config import EmulatorConfig  # noqa: E402
from bifrost_cli.emulator.testing import ManualClock, running_server  # noqa: E402
from bifrost_cli.inputs import load_requests  # noqa: E402
from bifrost_cli.providers import build_target  # noqa: E402
from bifrost_cli.providers.base import UploadSource  # noqa: E402
from bifrost_cli.providers.openai.api import OpenAIAPI  # noqa: E402
from tests.fakes import FakeOpenAI, Recorder  # noqa: E402

API_KEY = "sk-openai-contract-key"
METHODS = ("get", "post", "delete")


def _denullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_denullable(x) for x in node]
    if not isinstance(node, dict):
        return node
    node = {k: _denullable(v) for k, v in node.items()}
    if isinstance(node.get("allOf"), list) and any(x == {"nullable": True} for x in node["allOf"]):
        rest = [x for x in node["allOf"] if x != {"nullable": True}]
        node = {**{k: v for k, v in node.items() if k != "allOf"}, "anyOf": [{"allOf": rest}, {"type": "null"}]}
    if node.pop("nullable", False) is True:
        return {"anyOf": [node, {"type": "null"}]}
    return node


class Spec:
    def __init__(self, path: Path, uri: str):
        with path.open("rb") as fh:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            self.doc = _denullable(yaml.load(fh, Loader=loader))
        self.uri = uri
        self.registry = Registry().with_resource(uri, Resource.from_contents(self.doc, default_specification=DRAFT202012))

    def schema(self, name: str) -> str:
        assert name in self.doc["components"]["schemas"], f"{name} is not in {self.uri}"
        return f"{self.uri}#/components/schemas/{name}"

    def operation(self, method: str, path: str) -> dict[str, Any]:
        item = self.doc["paths"].get(path) or {}
        assert method.lower() in item, f"the spec has no {method} {path}"
        return item[method.lower()]

    def template(self, method: str, path: str) -> str | None:
        """The spec path (``/files/{file_id}``) a concrete ``/files/file-1`` matches."""
        best = None
        for key, item in self.doc["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(key)) + "$"
            if method.lower() in item and re.match(pattern, path):
                if best is None or key.count("{") < best.count("{"):
                    best = key
        return best

    def body_schema(self, method: str, path: str, content_type: str) -> str:
        op = self.operation(method, path)
        ref = op["requestBody"]["content"][content_type]["schema"]["$ref"]
        return self.uri + ref

    def response_schema(self, method: str, path: str) -> str:
        ref = self.operation(method, path)["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        return self.uri + ref

    def assert_valid(self, instance: Any, ref: str, what: str) -> None:
        errors = list(Draft202012Validator({"$ref": ref}, registry=self.registry).iter_errors(instance))
        if errors:
            best = best_match(errors)
            raise AssertionError(f"{what} does not match {ref.split('#')[1]}: /{'/'.join(map(str, best.absolute_path))}: "
                                 f"{best.message[:400]}\n{json.dumps(instance)[:1500]}")


@pytest.fixture(scope="module")
def spec() -> Spec:
    return Spec(SPEC_FILE, "urn:contract:openai")


@pytest.fixture(scope="module")
def lines_spec() -> Spec:
    return Spec(LINES_SPEC_FILE, "urn:contract:openai-2025-04-29")


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------
# 1. what the CLI sends


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    monkeypatch.setenv("BIFROST_OPENAI_UPLOAD_THRESHOLD", "10")
    monkeypatch.setenv("BIFROST_OPENAI_PART_SIZE", "8")
    settings = resolve({"provider": "openai", "openai_api_key": API_KEY, "openai_organization": "org-1",
                        "openai_project": "proj_1", "max_retries": 0}, environ={}, path=tmp_path / "absent.toml")
    recorder = Recorder(FakeOpenAI())
    target = build_target(settings, transport=httpx.MockTransport(recorder))
    assert isinstance(target.inner, OpenAIAPI)
    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    small.write_bytes(b"{}\n")
    big.write_bytes(b"0123456789" * 2)  # above the threshold: three parts
    try:
        target.upload_file(UploadSource.from_path(small), purpose="batch", expires_after=7200)
        target.upload_file(UploadSource.from_path(big), purpose="batch")
        list(target.list_files(limit=5))
        target.get_file("file-a")
        with target.open_download("file-a") as download:
            b"".join(download.chunks())
        target.delete_file("file-a")
        with load_requests(str(EXAMPLE_REQUESTS), model=None) as requests:
            target.create_batch(requests)
        list(target.list_batches(limit=5))
        target.get_batch("batch_a")
        target.cancel_batch("batch_a")
        list(target.iter_results("batch_a"))
    finally:
        target.close()
    return recorder


def _multipart(request: httpx.Request) -> dict[str, Any]:
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[name] = part.get_content() if part.get_filename() is None else "<binary>"
        if part.get_filename() is not None:
            fields[f"{name}:bytes"] = part.get_payload(decode=True)
    return fields


def _nested(fields: dict[str, Any]) -> dict[str, Any]:
    """Bracketed multipart names (``expires_after[seconds]``) as the nested object they stand for."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name.endswith(":bytes"):
            continue
        match = re.fullmatch(r"(\w+)\[(\w+)\]", name)
        if match:
            value = int(value) if value.isdigit() else value
            out.setdefault(match.group(1), {})[match.group(2)] = value
        else:
            out[name] = value
    return out


def test_every_request_is_a_spec_operation_with_declared_query(spec: Spec, recorded: Recorder) -> None:
    seen = set()
    for request in recorded.requests:
        path = request.url.path.removeprefix("/v1")
        template = spec.template(request.method, path)
        assert template, f"{request.method} {path} is not in the spec"
        seen.add((request.method, template))
        op = spec.operation(request.method, template)
        declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
        assert set(request.url.params.keys()) <= declared, f"{request.method} {template}: {dict(request.url.params)}"
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        assert request.headers["openai-organization"] == "org-1" and request.headers["openai-project"] == "proj_1"
    assert seen == {
        ("POST", "/files"), ("GET", "/files"), ("GET", "/files/{file_id}"), ("DELETE", "/files/{file_id}"),
        ("GET", "/files/{file_id}/content"), ("POST", "/uploads"), ("POST", "/uploads/{upload_id}/parts"),
        ("POST", "/uploads/{upload_id}/complete"), ("POST", "/batches"), ("GET", "/batches"),
        ("GET", "/batches/{batch_id}"), ("POST", "/batches/{batch_id}/cancel"),
    }


def test_json_bodies_match_the_spec(spec: Spec, recorded: Recorder) -> None:
    checked = 0
    for request in recorded.requests:
        path = request.url.path.removeprefix("/v1")
        template = spec.template(request.method, path)
        if request.method != "POST" or not request.content or "json" not in request.headers["content-type"]:
            continue
        body = json.loads(request.content)
        spec.assert_valid(body, spec.body_schema("POST", template, "application/json"), f"POST {template}")
        checked += 1
    assert checked == 3  # uploads create, uploads complete, batches create


def test_multipart_bodies_match_the_spec(spec: Spec, recorded: Recorder) -> None:
    uploads = [r for r in recorded.requests if r.method == "POST" and r.url.path == "/v1/files"]
    assert len(uploads) == 2  # the small file and the batch input
    for request in uploads:
        fields = _multipart(request)
        spec.assert_valid(_nested(fields), spec.body_schema("POST", "/files", "multipart/form-data"), "file upload")
    assert _nested(_multipart(uploads[0]))["expires_after"] == {"anchor": "created_at", "seconds": 7200}
    parts = [r for r in recorded.requests if r.url.path.endswith("/parts")]
    assert len(parts) == 3
    sent = []
    for request in parts:
        fields = _multipart(request)
        spec.assert_valid(_nested(fields), spec.body_schema("POST", "/uploads/{upload_id}/parts", "multipart/form-data"),
                          "upload part")
        sent.append(fields["data:bytes"])
    assert sorted(sent) == sorted([b"01234567", b"89012345", b"6789"])  # two at a time: in either order
    complete = next(r for r in recorded.requests if r.url.path.endswith("/complete"))
    import hashlib

    assert json.loads(complete.content)["md5"] == hashlib.md5(b"0123456789" * 2).hexdigest()


def test_uploaded_batch_lines_match_the_line_schemas(lines_spec: Spec, recorded: Recorder) -> None:
    upload = [r for r in recorded.requests if r.method == "POST" and r.url.path == "/v1/files"][1]
    content = _multipart(upload)["file:bytes"].decode()
    lines = [json.loads(x) for x in content.splitlines()]
    assert [x["custom_id"] for x in lines] == [json.loads(x)["custom_id"] for x in EXAMPLE_REQUESTS.read_text().splitlines()]
    for line in lines:
        lines_spec.assert_valid(line, lines_spec.schema("BatchRequestInput"), "a batch input line")
        lines_spec.assert_valid(line["body"], lines_spec.schema("CreateChatCompletionRequest"), "a batch line body")
    create = next(r for r in recorded.requests if r.method == "POST" and r.url.path == "/v1/batches")
    assert json.loads(create.content)["endpoint"] == lines[0]["url"]


def _properties(spec: Spec, node: Any) -> dict[str, Any]:
    """The declared properties of a schema, through ``$ref`` and ``allOf``."""
    if not isinstance(node, dict):
        return {}
    if "$ref" in node:
        return _properties(spec, spec.doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
    found = dict(node.get("properties") or {})
    for part in node.get("allOf") or ():
        found.update(_properties(spec, part))
    return found


def test_translated_bodies_match_the_latest_chat_completions_request(spec: Spec) -> None:
    """Every body the translation tables produce is a valid Chat Completions request of the latest
    spec, using only declared, non-deprecated fields (``max_completion_tokens``, not ``max_tokens``;
    ``safety_identifier``, not ``user``)."""
    from bifrost_cli.providers.openai.format import chat_body
    from tests.unit.bifrost_cli.providers.openai.test_format import BASE, MAPPED, MESSAGES

    declared = _properties(spec, {"$ref": "#/components/schemas/CreateChatCompletionRequest"})
    cases = [{**BASE, **extra} for _, extra, _ in MAPPED] + [{**BASE, **params} for _, params, _ in MESSAGES]
    for params in cases:
        body, problems = chat_body(params)
        assert problems == []
        spec.assert_valid(body, spec.schema("CreateChatCompletionRequest"), "a translated body")
        for key in body:
            assert key in declared, f"{key} is not a Chat Completions field"
            assert not declared[key].get("deprecated"), f"{key} is deprecated in the spec"


# --------------------------------------------------------------------------------------------
# 2. what the emulator answers


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    clock = ManualClock(1_750_000_000.0)
    config = EmulatorConfig(state_dir=tmp_path_factory.mktemp("openai-contract"), batch_seconds=10.0, clock=clock)
    rec: dict[str, Any] = {}
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}
    bad = {**line, "custom_id": "b", "body": {**line["body"], "messages": [{"role": "user", "content": "[emulator:error]"}]}}
    source = (json.dumps(line) + "\n" + json.dumps(bad) + "\n").encode()
    with running_server(config) as server, httpx.Client(base_url=server.url + "/native/openai/v1",
                                                        headers={"authorization": "Bearer sk-x"}) as client:
        def call(key: str, method: str, url: str, **kwargs: Any) -> Any:
            response = client.request(method, url, **kwargs)
            assert response.status_code == 200, response.text
            rec[key] = response.json()
            return rec[key]

        file_id = call("file_upload", "POST", "/files", data={"purpose": "batch"},
                       files={"file": ("in.jsonl", source, "application/jsonl")})["id"]
        call("file_get", "GET", f"/files/{file_id}")
        call("file_list", "GET", "/files")
        upload = call("upload_create", "POST", "/uploads", json={"filename": "u.jsonl", "purpose": "batch", "bytes": 2,
                                                                  "mime_type": "application/jsonl"})
        part = call("upload_part", "POST", f"/uploads/{upload['id']}/parts", files={"data": ("blob", b"{}")})
        call("upload_complete", "POST", f"/uploads/{upload['id']}/complete", json={"part_ids": [part["id"]]})
        call("file_delete", "DELETE", f"/files/{rec['upload_complete']['file']['id']}")
        batch = call("batch_create", "POST", "/batches", json={"input_file_id": file_id, "completion_window": "24h",
                                                                "endpoint": "/v1/chat/completions"})
        doomed = call("batch_create_2", "POST", "/batches", json={"input_file_id": file_id, "completion_window": "24h",
                                                                   "endpoint": "/v1/chat/completions"})
        call("batch_cancel", "POST", f"/batches/{doomed['id']}/cancel")
        clock.advance(5)
        call("batch_in_progress", "GET", f"/batches/{batch['id']}")
        clock.advance(10)
        done = call("batch_completed", "GET", f"/batches/{batch['id']}")
        call("batch_cancelled", "GET", f"/batches/{doomed['id']}")
        call("batch_list", "GET", "/batches")
        rec["output_lines"] = [json.loads(x) for x in client.get(f"/files/{done['output_file_id']}/content").text.splitlines()]
        rec["error_lines"] = [json.loads(x) for x in client.get(f"/files/{done['error_file_id']}/content").text.splitlines()]
        missing = client.get("/files/file-nope")
        assert missing.status_code == 404
        rec["error_404"] = missing.json()
    return rec


ANSWERS = [
    ("file_upload", "POST", "/files"), ("file_get", "GET", "/files/{file_id}"), ("file_list", "GET", "/files"),
    ("file_delete", "DELETE", "/files/{file_id}"), ("upload_create", "POST", "/uploads"),
    ("upload_part", "POST", "/uploads/{upload_id}/parts"), ("upload_complete", "POST", "/uploads/{upload_id}/complete"),
    ("batch_create", "POST", "/batches"), ("batch_cancel", "POST", "/batches/{batch_id}/cancel"),
    ("batch_in_progress", "GET", "/batches/{batch_id}"), ("batch_completed", "GET", "/batches/{batch_id}"),
    ("batch_cancelled", "GET", "/batches/{batch_id}"), ("batch_list", "GET", "/batches"),
]


@pytest.mark.parametrize(("key", "method", "path"), ANSWERS, ids=[a[0] for a in ANSWERS])
def test_emulator_answers_match_the_spec(spec: Spec, answers: dict[str, Any], key: str, method: str, path: str) -> None:
    spec.assert_valid(_without_nulls(answers[key]), spec.response_schema(method, path), f"the emulator's {key}")


def test_emulator_states_along_the_scenario(answers: dict[str, Any]) -> None:
    assert answers["batch_create"]["status"] == "validating"
    assert answers["batch_cancel"]["status"] == "cancelling"
    assert answers["batch_in_progress"]["status"] == "in_progress"
    assert answers["batch_completed"]["status"] == "completed"
    assert answers["batch_completed"]["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
    assert answers["batch_cancelled"]["status"] == "cancelled"
    assert answers["upload_complete"]["status"] == "completed"
    assert answers["file_delete"] == {"id": answers["upload_complete"]["file"]["id"], "object": "file", "deleted": True}


def test_emulator_result_lines_match_the_line_schema(lines_spec: Spec, answers: dict[str, Any]) -> None:
    assert [x["custom_id"] for x in answers["output_lines"]] == ["a"]
    assert [x["custom_id"] for x in answers["error_lines"]] == ["b"]
    for line in answers["output_lines"] + answers["error_lines"]:
        lines_spec.assert_valid(line, lines_spec.schema("BatchRequestOutput"), "an output/error line")
    body = answers["output_lines"][0]["response"]["body"]
    lines_spec.assert_valid(body, lines_spec.schema("CreateChatCompletionResponse"), "a chat completion")


def test_emulator_error_matches_the_spec(spec: Spec, answers: dict[str, Any]) -> None:
    spec.assert_valid(answers["error_404"], spec.schema("ErrorResponse"), "the emulator's 404")
