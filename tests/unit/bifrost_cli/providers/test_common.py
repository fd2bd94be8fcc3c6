"""Rules every adapter shares (``providers/common.py``): an id is always one path segment."""

from __future__ import annotations

import pytest

from tests.conftest import invoke
from tests.fakes import send_json


@pytest.mark.parametrize("odd", ["a b", "a/b", "é", "?x", "#f", "%2e%2e", "../../x"])
def test_odd_ids_stay_one_path_segment(loopback, odd: str) -> None:
    server = loopback(lambda h: send_json(h, {"type": "error", "error": {"type": "not_found_error", "message": "no"}}, 404))
    result = invoke("--base-url", server.url, "batches", "get", odd)
    assert result.exit_code == 4
    method, path = server.requests[0]
    assert method == "GET"
    prefix = "/anthropic/v1/messages/batches/"
    assert path.startswith(prefix)
    assert "/" not in path[len(prefix):] and "?" not in path and "#" not in path
