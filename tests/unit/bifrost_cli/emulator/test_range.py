"""HTTP Range on every byte-stream GET the emulator serves (file contents, Anthropic's results JSONL):
``Accept-Ranges``, a strong ``ETag``, 206 with ``Content-Range``, 416, ``If-Range``; and file hashes."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx
import pytest

from bifrost_cli.emulator import EmulatorConfig
from bifrost_cli.emulator.testing import ManualClock, running_server

AKEY = {"x-api-key": "dummy"}
OKEY = {"authorization": "Bearer sk-test"}
GKEY = {"x-goog-api-key": "gk"}
DATA = b"".join(b'{"line":%d,"text":"abcdefghij"}\n' % i for i in range(40))


@pytest.fixture
def clock():
    return ManualClock(1_800_000_000.0)


@pytest.fixture
def emu(tmp_path, clock):
    config = EmulatorConfig(state_dir=tmp_path / "state", batch_seconds=10.0, clock=clock)
    with running_server(config) as server, httpx.Client(base_url=server.url) as client:
        yield client


def _admin_file(client, provider):
    answer = client.post(f"/_emulator/files?filename=out.jsonl&provider={provider}", content=DATA)
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def _results(client, clock):
    body = {"requests": [{"custom_id": f"r{i}", "params": {"model": "claude-test", "max_tokens": 8,
                                                             "messages": [{"role": "user", "content": f"hi {i}"}]}}
                         for i in range(5)]}
    batch = client.post("/native/anthropic/v1/messages/batches", json=body, headers=AKEY).json()
    clock.advance(11)
    return f"/native/anthropic/v1/messages/batches/{batch['id']}/results", AKEY


ROUTES = {
    "anthropic native content": lambda c, _: (f"/native/anthropic/v1/files/{_admin_file(c, 'anthropic')}/content", AKEY),
    "anthropic gateway content": lambda c, _: (f"/anthropic/v1/files/{_admin_file(c, 'anthropic')}/content", AKEY),
    "openai native content": lambda c, _: (f"/native/openai/v1/files/{_admin_file(c, 'openai')}/content", OKEY),
    "openai gateway content": lambda c, _: (f"/openai/v1/files/{_admin_file(c, 'openai')}/content", {}),
    "gemini native download": lambda c, _: (
        f"/native/gemini/download/v1beta/files/{_admin_file(c, 'gemini').removeprefix('files-')}:download?alt=media",
        GKEY),
    "anthropic native results": _results,
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_byte_streams_honour_range(emu, clock, route):
    url, headers = ROUTES[route](emu, clock)
    whole = emu.get(url, headers=headers)
    assert whole.status_code == 200, whole.text
    content = whole.content
    size = len(content)
    assert whole.headers["accept-ranges"] == "bytes"
    etag = whole.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith('W/')

    part = emu.get(url, headers={**headers, "Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{size}"
    assert part.headers["content-length"] == "10"

    rest = emu.get(url, headers={**headers, "Range": "bytes=7-"})
    assert rest.status_code == 206 and rest.content == content[7:]
    assert rest.headers["content-range"] == f"bytes 7-{size - 1}/{size}"

    tail = emu.get(url, headers={**headers, "Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == content[-5:]

    past_end = emu.get(url, headers={**headers, "Range": f"bytes={size}-"})
    assert past_end.status_code == 416
    assert past_end.headers["content-range"] == f"bytes */{size}"

    same = emu.get(url, headers={**headers, "Range": "bytes=3-", "If-Range": etag})
    assert same.status_code == 206 and same.content == content[3:]
    changed = emu.get(url, headers={**headers, "Range": "bytes=3-", "If-Range": '"something-else"'})
    assert changed.status_code == 200 and changed.content == content


def test_a_range_ending_past_the_end_is_clipped_and_a_malformed_one_ignored(emu):
    url = f"/native/anthropic/v1/files/{_admin_file(emu, 'anthropic')}/content"
    clipped = emu.get(url, headers={**AKEY, "Range": f"bytes=5-{len(DATA) * 2}"})
    assert clipped.status_code == 206 and clipped.content == DATA[5:]
    for bad in ("bytes=9-3", "lines=1-2", "bytes=1-2,5-6", "bytes=-"):
        ignored = emu.get(url, headers={**AKEY, "Range": bad})
        assert ignored.status_code == 200 and ignored.content == DATA, bad


def test_metadata_answers_have_no_range_support(emu):
    file_id = _admin_file(emu, "anthropic")
    meta = emu.get(f"/native/anthropic/v1/files/{file_id}", headers={**AKEY, "Range": "bytes=0-3"})
    assert meta.status_code == 200 and "accept-ranges" not in meta.headers


def test_gemini_files_carry_their_sha256(emu):
    expected = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
    generated = _admin_file(emu, "gemini").removeprefix("files-")
    meta = emu.get(f"/native/gemini/v1beta/files/{generated}", headers=GKEY).json()
    assert meta["sha256Hash"] == expected
    start = emu.post("/native/gemini/upload/v1beta/files", headers={
        **GKEY, "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(len(DATA)), "X-Goog-Upload-Header-Content-Type": "application/jsonl",
    }, json={"file": {"display_name": "in.jsonl"}})
    assert start.status_code == 200, start.text
    done = httpx.post(start.headers["x-goog-upload-url"], content=DATA, headers={
        "X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"})
    assert done.json()["file"]["sha256Hash"] == expected


def test_anthropic_results_are_stored_once_and_go_with_the_batch(emu, clock, tmp_path):
    """An ended batch's results are the same bytes (and ETag) on every request, kept in the state
    directory as served; deleting the batch removes them (and its results answer 404)."""
    url, headers = _results(emu, clock)
    first = emu.get(url, headers=headers)
    second = emu.get(url, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content and first.headers["etag"] == second.headers["etag"]
    assert first.headers["etag"] == '"' + hashlib.sha256(first.content).hexdigest() + '"'
    assert [line["custom_id"] for line in map(json.loads, first.content.splitlines())]
    stored = [p for p in (tmp_path / "state").rglob("*") if p.is_file() and p.read_bytes() == first.content]
    assert len(stored) == 1

    batch_id = url.rsplit("/", 2)[-2]
    assert emu.delete(f"/native/anthropic/v1/messages/batches/{batch_id}", headers=headers).status_code == 200
    assert not stored[0].exists()
    assert not [p for p in (tmp_path / "state").rglob(f"{batch_id}*")]
    assert emu.get(url, headers=headers).status_code == 404
