"""service.validate: the pre-flight of a create with no target, no credentials and no I/O beyond
reading the input; what it finds, as (line, message), and the exit it gives. Settings come from
flags only (no environment, no config file), so no credentials are ever present."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bifrost_cli.errors import ExitCode, InputError
from bifrost_cli.inputs import MAX_REPORTED, load_requests
from bifrost_cli.providers.base import SPLIT_HINT
from bifrost_cli.service.validate import CHARS_PER_TOKEN, Problem, Validation, estimate_tokens, validate_batch
from tests.fakes import settings

BEDROCK = "anthropic.claude-3-5-haiku-20241022-v1:0"
NOVA = "amazon.nova-lite-v1:0"


def _line(custom_id: str, model: str = "claude-sonnet-4-5", **params: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "params": {"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": "hello"}], **params}}


def _write(path: Path, lines: list[Any]) -> str:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return str(path)


@pytest.mark.parametrize("provider", ["anthropic", "openai", "gemini"])
@pytest.mark.parametrize("base_url", [None, "http://127.0.0.1:9"])  # a gateway nothing listens on: any I/O would fail
def test_a_good_input_is_accepted_with_its_summary(tmp_path: Path, provider: str, base_url: str | None) -> None:
    path = _write(tmp_path / "in.jsonl", [_line("a"), _line("b", system="be brief")])
    report = validate_batch(settings(tmp_path, provider=provider, base_url=base_url), path)
    assert report.ok and report.problems == [] and report.total_problems == 0
    assert report.mode == ("gateway" if base_url else "direct") and report.provider == provider
    assert report.requests == 2 and report.models == ["claude-sonnet-4-5"] and report.bytes == Path(path).stat().st_size
    assert report.estimated_input_tokens == math.ceil(len("user" * 2 + "hello" * 2 + "be brief") / CHARS_PER_TOKEN)  # roles count too
    report.verdict()  # no exit


def test_every_bad_line_is_reported_with_its_line_and_the_real_total(tmp_path: Path) -> None:
    lines: list[Any] = [_line("ok")] + ["{bad"] * (MAX_REPORTED + 5)
    path = _write(tmp_path / "in.jsonl", lines)
    report = validate_batch(settings(tmp_path), path)
    assert not report.ok and report.total_problems == MAX_REPORTED + 5 and len(report.problems) == MAX_REPORTED
    assert report.problems[0].line == 2 and report.problems[0].message.startswith("not valid JSON")
    with pytest.raises(InputError) as caught:
        report.verdict()
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.problems[0].startswith(f"{path}:2: not valid JSON")
    assert caught.value.message == f"the input has {MAX_REPORTED + 5} problems; nothing was sent"


def test_options_and_lines_are_both_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "in.jsonl", [_line("a", top_k=3)])
    report = validate_batch(settings(tmp_path, provider="openai"), path, timeout_hours=30, metadata=["k=v"])
    messages = [(p.line, p.message) for p in report.problems]
    assert (None, messages[0][1]) == messages[0] and "--timeout-hours" in messages[0][1]
    assert (1, "params.top_k cannot be sent to OpenAI: OpenAI has no top_k sampling") in messages
    assert report.total_problems == len(report.problems) == 2


def test_bad_metadata_syntax_is_a_problem(tmp_path: Path) -> None:
    path = _write(tmp_path / "in.jsonl", [_line("a")])
    report = validate_batch(settings(tmp_path, provider="openai"), path, metadata=["novalue"])
    assert report.problems == [Problem(None, "--metadata 'novalue': expected KEY=VALUE")]


def test_one_model_per_batch_for_openai_and_gemini(tmp_path: Path) -> None:
    path = _write(tmp_path / "in.jsonl", [_line("a", model="m1"), _line("b", model="m2")])
    for provider in ("openai", "gemini"):
        report = validate_batch(settings(tmp_path, provider=provider), path)
        [problem] = report.problems
        assert problem.line is None and "m1" in problem.message and "m2" in problem.message


def test_anthropic_refuses_another_providers_native_lines(tmp_path: Path) -> None:
    native = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}
    path = _write(tmp_path / "in.jsonl", [native])
    report = validate_batch(settings(tmp_path, provider="anthropic"), path)
    assert [p.message for p in report.problems] == [f"{path} is in openai's native format, which anthropic cannot run"]
    assert validate_batch(settings(tmp_path, provider="openai"), path).ok


def test_bedrock_needs_no_credentials_and_reports_its_quota_with_the_setting(tmp_path: Path) -> None:
    path = _write(tmp_path / "in.jsonl", [_line(f"r{n}", BEDROCK) for n in range(3)])
    report = validate_batch(settings(tmp_path, provider="bedrock"), path)
    [problem] = report.problems
    assert problem.line is None and problem.message.startswith("3 records; a Bedrock batch job needs at least 100")
    assert problem.hint is not None and "BIFROST_BEDROCK_MIN_RECORDS" in problem.hint


def test_bedrock_over_its_maximum_hints_at_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_BEDROCK_MAX_RECORDS", "2")  # the documented override of the quota
    monkeypatch.setenv("BIFROST_BEDROCK_MIN_RECORDS", "1")
    path = _write(tmp_path / "in.jsonl", [_line(f"r{n}", BEDROCK) for n in range(3)])
    [problem] = validate_batch(settings(tmp_path, provider="bedrock"), path).problems
    assert problem.message == "3 records; a Bedrock batch job holds at most 2: split the input"
    assert problem.hint is not None and SPLIT_HINT.split(";")[0] in problem.hint


def test_bedrock_through_the_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_BEDROCK_MIN_RECORDS", "1")
    path = _write(tmp_path / "in.jsonl", [_line("a", NOVA)])
    gateway = settings(tmp_path, provider="bedrock", base_url="http://127.0.0.1:9")
    report = validate_batch(gateway, path, metadata=["team=a"])
    messages = [p.message for p in report.problems]
    assert "the gateway's /bedrock job route does not pass tags on" in messages[0]
    assert "takes Converse records" in messages[1]
    direct = validate_batch(settings(tmp_path, provider="bedrock"), path, metadata=["team=a"])
    assert direct.ok and direct.notes == [f"a Converse job of 1 records, {direct.notes[0].split(', ')[1]}"]


def test_bedrock_s3_prefix_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_BEDROCK_MIN_RECORDS", "1")
    path = _write(tmp_path / "in.jsonl", [_line("a", BEDROCK)])
    report = validate_batch(settings(tmp_path, provider="bedrock", s3_uri="s3://bucket/dt=2025-07-01"), path)
    [problem] = report.problems
    assert "Bedrock refuses a job's S3 location" in problem.message


def test_the_emulator_cannot_run_bedrock(tmp_path: Path) -> None:
    path = _write(tmp_path / "in.jsonl", [_line("a", BEDROCK)])
    report = validate_batch(settings(tmp_path, provider="bedrock", emulator=True), path)
    assert not report.ok and "does not serve Bedrock" in report.problems[0].message


def test_gemini_inline_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "in.jsonl", [_line("a", "gemini-2.5-flash")])
    assert validate_batch(settings(tmp_path, provider="gemini"), path).notes[0].startswith("sent inline")
    monkeypatch.setenv("BIFROST_GEMINI_INLINE_LIMIT", "10")
    assert validate_batch(settings(tmp_path, provider="gemini"), path).notes[0].startswith("sent as an uploaded file")


def test_the_estimate_leaves_out_ids_models_and_base64_data(tmp_path: Path) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 4000}}
    path = _write(tmp_path / "in.jsonl", [_line("a", messages=[{"role": "user", "content": [image, {"type": "text", "text": "x" * 40}]}])])
    with load_requests(path) as requests:
        tokens = estimate_tokens(requests)
    # "user", "image", "base64", "image/png", "text" and the 40 characters of text; not the data
    assert tokens == math.ceil(len("user" + "image" + "base64" + "image/png" + "text" + "x" * 40) / CHARS_PER_TOKEN)


def test_json_report_shape() -> None:
    report = Validation(input="in.jsonl", provider="openai", mode="direct")
    report.add(3, "bad", "fix it; nothing was sent.")
    data = report.to_json()
    assert data["ok"] is False and data["problems"] == [{"line": 3, "message": "bad", "hint": "fix it."}]
    assert {"provider", "requests", "bytes", "models", "estimated_input_tokens"} <= set(data)
