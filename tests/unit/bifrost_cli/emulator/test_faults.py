"""Fault injection (``emulator/faults.py``): rule syntax, the route classification table, the armed set,
the answers each kind gives (through a real served emulator), the admin routes, and the settings."""

from __future__ import annotations

import json

import httpx
import pytest

from bifrost_cli.emulator import EmulatorConfig, create_app
from bifrost_cli.emulator.faults import FaultRuleError, FaultSet, classify, parse_rule, parse_rules, split_rules
from bifrost_cli.emulator.testing import ManualClock, running_server

AKEY = {"x-api-key": "dummy"}
OKEY = {"authorization": "Bearer sk-test"}
GKEY = {"x-goog-api-key": "gk"}
BKEY = {"authorization": "Bearer bedrock-key"}


# ---------------------------------------------------------------- rule syntax


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("batches.create:status=503", {"op": "batches.create", "kind": "status", "code": 503, "remaining": 1,
                                       "shape": "provider", "retry_after": None}),
        ("any:status=429,retry-after=7x3", {"op": "any", "code": 429, "retry_after": "7", "remaining": 3}),
        ("files.list:status=502,shape=barex*", {"shape": "bare", "remaining": None}),
        ("batches.cancel:status=500,shape=provider,retry-after=0.5", {"shape": "provider", "retry_after": "0.5"}),
        ("batches.create:after=502", {"kind": "after", "code": 502}),
        ("batches.delete:after=504,retry-after=1x2", {"kind": "after", "code": 504, "retry_after": "1", "remaining": 2}),
        ("files.download:cut=100", {"kind": "cut", "amount": 100, "percent": False}),
        ("batches.results:cut=50%", {"kind": "cut", "amount": 50, "percent": True}),
        ("files.download:cut-length=10%x2", {"kind": "cut-length", "amount": 10, "percent": True, "remaining": 2}),
        ("files.download:reset=0", {"kind": "reset", "amount": 0}),
        ("batches.get:stall=2.5", {"kind": "stall", "seconds": 2.5}),
        ("files.get:drip=0.01x*", {"kind": "drip", "seconds": 0.01, "remaining": None}),
        ("  files.upload:status=413  ", {"op": "files.upload", "code": 413}),
    ],
)
def test_rules_parse(text, expected):
    fault = parse_rule(text)
    for key, value in expected.items():
        assert getattr(fault, key) == value, key


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "not of the form"),
        ("batches.create", "not of the form"),
        ("batch.create:status=503", "unknown operation 'batch.create'"),
        ("batches.create:explode=1", "unknown kind 'explode'"),
        ("batches.create:status", "status needs a value"),
        ("batches.create:status=", "status needs a value"),
        ("batches.create:status=200", "HTTP error status from 400 to 599"),
        ("batches.create:status=abc", "HTTP error status"),
        ("batches.create:after=600", "HTTP error status"),
        ("files.download:cut=-1", "byte count N or a percentage"),
        ("files.download:cut=150%", "byte count N or a percentage"),
        ("files.download:reset=half", "byte count N or a percentage"),
        ("files.download:stall=soon", "stall needs a number of seconds"),
        ("files.download:drip=-1", "drip needs a number of seconds"),
        ("files.download:cut=5,retry-after=1", "retry-after applies to status= and after= only"),
        ("batches.create:after=502,shape=provider", "shape applies to status= only"),
        ("batches.create:status=503,shape=html", "shape is provider or bare"),
        ("batches.create:status=503,retry-after=later", "retry-after needs a number of seconds"),
        ("batches.create:status=503,colour=red", "unknown option 'colour'"),
        ("batches.create:status=503,retry-after", "needs a value"),
        ("batches.create:status=503x0", "at least 1"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule_and_the_problem(text, says):
    with pytest.raises(FaultRuleError) as caught:
        parse_rule(text)
    message = str(caught.value)
    assert says in message
    assert repr(text.strip()) in message


def test_env_rules_are_split_on_semicolons():
    assert split_rules(" batches.create:status=503 ;; files.download:cut=10% ; ") == [
        "batches.create:status=503", "files.download:cut=10%"]
    assert [f.kind for f in parse_rules(["batches.get:stall=1", " ", "any:status=500"])] == ["stall", "status"]


def test_rules_fire_in_order_and_counts_go_down():
    armed = FaultSet(parse_rules(["batches.create:status=503x2", "any:status=500", "files.list:status=429x*"]))
    assert armed.take("batches.create").code == 503
    assert armed.take("batches.create").code == 503
    assert armed.take("batches.create").code == 500  # the first rule is spent: "any" matches next
    assert armed.take("batches.get") is None  # every rule that matches it is spent
    for _ in range(5):
        assert armed.take("files.list").code == 429
    assert armed.take(None) is None  # unclassified requests are never faulted
    assert armed.describe() == [{"rule": "batches.create:status=503x2", "remaining": 0},
                                {"rule": "any:status=500", "remaining": 0},
                                {"rule": "files.list:status=429x*", "remaining": "*"}]


# ---------------------------------------------------------------- the classification table

ROUTES = [
    # Anthropic, native and gateway
    *[(m, prefix + p, op) for prefix in ("/native/anthropic", "/anthropic") for m, p, op in [
        ("POST", "/v1/files", "files.upload"),
        ("GET", "/v1/files", "files.list"),
        ("GET", "/v1/files/file_011abc", "files.get"),
        ("HEAD", "/v1/files/file_011abc", "files.get"),
        ("DELETE", "/v1/files/file_011abc", "files.delete"),
        ("GET", "/v1/files/file_011abc/content", "files.download"),
        ("POST", "/v1/messages/batches", "batches.create"),
        ("GET", "/v1/messages/batches", "batches.list"),
        ("GET", "/v1/messages/batches/msgbatch_1", "batches.get"),
        ("DELETE", "/v1/messages/batches/msgbatch_1", "batches.delete"),
        ("POST", "/v1/messages/batches/msgbatch_1/cancel", "batches.cancel"),
        ("GET", "/v1/messages/batches/msgbatch_1/results", "batches.results"),
    ]],
    # OpenAI, native and gateway (with and without /v1)
    *[(m, prefix + p, op) for prefix in ("/native/openai/v1", "/openai/v1", "/openai") for m, p, op in [
        ("POST", "/files", "files.upload"),
        ("GET", "/files", "files.list"),
        ("GET", "/files/file-abc", "files.get"),
        ("DELETE", "/files/file-abc", "files.delete"),
        ("GET", "/files/file-abc/content", "files.download"),  # output and error files too
        ("POST", "/uploads", "files.upload"),
        ("POST", "/uploads/upload_abc/parts", "files.upload"),
        ("POST", "/uploads/upload_abc/complete", "files.upload"),
        ("POST", "/uploads/upload_abc/cancel", "files.upload"),
        ("POST", "/batches", "batches.create"),
        ("GET", "/batches", "batches.list"),
        ("GET", "/batches/batch_abc", "batches.get"),
        ("POST", "/batches/batch_abc/cancel", "batches.cancel"),
    ]],
    # Gemini, native and gateway, v1beta and v1
    *[(m, prefix + p.replace("VER", ver), op) for prefix in ("/native/gemini", "/genai") for ver in ("v1beta", "v1")
      for m, p, op in [
        ("POST", "/upload/VER/files", "files.upload"),  # resumable start, and its chunks (same path, ?upload_id=)
        ("GET", "/VER/files", "files.list"),
        ("GET", "/VER/files/abc-123", "files.get"),
        ("DELETE", "/VER/files/abc-123", "files.delete"),
        ("GET", "/VER/files/abc-123:download", "files.download"),
        ("GET", "/download/VER/files/abc-123:download", "files.download"),  # responses files too
        ("POST", "/VER/models/gemini-2.5-flash:batchGenerateContent", "batches.create"),
        ("GET", "/VER/batches", "batches.list"),
        ("GET", "/VER/batches/abc123", "batches.get"),
        ("DELETE", "/VER/batches/abc123", "batches.delete"),
        ("POST", "/VER/batches/abc123:cancel", "batches.cancel"),
    ]],
    # Bedrock, native and gateway (plus the gateway's S3-style objects)
    *[(m, prefix + p, op) for prefix in ("/native/bedrock", "/bedrock") for m, p, op in [
        ("POST", "/model-invocation-job", "batches.create"),
        ("GET", "/model-invocation-jobs", "batches.list"),
        ("GET", "/model-invocation-job/arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abc", "batches.get"),
        ("POST", "/model-invocation-job/abc123def456/stop", "batches.cancel"),
    ]],
    ("PUT", "/bedrock/files/my-bucket/in/records.jsonl", "files.upload"),
    ("GET", "/bedrock/files/my-bucket/in/records.jsonl", "files.download"),
    # never faulted: health, admin, the web page, unknown routes
    ("GET", "/_emulator/health", None),
    ("POST", "/_emulator/faults", None),
    ("POST", "/_emulator/files", None),
    ("GET", "/", None),
    ("GET", "/anthropic/v1/models", None),
    ("PATCH", "/native/openai/v1/files", None),
]


@pytest.mark.parametrize(("method", "path", "op"), ROUTES)
def test_every_route_is_classified(method, path, op):
    assert classify(method, path) == op


# ---------------------------------------------------------------- through a served emulator


@pytest.fixture
def emu(tmp_path):
    config = EmulatorConfig(state_dir=tmp_path / "state", batch_seconds=10.0, clock=ManualClock(1_800_000_000.0))
    with running_server(config) as server, httpx.Client(base_url=server.url) as client:
        yield client


def arm(client, *rules):
    answer = client.post("/_emulator/faults", json={"rules": list(rules)})
    assert answer.status_code == 200, answer.text
    return answer.json()["rules"]


def anthropic_batch(client, prefix="/native/anthropic", headers=AKEY):
    body = {"requests": [{"custom_id": "a", "params": {"model": "claude-test", "max_tokens": 8,
                                                        "messages": [{"role": "user", "content": "hi"}]}}]}
    return client.post(f"{prefix}/v1/messages/batches", json=body, headers=headers)


def test_admin_routes_arm_show_and_clear(emu):
    assert emu.get("/_emulator/faults").json() == {"rules": []}
    assert arm(emu, "batches.create:status=503x2", "files.download:cut=10%x*") == [
        {"rule": "batches.create:status=503x2", "remaining": 2}, {"rule": "files.download:cut=10%x*", "remaining": "*"}]
    assert anthropic_batch(emu).status_code == 503
    assert emu.get("/_emulator/faults").json()["rules"][0] == {"rule": "batches.create:status=503x2", "remaining": 1}
    assert arm(emu, "files.list:status=500") == [{"rule": "files.list:status=500", "remaining": 1}]  # replaced
    assert emu.delete("/_emulator/faults").json() == {"rules": []}
    assert anthropic_batch(emu).status_code == 200


@pytest.mark.parametrize("body", [{"rules": ["batches.create:status=503", "nope"]}, {"rules": "x"}, ["a"]])
def test_admin_route_refuses_a_bad_rule_and_keeps_the_armed_ones(emu, body):
    arm(emu, "files.list:status=500")
    answer = emu.post("/_emulator/faults", json=body)
    assert answer.status_code == 400
    if isinstance(body, dict) and isinstance(body["rules"], list):
        assert "'nope'" in answer.json()["error"]["message"]
    assert emu.get("/_emulator/faults").json()["rules"] == [{"rule": "files.list:status=500", "remaining": 1}]


def test_a_refused_create_never_reaches_the_api(emu):
    arm(emu, "batches.create:status=529,retry-after=3")
    refused = anthropic_batch(emu)
    assert refused.status_code == 529
    assert refused.headers["retry-after"] == "3"
    assert refused.headers["request-id"].startswith("req_")
    body = refused.json()
    assert body["type"] == "error" and body["error"]["type"] == "overloaded_error"
    assert body["request_id"] == refused.headers["request-id"]
    assert emu.get("/native/anthropic/v1/messages/batches", headers=AKEY).json()["data"] == []


def test_after_does_the_request_then_fails_bare(emu):
    arm(emu, "batches.create:after=502")
    failed = anthropic_batch(emu)
    assert failed.status_code == 502
    assert failed.headers["content-type"].startswith("text/html")
    assert "request-id" not in failed.headers
    listed = emu.get("/native/anthropic/v1/messages/batches", headers=AKEY).json()["data"]
    assert len(listed) == 1  # the batch was created all the same


def test_after_delete_really_deletes(emu):
    file_id = emu.post("/_emulator/files?filename=a.txt", content=b"abc").json()["id"]
    arm(emu, "files.delete:after=504")
    assert emu.delete(f"/native/anthropic/v1/files/{file_id}", headers=AKEY).status_code == 504
    assert emu.get(f"/native/anthropic/v1/files/{file_id}", headers=AKEY).status_code == 404


def _shape_check(surface, answer):
    body = answer.json()
    if surface == "anthropic":
        assert answer.headers["request-id"].startswith("req_")
        assert set(body) == {"type", "error", "request_id"} and set(body["error"]) == {"type", "message"}
    elif surface == "openai":
        assert answer.headers["x-request-id"].startswith("req_")
        assert set(body["error"]) == {"message", "type", "param", "code"}
    elif surface == "gemini":
        assert set(body["error"]) == {"code", "message", "status"}
        assert body["error"]["status"] in ("UNAVAILABLE", "RESOURCE_EXHAUSTED")
    elif surface == "bedrock":
        assert set(body) == {"message"}
        assert answer.headers["x-amzn-ErrorType"].split(":")[0] in ("ServiceUnavailableException", "ThrottlingException")
        assert answer.headers["x-amzn-RequestId"]
    else:
        assert body["is_bifrost_error"] is True
        assert body["status_code"] == answer.status_code
        assert set(body["error"]) == {"type", "message"} and "extra_fields" in body


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    ("surface", "method", "path", "headers"),
    [
        ("anthropic", "GET", "/native/anthropic/v1/messages/batches", AKEY),
        ("openai", "GET", "/native/openai/v1/batches", OKEY),
        ("gemini", "GET", "/native/gemini/v1beta/batches", GKEY),
        ("bedrock", "GET", "/native/bedrock/model-invocation-jobs", BKEY),
        ("gateway", "GET", "/anthropic/v1/messages/batches", AKEY),
        ("gateway", "GET", "/openai/v1/batches", {}),
        ("gateway", "GET", "/genai/v1beta/batches", {}),
        ("gateway", "GET", "/bedrock/model-invocation-jobs", {}),
    ],
)
def test_status_answers_in_the_surfaces_own_shape(emu, surface, method, path, headers, status):
    arm(emu, f"batches.list:status={status}")
    answer = emu.request(method, path, headers=headers)
    assert answer.status_code == status
    _shape_check(surface, answer)
    assert emu.request(method, path, headers=headers).status_code == 200  # x1: spent


def test_bare_shape_has_no_request_id(emu):
    arm(emu, "any:status=503,shape=bare,retry-after=1x*")
    for path, headers in (("/native/anthropic/v1/files", AKEY), ("/native/openai/v1/files", OKEY)):
        answer = emu.get(path, headers=headers)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
        assert answer.headers["content-type"].startswith("text/html")
        assert "request-id" not in answer.headers and "x-request-id" not in answer.headers


def test_ordinary_native_errors_carry_the_providers_request_id(emu):
    missing = emu.get("/native/anthropic/v1/messages/batches/msgbatch_nope", headers=AKEY)
    assert missing.status_code == 404 and missing.json()["request_id"] == missing.headers["request-id"]
    missing = emu.get("/native/openai/v1/batches/batch_nope", headers=OKEY)
    assert missing.status_code == 404 and missing.headers["x-request-id"] and "error" in missing.json()
    missing = emu.get("/native/bedrock/model-invocation-job/abcdefabcdef", headers=BKEY)
    assert missing.status_code == 404 and missing.headers["x-amzn-RequestId"]
    assert missing.headers["x-amzn-ErrorType"].startswith("ResourceNotFoundException")


def test_flaky_every_still_works_in_the_surfaces_shape(tmp_path):
    config = EmulatorConfig(state_dir=tmp_path / "s", flaky_every=2)
    with running_server(config) as server, httpx.Client(base_url=server.url) as client:
        codes = [client.get("/native/openai/v1/files", headers=OKEY) for _ in range(4)]
    assert [c.status_code for c in codes] == [200, 503, 200, 503]
    assert codes[1].headers["retry-after"] == "0" and codes[1].headers["x-request-id"]
    assert codes[1].json()["error"]["type"] == "server_error"


# ---------------------------------------------------------------- body-level kinds, in process


def test_body_faults_do_not_break_an_in_process_wsgi_caller(tmp_path):
    app = create_app(EmulatorConfig(state_dir=tmp_path / "s"))
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://emu") as client:
        data = b"".join(b'{"n":%d}\n' % i for i in range(10))
        file_id = client.post("/_emulator/files?filename=a.jsonl", content=data).json()["id"]
        url = f"/native/anthropic/v1/files/{file_id}/content"
        client.post("/_emulator/faults", json={"rules": [f"files.download:{k}" for k in
                                                         ("cut=50%", "cut-length=15", "stall=0", "drip=0", "reset=5")]})
        cut = client.get(url, headers=AKEY)
        assert cut.content == data[: data.rfind(b"\n", 0, len(data) // 2) + 1]  # whole lines only
        assert "content-length" not in cut.headers
        cut_length = client.get(url, headers=AKEY)
        assert cut_length.content == data[:8] and cut_length.headers["content-length"] == "8"
        assert client.get(url, headers=AKEY).content == data  # stall
        assert client.get(url, headers=AKEY).content == data  # drip
        reset = client.get(url, headers=AKEY)  # in process: the short body, with the true length
        assert reset.content == data[:5] and reset.headers["content-length"] == str(len(data))


def test_config_checks_rules_and_reads_them_from_the_environment(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="'files.download:cut=lots'"):
        EmulatorConfig(state_dir=tmp_path, faults=["files.download:cut=lots"])
    monkeypatch.setenv("BIFROST_EMULATOR_FAULTS", "batches.create:status=503x2;files.get:stall=1")
    assert EmulatorConfig.from_env(tmp_path).faults == ["batches.create:status=503x2", "files.get:stall=1"]
    monkeypatch.setenv("BIFROST_EMULATOR_FAULTS", "batches.create:status=503;oops")
    with pytest.raises(ValueError, match="BIFROST_EMULATOR_FAULTS: fault rule 'oops'"):
        EmulatorConfig.from_env(tmp_path)


def test_rules_from_the_config_are_armed_at_start(tmp_path):
    config = EmulatorConfig(state_dir=tmp_path / "s", faults=["files.list:status=500x2"])
    with running_server(config) as server, httpx.Client(base_url=server.url) as client:
        assert [client.get("/native/anthropic/v1/files", headers=AKEY).status_code for _ in range(3)] == [500, 500, 200]
        assert json.loads(client.get("/_emulator/faults").content)["rules"][0]["remaining"] == 0


def test_cut_rounds_jsonl_results_to_whole_lines_but_cuts_json_where_told(tmp_path):
    clock = ManualClock(1_800_000_000.0)
    config = EmulatorConfig(state_dir=tmp_path / "s", batch_seconds=10.0, clock=clock)
    with running_server(config) as server, httpx.Client(base_url=server.url) as client:
        body = {"requests": [{"custom_id": f"r{i}", "params": {"model": "claude-test", "max_tokens": 8, "messages": [
            {"role": "user", "content": f"hello {i}"}]}} for i in range(6)]}
        batch = client.post("/native/anthropic/v1/messages/batches", json=body, headers=AKEY).json()
        clock.advance(11)
        url = f"/native/anthropic/v1/messages/batches/{batch['id']}"
        whole = client.get(url + "/results", headers=AKEY).content
        arm(client, "batches.results:cut=50%", "batches.get:cut=10")
        cut = client.get(url + "/results", headers=AKEY)
        assert cut.status_code == 200 and "content-length" not in cut.headers
        assert whole.startswith(cut.content) and cut.content.endswith(b"\n")
        assert 0 < len(cut.content) <= len(whole) // 2
        assert all(json.loads(line) for line in cut.content.splitlines())
        got = client.get(url, headers=AKEY)
        assert len(got.content) == 10 and got.content.startswith(b"{")
