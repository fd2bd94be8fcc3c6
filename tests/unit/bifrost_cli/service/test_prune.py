"""service.prune: ages, consent before any I/O, a declined confirmation deletes nothing, a batch
list that fails stops a files prune (nothing deleted without knowing the unfinished batches' inputs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bifrost_cli import service
from bifrost_cli.errors import BifrostError, UsageError
from bifrost_cli.http.wsgi import WSGIStreamTransport
from bifrost_cli.service.prune import NotConfirmed
from tests.unit.bifrost_cli.service.test_batches import emulator, target


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30m", timedelta(minutes=30)), ("12h", timedelta(hours=12)), ("7d", timedelta(days=7)), ("2W", timedelta(weeks=2)),
     ("90s", timedelta(seconds=90)), ("1.5d", timedelta(hours=36))],
)
def test_ages(text: str, expected: timedelta) -> None:
    assert service.parse_age(text) == expected


@pytest.mark.parametrize("text", ["7", "", "d", "-1d", "0d", "7 days", "1y"])
def test_bad_ages_are_usage_errors_with_a_hint(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        service.parse_age(text)
    assert caught.value.hint and "7d" in caught.value.hint


class Recording(httpx.BaseTransport):
    """Passes requests to the emulator, keeping their methods and paths; can fail one route."""

    def __init__(self, app: Any, fail: tuple[str, str] | None = None):
        self.inner = WSGIStreamTransport(app)
        self.seen: list[tuple[str, str]] = []
        self.fail = fail

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path))
        if self.fail and request.method == self.fail[0] and self.fail[1] in request.url.path:
            return httpx.Response(400, json={"error": {"message": "no", "type": "invalid_request_error"}})
        return self.inner.handle_request(request)


def _upload(tmp_path: Path, app: Any) -> str:
    path = tmp_path / "f.jsonl"
    path.write_text('{"a": 1}\n')
    [f] = service.upload_files(target(tmp_path, "openai", "direct", WSGIStreamTransport(app)), [str(path)], purpose="batch")
    return str(f.id)


def test_without_yes_or_a_terminal_nothing_is_sent(tmp_path: Path) -> None:
    transport = Recording(emulator(tmp_path))
    with pytest.raises(UsageError):
        service.prune_files(target(tmp_path, "openai", "direct", transport), older_than="1s", consent=service.Consent())
    assert transport.seen == []


def test_a_declined_confirmation_deletes_nothing(tmp_path: Path) -> None:
    app = emulator(tmp_path)
    file_id = _upload(tmp_path, app)
    asked: list[int] = []

    def no(report: Any) -> bool:
        asked.append(len(report.items))
        return False

    transport = Recording(app)
    future = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(NotConfirmed):
        service.prune_files(target(tmp_path, "openai", "direct", transport), older_than="1h", now=future,
                            consent=service.Consent(interactive=True, ask=no))
    assert asked == [1]
    assert not [s for s in transport.seen if s[0] == "DELETE"]
    assert file_id in {f.id for f in target(tmp_path, "openai", "direct", WSGIStreamTransport(app)).list_files(limit=None)}


def test_a_failing_batch_list_stops_a_files_prune(tmp_path: Path) -> None:
    app = emulator(tmp_path)
    _upload(tmp_path, app)
    transport = Recording(app, fail=("GET", "/batches"))
    future = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(BifrostError):
        service.prune_files(target(tmp_path, "openai", "direct", transport), older_than="1h", now=future,
                            consent=service.Consent(yes=True))
    assert not [s for s in transport.seen if s[0] == "DELETE"]
