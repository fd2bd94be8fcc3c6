"""A server answer with a field of the wrong type, or the wrong shape, is "unexpected answer from
SERVER: FIELD is not a valid ..." (exit 1): the field named, no value from the answer echoed, never
an internal error; after a create, with the hint that the batch may exist. Served by a real
loopback server to the in-process CLI."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke
from tests.fakes import ANTHROPIC_KEY, batch_obj, file_obj, send_json

EXAMPLES = Path(__file__).resolve().parents[4] / "examples"
PLANT = f"yesterday {ANTHROPIC_KEY[-12:]}"  # a value holding the key's tail: never shown


def serve(loopback: Any, answer: Any) -> dict[str, str]:
    def route(h: BaseHTTPRequestHandler) -> None:
        send_json(h, answer)

    server = loopback(route)
    return {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "BIFROST_MAX_RETRIES": "0"}


def assert_unexpected(result: Any, *expected: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.stderr
    err = result.stderr
    assert "Error: unexpected answer from Anthropic API at http://127.0.0.1:" in err
    for text in expected:
        assert text in err
    assert "internal error" not in err and "Traceback" not in err
    assert "yesterday" not in err and "lots" not in err and "big" not in err
    for i in range(len(ANTHROPIC_KEY) - 7):
        assert ANTHROPIC_KEY[i : i + 8] not in err + result.stdout


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (batch_obj(created_at=PLANT), "created_at is not a valid date and time"),
        (batch_obj(ended_at=["a", "list"]), "ended_at is not a valid date and time"),
        (batch_obj(request_counts={"processing": None, "succeeded": "lots", "errored": 0}), "request_counts.processing is not a valid integer; request_counts.succeeded is not a valid integer"),
        (batch_obj(request_counts={"processing": 1e400, "succeeded": 0, "errored": 0}), "request_counts.processing is not a finite number"),
        ([batch_obj(), batch_obj()], "expected a batch object with an id, got a list of 2"),
        (batch_obj(id={"nested": PLANT}), "a batch: id is not a valid string"),
        (batch_obj(id=12345), "a batch: id is not a valid string"),
    ],
)
def test_malformed_batch_names_the_field_and_no_value(loopback: Any, answer: Any, expected: str) -> None:
    assert_unexpected(invoke("batches", "get", "msgbatch_1", env=serve(loopback, answer)), expected)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (file_obj(1, size_bytes="big"), "size_bytes is not a valid integer"),
        (file_obj(1, size_bytes=1.5), "size_bytes is not a valid integer"),
        (file_obj(1, created_at=PLANT), "created_at is not a valid date and time"),
        (file_obj(1, filename={"a": 1}), "filename is not a valid string"),
        ("just a string", "expected a file object with an id, got a string"),
    ],
)
def test_malformed_file_names_the_field_and_no_value(loopback: Any, answer: Any, expected: str) -> None:
    assert_unexpected(invoke("files", "get", "file_001", env=serve(loopback, answer)), expected)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"data": {"id": PLANT}, "has_more": False}, "expected a list page from /files, got an object"),
        ({"data": [file_obj(1), file_obj(2, size_bytes="big")], "has_more": False}, "item 1 of the list page from /files: a file: size_bytes is not a valid integer"),
        ({"data": [None]}, "item 0 of the list page from /files: expected a file object with an id, got null"),
    ],
)
def test_malformed_list_names_the_item(loopback: Any, answer: Any, expected: str) -> None:
    result = invoke("files", "list", env=serve(loopback, answer))
    assert_unexpected(result, expected)
    assert result.stdout == ""


def test_malformed_answer_to_a_create_says_the_batch_may_exist(loopback: Any) -> None:
    env = serve(loopback, batch_obj("msgbatch_new", status="in_progress", created_at=PLANT))
    result = invoke("batches", "create", str(EXAMPLES / "requests.jsonl"), env=env)
    assert_unexpected(result, "created_at is not a valid date and time")
    assert "Hint: The batch may have been created: check with `bifrost batches list`" in result.stderr
