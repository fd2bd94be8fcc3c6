"""Tests for bifrost_cli.inputs: reading and checking the input of ``batches create``."""

from __future__ import annotations

import inspect
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from bifrost_cli import inputs
from bifrost_cli.errors import ExitCode, InputError, UsageError
from bifrost_cli.inputs import CHANGED_HINT, CUSTOM_ID_RE, FIX_HINT, MAX_REPORTED, RequestSet, load_requests
from tests.conftest import EXAMPLES, ROOT, invoke

FILE = "requests.jsonl"
REQUESTS = EXAMPLES / "requests.jsonl"  # the example input
DROP = object()  # a params key to leave out


def params(**changes: object) -> dict:
    body = {"model": "claude-x", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not DROP}


def request(custom_id: str = "r1", **changes: object) -> dict:
    return {"custom_id": custom_id, "params": params(**changes)}


def jsonl(*lines: object) -> str:
    """JSONL text: dicts and lists are dumped, strings are taken as the raw line."""
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


def write(content: str | bytes, name: str = FILE) -> str:
    Path(name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return name


def problems_of(content: str | bytes, **kwargs: object) -> list[str]:
    with pytest.raises(InputError) as info:
        load_requests(write(content), **kwargs)
    assert info.value.hint == FIX_HINT or "no requests found" in info.value.problems[0]
    return info.value.problems


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a temporary directory (so names stay short) with spool files in ``spool/``."""
    monkeypatch.chdir(tmp_path)
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    return tmp_path


def spooled() -> list[str]:
    return os.listdir(tempfile.gettempdir())


OK = json.dumps(request("ok"))  # a valid first line, so the line under test is line 2


# --- Valid inputs ----------------------------------------------------------------------------


def test_constants():
    assert CUSTOM_ID_RE.pattern == r"^[a-zA-Z0-9_-]{1,64}$"
    assert MAX_REPORTED == 50
    assert inspect.signature(load_requests).parameters["max_requests"].default == 100_000


def test_valid_jsonl():
    lines = [request("a"), request("b", model="claude-y"), request("c_-9")]
    name = write(jsonl(*lines))
    with load_requests(name) as rs:
        assert isinstance(rs, RequestSet)
        assert rs.display_name == FILE
        assert rs.count == 3
        assert rs.custom_ids == ["a", "b", "c_-9"]
        assert rs.models == {"claude-x", "claude-y"}
        assert rs.input_bytes == os.path.getsize(name)
        assert [rs.line_of(c) for c in ("a", "b", "c_-9", "zz")] == [1, 2, 3, None]
        assert list(rs.iter_requests()) == lines
        assert list(rs.iter_requests()) == lines  # re-readable
    assert Path(name).exists()  # the user's file is never removed


def test_regular_file_is_read_in_place_without_spool():
    with load_requests(write(jsonl(request()))) as rs:
        assert rs.path == FILE
        assert rs.layout == "jsonl"
    assert spooled() == []


def test_blank_lines_are_skipped_and_lines_keep_their_numbers():
    content = jsonl("", request("a"), "   ", "\t", request("b"), "") + "\n\n"
    with load_requests(write(content)) as rs:
        assert rs.custom_ids == ["a", "b"]
        assert (rs.line_of("a"), rs.line_of("b")) == (2, 5)
    bad = jsonl("", OK, "", '{"custom_id": "x"}')
    assert problems_of(bad)[0].startswith(f"{FILE}:4: ")


def test_bom_crlf_and_no_final_newline_are_accepted():
    content = "\ufeff" + json.dumps(request("a")) + "\r\n" + json.dumps(request("b"))
    with load_requests(write(content.encode("utf-8"))) as rs:
        assert rs.custom_ids == ["a", "b"]
        assert [r["custom_id"] for r in rs.iter_requests()] == ["a", "b"]


def test_custom_id_limits():
    ids = ["a", "Z", "0", "_", "-", "a" * 64, "Mixed_Case-09"]
    with load_requests(write(jsonl(*(request(c) for c in ids)))) as rs:
        assert rs.custom_ids == ids


@pytest.mark.parametrize(
    "content",
    [
        pytest.param('{"role": "user", "content": [{"type": "text", "text": "x"}]}', id="list"),
        pytest.param('{"role": "assistant", "content": ""}', id="assistant"),
    ],
)
def test_message_content_may_be_a_string_or_a_list(content):
    line = request(messages=[{"role": "user", "content": "q"}, json.loads(content)])
    with load_requests(write(jsonl(line))) as rs:
        assert next(rs.iter_requests()) == line


def test_other_params_pass_through_untouched():
    line = request(system="be brief", temperature=0.5, metadata={"a": [1, None]}, stream=False)
    with load_requests(write(jsonl(line))) as rs:
        assert list(rs.iter_requests()) == [line]


# --- JSON arrays -----------------------------------------------------------------------------


def test_json_array_reports_each_elements_line():
    elements = [request("a"), request("b", model="claude-y"), request("c")]
    text = json.dumps(elements, indent=2)
    starts = [n for n, line in enumerate(text.splitlines(), 1) if line == "  {"]
    assert len(starts) == 3
    name = write(text)
    with load_requests(name) as rs:
        assert rs.layout == "array"
        assert rs.custom_ids == ["a", "b", "c"]
        assert [rs.line_of(c) for c in rs.custom_ids] == starts
        assert rs.models == {"claude-x", "claude-y"}
        assert rs.input_bytes == os.path.getsize(name)
        assert list(rs.iter_requests()) == elements
        assert list(rs.iter_requests()) == elements


def test_json_array_on_one_line_with_bom_and_leading_whitespace():
    text = "\ufeff \n\n [" + json.dumps(request("a")) + " , " + json.dumps(request("b")) + "]\n"
    with load_requests(write(text.encode())) as rs:
        assert (rs.line_of("a"), rs.line_of("b")) == (3, 3)


ELEMENT = json.dumps(request("ok"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            f'[\n{ELEMENT},\n  {{"custom_id": "bad id", "params": 1}},\n "x"\n]',
            [
                f'{FILE}:3: custom_id "bad id" is not valid: use 1-64 letters, digits, "_" or "-"',
                f"{FILE}:3: params must be an object, got 1",
                f'{FILE}:4: expected a JSON object with "custom_id" and "params", got "x"',
            ],
            id="bad-elements",
        ),
        pytest.param(
            f"[\n{ELEMENT},\n{ELEMENT}\n]",
            [f'{FILE}:3: duplicate custom_id "ok" (first used on line 2)'],
            id="duplicate",
        ),
        pytest.param(
            f"[\n{ELEMENT}\n{ELEMENT}\n]",
            [f"{FILE}:3: not valid JSON: Expecting ',' delimiter (column 1)"],
            id="missing-comma",
        ),
        pytest.param(
            f"[\n{ELEMENT},\n]",
            [f"{FILE}:3: not valid JSON: Expecting value (column 1)"],
            id="trailing-comma",
        ),
        pytest.param(
            f'[\n{ELEMENT},\n  {{"custom_id": }}\n]',
            [f"{FILE}:3: not valid JSON: Expecting value (column 17)"],
            id="broken-element",
        ),
        pytest.param(
            f"[\n{ELEMENT}\n",
            [f"{FILE}:3: not valid JSON: Expecting ',' delimiter (column 1)"],
            id="unclosed",
        ),
        pytest.param(
            f"[\n{ELEMENT}\n]\nmore",
            [f"{FILE}:4: not valid JSON: Extra data (column 1)"],
            id="extra-data",
        ),
        pytest.param(
            f"[{ELEMENT}]\n[{ELEMENT}]\n",
            [f"{FILE}:2: not valid JSON: Extra data (column 1)"],
            id="jsonl-of-arrays",
        ),
        pytest.param(
            '[\n  {"custom_id": "a", "params": {"temperature": NaN}}\n]',
            [f"{FILE}:2: not valid JSON: NaN is not allowed"],
            id="nan",
        ),
        pytest.param("[1,\n2]", [
            f'{FILE}:1: expected a JSON object with "custom_id" and "params", got 1',
            f'{FILE}:2: expected a JSON object with "custom_id" and "params", got 2',
        ], id="numbers"),
    ],
)
def test_json_array_problems(text, expected):
    assert problems_of(text) == expected


def test_json_array_not_utf8_reports_the_line():
    data = b"[\n" + ELEMENT.encode() + b',\n{"custom_id": "\xff"}\n]'
    assert problems_of(data) == [f"{FILE}:3: not valid UTF-8"]


@pytest.mark.parametrize("text", ["[]", " [ \n ] \n", "\ufeff[]"])
def test_empty_json_array(text):
    assert problems_of(text) == [f"{FILE}: no requests found"]


# --- Problems, line by line ------------------------------------------------------------------

MSG = '{"role": "user", "content": "hi"}'


def raw(params_json: str, custom_id: str = '"x"') -> str:
    return f'{{"custom_id": {custom_id}, "params": {params_json}}}'


def body(**changes: str) -> str:
    """A params object as JSON text, each given key replaced by raw JSON text (or dropped: "")."""
    fields = {"model": '"claude-x"', "max_tokens": "16", "messages": f"[{MSG}]", **changes}
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items() if v) + "}"


WHAT = 'a request line has only "custom_id" and "params"'
ALLOWED = 'use 1-64 letters, digits, "_" or "-"'
NOT_OBJECT = 'expected a JSON object with "custom_id" and "params", got'
NO_MODEL = "params.model is missing (add it, or pass --model to fill it in)"
MODEL = "params.model must be a non-empty string, got"
MAX_TOKENS = "params.max_tokens must be a positive integer, got"
ROLE = '.role must be "user" or "assistant"'
ROLE0 = f"params.messages[0]{ROLE}"
CONTENT = "params.messages[0].content must be a string or an array, got"
NO_PROPERTY = "not valid JSON: Expecting property name enclosed in double quotes"


def msgs(messages: str) -> str:
    """A line whose params.messages is the given JSON text."""
    return raw(body(messages=messages))


LINE_CASES = [
    # (id, the second line of the file, the problems it has)
    ("not-json", '{"custom_id": "x",', [f"{NO_PROPERTY} (column 19)"]),
    ("not-json-garbage", "hello", ["not valid JSON: Expecting value (column 1)"]),
    (
        "two-values",
        raw(body()) + " {}",
        [f"not valid JSON: Extra data (column {len(raw(body())) + 2})"],
    ),
    ("nan", raw(body(temperature="NaN")), ["not valid JSON: NaN is not allowed"]),
    ("infinity", raw(body(temperature="-Infinity")), ["not valid JSON: -Infinity is not allowed"]),
    ("deep", "[" * 100_000 + "]" * 100_000, ["not valid JSON: nested too deeply"]),
    ("array", "[1, 2]", [f"{NOT_OBJECT} an array"]),
    ("string", '"text"', [f'{NOT_OBJECT} "text"']),
    ("number", "42", [f"{NOT_OBJECT} 42"]),
    ("null", "null", [f"{NOT_OBJECT} null"]),
    ("bool", "true", [f"{NOT_OBJECT} true"]),
    ("unknown-field", raw(body())[:-1] + ', "url": "/v1"}', [f'unknown field "url" ({WHAT})']),
    (
        "unknown-fields",
        '{"id": 1, "custom_id": "x", "body": {}, "params": ' + body() + "}",
        [f'unknown field "id" ({WHAT})', f'unknown field "body" ({WHAT})'],
    ),
    ("custom-id-missing", '{"params": ' + body() + "}", ["custom_id is missing"]),
    ("custom-id-number", raw(body(), "7"), ["custom_id must be a string, got 7"]),
    ("custom-id-null", raw(body(), "null"), ["custom_id must be a string, got null"]),
    ("custom-id-space", raw(body(), '"a b"'), [f'custom_id "a b" is not valid: {ALLOWED}']),
    ("custom-id-empty", raw(body(), '""'), [f'custom_id "" is not valid: {ALLOWED}']),
    ("custom-id-dot", raw(body(), '"a.b"'), [f'custom_id "a.b" is not valid: {ALLOWED}']),
    (
        "custom-id-65",
        raw(body(), '"' + "a" * 65 + '"'),
        [f'custom_id "{"a" * 57}..." is not valid: {ALLOWED}'],
    ),
    ("custom-id-newline", raw(body(), '"a\\n"'), [f'custom_id "a\\n" is not valid: {ALLOWED}']),
    ("custom-id-accent", raw(body(), '"\\u00e9"'), [f'custom_id "é" is not valid: {ALLOWED}']),
    ("duplicate", OK, ['duplicate custom_id "ok" (first used on line 1)']),
    (
        "params-missing",
        '{"custom_id": "x"}',
        ["params is missing (it holds the Messages API request body)"],
    ),
    ("params-array", raw("[]"), ["params must be an object, got an array"]),
    ("params-string", raw('"hi"'), ['params must be an object, got "hi"']),
    ("params-null", raw("null"), ["params must be an object, got null"]),
    ("model-missing", raw(body(model="")), [NO_MODEL]),
    ("model-empty", raw(body(model='""')), [f'{MODEL} ""']),
    ("model-blank", raw(body(model='"  "')), [f'{MODEL} "  "']),
    ("model-number", raw(body(model="5")), [f"{MODEL} 5"]),
    ("model-null", raw(body(model="null")), [f"{MODEL} null"]),
    ("max-tokens-missing", raw(body(max_tokens="")), ["params.max_tokens is missing"]),
    ("max-tokens-zero", raw(body(max_tokens="0")), [f"{MAX_TOKENS} 0"]),
    ("max-tokens-negative", raw(body(max_tokens="-3")), [f"{MAX_TOKENS} -3"]),
    ("max-tokens-float", raw(body(max_tokens="1.5")), [f"{MAX_TOKENS} 1.5"]),
    ("max-tokens-float-int", raw(body(max_tokens="16.0")), [f"{MAX_TOKENS} 16.0"]),
    ("max-tokens-bool", raw(body(max_tokens="true")), [f"{MAX_TOKENS} true"]),
    ("max-tokens-string", raw(body(max_tokens='"16"')), [f'{MAX_TOKENS} "16"']),
    ("max-tokens-null", raw(body(max_tokens="null")), [f"{MAX_TOKENS} null"]),
    ("messages-missing", raw(body(messages="")), ["params.messages is missing"]),
    ("messages-object", msgs("{}"), ["params.messages must be an array, got an object"]),
    ("messages-string", msgs('"hi"'), ['params.messages must be an array, got "hi"']),
    ("messages-empty", msgs("[]"), ["params.messages must not be empty"]),
    ("message-string", msgs('["hi"]'), ['params.messages[0] must be an object, got "hi"']),
    ("message-null", msgs(f"[{MSG}, null]"), ["params.messages[1] must be an object, got null"]),
    ("role-missing", msgs(f'[{MSG}, {MSG}, {{"content": "x"}}]'), [f"params.messages[2]{ROLE}"]),
    ("role-tool", msgs('[{"role": "tool", "content": ""}]'), [f'{ROLE0}, got "tool"']),
    ("role-number", msgs('[{"role": 1, "content": "x"}]'), [f"{ROLE0}, got 1"]),
    (
        "role-system",
        msgs('[{"role": "system", "content": "x"}]'),
        [f'params.messages[0]{ROLE}, got "system" (a system prompt goes in params.system)'],
    ),
    ("content-missing", msgs('[{"role": "user"}]'), ["params.messages[0].content is missing"]),
    ("content-number", msgs('[{"role": "user", "content": 5}]'), [f"{CONTENT} 5"]),
    ("content-object", msgs('[{"role": "user", "content": {}}]'), [f"{CONTENT} an object"]),
    ("content-null", msgs('[{"role": "user", "content": null}]'), [f"{CONTENT} null"]),
    (
        "many-at-once",
        '{"custom_id": "a b", "extra": 0, "params": '
        + body(model="", max_tokens="0", messages="[{}, 3]")
        + "}",
        [
            f'unknown field "extra" ({WHAT})',
            f'custom_id "a b" is not valid: {ALLOWED}',
            NO_MODEL,
            f"{MAX_TOKENS} 0",
            f"params.messages[0]{ROLE}",
            "params.messages[0].content is missing",
            "params.messages[1] must be an object, got 3",
        ],
    ),
    (
        "duplicate-with-other-problems",
        raw(body(max_tokens=""), '"ok"'),
        ["params.max_tokens is missing", 'duplicate custom_id "ok" (first used on line 1)'],
    ),
]


@pytest.mark.parametrize(("line", "expected"), [pytest.param(*c[1:], id=c[0]) for c in LINE_CASES])
def test_line_problems(line, expected):
    assert problems_of(jsonl(OK, line)) == [f"{FILE}:2: {message}" for message in expected]


def test_line_problems_are_all_collected_in_file_order():
    content = jsonl(OK, request("a", model=DROP), "", "nope", request("ok"), request("b"), "[]")
    err_lines = problems_of(content)
    assert err_lines == [
        f"{FILE}:2: {NO_MODEL}",
        f"{FILE}:4: not valid JSON: Expecting value (column 1)",
        f'{FILE}:5: duplicate custom_id "ok" (first used on line 1)',
        f'{FILE}:7: expected a JSON object with "custom_id" and "params", got an array',
    ]


def test_duplicate_refers_to_the_first_use():
    content = jsonl(request("a"), request("b"), request("a"), request("a", max_tokens=0))
    assert problems_of(content) == [
        f'{FILE}:3: duplicate custom_id "a" (first used on line 1)',
        f"{FILE}:4: params.max_tokens must be a positive integer, got 0",
        f'{FILE}:4: duplicate custom_id "a" (first used on line 1)',
    ]


def test_not_utf8_line():
    content = OK.encode() + b"\n" + b'{"custom_id": "\xff\xfe"}\n' + jsonl(request("k2")).encode()
    assert problems_of(content) == [f"{FILE}:2: not valid UTF-8"]


def test_input_error_carries_the_count_and_exit_code():
    with pytest.raises(InputError) as info:
        load_requests(write(jsonl(OK, "x", "y")))
    err = info.value
    assert str(err) == "the input has 2 problems; nothing was sent"
    assert err.hint == FIX_HINT
    assert err.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"])
def test_no_requests_found(content):
    assert problems_of(content) == [f"{FILE}: no requests found"]


# --- The cap and the batch limit -------------------------------------------------------------


def test_problems_are_capped_but_counted():
    content = jsonl(*(request(f"bad id {n}") for n in range(60)))
    with pytest.raises(InputError) as info:
        load_requests(write(content))
    err = info.value
    assert len(err.problems) == MAX_REPORTED
    assert err.problems[0] == f'{FILE}:1: custom_id "bad id 0" is not valid: {ALLOWED}'
    assert err.problems[-1] == f'{FILE}:50: custom_id "bad id 49" is not valid: {ALLOWED}'
    assert str(err) == "the input has 60 problems; nothing was sent"


def test_too_many_requests():
    content = jsonl(*(request(f"r{n}") for n in range(1001)))
    assert problems_of(content, max_requests=1000) == [
        f"{FILE}: 1001 requests; a batch holds at most 1,000"
    ]
    with load_requests(FILE, max_requests=1001) as rs:
        assert rs.count == 1001
    with load_requests(FILE, max_requests=None) as rs:
        assert rs.count == 1001


def test_too_many_requests_is_listed_first_even_past_the_cap():
    content = jsonl(*(request(f"bad id {n}") for n in range(60)))
    with pytest.raises(InputError) as info:
        load_requests(write(content), max_requests=10)
    err = info.value
    assert err.problems[0] == f"{FILE}: 60 requests; a batch holds at most 10"
    assert err.problems[1].startswith(f"{FILE}:1: ")
    assert len(err.problems) == MAX_REPORTED
    assert str(err) == "the input has 61 problems; nothing was sent"


def test_bad_lines_count_towards_the_limit():
    assert problems_of(jsonl(OK, "x"), max_requests=1) == [
        f"{FILE}: 2 requests; a batch holds at most 1",
        f"{FILE}:2: not valid JSON: Expecting value (column 1)",
    ]


# --- --model ---------------------------------------------------------------------------------


def test_model_fills_only_lines_without_one():
    lines = [request("a", model=DROP), request("b", model="claude-own"), request("c", model=DROP)]
    with load_requests(write(jsonl(*lines)), model="claude-default") as rs:
        assert rs.models == {"claude-default", "claude-own"}
        got = list(rs.iter_requests())
        models = [r["params"]["model"] for r in got]
        assert models == ["claude-default", "claude-own", "claude-default"]
        assert got[0]["params"] == params(model="claude-default")
        assert list(rs.iter_requests()) == got


def test_model_does_not_excuse_a_bad_model():
    content = jsonl(OK, request("a", model=""))
    assert problems_of(content, model="claude-default") == [
        f'{FILE}:2: params.model must be a non-empty string, got ""'
    ]


def test_model_fills_json_arrays_too():
    with load_requests(write(json.dumps([request("a", model=DROP)])), model="m") as rs:
        assert rs.models == {"m"}
        assert next(rs.iter_requests())["params"]["model"] == "m"


@pytest.mark.parametrize("model", ["", "  "])
def test_empty_model_option(model):
    with pytest.raises(UsageError, match="--model must not be empty"):
        load_requests(write(jsonl(OK)), model=model)


# --- Input formats ---------------------------------------------------------------------------


@pytest.mark.parametrize("input_format", [None, "auto", "anthropic"])
def test_accepted_formats(input_format):
    with load_requests(write(jsonl(OK)), input_format=input_format) as rs:
        assert rs.input_format == "anthropic"


@pytest.mark.parametrize("input_format", ["jsonl", "xml", "claude"])
def test_unknown_formats_are_refused(input_format):
    with pytest.raises(UsageError) as info:
        load_requests(write(jsonl(OK)), input_format=input_format)
    err = info.value
    assert not isinstance(err, InputError)
    assert f"unknown input format {input_format!r}" in err.message
    assert "auto, anthropic, openai, gemini, bedrock" in err.hint


def test_format_is_checked_before_the_file():
    with pytest.raises(UsageError, match="unknown input format"):
        load_requests("missing.jsonl", input_format="xml")


# --- Files that cannot be read ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "path", "message", "hint"),
    [
        pytest.param(None, "nope.jsonl", "nope.jsonl: no such file", "pass - to", id="missing"),
        pytest.param("dir", "adir", "adir: is a directory", "JSONL file", id="directory"),
        pytest.param("file", "f/x.jsonl", "f/x.jsonl: no such file", "Check the", id="under-file"),
    ],
)
def test_unreadable_paths(make, path, message, hint):
    if make == "dir":
        Path("adir").mkdir()
    elif make == "file":
        Path("f").write_text("")
    with pytest.raises(UsageError) as info:
        load_requests(path)
    assert not isinstance(info.value, InputError)
    assert info.value.message == message
    assert hint in info.value.hint
    assert info.value.exit_code == ExitCode.USAGE


def test_permission_denied(monkeypatch):
    name = write(jsonl(OK))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(inputs, "open", refuse, raising=False)
    with pytest.raises(UsageError) as info:
        load_requests(name)
    assert info.value.message == f"{name}: permission denied"
    assert info.value.hint


# --- Standard input and spooling -------------------------------------------------------------


def test_stdin_is_spooled_and_re_readable():
    lines = [request("a"), request("b", model=DROP)]
    data = jsonl(*lines).encode()
    rs = load_requests("-", stdin=io.BytesIO(data), model="m")
    assert rs.display_name == "<stdin>"
    assert rs.input_bytes == len(data)
    assert rs.count == 2 and rs.custom_ids == ["a", "b"]
    assert spooled() == [os.path.basename(rs.path)]
    expected = [lines[0], {"custom_id": "b", "params": params(model="m")}]
    assert list(rs.iter_requests()) == expected
    assert list(rs.iter_requests()) == expected
    rs.close()
    assert spooled() == []
    rs.close()  # twice is fine
    with pytest.raises(ValueError, match="closed"):
        rs.iter_requests()


def test_stdin_context_manager_removes_the_spool():
    with load_requests("-", stdin=io.BytesIO(jsonl(OK).encode())) as rs:
        assert os.path.exists(rs.path)
    assert spooled() == []


def test_spool_is_removed_when_the_set_is_garbage_collected():
    rs = load_requests("-", stdin=io.BytesIO(jsonl(OK).encode()))
    assert spooled()
    del rs
    assert spooled() == []


def test_stdin_problems_use_the_stdin_name_and_leave_no_spool():
    with pytest.raises(InputError) as info:
        load_requests("-", stdin=io.BytesIO(jsonl(OK, "{").encode()))
    assert info.value.problems == [f"<stdin>:2: {NO_PROPERTY} (column 2)"]
    assert spooled() == []


@pytest.mark.parametrize("data", [b"", b"\n"])
def test_empty_stdin(data):
    with pytest.raises(InputError) as info:
        load_requests("-", stdin=io.BytesIO(data))
    assert info.value.problems == ["<stdin>: no requests found"]
    assert spooled() == []


def test_stdin_json_array():
    elements = [request("a"), request("b")]
    text = json.dumps(elements, indent=1)
    starts = [n for n, line in enumerate(text.splitlines(), 1) if line == " {"]
    with load_requests("-", stdin=io.BytesIO(text.encode())) as rs:
        assert rs.layout == "array"
        assert [rs.line_of("a"), rs.line_of("b")] == starts == [2, 15]
        assert list(rs.iter_requests()) == elements


def test_stdin_defaults_to_the_process_stdin(monkeypatch):
    class FakeStdin:
        buffer = io.BytesIO(jsonl(OK).encode())

    monkeypatch.setattr(sys, "stdin", FakeStdin())
    with load_requests("-") as rs:
        assert rs.custom_ids == ["ok"]


def test_stdin_read_error_is_a_usage_error():
    class Broken(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            raise OSError(5, "Input/output error")

    with pytest.raises(UsageError) as info:
        load_requests("-", stdin=Broken())
    assert info.value.message.startswith("<stdin>: could not copy the input")
    assert spooled() == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_given_by_path_is_spooled():
    os.mkfifo("pipe")
    data = jsonl(request("a"), request("b")).encode()

    def feed():
        with open("pipe", "wb") as fp:
            fp.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        with load_requests("pipe") as rs:
            assert rs.display_name == "pipe"
            assert rs.path != "pipe"
            assert rs.input_bytes == len(data)
            assert [r["custom_id"] for r in rs.iter_requests()] == ["a", "b"]
            assert [r["custom_id"] for r in rs.iter_requests()] == ["a", "b"]
    finally:
        writer.join(5)
    assert spooled() == []


# --- Re-reading ------------------------------------------------------------------------------


def test_iter_requests_is_lazy_and_independent():
    with load_requests(write(jsonl(request("a"), request("b")))) as rs:
        first, second = rs.iter_requests(), rs.iter_requests()
        assert next(first)["custom_id"] == "a"
        assert next(second)["custom_id"] == "a"
        assert next(first)["custom_id"] == "b"


@pytest.mark.parametrize(
    ("changed", "problem"),
    [
        pytest.param([request("a"), request("c")], f"{FILE}:2: not as checked before", id="id"),
        pytest.param([request("a"), "{"], f"{FILE}:2: {NO_PROPERTY} (column 2)", id="broken"),
        pytest.param([request("a")], f"{FILE}: fewer requests than before", id="fewer"),
        pytest.param([request(c) for c in "abc"], f"{FILE}:3: not as checked before", id="more"),
    ],
)
def test_a_file_changed_after_checking_is_refused(changed, problem):
    with load_requests(write(jsonl(request("a"), request("b")))) as rs:
        write(jsonl(*changed))
        with pytest.raises(InputError) as info:
            list(rs.iter_requests())
    assert info.value.problems == [problem]
    assert info.value.hint == CHANGED_HINT


# --- Module hygiene --------------------------------------------------------------------------


def test_import_stays_light():
    root = ROOT
    code = (
        "import sys, bifrost_cli.inputs; "
        "print(sorted(m for m in ('pydantic', 'typer', 'rich', 'httpx') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------------
# odd input files, through the CLI


@pytest.mark.parametrize(("encoding", "name"), [("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")])
def test_a_utf16_input_gets_one_clear_message(tmp_path: Path, encoding: str, name: str) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(REQUESTS.read_text().encode(encoding))
    result = invoke("--emulator", "batches", "create", str(path))
    assert result.exit_code == 2
    assert f"{name} text; requests must be UTF-8" in result.stderr
    assert f"iconv -f {name} -t UTF-8" in result.stderr
    assert "line" not in result.stderr.lower().split("hint")[0].replace("requests.jsonl", "")  # no per-line noise


def test_a_binary_input_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(bytes(range(256)) * 4)
    result = invoke("--emulator", "batches", "create", str(path))
    assert result.exit_code == 2
    assert "binary data, not JSON text" in result.stderr


def test_crlf_input_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(REQUESTS.read_bytes().replace(b"\n", b"\r\n"))
    result = invoke("--emulator", "batches", "create", str(path), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["request_counts"]["processing"] == 3


# --- The checked copy: what is sent and hashed -----------------------------------------------


def test_the_checked_requests_are_kept_as_compact_jsonl_and_hashed():
    import hashlib

    lines = [request("a"), request("b", model=DROP)]
    with load_requests(write(jsonl(*lines)), model="m") as rs:
        encoded = b"".join(rs.iter_encoded())
        write(jsonl(request("z")))  # changing the file afterwards changes nothing of what was checked
        assert b"".join(rs.iter_encoded()) == encoded  # re-readable
        assert list(rs.iter_checked()) == [lines[0], {"custom_id": "b", "params": {"model": "m", **params(model=DROP)}}]
    assert encoded.count(b"\n") == 2 and b": " not in encoded
    assert rs.sha256 == hashlib.sha256(encoded).hexdigest() and rs.encoded_bytes == len(encoded)
    with pytest.raises(ValueError, match="closed"):
        rs.iter_encoded()


def test_the_same_requests_written_differently_hash_the_same():
    filled = jsonl(request("a", model=DROP))
    spaced = json.dumps(request("a", model="m"), indent=2).replace("\n", " ") + "\n"  # model first, as --model puts it
    with load_requests(write(filled), model="m") as one, load_requests(write(spaced, "other.jsonl")) as two:
        assert one.sha256 == two.sha256
    with load_requests(write(jsonl(request("a", max_tokens=17)))) as three:
        assert three.sha256 != one.sha256


def test_nan_and_deep_nesting_still_read_as_before():
    deep = json.dumps(request("a", metadata=json.loads("[" * 300 + "]" * 300)))
    with load_requests(write(jsonl(deep))) as rs:  # deeper than pydantic-core's parser goes
        assert next(rs.iter_checked())["custom_id"] == "a"
    nan = json.dumps(request("b")).replace('"max_tokens": 16', '"max_tokens": NaN')
    with pytest.raises(InputError) as info:
        load_requests(write(jsonl(nan)))
    assert info.value.problems == [f"{FILE}:1: not valid JSON: NaN is not allowed"]
