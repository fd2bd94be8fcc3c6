"""Random server answers (hypothesis): JSON of any shape, and valid answers with fields swapped
for junk (wrong types, nulls, huge numbers, nested junk, strings with control and bidi characters,
pieces of the key), for ``batches get``, ``batches list``, ``batches results``, ``files get`` and
``files list``, on every provider directly (Bedrock's boto3 aside) and through the gateway:

- many examples on the target and the output layer (``build_target`` on an ``httpx.MockTransport``,
  the service call and ``Output`` each command makes);
- a few through the in-process CLI from a real loopback server (what a user runs: error handling,
  redaction, exit codes).

Whatever comes: never an internal error or a traceback, exit 1 only as "unexpected answer from
..." (or an answer that is not JSON at all), no piece of the key on stderr, and no hang (each
example is bounded)."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_cli import service
from bifrost_cli.config import resolve
from bifrost_cli.errors import BifrostError, ExitCode
from bifrost_cli.output import Output
from bifrost_cli.providers import build_target
from tests.conftest import invoke
from tests.fakes import Loopback

KEY = "sk-fuzz-Zk9yVGhlS2V5T25seQ-0123456789"
PIECES = [KEY, KEY[-9:], KEY[3:14], KEY[10:30]]
BATCH = "b1"  # every batch id below ends with it: the results' batch lookups answer a valid batch

# -- targets: (provider, gateway?) -> environment, batch id, file id

TARGETS = {
    "anthropic": ({"ANTHROPIC_API_KEY": KEY}, "ANTHROPIC_BASE_URL", "msgbatch_b1", "file_011"),
    "openai": ({"OPENAI_API_KEY": KEY}, "OPENAI_BASE_URL", "batch_b1", "file-011"),
    "gemini": ({"GEMINI_API_KEY": KEY}, "GEMINI_BASE_URL", "batches/b1", "files/f1"),
    "bedrock": ({}, None, "abcdefghijb1", "s3://bucket/in.jsonl"),
}
CASES = [(p, False) for p in ("anthropic", "openai", "gemini")] + [(p, True) for p in TARGETS]
# exit 1 says one of these: a malformed answer, a body that is not JSON at all (http/response.py),
# or a batch that ended without results (a normal outcome the answer may describe)
EXIT_1_MESSAGES = ("Error: unexpected answer from ", "Error: http://127.0.0.1:")
COMMANDS = ("batches get", "batches list", "batches results", "files get", "files list")

# -- answers

hostile_text = st.one_of(
    st.text(max_size=20),
    st.text(alphabet="\n\r\t\x1b\x07\u202e\u2066\u2069\u200b\u2028ab[]{}", max_size=12),
    st.sampled_from(PIECES + ["", "ended", "completed", "BATCH_STATE_SUCCEEDED", "Completed", "2025-04-14T12:00:00Z"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**20, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)),
    max_leaves=12,
)

# One object that every provider's parser can read its own fields from.
BEDROCK_ENDED = {
    "status": "Completed",
    "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://bucket/in.jsonl"}},
    "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out/"}},
}
BATCH_FIELDS: dict[str, Any] = {
    "id": "msgbatch_b1",
    "name": "batches/b1",
    "jobArn": "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdefghijb1",
    "type": "message_batch",
    "processing_status": "ended",
    "status": "completed",
    "request_counts": {"processing": 0, "succeeded": 1, "errored": 0, "canceled": 0, "expired": 0, "total": 1, "completed": 1, "failed": 0},
    "created_at": "2025-04-14T12:00:00Z",
    "ended_at": "2025-04-14T12:10:00Z",
    "expires_at": 1744632000,
    "results_url": None,
    "output_file_id": "file-out",
    "endpoint": "/v1/chat/completions",
    "metadata": {
        "state": "BATCH_STATE_SUCCEEDED",
        "name": "batches/b1",
        "createTime": "2025-04-14T12:00:00Z",
        "batchStats": {"requestCount": "1", "successfulRequestCount": "1"},
        "output": {"responsesFile": "files/out"},
    },
    "done": True,
    "submitTime": "2025-04-14T12:00:00Z",
    "modelId": "anthropic.claude",
    "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out/"}},
}
FILE_FIELDS: dict[str, Any] = {
    "id": "file_011",
    "name": "files/f1",
    "type": "file",
    "filename": "in.jsonl",
    "displayName": "in.jsonl",
    "size_bytes": 10,
    "bytes": 10,
    "sizeBytes": "10",
    "mime_type": "application/jsonl",
    "mimeType": "application/jsonl",
    "purpose": "batch",
    "created_at": "2025-04-14T12:00:00Z",
    "createTime": "2025-04-14T12:00:00Z",
    "downloadable": True,
    "key": "in.jsonl",
    "size": 10,
}
LIST_KEYS = ("data", "files", "batches", "operations", "invocationJobSummaries", "items", "objects")
RESULT_FIELDS: dict[str, Any] = {
    "custom_id": "a",
    "key": "a",
    "recordId": "a",
    "result": {"type": "succeeded", "message": {"content": []}},
    "response": {"status_code": 200, "body": {"choices": []}, "candidates": []},
    "modelOutput": {"content": []},
}


def mutated(template: Any) -> st.SearchStrategy[Any]:
    """``template`` with some of its values (at any depth) replaced by junk or removed."""
    if isinstance(template, dict):
        return st.fixed_dictionaries(
            {},
            optional={k: st.one_of(mutated(v), junk) if isinstance(v, dict | list) else st.one_of(st.just(v), junk) for k, v in template.items()},
        )
    if isinstance(template, list):
        return st.lists(st.one_of(*(mutated(v) for v in template)) if template else junk, max_size=3)
    return st.one_of(st.just(template), junk)


def listed(item: dict[str, Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {key: st.lists(st.one_of(mutated(item), junk), max_size=3) for key in LIST_KEYS},
        optional={"has_more": st.one_of(st.booleans(), junk), "nextPageToken": junk, "last_id": junk},
    )


def answer_strategy(command: str) -> st.SearchStrategy[Any]:
    shaped = {
        "batches get": mutated(BATCH_FIELDS),
        "batches list": listed(BATCH_FIELDS),
        "files get": mutated(FILE_FIELDS),
        "files list": listed(FILE_FIELDS),
        "batches results": st.lists(st.one_of(mutated(RESULT_FIELDS), junk), max_size=4),
    }[command]
    return st.one_of(junk, shaped)


# -- the server


class Answers:
    """What the loopback server says: ``body`` for every request, except that while fetching
    results a lookup of the batch gets a valid ended batch and everything else the lines."""

    def __init__(self) -> None:
        self.body: Any = None
        self.lines: list[Any] | None = None

    def data(self, path: str) -> bytes:
        if self.lines is None:
            return json.dumps(self.body).encode()
        if unquote(path).endswith(BATCH):
            if "model-invocation-job" in path:  # a Bedrock job names its data in S3, read through /bedrock/files
                return json.dumps({**BATCH_FIELDS, **BEDROCK_ENDED}).encode()
            return json.dumps(BATCH_FIELDS).encode()
        return b"".join(json.dumps(line).encode() + b"\n" for line in self.lines)

    def set(self, command: str, answer: Any) -> None:
        if command == "batches results":
            self.body, self.lines = None, answer if isinstance(answer, list) else [answer]
        else:
            self.body, self.lines = answer, None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=self.data(request.url.path), headers={"content-type": "application/json"})

    def route(self, h: BaseHTTPRequestHandler) -> None:
        data = self.data(h.path.split("?", 1)[0])
        h.send_response(200)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


@pytest.fixture(scope="module")
def server() -> Any:
    answers = Answers()
    loop = Loopback(answers.route)
    yield loop, answers
    loop.close()


def run_bounded(args: list[str], env: dict[str, str], seconds: float = 30.0) -> Any:
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(invoke(*args, env=env)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"bifrost {' '.join(args)} hung"
    return box[0]


@pytest.mark.parametrize(("provider", "gateway"), CASES, ids=[f"{p}-{'gateway' if g else 'direct'}" for p, g in CASES])
@pytest.mark.parametrize("command", COMMANDS)
def test_random_answers_through_the_cli(server: Any, provider: str, gateway: bool, command: str) -> None:
    loop, answers = server
    keys, base_env, batch_id, file_id = TARGETS[provider]
    env = {"BIFROST_MAX_RETRIES": "0", "BIFROST_TIMEOUT": "10", "BIFROST_PROVIDER": provider}
    if gateway:
        env |= {"BIFROST_BASE_URL": loop.url, "BIFROST_VIRTUAL_KEY": KEY}
    else:
        assert base_env is not None
        env |= {base_env: loop.url, **keys}
    args = command.split() + ([batch_id] if command in ("batches get", "batches results") else [file_id] if command == "files get" else [])

    @settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(answer=answer_strategy(command))
    def check(answer: Any) -> None:
        answers.set(command, answer)
        result = run_bounded(args, env)
        err = result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit), f"internal error: {result.exception!r}"
        assert "Traceback" not in err and "internal error" not in err
        if result.exit_code == 1:
            assert err.startswith(EXIT_1_MESSAGES), err
        for i in range(len(KEY) - 7):
            assert KEY[i : i + 8] not in err, err

    check()


def run_command(target: Any, command: str, ids: tuple[str, str], mode: str) -> tuple[str, str]:
    """What the command does after parsing its options: one service call, its result to Output."""
    out, err = io.StringIO(), io.StringIO()
    output = Output(mode, stdout=out, stderr=err)  # type: ignore[arg-type]
    batch_id, file_id = ids
    if command == "batches get":
        output.batch(service.get_batch(target, batch_id))
    elif command == "batches list":
        output.batches(service.list_batches(target, limit=50))
    elif command == "files get":
        output.file(service.get_file(target, file_id))
    elif command == "files list":
        output.files(service.list_files(target, limit=50))
    else:
        sink = io.BytesIO()
        output.results_summary(service.write_results(target, batch_id, output=None, stdout=sink), batch_id, raw=False)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("provider", "gateway"), CASES, ids=[f"{p}-{'gateway' if g else 'direct'}" for p, g in CASES])
@pytest.mark.parametrize("command", COMMANDS)
def test_random_answers_on_the_target_and_output(tmp_path: Path, provider: str, gateway: bool, command: str) -> None:
    answers = Answers()
    keys, _, batch_id, file_id = TARGETS[provider]
    flags: dict[str, Any] = {"provider": provider, "max_retries": 0, "timeout": 10}
    if gateway:
        flags |= {"base_url": "http://127.0.0.1:9", "api_key": KEY}
    else:
        flags |= {f"{provider}_api_key": KEY, f"{provider}_base_url": "http://127.0.0.1:9"}
    target = build_target(resolve(flags, environ={}, path=tmp_path / "absent.toml"), transport=httpx.MockTransport(answers))

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(answer=answer_strategy(command), mode=st.sampled_from(["human", "json", "quiet"]))
    def check(answer: Any, mode: str) -> None:
        answers.set(command, answer)
        try:
            run_command(target, command, (batch_id, file_id), mode)
        except BifrostError as exc:  # anything else fails the test: an internal error
            if exc.exit_code == ExitCode.ERROR:
                assert ("Error: " + exc.message).startswith(EXIT_1_MESSAGES), exc.message
            clean = Output("human", stdout=io.StringIO(), stderr=(shown := io.StringIO()))  # type: ignore[arg-type]
            clean.error(exc.message, hint=exc.hint)
            assert shown.getvalue().count("\n") <= 2  # the error and its hint, one line each

    check()
