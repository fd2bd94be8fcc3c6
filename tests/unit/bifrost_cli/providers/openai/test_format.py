"""OpenAI translations, table-driven: Anthropic params -> Chat Completions body (and every field that
must be refused), and native input lines (``providers/openai/format.py``). The way back, output and
error lines -> Anthropic's result shape, is in ``providers/test_results.py``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bifrost_cli.errors import InputError
from bifrost_cli.inputs import load_requests
from bifrost_cli.providers.openai.format import batch_line, chat_body, check_input, encode_line, read_kept

BASE = {"model": "gpt-4o-mini", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
USER_HI = {"role": "user", "content": "Hi"}

# (name, extra params, expected body fields (besides model, max_completion_tokens, messages))
MAPPED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("plain", {}, {}),
    ("temperature", {"temperature": 0.3}, {"temperature": 0.3}),
    ("top_p", {"top_p": 0.9}, {"top_p": 0.9}),
    ("stop_sequences", {"stop_sequences": ["END", "STOP"]}, {"stop": ["END", "STOP"]}),
    ("metadata user_id", {"metadata": {"user_id": "u-1"}}, {"safety_identifier": "u-1"}),  # not the deprecated `user`
    ("stream false", {"stream": False}, {}),
    ("params.url", {"url": "/v1/chat/completions"}, {}),
    (
        "tools",
        {"tools": [{"name": "lookup", "description": "Find", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]},
        {"tools": [{"type": "function", "function": {"name": "lookup", "description": "Find",
                                                     "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]},
    ),
    ("no tools", {"tools": []}, {}),  # OpenAI refuses an empty array
    ("tool_choice auto", {"tool_choice": {"type": "auto"}}, {"tool_choice": "auto"}),
    ("tool_choice any", {"tool_choice": {"type": "any"}}, {"tool_choice": "required"}),
    ("tool_choice none", {"tool_choice": {"type": "none"}}, {"tool_choice": "none"}),
    ("tool_choice tool", {"tool_choice": {"type": "tool", "name": "lookup"}},
     {"tool_choice": {"type": "function", "function": {"name": "lookup"}}}),
    ("no parallel tools", {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}},
     {"tool_choice": "auto", "parallel_tool_calls": False}),
]


@pytest.mark.parametrize(("name", "extra", "expected"), MAPPED, ids=[m[0] for m in MAPPED])
def test_params_map_onto_a_chat_completions_body(name: str, extra: dict[str, Any], expected: dict[str, Any]) -> None:
    body, problems = chat_body({**BASE, **extra})
    assert problems == []
    assert body == {"model": "gpt-4o-mini", "max_completion_tokens": 50, "messages": [USER_HI], **expected}


# (name, params.system or messages, expected OpenAI messages)
MESSAGES: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = [
    ("system string", {"system": "Be brief.", "messages": [USER_HI]},
     [{"role": "system", "content": "Be brief."}, USER_HI]),
    ("system blocks", {"system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}], "messages": [USER_HI]},
     [{"role": "system", "content": "A\n\nB"}, USER_HI]),
    ("text blocks", {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
     [{"role": "user", "content": [{"type": "text", "text": "x"}]}]),
    ("base64 image", {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"type": "text", "text": "What is it?"}]}]},
     [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                                   {"type": "text", "text": "What is it?"}]}]),
    ("url image", {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}]},
     [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]),
    ("multi-turn", {"messages": [USER_HI, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}]},
     [USER_HI, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}]),
    ("tool round trip", {"messages": [
        USER_HI,
        {"role": "assistant", "content": [{"type": "text", "text": "Looking."},
                                          {"type": "tool_use", "id": "tu_1", "name": "lookup", "input": {"q": "x"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": "42"},
                                     {"type": "text", "text": "Thanks"}]}]},
     [USER_HI,
      {"role": "assistant", "content": "Looking.",
       "tool_calls": [{"id": "tu_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]},
      {"role": "tool", "tool_call_id": "tu_1", "content": "42"},
      {"role": "user", "content": [{"type": "text", "text": "Thanks"}]}]),
    ("tool call only", {"messages": [
        USER_HI, {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "ok"}]}]}]},
     [USER_HI, {"role": "assistant", "content": None,
                "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "t", "content": "ok"}]),
]


@pytest.mark.parametrize(("name", "params", "expected"), MESSAGES, ids=[m[0] for m in MESSAGES])
def test_messages_translate(name: str, params: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    body, problems = chat_body({"model": "m", "max_tokens": 5, **params})
    assert problems == []
    assert body["messages"] == expected


# (name, params changes, the field named in the problem)
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("top_k", {"top_k": 5}, "params.top_k"),
    ("thinking", {"thinking": {"type": "enabled", "budget_tokens": 1024}}, "params.thinking"),
    ("service_tier", {"service_tier": "auto"}, "params.service_tier"),
    ("container", {"container": "c1"}, "params.container"),
    ("mcp_servers", {"mcp_servers": []}, "params.mcp_servers"),
    ("context_management", {"context_management": {}}, "params.context_management"),
    ("unknown field", {"frobnicate": 1}, "params.frobnicate"),
    ("stream true", {"stream": True}, "params.stream"),
    ("other url", {"url": "/v1/embeddings"}, "params.url"),
    ("metadata other key", {"metadata": {"team": "x"}}, "params.metadata.team"),
    ("user_id over 64 characters", {"metadata": {"user_id": "u" * 65}}, "params.metadata.user_id"),
    ("user_id not a string", {"metadata": {"user_id": 42}}, "params.metadata.user_id"),
    ("too many stop sequences", {"stop_sequences": ["a", "b", "c", "d", "e"]}, "params.stop_sequences"),
    ("server tool", {"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "params.tools[0]"),
    ("tool cache_control", {"tools": [{"name": "f", "input_schema": {}, "cache_control": {"type": "ephemeral"}}]},
     "params.tools[0].cache_control"),
    ("system cache_control", {"system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}]},
     "params.system[0].cache_control"),
    ("system image", {"system": [{"type": "image", "source": {}}]}, "params.system[0]"),
    ("document block", {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
     "params.messages[0].content[0]"),
    ("thinking block", {"messages": [USER_HI, {"role": "assistant", "content": [{"type": "thinking", "thinking": "x"}]}]},
     "params.messages[1].content[0]"),
    ("file image", {"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]},
     "params.messages[0].content[0].source"),
    ("assistant image", {"messages": [USER_HI, {"role": "assistant", "content": [
        {"type": "image", "source": {"type": "url", "url": "https://x"}}]}]}, "params.messages[1].content[0]"),
    ("text citations", {"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "citations": []}]}]},
     "params.messages[0].content[0].citations"),
    ("tool_result is_error", {"messages": [USER_HI, {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": "boom", "is_error": True}]}]},
     "params.messages[1].content[0].is_error"),
    ("tool_result image", {"messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image", "source": {}}]}]}]},
     "params.messages[0].content[0].content[0]"),
    ("tool_choice unknown", {"tool_choice": {"type": "sometimes"}}, "params.tool_choice"),
]


@pytest.mark.parametrize(("name", "change", "field"), REFUSED, ids=[r[0] for r in REFUSED])
def test_fields_without_an_openai_equivalent_are_refused(name: str, change: dict[str, Any], field: str) -> None:
    _, problems = chat_body({**BASE, **change})
    assert problems, f"{name} was accepted"
    assert any(p.startswith(field) for p in problems), problems


def test_every_problem_of_a_file_is_reported_with_its_line(tmp_path: Path) -> None:
    lines = [
        {"custom_id": "ok", "params": BASE},
        {"custom_id": "topk", "params": {**BASE, "top_k": 3}},
        {"custom_id": "two", "params": {**BASE, "thinking": {"type": "enabled"}, "service_tier": "auto"}},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with load_requests(str(src)) as requests, pytest.raises(InputError) as caught:
        check_input(requests)
    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith(f"{src}:2: params.top_k")
    assert problems[1].startswith(f"{src}:3: params.thinking") and problems[2].startswith(f"{src}:3: params.service_tier")


def test_native_lines_are_checked_and_must_share_one_url(tmp_path: Path) -> None:
    good = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m", "messages": []}}
    src = tmp_path / "native.jsonl"
    src.write_text(json.dumps(good) + "\n" + json.dumps({**good, "custom_id": "b", "url": "/v1/embeddings"}) + "\n")
    with load_requests(str(src)) as requests:
        assert requests.input_format == "openai"
        with pytest.raises(InputError) as caught:
            check_input(requests)
    assert caught.value.problems[0].startswith(f"{src}:2: url /v1/embeddings differs from /v1/chat/completions")

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"custom_id": "a", "method": "GET", "url": "/v1/completions", "body": {}, "x": 1}) + "\n")
    with pytest.raises(InputError) as caught:
        load_requests(str(bad), input_format="openai")
    text = "\n".join(caught.value.problems)
    for expected in ('unknown field "x"', 'method must be "POST"', "url must be one of", "body.model is missing"):
        assert f"{bad}:1: {expected}" in text


def test_native_lines_go_through_unchanged_with_model_filled(tmp_path: Path) -> None:
    line = {"custom_id": "e", "method": "POST", "url": "/v1/embeddings", "body": {"input": "hello"}}
    src = tmp_path / "emb.jsonl"
    src.write_text(json.dumps(line) + "\n")
    with load_requests(str(src), model="text-embedding-3-small") as requests:
        assert list(requests.iter_requests()) == [{**line, "body": {"model": "text-embedding-3-small", "input": "hello"}}]
        assert check_input(requests).endpoint == "/v1/embeddings"


# Native lines the fast path (the checked copy sent as the batch file) must send exactly as the general
# path (each request parsed again and encoded) would: escapes, non-ASCII text, a lone surrogate, numbers
# of every kind, nesting, key order, a model filled in, blank lines, both layouts.
VARIED_NATIVE: list[dict[str, Any]] = [
    {"custom_id": "plain", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}},
    {"body": {"messages": [{"content": "h\u00e9 \u65e5\u672c \U0001f600 \"q\" \\ / \n\t\u0001", "role": "user"}],
              "max_tokens": 16, "temperature": 0.1, "top_p": 1e-07, "seed": 12345678901234567890, "n": -3,
              "logit_bias": {"50256": -100.0}, "stop": None, "stream": False},
     "url": "/v1/chat/completions", "method": "POST", "custom_id": "keys in another order"},
    {"custom_id": "surrogate", "method": "POST", "url": "/v1/chat/completions",
     "body": {"messages": [{"role": "user", "content": "lone \ud800 half"}], "metadata": {"a": [1, 2.5, True, {}]}}},
    {"custom_id": "deep", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": "gpt-4o-mini", "tools": [{"type": "function", "function": {"name": "f", "parameters": {
         "type": "object", "properties": {"x": {"type": "array", "items": {"type": "number"}}}}}}], "messages": []}},
]


def _general_path(requests: Any) -> bytes:
    """What translating each request again, from the input file, gives."""
    return b"".join(encode_line(batch_line(request)[0]) for request in requests.iter_requests())


@pytest.mark.parametrize("layout", ["jsonl", "jsonl-spaced", "array"])
def test_native_batch_file_is_byte_for_byte_the_general_translation(tmp_path: Path, layout: str) -> None:
    src = tmp_path / "native.jsonl"
    if layout == "array":
        src.write_text(json.dumps(VARIED_NATIVE, indent=2))
    elif layout == "jsonl-spaced":
        src.write_text("\n".join("  " + json.dumps(line, ensure_ascii=line["custom_id"] == "surrogate") + "  \n"
                                  for line in VARIED_NATIVE), encoding="utf-8")  # non-ASCII as UTF-8
    else:
        src.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in VARIED_NATIVE))
    with load_requests(str(src), model="gpt-4o-mini") as requests:
        assert requests.input_format == "openai"
        summary = check_input(requests, keep=True)
        sent = b"".join(read_kept(summary))
        assert sent == _general_path(requests)
        assert sent == b"".join(read_kept(summary))  # again, as on a retry
        assert summary.size == len(sent) and summary.endpoint == "/v1/chat/completions"
    lines = sent.splitlines()
    assert len(lines) == len(VARIED_NATIVE)
    assert json.loads(lines[2])["body"]["messages"][0]["content"] == "lone \ud800 half"
    assert json.loads(lines[1])["body"]["seed"] == 12345678901234567890
    assert json.loads(lines[2])["body"]["model"] == "gpt-4o-mini"  # filled in by --model, first


def test_neutral_batch_file_is_the_general_translation(tmp_path: Path) -> None:
    lines = [
        {"custom_id": "a", "params": {**BASE, "system": "Be brief \u00e9", "temperature": 0.5}},
        {"custom_id": "b", "params": {"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": "x \ud800"}]}]}},
    ]
    src = tmp_path / "neutral.jsonl"
    src.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with load_requests(str(src), model="gpt-4o-mini") as requests:
        summary = check_input(requests, keep=True)
        try:
            assert b"".join(read_kept(summary)) == _general_path(requests) == b"".join(read_kept(summary))
        finally:
            assert summary.lines is not None
            summary.lines.close()


def test_native_lines_of_three_endpoints_name_each_later_one(tmp_path: Path) -> None:
    good = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m", "messages": []}}
    rows = [good, {**good, "custom_id": "b", "url": "/v1/embeddings"}, {**good, "custom_id": "c", "url": "/v1/embeddings"},
            {**good, "custom_id": "d", "url": "/v1/responses"}]
    src = tmp_path / "native.jsonl"
    src.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with load_requests(str(src)) as requests, pytest.raises(InputError) as caught:
        check_input(requests, keep=True)
    assert caught.value.problems == [
        f"{src}:2: url /v1/embeddings differs from /v1/chat/completions (custom_id a): one batch has one endpoint",
        f"{src}:4: url /v1/responses differs from /v1/chat/completions (custom_id a): one batch has one endpoint",
    ]


def test_native_batch_file_is_what_was_checked_even_if_the_input_changes_after(tmp_path: Path) -> None:
    src = tmp_path / "native.jsonl"
    src.write_text("".join(json.dumps(line) + "\n" for line in VARIED_NATIVE[:2]))
    with load_requests(str(src), model="gpt-4o-mini") as requests:
        expected = _general_path(requests)
        src.write_text(json.dumps({"custom_id": "other", "method": "GET"}) + "\n")  # replaced after the check
        summary = check_input(requests, keep=True)
        assert b"".join(read_kept(summary)) == expected
