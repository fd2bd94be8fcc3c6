"""End to end for ``batches validate`` and ``batches create --dry-run``: the installed ``bifrost``
against ``bifrost emulator serve`` (every provider directly and through the gateway), and against a
loopback server that records anything sent to it (nothing may be). Validation runs with no
credentials in the environment; the batch lists before and after are read with them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Served
from tests.fakes import Loopback, send_json

REQUESTS = EXAMPLES / "requests.jsonl"
BEDROCK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
NOVA = "amazon.nova-lite-v1:0"
KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}
NATIVE = {"anthropic": "/native/anthropic", "openai": "/native/openai/v1", "gemini": "/native/gemini"}
PROVIDERS = ("anthropic", "openai", "gemini")
REPORT_KEYS = {"ok", "provider", "requests", "bytes", "models", "estimated_input_tokens", "problems"}

Run = Callable[..., subprocess.CompletedProcess]


def _runner(served: Served, provider: str, how: str, *, key: bool) -> Run:
    """``bifrost -p PROVIDER ...`` directly (the provider's base URL at the emulator) or through
    the gateway; ``key``: with the provider's credentials."""

    def run(*args: str, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.CompletedProcess:
        extra = dict(env or {})
        if how == "gateway":
            return served.run("--base-url", served.url, "-p", provider, *args, env=extra, **kwargs)  # type: ignore[arg-type]
        extra[f"{provider.upper()}_BASE_URL"] = served.url + NATIVE[provider]
        if key:
            extra[KEYS[provider]] = "test-key-1234567890"
        return served.run("-p", provider, *args, env=extra, **kwargs)  # type: ignore[arg-type]

    return run


@pytest.fixture(params=[(p, how) for p in PROVIDERS for how in ("direct", "gateway")], ids=lambda p: f"{p[0]}-{p[1]}")
def target(request: pytest.FixtureRequest, served: Served) -> tuple[Run, Run]:
    """(without credentials, with them) for one provider and way in."""
    provider, how = request.param
    return _runner(served, provider, how, key=False), _runner(served, provider, how, key=True)


@pytest.fixture
def recorder() -> Iterator[Loopback]:
    """A server that answers everything with 500 and records it: validation must send it nothing."""
    server = Loopback(lambda h: send_json(h, {"error": "nothing should be sent"}, status=500))
    yield server
    server.close()


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def _request(custom_id: str, model: str = "claude-sonnet-4-5", **params: object) -> dict[str, object]:
    body = {"model": model, "max_tokens": 32, "messages": [{"role": "user", "content": "Say hi."}], **params}
    return {"custom_id": custom_id, "params": body}


def _batch_ids(run: Run) -> list[str]:
    listed = run("batches", "list", "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    return [b["id"] for b in json.loads(listed.stdout)]


# -- every provider, directly and through the gateway --------------------------------------------


def test_a_valid_input_would_be_accepted_and_nothing_is_created(target: tuple[Run, Run]) -> None:
    bare, keyed = target
    before = _batch_ids(keyed)
    proc = bare("batches", "validate", str(REQUESTS))
    assert proc.returncode == 0, proc.stderr
    assert "would be accepted" in proc.stdout and "requests" in proc.stdout and "estimate" in proc.stdout
    dry = bare("batches", "create", str(REQUESTS), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["ok"] is True and report["requests"] == 3 and report["problems"] == []
    assert _batch_ids(keyed) == before
    local = keyed("batches", "list", "--local", "--json")
    assert local.returncode == 0 and json.loads(local.stdout) == []  # nothing recorded in the ledger either


def test_each_problem_is_reported_with_its_line(target: tuple[Run, Run], tmp_path: Path) -> None:
    bare, _ = target
    bad = _write(tmp_path / "bad.jsonl", [
        _request("ok-1"),
        "{not json",
        _request("ok-1"),
        {"custom_id": "no tokens", "params": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}},
    ])
    proc = bare("batches", "validate", str(bad))
    assert proc.returncode == 2
    assert f"{bad}:2: not valid JSON" in proc.stderr
    assert f'{bad}:3: duplicate custom_id "ok-1" (first used on line 1)' in proc.stderr
    assert f'{bad}:4: custom_id "no tokens" is not valid' in proc.stderr
    assert f"{bad}:4: params.max_tokens is missing" in proc.stderr
    assert "4 problems" in proc.stdout + proc.stderr


def test_json_report_shape(target: tuple[Run, Run], tmp_path: Path) -> None:
    bare, _ = target
    bad = _write(tmp_path / "bad.jsonl", [_request("a"), {"custom_id": "b"}])
    proc = bare("batches", "validate", str(bad), "--json")
    assert proc.returncode == 2
    report = json.loads(proc.stdout)
    assert REPORT_KEYS <= set(report) and report["ok"] is False
    assert {"line": 2, "message": "params is missing (it holds the Messages API request body)"} in report["problems"]
    good = bare("batches", "validate", str(REQUESTS), "--json")
    report = json.loads(good.stdout)
    assert report["ok"] is True and report["models"] == ["claude-sonnet-4-5"] and report["bytes"] == REQUESTS.stat().st_size
    assert report["estimated_input_tokens"] > 0


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_fields_the_provider_cannot_take(served: Served, provider: str, tmp_path: Path) -> None:
    path = _write(tmp_path / "in.jsonl", [
        _request("a"),
        _request("b", messages=[{"role": "user", "content": [{"type": "document", "source": {"type": "file", "file_id": "f"}}]}]),
    ])
    for how in ("direct", "gateway"):
        proc = _runner(served, provider, how, key=False)("batches", "validate", str(path))
        assert proc.returncode == 2
        assert f'{path}:2: params.messages[0].content[0]: a' in proc.stderr and '"document"' in proc.stderr


def test_options_the_provider_keeps_none_of(served: Served) -> None:
    for provider in ("anthropic", "gemini"):
        proc = _runner(served, provider, "direct", key=False)("batches", "validate", str(REQUESTS), "--metadata", "team=a")
        assert proc.returncode == 2 and f"{REQUESTS}: " in proc.stderr and "--metadata" in proc.stderr
    proc = _runner(served, "openai", "gateway", key=False)("batches", "validate", str(REQUESTS), "--timeout-hours", "30")
    assert proc.returncode == 2 and "--timeout-hours" in proc.stderr
    many = [f"--metadata=k{i}=v" for i in range(17)]
    proc = _runner(served, "openai", "direct", key=False)("batches", "validate", str(REQUESTS), *many)
    assert proc.returncode == 2 and "OpenAI takes at most 16 keys" in proc.stderr


def test_gemini_says_whether_the_input_goes_inline_or_as_a_file(served: Served) -> None:
    run = _runner(served, "gemini", "direct", key=False)
    inline = json.loads(run("batches", "validate", str(REQUESTS), "--json").stdout)
    assert inline["ok"] and "inline" in inline["notes"][0]
    filed = json.loads(run("batches", "validate", str(REQUESTS), "--json", env={"BIFROST_GEMINI_INLINE_LIMIT": "10"}).stdout)
    assert filed["ok"] and "uploaded file" in filed["notes"][0]


def test_over_openais_limit_validate_and_create_refuse_alike(served: Served, tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = '{"custom_id":"r%d","params":{"model":"gpt-4o-mini","max_tokens":1,"messages":[{"role":"user","content":"x"}]}}\n'
    path.write_text("".join(line % n for n in range(50_001)))
    bare, keyed = _runner(served, "openai", "direct", key=False), _runner(served, "openai", "direct", key=True)
    before = _batch_ids(keyed)
    report = json.loads(bare("batches", "validate", str(path), "--json").stdout)
    assert report["ok"] is False and report["requests"] == 50_001
    [problem] = report["problems"]
    assert problem["line"] is None and "50,001 requests; an OpenAI batch holds at most 50,000" in problem["message"]
    assert "--split" in problem["hint"]
    created = keyed("batches", "create", str(path))
    assert created.returncode == 2
    assert "50,001 requests; an OpenAI batch holds at most 50,000" in created.stderr and "--split" in created.stderr
    assert _batch_ids(keyed) == before


# -- nothing is contacted ------------------------------------------------------------------------


@pytest.mark.parametrize("provider", [*PROVIDERS, "bedrock"])
def test_nothing_is_sent_to_the_gateway(recorder: Loopback, provider: str, tmp_path: Path, served: Served) -> None:
    path = _write(tmp_path / "in.jsonl", [_request(f"r{n}", BEDROCK_MODEL if provider == "bedrock" else "m") for n in range(100)])
    proc = served.run("--base-url", recorder.url, "-p", provider, "batches", "validate", str(path),
                      env={"BIFROST_BEDROCK_S3_URI": "s3://bucket/batches", "BIFROST_BEDROCK_ROLE_ARN": "arn:aws:iam::123456789012:role/B"})
    assert proc.returncode == 0, proc.stderr
    assert recorder.requests == []


# -- Bedrock: directly with no AWS credentials, and the gateway's rules ------------------------------


def _bedrock(served: Served, recorder: Loopback, tmp_path: Path, how: str) -> Run:
    env = {
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_ENDPOINT_URL_BEDROCK": recorder.url,
        "AWS_ENDPOINT_URL_S3": recorder.url,
        "AWS_REGION": "us-east-1",
    }

    def run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        where = ("--base-url", recorder.url) if how == "gateway" else ()
        return served.run(*where, "-p", "bedrock", *args, env={**env, **(env_extra or {})})

    return run


@pytest.mark.parametrize("how", ["direct", "gateway"])
def test_bedrock_quotas_tags_and_s3_prefix(served: Served, recorder: Loopback, tmp_path: Path, how: str) -> None:
    run = _bedrock(served, recorder, tmp_path, how)
    hundred = _write(tmp_path / "hundred.jsonl", [_request(f"r{n}", BEDROCK_MODEL) for n in range(100)])
    ok = run("batches", "validate", str(hundred), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["notes"] == [f"a InvokeModel job of 100 records, {json.loads(ok.stdout)['notes'][0].split(', ')[1]}"]

    few = _write(tmp_path / "few.jsonl", [_request(f"r{n}", BEDROCK_MODEL) for n in range(3)])
    proc = run("batches", "validate", str(few))
    assert proc.returncode == 2 and f"{few}: 3 records; a Bedrock batch job needs at least 100" in proc.stderr
    assert "BIFROST_BEDROCK_MIN_RECORDS" in proc.stderr
    assert run("batches", "validate", str(few), env_extra={"BIFROST_BEDROCK_MIN_RECORDS": "1"}).returncode == 0

    proc = run("batches", "validate", str(hundred), env_extra={"BIFROST_BEDROCK_MAX_RECORDS": "50"})
    assert proc.returncode == 2 and "100 records; a Bedrock batch job holds at most 50" in proc.stderr and "--split" in proc.stderr

    proc = run("batches", "validate", str(hundred), env_extra={"BIFROST_BEDROCK_S3_URI": "s3://bucket/dt=2025-07-01"})
    assert proc.returncode == 2 and "Bedrock refuses a job's S3 location" in proc.stderr
    assert recorder.requests == []


def test_bedrock_direct_tags_and_timeout(served: Served, recorder: Loopback, tmp_path: Path) -> None:
    run = _bedrock(served, recorder, tmp_path, "direct")
    hundred = _write(tmp_path / "hundred.jsonl", [_request(f"r{n}", NOVA) for n in range(100)])
    assert run("batches", "validate", str(hundred), "--metadata", "team=a", "--timeout-hours", "48").returncode == 0
    proc = run("batches", "validate", str(hundred), "--metadata", "team=a!")
    assert proc.returncode == 2 and "is not a Bedrock tag value" in proc.stderr
    proc = run("batches", "validate", str(hundred), "--timeout-hours", "200")
    assert proc.returncode == 2 and "--timeout-hours 200: Bedrock takes 24 to 168 hours" in proc.stderr
    assert recorder.requests == []


def test_bedrock_through_the_gateway_refuses_converse_models_and_tags(served: Served, recorder: Loopback, tmp_path: Path) -> None:
    run = _bedrock(served, recorder, tmp_path, "gateway")
    nova = _write(tmp_path / "nova.jsonl", [_request(f"r{n}", NOVA) for n in range(100)])
    proc = run("batches", "validate", str(nova), "--metadata", "team=a")
    assert proc.returncode == 2
    assert "takes Converse records" in proc.stderr and "the gateway's /bedrock job route does not pass tags on" in proc.stderr
    # create refuses the same, before anything is sent
    created = run("batches", "create", str(nova), env_extra={"BIFROST_BEDROCK_S3_URI": "s3://bucket/b", "BIFROST_BEDROCK_ROLE_ARN": "arn:aws:iam::123456789012:role/B"})
    assert created.returncode == 2 and "takes Converse records" in created.stderr
    assert recorder.requests == []
