"""Uploads sent once (service.files.upload_files): an upload whose answer was lost after the server
stored the file is found by name and size instead of being sent again; none found: sent again,
once, saying so; several: an error naming them. Every upload lands in the ledger."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bifrost_cli import service
from bifrost_cli.errors import BifrostError
from bifrost_cli.http.wsgi import WSGIStreamTransport
from bifrost_cli.ledger import Ledger
from tests.unit.bifrost_cli.service.test_batches import ActsThenFails, emulator, target

UPLOAD = {"anthropic": "/files", "openai": "/files", "gemini": "/files"}
CASES = [("anthropic", "direct"), ("openai", "direct"), ("openai", "gateway"), ("anthropic", "gateway")]


def data_file(tmp_path: Path, name: str = "data.jsonl", size: int = 3000) -> Path:
    path = tmp_path / name
    path.write_bytes(b"x" * (size - 1) + b"\n")
    return path


def files_on(tmp_path: Path, app: object, provider: str, how: str) -> list:
    return list(target(tmp_path, provider, how, WSGIStreamTransport(app)).list_files(limit=None))


def upload(tmp_path: Path, provider: str, how: str, transport: httpx.BaseTransport, *paths: Path, notes: list[str] | None = None) -> list:
    return list(
        service.upload_files(
            target(tmp_path, provider, how, transport),
            [str(p) for p in paths],
            purpose="batch" if provider == "openai" else None,
            ledger=Ledger(tmp_path / "ledger.sqlite3"),
            on_note=(notes.append if notes is not None else None),
        )
    )


@pytest.mark.parametrize(("provider", "how"), CASES)
def test_an_upload_answered_a_bare_503_after_storing_is_found_not_sent_again(tmp_path: Path, provider: str, how: str) -> None:
    app = emulator(tmp_path)
    proxy = ActsThenFails(app, UPLOAD[provider])
    notes: list[str] = []
    [file] = upload(tmp_path, provider, how, proxy, data_file(tmp_path), notes=notes)
    assert proxy.creates() == 1
    assert [f.id for f in files_on(tmp_path, app, provider, how)] == [file.id]
    assert notes == [f"The answer to the upload of data.jsonl was lost, but the file exists: {file.id}"]
    [entry] = Ledger(tmp_path / "ledger.sqlite3").entries()
    assert (entry.kind, entry.state, entry.resource_id) == ("file", "done", file.id)
    import hashlib

    assert entry.sha256 == hashlib.sha256(data_file(tmp_path).read_bytes()).hexdigest()


def test_an_upload_whose_answer_was_lost_before_storing_is_sent_again_once_saying_so(tmp_path: Path) -> None:
    """The proxy answered 503 without the API acting (no file listed): safe to send again."""
    app = emulator(tmp_path)

    class DropsFirst(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner, self.uploads = WSGIStreamTransport(app), 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and request.url.path.endswith("/files"):
                self.uploads += 1
                if self.uploads == 1:
                    request.read()
                    return httpx.Response(503, text="Service Unavailable")
            return self.inner.handle_request(request)

    transport = DropsFirst()
    notes: list[str] = []
    [file] = upload(tmp_path, "openai", "direct", transport, data_file(tmp_path), notes=notes)
    assert transport.uploads == 2
    assert [f.id for f in files_on(tmp_path, app, "openai", "direct")] == [file.id]
    assert "no such file is listed: sending it again" in notes[0]


def test_several_matching_files_are_an_error_naming_them(tmp_path: Path) -> None:
    app = emulator(tmp_path)
    path = data_file(tmp_path)
    upload(tmp_path, "openai", "direct", WSGIStreamTransport(app), path)  # an earlier upload of the same file
    proxy = ActsThenFails(app, "/files")
    with pytest.raises(BifrostError) as info:
        upload(tmp_path, "openai", "direct", proxy, path)
    assert proxy.creates() == 1
    assert "2 files named data.jsonl" in (info.value.hint or "")
    assert len(files_on(tmp_path, app, "openai", "direct")) == 2
    assert [e.state for e in Ledger(tmp_path / "ledger.sqlite3").entries()] == ["unknown", "done"]


def test_uploads_are_recorded_not_deduplicated(tmp_path: Path) -> None:
    app = emulator(tmp_path)
    path = data_file(tmp_path)
    first = upload(tmp_path, "anthropic", "direct", WSGIStreamTransport(app), path)
    second = upload(tmp_path, "anthropic", "direct", WSGIStreamTransport(app), path)
    assert first[0].id != second[0].id
    assert [e.resource_id for e in Ledger(tmp_path / "ledger.sqlite3").entries()] == [second[0].id, first[0].id]


def test_an_upload_from_stdin_is_hashed_as_it_streams(tmp_path: Path) -> None:
    import hashlib
    import io

    app = emulator(tmp_path)
    data = b'{"a": 1}\n' * 5000
    [file] = service.upload_files(
        target(tmp_path, "openai", "direct", WSGIStreamTransport(app)),
        ["-"],
        purpose="batch",
        filename="piped.jsonl",
        stdin=io.BytesIO(data),
        ledger=Ledger(tmp_path / "ledger.sqlite3"),
    )
    [entry] = Ledger(tmp_path / "ledger.sqlite3").entries()
    assert (entry.resource_id, entry.input_name) == (file.id, "piped.jsonl")
    assert entry.sha256 == hashlib.sha256(data).hexdigest()


def test_a_lost_answer_to_an_upload_from_stdin_is_never_sent_again(tmp_path: Path) -> None:
    import io

    app = emulator(tmp_path)

    class Drops(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner, self.uploads = WSGIStreamTransport(app), 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and request.url.path.endswith("/files"):
                self.uploads += 1
                request.read()
                return httpx.Response(502, text="Bad Gateway")
            return self.inner.handle_request(request)

    transport = Drops()
    with pytest.raises(BifrostError) as info:
        list(service.upload_files(target(tmp_path, "openai", "direct", transport), ["-"], purpose="batch",
                                  filename="piped.jsonl", stdin=io.BytesIO(b"x\n"), ledger=Ledger(tmp_path / "l.sqlite3")))
    assert transport.uploads == 1
    assert "stdin cannot be sent again" in (info.value.hint or "")
    assert [e.state for e in Ledger(tmp_path / "l.sqlite3").entries()] == ["unknown"]


@pytest.mark.parametrize("provider", ["anthropic", "openai-parts", "gemini"])
def test_the_ledger_holds_the_sha256_of_a_file_as_sent_however_the_provider_reads_it(
    tmp_path: Path, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The digest is taken from the bytes as they are read to be sent (multipart, the Uploads API's
    parts, Gemini's resumable stream), not in a pass of its own: it is the whole file's all the same."""
    import hashlib

    if provider == "openai-parts":
        provider = "openai"
        monkeypatch.setenv("BIFROST_OPENAI_UPLOAD_THRESHOLD", str(1 << 20))
        monkeypatch.setenv("BIFROST_OPENAI_PART_SIZE", str(1 << 20))
    app = emulator(tmp_path)
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(251)) * 12_600)  # about 3 MiB: several reads, several parts
    [file] = upload(tmp_path, provider, "direct", WSGIStreamTransport(app), path)
    assert file.size_bytes == path.stat().st_size
    [entry] = Ledger(tmp_path / "ledger.sqlite3").entries()
    assert (entry.state, entry.resource_id) == ("done", file.id)
    assert entry.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
