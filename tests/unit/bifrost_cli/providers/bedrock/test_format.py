"""Bedrock translations (``providers/bedrock/format.py``): provider-neutral requests to InvokeModel and
Converse records, and native records. No network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bifrost_cli.inputs import load_requests
from bifrost_cli.providers.base import BatchOptions
from bifrost_cli.providers.bedrock import jobs as bedrock_jobs
from bifrost_cli.providers.bedrock import format as fmt
from tests.unit.bifrost_cli.providers.bedrock import CLAUDE, MSG, NOVA, ROLE, settings

# -- neutral -> records -------------------------------------------------------------------------


def test_anthropic_models_get_the_bedrock_messages_body() -> None:
    params = {"model": CLAUDE, "max_tokens": 8, "messages": MSG, "system": "be brief", "temperature": 0.5}
    record, problems = fmt.to_record({"custom_id": "a", "params": params}, CLAUDE)
    assert problems == []
    assert record == {
        "recordId": "a",
        "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8, "messages": MSG,
                       "system": "be brief", "temperature": 0.5},
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"max_tokens": 8, "messages": MSG},
         {"messages": [{"role": "user", "content": [{"text": "Hi"}]}], "inferenceConfig": {"maxTokens": 8}}),
        ({"max_tokens": 8, "messages": MSG, "system": "sys", "temperature": 0.2, "top_p": 0.9, "stop_sequences": ["x"]},
         {"messages": [{"role": "user", "content": [{"text": "Hi"}]}], "system": [{"text": "sys"}],
          "inferenceConfig": {"maxTokens": 8, "temperature": 0.2, "topP": 0.9, "stopSequences": ["x"]}}),
        ({"max_tokens": 8, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]},
         {"messages": [{"role": "user", "content": [{"text": "look"},
                                                     {"image": {"format": "png", "source": {"bytes": "AAAA"}}}]}],
          "inferenceConfig": {"maxTokens": 8}}),
    ],
)
def test_other_models_get_a_converse_body(params: dict, expected: dict) -> None:
    record, problems = fmt.to_record({"custom_id": "a", "params": {"model": NOVA, **params}}, NOVA)
    assert problems == []
    assert record["modelInput"] == expected
    assert fmt.invocation_type(NOVA) == "Converse" and fmt.invocation_type(CLAUDE) == "InvokeModel"
    assert fmt.invocation_type("us.anthropic.claude-3-5-sonnet-20241022-v2:0") == "InvokeModel"


@pytest.mark.parametrize(
    ("model", "params", "problem"),
    [
        (CLAUDE, {"stream": True}, "params.stream is not accepted"),
        (CLAUDE, {"service_tier": "auto"}, "params.service_tier is not accepted"),
        (CLAUDE, {"mcp_servers": []}, "params.mcp_servers is not accepted"),
        (NOVA, {"tools": []}, "params.tools has no Converse equivalent"),
        (NOVA, {"top_k": 5}, "params.top_k has no Converse equivalent"),
        (NOVA, {"temperature": "hot"}, "params.temperature has the wrong type"),
        (NOVA, {"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {}}]}]},
         "params.messages[0].content[0].cache_control has no Converse equivalent"),
        (NOVA, {"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]}]},
         'params.messages[0].content[0]: a content block of type "tool_use" has no Converse equivalent'),
        (NOVA, {"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "http://x"}}]}]},
         "params.messages[0].content[0].source: only base64 images"),
        (NOVA, {"system": [{"type": "image", "source": {}}]}, 'params.system[0]: a content block of type "image"'),
    ],
)
def test_fields_that_cannot_be_expressed_are_refused(model: str, params: dict, problem: str) -> None:
    body = {"model": model, "max_tokens": 8, "messages": MSG, **params}
    _, problems = fmt.to_record({"custom_id": "a", "params": body}, model)
    assert any(p.startswith(problem) for p in problems), problems


# -- native records -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ({"modelInput": {"x": 1}}, "recordId is missing"),
        ({"recordId": "bad id!", "modelInput": {"x": 1}}, 'recordId "bad id!" is not valid'),
        ({"recordId": "a"}, "modelInput is missing"),
        ({"recordId": "a", "modelInput": []}, "modelInput must be a non-empty object"),
        ({"recordId": "a", "modelInput": {"model": "m"}}, "modelInput.model must not be set"),
        ({"recordId": "a", "modelInput": {"x": 1}, "extra": 1}, 'unknown field "extra"'),
        ("text", "expected a JSON object"),
    ],
)
def test_native_record_problems(item: object, problem: str) -> None:
    checked = fmt.INPUT_FORMAT.check(item, None)
    assert any(p.startswith(problem) for p in checked.problems), checked.problems


def test_native_records_are_detected_and_sent_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "native.jsonl"
    path.write_text("".join(
        json.dumps({"recordId": f"n{i}", "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4,
                                                         "messages": MSG}}) + "\n" for i in range(100)))
    with load_requests(str(path), model=CLAUDE) as requests:
        assert requests.input_format == "bedrock" and requests.models == {CLAUDE}
        job = bedrock_jobs.prepare_job(requests, BatchOptions(), settings(s3_uri="s3://bucket-a/p", role_arn=ROLE))
        first = json.loads(next(iter(job.lines())))
    assert first == {"recordId": "n0", "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4, "messages": MSG}}
    assert job.body["modelInvocationType"] == "InvokeModel"
    assert fmt.native_invocation_type({"messages": MSG, "inferenceConfig": {}}) == "Converse"
    assert fmt.native_invocation_type({"messages": [{"role": "user", "content": [{"text": "x"}]}]}) == "Converse"
