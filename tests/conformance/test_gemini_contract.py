"""The emulator's Gemini file and batch answers checked against Google's OpenAPI description
(``../shared/specs/gemini-generativelanguage-v1beta-openapi3-rev20250701.json``; skipped when absent).

Schemas are validated with JSON Schema (``$ref``s resolved inside the spec), and every field the
emulator sends in a File must be one the spec declares. The spec predates Batch Mode, so the batch
create route and the batch metadata/output types are not in it: only the Operation envelope is.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

SPEC_FILE = ROOT.parent / "shared" / "specs" / "gemini-generativelanguage-v1beta-openapi3-rev20250701.json"
if not SPEC_FILE.is_file():
    pytest.skip(f"the API descriptions are not checked out next to the repository ({SPEC_FILE.name} not found)",
                allow_module_level=True)

jsonschema = pytest.importorskip("jsonschema", reason="contract tests need jsonschema (the `test` extra)")
import httpx  # noqa: E402

from bifrost_cli.emulator import EmulatorConfig  # noqa: E402
from bifrost_cli.emulator.testing import ManualClock, running_server  # noqa: E402

SPEC = json.loads(SPEC_FILE.read_text())
KEY = {"x-goog-api-key": "contract-key"}


def check(schema_name: str, value: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": SPEC["components"]}
    jsonschema.validate(value, schema, cls=jsonschema.Draft7Validator)


def declared(schema_name: str) -> set[str]:
    return set(SPEC["components"]["schemas"][schema_name]["properties"])


@pytest.fixture()
def api(tmp_path: Path):
    clock = ManualClock(1_750_000_000.0)
    config = EmulatorConfig(state_dir=tmp_path / "state", batch_seconds=10.0, clock=clock)
    with running_server(config) as server:
        with httpx.Client(base_url=server.url + "/native/gemini", headers=KEY) as client:
            yield client, clock


def upload(client: httpx.Client, data: bytes, name: str = "in.jsonl") -> dict:
    start = client.post("/upload/v1beta/files", json={"file": {"display_name": name}}, headers={
        "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(len(data)), "X-Goog-Upload-Header-Content-Type": "application/jsonl"})
    assert start.status_code == 200
    url = start.headers["x-goog-upload-url"]
    done = client.post(url, content=data, headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"})
    assert done.status_code == 200 and done.headers["x-goog-upload-status"] == "final"
    return done.json()["file"]


def test_the_routes_used_are_described() -> None:
    paths = SPEC["paths"]
    for path in ("/v1beta/files", "/v1beta/files/{file}", "/v1beta/files/{file}:download", "/v1beta/batches",
                 "/v1beta/batches/{generateContentBatch}", "/v1beta/batches/{generateContentBatch}:cancel"):
        assert path in paths


def test_files(api: tuple) -> None:
    client, _ = api
    file = upload(client, b'{"key":"a","request":{"contents":[{"parts":[{"text":"x"}]}]}}\n')
    check("File", file)
    assert set(file) <= declared("File")
    assert isinstance(file["sizeBytes"], str)  # int64 as a string
    got = client.get("/v1beta/" + file["name"]).json()
    check("File", got)
    listed = client.get("/v1beta/files", params={"pageSize": 1}).json()
    check("ListFilesResponse", listed)
    assert client.delete("/v1beta/" + file["name"]).json() == {}
    missing = client.get("/v1beta/" + file["name"])
    assert missing.status_code == 403
    check("Status", missing.json()["error"])


def test_batches(api: tuple) -> None:
    client, clock = api
    body = {"batch": {"display_name": "c", "input_config": {"requests": {"requests": [
        {"request": {"contents": [{"parts": [{"text": "x"}]}]}, "metadata": {"key": "k"}}]}}}}
    created = client.post("/v1beta/models/gemini-2.5-flash:batchGenerateContent", json=body).json()
    check("Operation", created)
    assert created["done"] is False
    assert created["metadata"]["state"] in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING")
    assert all(isinstance(v, str) for v in created["metadata"]["batchStats"].values())
    clock.advance(10.0)
    done = client.get("/v1beta/" + created["name"]).json()
    check("Operation", done)
    item = done["response"]["inlinedResponses"]["inlinedResponses"][0]
    check("GenerateContentResponse", item["response"])
    assert item["metadata"] == {"key": "k"}
    listed = client.get("/v1beta/batches").json()
    check("ListOperationsResponse", listed)
    file = upload(client, b'{"key":"f","request":{"contents":[{"parts":[{"text":"y"}]}]}}\n')
    from_file = client.post("/v1beta/models/gemini-2.5-flash:batchGenerateContent",
                            json={"batch": {"inputConfig": {"fileName": file["name"]}}}).json()
    assert client.post("/v1beta/" + from_file["name"] + ":cancel").json() == {}
    clock.advance(10.0)
    canceled = client.get("/v1beta/" + from_file["name"]).json()
    check("Operation", canceled)
    assert canceled["metadata"]["state"] == "BATCH_STATE_CANCELLED"
    check("Status", canceled["error"])
    assert client.delete("/v1beta/" + from_file["name"]).json() == {}


def test_generated_files_download_in_both_url_forms(api: tuple) -> None:
    client, clock = api
    file = upload(client, b'{"key":"f","request":{"contents":[{"parts":[{"text":"y"}]}]}}\n')
    op = client.post("/v1beta/models/m:batchGenerateContent", json={"batch": {"inputConfig": {"fileName": file["name"]}}}).json()
    clock.advance(10.0)
    name = client.get("/v1beta/" + op["name"]).json()["response"]["responsesFile"]
    meta = client.get("/v1beta/" + name).json()
    check("File", meta)
    assert meta["source"] == "GENERATED"
    one = client.get(f"/v1beta/{name}:download", params={"alt": "media"})
    two = client.get(f"/download/v1beta/{name}:download", params={"alt": "media"})
    assert one.status_code == two.status_code == 200 and one.content == two.content
    assert json.load(io.BytesIO(one.content.splitlines()[0]))["key"] == "f"
    refused = client.get(f"/v1beta/{file['name']}:download", params={"alt": "media"})
    assert refused.status_code == 400
