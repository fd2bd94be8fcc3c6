"""Complete or refused: ``files download`` and ``batches results`` against Anthropic's API on a real
loopback server whose answers end early (at a line boundary, with no length or a length that lies),
break off and resume with Range, or ignore the range. What a user sees: the exit code, the message,
and what is (not) at the destination."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.fakes import ANTHROPIC_KEY, ENDED_BATCH, RESULT_LINE, RangeFile, send_json

DATA = bytes(range(256)) * 1000  # 256,000 bytes
META = {
    "id": "file_1",
    "type": "file",
    "filename": "data.bin",
    "size_bytes": len(DATA),
    "mime_type": "application/octet-stream",
    "downloadable": True,
    "created_at": "2026-01-01T00:00:00Z",
}
THREE = RESULT_LINE.replace(b'"a"', b'"r1"') + RESULT_LINE.replace(b'"a"', b'"r2"') + RESULT_LINE.replace(b'"a"', b'"r3"')


def api(
    content: Callable[[BaseHTTPRequestHandler], None] | None = None,
    results: Callable[[BaseHTTPRequestHandler], None] | None = None,
    meta: dict | None = None,
) -> Callable[[BaseHTTPRequestHandler], None]:
    """Anthropic's API: one file (``META``) and one ended batch of 3 requests."""

    def route(h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        if path == "/v1/files/file_1":
            send_json(h, meta or META)
        elif path == "/v1/files/file_1/content" and content is not None:
            content(h)
        elif path == "/v1/messages/batches/msgbatch_1":
            send_json(h, ENDED_BATCH)
        elif path == "/v1/messages/batches/msgbatch_1/results" and results is not None:
            results(h)
        else:
            send_json(h, {"type": "error", "error": {"type": "not_found_error", "message": path}}, 404)

    return route


def env(server) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": ANTHROPIC_KEY}


def body(data: bytes, *, length: int | None, content_type: str = "application/binary") -> Callable[[BaseHTTPRequestHandler], None]:
    """An answer that sends ``data`` and closes: announced with ``length`` (which may lie), or none."""

    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("content-type", content_type)
        if length is not None:
            h.send_header("content-length", str(length))
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()
        h.close_connection = True

    return answer


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- batches results -------------------------------------------------------------------------------

CUT_RESULTS = {
    "no-length": body(RESULT_LINE, length=None),  # ends early at a line boundary; nothing says how long it was
    "length-of-the-cut": body(RESULT_LINE, length=len(RESULT_LINE)),  # a Content-Length that matches the cut
    "length-not-reached": body(RESULT_LINE, length=len(THREE)),  # a Content-Length the body never reaches
}


@pytest.mark.parametrize("answer", list(CUT_RESULTS), ids=list(CUT_RESULTS))
def test_results_cut_short_are_exit_6_and_nothing_in_place(loopback, tmp_path: Path, answer: str) -> None:
    server = loopback(api(results=CUT_RESULTS[answer]))
    out = tmp_path / "results.jsonl"
    result = invoke("--max-retries", "0", "batches", "results", "msgbatch_1", "-o", str(out), env=env(server))
    assert result.exit_code == 6, (result.stderr, result.exception)
    assert "nothing was saved" in result.stderr and "internal error" not in result.stderr
    assert names(tmp_path) == []  # no file at the destination, no temporary file left


def test_results_with_allow_partial_keep_what_arrived_as_partial(loopback, tmp_path: Path) -> None:
    server = loopback(api(results=CUT_RESULTS["no-length"]))
    out = tmp_path / "results.jsonl"
    result = invoke("batches", "results", "msgbatch_1", "-o", str(out), "--allow-partial", env=env(server))
    assert result.exit_code == 6  # still an error: a CI job must not go on with a third of the results
    assert "only 1 result lines of msgbatch_1 arrived, but the batch has 3 requests" in result.stderr
    assert f"are in {out}.partial" in result.stderr
    assert names(tmp_path) == ["results.jsonl.partial"]
    assert (tmp_path / "results.jsonl.partial").read_bytes().count(b"\n") == 1


def test_results_cut_short_on_stdout_say_how_much_was_written(loopback) -> None:
    server = loopback(api(results=CUT_RESULTS["no-length"]))
    result = invoke("batches", "results", "msgbatch_1", env=env(server))
    assert result.exit_code == 6
    assert result.stdout.count("\n") == 1  # stdout cannot take back what it was given
    assert "the 1 result lines that arrived were written to stdout" in result.stderr


def test_complete_results_are_written(loopback, tmp_path: Path) -> None:
    server = loopback(api(results=body(THREE, length=len(THREE))))
    out = tmp_path / "results.jsonl"
    result = invoke("batches", "results", "msgbatch_1", "-o", str(out), env=env(server))
    assert result.exit_code == 0, result.stderr
    assert [json.loads(x)["custom_id"] for x in out.read_text().splitlines()] == ["r1", "r2", "r3"]
    assert names(tmp_path) == ["results.jsonl"]


def test_results_that_break_off_without_range_are_fetched_again_from_the_start(loopback, tmp_path: Path) -> None:
    answers = [body(RESULT_LINE, length=len(THREE)), body(THREE, length=len(THREE))]  # broken, then whole
    served: list[int] = []

    def results(h: BaseHTTPRequestHandler) -> None:
        served.append(1)
        answers[min(len(served), len(answers)) - 1](h)

    server = loopback(api(results=results))
    out = tmp_path / "results.jsonl"
    result = invoke("batches", "results", "msgbatch_1", "-o", str(out), env=env(server))
    assert result.exit_code == 0, result.stderr
    assert [json.loads(x)["custom_id"] for x in out.read_text().splitlines()] == ["r1", "r2", "r3"]  # each once
    assert "fetched again from the start 1x" in result.stderr
    assert names(tmp_path) == ["results.jsonl"]


def test_results_fetched_again_at_most_max_retries_times(loopback, tmp_path: Path) -> None:
    served: list[int] = []

    def results(h: BaseHTTPRequestHandler) -> None:
        served.append(1)
        body(RESULT_LINE, length=len(THREE))(h)  # breaks off every time

    server = loopback(api(results=results))
    out = tmp_path / "results.jsonl"
    result = invoke("--max-retries", "1", "batches", "results", "msgbatch_1", "-o", str(out), env=env(server))
    assert result.exit_code == 6
    assert len(served) == 2  # the first fetch, then one more from the start
    assert names(tmp_path) == []


def test_results_that_break_off_are_resumed_with_range(loopback, tmp_path: Path) -> None:
    lines = b"".join(RESULT_LINE.replace(b'"a"', b'"r%d"' % i) for i in range(3))
    many = ENDED_BATCH | {"request_counts": {"processing": 0, "succeeded": 3, "errored": 0, "canceled": 0, "expired": 0}}
    served = RangeFile(lines, cuts=(len(RESULT_LINE) + 5,))
    server = loopback(lambda h: served(h) if h.path.endswith("/results") else send_json(h, many))
    out = tmp_path / "results.jsonl"
    result = invoke("batches", "results", "msgbatch_1", "-o", str(out), env=env(server))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == lines
    assert served.seen[1][0] is not None  # the rest was asked for with Range


# -- files download --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [body(DATA[:100_000], length=None, content_type="application/octet-stream"),
     body(DATA[:100_000], length=100_000, content_type="application/octet-stream")],
    ids=["no-length", "length-of-the-cut"],
)
def test_a_download_shorter_than_the_file_is_exit_6_and_nothing_in_place(loopback, tmp_path: Path, answer) -> None:
    server = loopback(api(content=answer))
    out = tmp_path / "data.bin"
    result = invoke("files", "download", "file_1", "-o", str(out), env=env(server))
    assert result.exit_code == 6, (result.stderr, result.exception)
    assert f"ended after only 100000 bytes, but the file holds {len(DATA)}" in result.stderr
    assert names(tmp_path) == []


def test_a_download_with_allow_partial_keeps_what_arrived(loopback, tmp_path: Path) -> None:
    server = loopback(api(content=body(DATA[:100_000], length=None, content_type="application/octet-stream")))
    out = tmp_path / "data.bin"
    result = invoke("files", "download", "file_1", "-o", str(out), "--allow-partial", env=env(server))
    assert result.exit_code == 6
    assert names(tmp_path) == ["data.bin.partial"]
    assert (tmp_path / "data.bin.partial").read_bytes() == DATA[:100_000]


def test_a_download_cut_short_on_stdout_says_how_much_was_written(loopback) -> None:
    server = loopback(api(content=body(DATA[:100_000], length=None, content_type="application/octet-stream")))
    result = invoke("files", "download", "file_1", "-o", "-", env=env(server))
    assert result.exit_code == 6
    assert len(result.stdout_bytes) == 100_000
    assert "the 100000 bytes that arrived were written to stdout" in result.stderr


def test_a_download_reset_mid_body_is_resumed_with_range_and_byte_identical(loopback, tmp_path: Path) -> None:
    served = RangeFile(DATA, cuts=(150_000,))
    server = loopback(api(content=served))
    out = tmp_path / "data.bin"
    result = invoke("files", "download", "file_1", "-o", str(out), env=env(server))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == DATA
    wanted, if_range = served.seen[1]
    assert wanted is not None and wanted.startswith("bytes=") and 0 < int(wanted[6:-1]) <= 150_000
    assert if_range == '"v1"'
    assert names(tmp_path) == ["data.bin"]


def test_a_server_ignoring_range_after_bytes_were_written_is_a_clean_error(loopback, tmp_path: Path) -> None:
    served = RangeFile(DATA, cuts=(150_000,), ignore_range=True)
    server = loopback(api(content=served))
    out = tmp_path / "data.bin"
    result = invoke("files", "download", "file_1", "-o", str(out), env=env(server))
    assert result.exit_code == 6, (result.stderr, result.exception)
    assert "sent the whole body again instead of the rest" in result.stderr
    assert "internal error" not in result.stderr
    assert names(tmp_path) == []


def test_a_planted_part_symlink_is_never_written_through(loopback, tmp_path: Path) -> None:
    server = loopback(api(content=RangeFile(DATA)))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").symlink_to(victim)
    (tmp_path / "data.bin.partial").symlink_to(victim)
    result = invoke("files", "download", "file_1", "-o", str(out), env=env(server))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == DATA
    assert victim.read_text() == "precious"


def test_a_partial_file_replaces_a_planted_link_instead_of_following_it(loopback, tmp_path: Path) -> None:
    server = loopback(api(content=body(DATA[:1000], length=None, content_type="application/octet-stream")))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "data.bin.partial").symlink_to(victim)
    result = invoke("files", "download", "file_1", "-o", str(tmp_path / "data.bin"), "--allow-partial", env=env(server))
    assert result.exit_code == 6
    assert victim.read_text() == "precious"
    assert not (tmp_path / "data.bin.partial").is_symlink()
    assert (tmp_path / "data.bin.partial").read_bytes() == DATA[:1000]


def test_a_downloaded_file_has_the_mode_of_any_new_file(loopback, tmp_path: Path) -> None:
    server = loopback(api(content=RangeFile(DATA)))
    old = os.umask(0o027)
    try:
        result = invoke("files", "download", "file_1", "-o", str(tmp_path / "data.bin"), env=env(server))
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "data.bin").stat().st_mode & 0o777 == 0o640
