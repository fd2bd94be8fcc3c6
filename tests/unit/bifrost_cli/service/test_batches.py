"""Nothing doubled (service.batches): a create answered by something in front of the API that
acted and then said 503 makes exactly one batch; the same input sent twice gives the earlier batch
(from the ledger, or found on the provider's side by its client token); ``--new`` sends again.

The API is the emulator, in-process, behind :class:`ActsThenFails`: a transport that lets the
emulator do the request, then throws its answer away and answers a bare 503 (a proxy's page), as
a load balancer does after the upstream timed it out. Batches are counted on the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from bifrost_cli import service
from bifrost_cli.emulator import EmulatorConfig, create_app
from bifrost_cli.errors import BifrostError, ExitCode
from bifrost_cli.http.wsgi import WSGIStreamTransport
from bifrost_cli.ledger import Ledger
from bifrost_cli.providers import build_target
from tests.fakes import settings

EMULATOR = "http://emulator.localhost"
KEYS = {"anthropic_api_key": "sk-ant-test-0001", "openai_api_key": "sk-openai-test-0001", "gemini_api_key": "gemini-test-0001"}
DIRECT = {
    "anthropic": {"anthropic_base_url": f"{EMULATOR}/native/anthropic"},
    "openai": {"openai_base_url": f"{EMULATOR}/native/openai/v1"},
    "gemini": {"gemini_base_url": f"{EMULATOR}/native/gemini"},
}
CREATE = {"anthropic": "/messages/batches", "openai": "/batches", "gemini": ":batchGenerateContent"}
PROXY_PAGE = httpx.Response(503, text="<html><body>503 Service Unavailable</body></html>", headers={"content-type": "text/html"})


class ActsThenFails(httpx.BaseTransport):
    """The emulator behind a proxy: the first ``times`` POSTs whose path ends with ``suffix`` reach
    the emulator (which acts on them), and then get ``answer`` instead of the emulator's."""

    def __init__(self, app: Any, suffix: str, answer: httpx.Response = PROXY_PAGE, times: int = 1):
        self.inner = WSGIStreamTransport(app)
        self.suffix, self.answer, self.left = suffix, answer, times
        self.posts: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST":
            self.posts.append(request.url.path)
        if self.left and request.method == "POST" and request.url.path.endswith(self.suffix):
            response.read()
            response.close()
            self.left -= 1
            return httpx.Response(self.answer.status_code, content=self.answer.content, headers=self.answer.headers)
        return response

    def creates(self) -> int:
        return sum(1 for p in self.posts if p.endswith(self.suffix))


def write_input(tmp_path: Path, text: str = "hi") -> Path:
    path = tmp_path / "in.jsonl"
    params = {"model": "m-1", "max_tokens": 5, "messages": [{"role": "user", "content": text}]}
    import json

    path.write_text(json.dumps({"custom_id": "a", "params": params}) + "\n")
    return path


def target(tmp_path: Path, provider: str, how: str, transport: httpx.BaseTransport) -> Any:
    flags: dict[str, Any] = {"provider": provider, **KEYS}
    flags.update(DIRECT[provider] if how == "direct" else {"base_url": EMULATOR})
    return build_target(settings(tmp_path, **flags), transport=transport)


def emulator(tmp_path: Path) -> Any:
    return create_app(EmulatorConfig(state_dir=tmp_path / "emulator"))


def count_batches(tmp_path: Path, app: Any, provider: str, how: str) -> int:
    return len(list(target(tmp_path, provider, how, WSGIStreamTransport(app)).list_batches(limit=None)))


def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger" / "ledger.sqlite3")


# -- a create answered by a bare 503 after the API acted ----------------------------------------

TOKEN_CARRIERS = [("openai", "direct"), ("openai", "gateway"), ("gemini", "direct")]


@pytest.mark.parametrize(("provider", "how"), TOKEN_CARRIERS)
def test_a_lost_create_answer_is_reconciled_by_the_client_token_one_batch(tmp_path: Path, provider: str, how: str) -> None:
    app = emulator(tmp_path)
    proxy = ActsThenFails(app, CREATE[provider])
    created = service.create_batch(target(tmp_path, provider, how, proxy), service.NewBatch(str(write_input(tmp_path))), ledger(tmp_path))
    assert proxy.creates() == 1  # never sent twice
    assert count_batches(tmp_path, app, provider, how) == 1
    assert any("the batch exists: " + created.batch.id in note for note in created.notes)
    assert [e.resource_id for e in ledger(tmp_path).entries()] == [created.batch.id]


@pytest.mark.parametrize("how", ["direct", "gateway"])
def test_a_lost_anthropic_create_answer_stops_with_the_hint_and_no_second_post(tmp_path: Path, how: str) -> None:
    app = emulator(tmp_path)
    proxy = ActsThenFails(app, CREATE["anthropic"])
    with pytest.raises(BifrostError) as info:
        service.create_batch(target(tmp_path, "anthropic", how, proxy), service.NewBatch(str(write_input(tmp_path))), ledger(tmp_path))
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert "may have been created" in (info.value.hint or "") and "--new" in (info.value.hint or "")
    assert proxy.creates() == 1
    assert count_batches(tmp_path, app, "anthropic", how) == 1
    assert [e.state for e in ledger(tmp_path).entries()] == ["unknown"]


def test_after_an_unknown_anthropic_create_the_same_input_is_not_sent_again_without_new(tmp_path: Path) -> None:
    app = emulator(tmp_path)
    path = str(write_input(tmp_path))
    with pytest.raises(BifrostError):
        service.create_batch(target(tmp_path, "anthropic", "direct", ActsThenFails(app, CREATE["anthropic"])), service.NewBatch(path), ledger(tmp_path))
    proxy = ActsThenFails(app, CREATE["anthropic"], times=0)
    with pytest.raises(BifrostError) as info:
        service.create_batch(target(tmp_path, "anthropic", "direct", proxy), service.NewBatch(path), ledger(tmp_path))
    assert info.value.exit_code == ExitCode.CONFLICT and "--new" in (info.value.hint or "")
    assert proxy.creates() == 0
    again = service.create_batch(target(tmp_path, "anthropic", "direct", proxy), service.NewBatch(path, fresh=True), ledger(tmp_path))
    assert again.new and proxy.creates() == 1


def test_a_refusal_in_the_providers_shape_with_its_request_id_is_retried_once_one_batch(tmp_path: Path) -> None:
    """OpenAI's own 503 (its error shape, x-request-id) proves the create was not acted on."""
    app = emulator(tmp_path)
    refusal = httpx.Response(
        503,
        json={"error": {"message": "overloaded", "type": "server_error", "param": None, "code": None}},
        headers={"x-request-id": "req_123", "retry-after": "0"},
    )

    class RefusesFirst(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner, self.creates = WSGIStreamTransport(app), 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and request.url.path.endswith("/batches"):
                self.creates += 1
                if self.creates == 1:
                    return httpx.Response(503, content=refusal.content, headers=refusal.headers)
            return self.inner.handle_request(request)

    transport = RefusesFirst()
    created = service.create_batch(target(tmp_path, "openai", "direct", transport), service.NewBatch(str(write_input(tmp_path))), ledger(tmp_path))
    assert transport.creates == 2 and created.new and not created.notes
    assert count_batches(tmp_path, app, "openai", "direct") == 1


# -- the same input twice -------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "how"), [("anthropic", "direct"), ("anthropic", "gateway"), *TOKEN_CARRIERS, ("gemini", "gateway")])
def test_the_same_input_twice_gives_the_earlier_batch_and_sends_no_create(tmp_path: Path, provider: str, how: str) -> None:
    app = emulator(tmp_path)
    path = str(write_input(tmp_path))
    first = service.create_batch(target(tmp_path, provider, how, WSGIStreamTransport(app)), service.NewBatch(path), ledger(tmp_path))
    proxy = ActsThenFails(app, CREATE[provider], times=0)
    second = service.create_batch(target(tmp_path, provider, how, proxy), service.NewBatch(path), ledger(tmp_path))
    assert second.batch.id == first.batch.id and not second.new
    assert proxy.creates() == 0 and not [p for p in proxy.posts if "/files" in p]
    assert "Already submitted on" in second.notes[0] and "--new" in second.notes[0]
    fresh = service.create_batch(target(tmp_path, provider, how, proxy), service.NewBatch(path, fresh=True), ledger(tmp_path))
    assert fresh.new and fresh.batch.id != first.batch.id
    assert count_batches(tmp_path, app, provider, how) == 2


def test_other_options_or_another_input_are_another_batch(tmp_path: Path) -> None:
    app = emulator(tmp_path)
    path = str(write_input(tmp_path))
    make = lambda new: service.create_batch(target(tmp_path, "openai", "direct", WSGIStreamTransport(app)), new, ledger(tmp_path))  # noqa: E731
    first = make(service.NewBatch(path))
    assert make(service.NewBatch(path, metadata=["team=a"])).batch.id != first.batch.id
    assert make(service.NewBatch(path, model="m-2")).batch.id == first.batch.id  # the input names its model
    write_input(tmp_path, "something else")
    assert make(service.NewBatch(path)).batch.id != first.batch.id


@pytest.mark.parametrize(("provider", "how"), TOKEN_CARRIERS)
def test_a_fresh_ledger_finds_the_earlier_batch_by_its_client_token(tmp_path: Path, provider: str, how: str) -> None:
    """A CI machine with an empty ledger: the provider's side still knows the create."""
    app = emulator(tmp_path)
    path = str(write_input(tmp_path))
    first = service.create_batch(target(tmp_path, provider, how, WSGIStreamTransport(app)), service.NewBatch(path), Ledger(tmp_path / "one.sqlite3"))
    proxy = ActsThenFails(app, CREATE[provider], times=0)
    second = service.create_batch(target(tmp_path, provider, how, proxy), service.NewBatch(path), Ledger(tmp_path / "two.sqlite3"))
    assert second.batch.id == first.batch.id and proxy.creates() == 0
    assert "client token" in second.notes[0]
    assert [e.resource_id for e in Ledger(tmp_path / "two.sqlite3").entries()] == [first.batch.id]


def test_openai_metadata_carries_the_token_beside_the_users(tmp_path: Path) -> None:
    app = emulator(tmp_path)
    created = service.create_batch(
        target(tmp_path, "openai", "direct", WSGIStreamTransport(app)),
        service.NewBatch(str(write_input(tmp_path)), metadata=["team=a"]),
        ledger(tmp_path),
    )
    metadata = created.batch.details["metadata"]
    assert metadata["team"] == "a" and metadata["bifrost_token"] == created.batch.details["client_token"]
    assert created.batch.details["client_token"].startswith("bifrost-")


# -- Bedrock through the gateway: the job's name is its client token --------------------------------


class BedrockGateway:
    """A gateway's /bedrock routes that keep jobs (the in-process emulator has no S3): the first
    ``lose`` job creates are done, then answered with a proxy's bare 503."""

    def __init__(self, lose: int = 0) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.lose = lose
        self.creates = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        import json
        from urllib.parse import unquote

        path = unquote(request.url.raw_path.decode().split("?")[0])
        if request.method == "PUT":
            request.read()
            return httpx.Response(200)
        if request.method == "POST" and path == "/bedrock/model-invocation-job":
            self.creates += 1
            body = json.loads(request.read())
            arn = f"arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdef{len(self.jobs):06d}"
            self.jobs.insert(0, {"jobArn": arn, "jobName": body["jobName"], "status": "InProgress", "modelId": body["modelId"],
                                 "submitTime": "2099-01-01T00:00:00Z"})
            if self.lose:
                self.lose -= 1
                return httpx.Response(503, text="Service Unavailable")
            return httpx.Response(200, json={"jobArn": arn})
        if request.method == "GET" and path == "/bedrock/model-invocation-jobs":
            name = request.url.params.get("nameContains") or ""
            return httpx.Response(200, json={"invocationJobSummaries": [j for j in self.jobs if name in j["jobName"]]})
        if request.method == "GET" and path.startswith("/bedrock/model-invocation-job/"):
            arn = path.removeprefix("/bedrock/model-invocation-job/")
            return httpx.Response(200, json=next(j for j in self.jobs if j["jobArn"] == arn))
        return httpx.Response(404, json={"message": "no route"})


def bedrock_gateway(tmp_path: Path, fake: BedrockGateway) -> Any:
    flags = {"provider": "bedrock", "base_url": "http://127.0.0.1:8080", "api_key": "sk-bf-test",
             "s3_uri": "s3://bucket/prefix", "role_arn": "arn:aws:iam::123456789012:role/Batch", "region": "us-east-1"}
    return build_target(settings(tmp_path, **flags), transport=httpx.MockTransport(fake))


def bedrock_input(tmp_path: Path) -> str:
    import json

    path = tmp_path / "bedrock.jsonl"
    line = {"model": "anthropic.claude-3-haiku-20240307-v1:0", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    path.write_text("".join(json.dumps({"custom_id": f"r{i}", "params": line}) + "\n" for i in range(100)))
    return str(path)


def test_bedrock_gateway_lost_create_answer_is_found_by_the_job_name_one_job(tmp_path: Path) -> None:
    fake = BedrockGateway(lose=1)
    created = service.create_batch(bedrock_gateway(tmp_path, fake), service.NewBatch(bedrock_input(tmp_path)), ledger(tmp_path))
    assert fake.creates == 1 and len(fake.jobs) == 1
    assert created.batch.id == fake.jobs[0]["jobArn"] and fake.jobs[0]["jobName"].startswith("bifrost-")
    assert any("the batch exists" in note for note in created.notes)


def test_bedrock_gateway_fresh_ledger_finds_the_earlier_job_new_makes_another(tmp_path: Path) -> None:
    fake = BedrockGateway()
    path = bedrock_input(tmp_path)
    first = service.create_batch(bedrock_gateway(tmp_path, fake), service.NewBatch(path), Ledger(tmp_path / "one.sqlite3"))
    second = service.create_batch(bedrock_gateway(tmp_path, fake), service.NewBatch(path), Ledger(tmp_path / "two.sqlite3"))
    assert second.batch.id == first.batch.id and fake.creates == 1
    fresh = service.create_batch(bedrock_gateway(tmp_path, fake), service.NewBatch(path, fresh=True), Ledger(tmp_path / "two.sqlite3"))
    assert fresh.batch.id != first.batch.id and fake.creates == 2


def test_a_lost_create_answer_through_the_genai_route_stops_with_the_hint(tmp_path: Path) -> None:
    """The gateway's /genai batch objects leave the display name out: no token to look for."""
    app = emulator(tmp_path)
    proxy = ActsThenFails(app, CREATE["gemini"])
    with pytest.raises(BifrostError) as info:
        service.create_batch(target(tmp_path, "gemini", "gateway", proxy), service.NewBatch(str(write_input(tmp_path))), ledger(tmp_path))
    hint = info.value.hint or ""
    assert "may have been created" in hint and "does not give a batch's client token back" in hint
    assert proxy.creates() == 1 and count_batches(tmp_path, app, "gemini", "gateway") == 1
