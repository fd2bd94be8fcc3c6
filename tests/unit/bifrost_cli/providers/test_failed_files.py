"""A file the provider could not process is shown as failed, with the provider's reason, by `files
get` (table and JSON), never as an ordinary file. Served by a real loopback server."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.conftest import invoke
from tests.fakes import send_json

OPENAI_FAILED = {"id": "file-abc", "object": "file", "bytes": 120, "created_at": 1735689600, "filename": "in.jsonl",
                 "purpose": "batch", "status": "error", "status_details": "Invalid file format: line 3 is not JSON"}
GEMINI_FAILED = {"name": "files/abc123", "displayName": "in.jsonl", "mimeType": "application/jsonl", "sizeBytes": "120",
                 "createTime": "2025-01-01T00:00:00Z", "state": "FAILED",
                 "error": {"code": 400, "message": "The file could not be processed", "status": "INVALID_ARGUMENT"}}


def serve(loopback: Any, answer: dict) -> str:
    def route(h: BaseHTTPRequestHandler) -> None:
        send_json(h, answer)

    return loopback(route).url


CASES = [
    ("openai", OPENAI_FAILED, "file-abc", "OPENAI", "error", "Invalid file format: line 3 is not JSON"),
    ("gemini", GEMINI_FAILED, "files/abc123", "GEMINI", "FAILED", "The file could not be processed (INVALID_ARGUMENT)"),
]


@pytest.mark.parametrize(("provider", "answer", "file_id", "env", "status", "reason"), CASES)
def test_files_get_shows_a_failed_file_and_why(loopback: Any, provider: str, answer: dict, file_id: str, env: str,
                                                status: str, reason: str) -> None:
    url = serve(loopback, answer)
    environ = {f"{env}_BASE_URL": url, f"{env}_API_KEY": "test-key-0123456789", "BIFROST_MAX_RETRIES": "0"}
    shown = invoke("-p", provider, "files", "get", file_id, env=environ)
    assert shown.exit_code == 0, shown.stderr
    assert status in shown.stdout and reason in shown.stdout
    assert f"could not process {file_id}: {reason}" in shown.stderr
    as_json = invoke("-p", provider, "files", "get", file_id, "--json", env=environ)
    data = json.loads(as_json.stdout)
    assert data["status"] == status and data["error"] == reason


@pytest.mark.parametrize(("answer", "provider", "env", "file_id"), [
    ({**OPENAI_FAILED, "status": "processed", "status_details": None}, "openai", "OPENAI", "file-abc"),
    ({**GEMINI_FAILED, "state": "ACTIVE", "error": None}, "gemini", "GEMINI", "files/abc123"),
])
def test_a_processed_file_carries_no_error(loopback: Any, answer: dict, provider: str, env: str, file_id: str) -> None:
    url = serve(loopback, answer)
    environ = {f"{env}_BASE_URL": url, f"{env}_API_KEY": "test-key-0123456789", "BIFROST_MAX_RETRIES": "0"}
    shown = invoke("-p", provider, "files", "get", file_id, "--json", env=environ)
    data = json.loads(shown.stdout)
    assert data["error"] is None and data["status"] in ("processed", "ACTIVE")
    assert "could not process" not in shown.stderr
