"""Shared pieces of the commands (``cli/_common.py``): ids that would name another route are refused
before anything is sent."""

from __future__ import annotations

import pytest

from tests.conftest import invoke
from tests.fakes import ENDED_BATCH, send_json


@pytest.mark.parametrize("bad", ["", " ", ".", ".."])
@pytest.mark.parametrize(
    "command",
    [["files", "get"], ["files", "delete"], ["files", "download"], ["batches", "get"], ["batches", "cancel"],
     ["batches", "results"], ["batches", "wait"], ["batches", "delete"]],
    ids=" ".join,
)
def test_an_empty_or_dot_id_is_refused_before_sending(loopback, command: list[str], bad: str) -> None:
    server = loopback(lambda h: send_json(h, ENDED_BATCH))
    result = invoke("--base-url", server.url, *command, bad)
    assert result.exit_code == 2, result.stderr
    assert "is not an id" in result.stderr
    assert server.requests == []
