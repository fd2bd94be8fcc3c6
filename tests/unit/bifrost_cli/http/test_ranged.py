"""Tests for bifrost_cli.http.ranged: a body that breaks off is resumed with HTTP Range, against a
real loopback server that cuts its answers (the connection closes before the Content-Length is
reached) and records the Range and If-Range headers it is sent."""

from __future__ import annotations

import pytest

from bifrost_cli.errors import TransferIncomplete, UnavailableError
from bifrost_cli.http import HttpClient
from bifrost_cli.http.ranged import open_ranged
from tests.fakes import RangeFile

DATA = b"".join(b'{"custom_id":"r%05d","n":%d}\n' % (i, i) for i in range(10_000))  # ~290 KB of lines
SEAM = 64 * 1024  # where the tests cut answers: past what one socket read holds


def http_for(url: str, sleeps: list[float] | None = None, max_retries: int = 2) -> HttpClient:
    return HttpClient(url, label="the server", max_retries=max_retries, sleep=(sleeps if sleeps is not None else []).append)


def test_a_body_cut_twice_is_resumed_from_the_bytes_handed_on_and_arrives_byte_identical(loopback) -> None:
    served = RangeFile(DATA, cuts=(SEAM + 5000, SEAM + 5000))
    server = loopback(served)
    sleeps: list[float] = []
    with open_ranged(http_for(server.url, sleeps), "/file") as body:
        data = b"".join(body.iter_bytes())
        handed_before = body.resumes
    assert data == DATA
    assert handed_before == 2
    assert len(served.seen) == 3 and served.seen[0] == (None, None)
    first, second = (int(r.removeprefix("bytes=").rstrip("-")) for r, _ in served.seen[1:])  # type: ignore[union-attr]
    assert (first, second) == (SEAM + 5000, 2 * (SEAM + 5000))  # from the bytes that arrived: nothing asked for twice, nothing skipped
    assert [if_range for _, if_range in served.seen[1:]] == ['"v1"', '"v1"']  # only if the file is the same
    assert len(sleeps) == 2  # the one retry policy's backoff between attempts


def test_lines_read_across_a_resume_are_each_seen_once(loopback) -> None:
    served = RangeFile(DATA, cuts=(SEAM + 12_345,))
    assert DATA[SEAM + 12_344 : SEAM + 12_346].count(b"\n") == 0  # the seam falls in the middle of a line
    server = loopback(served)
    with open_ranged(http_for(server.url), "/file") as body:
        lines = list(body.iter_lines())
    assert lines == DATA.decode().splitlines()
    assert served.seen[1][0] == f"bytes={SEAM + 12_345}-"


def test_a_server_that_ignores_range_after_bytes_were_handed_on_is_refused(loopback) -> None:
    served = RangeFile(DATA, cuts=(70_000,), ignore_range=True)
    server = loopback(served)
    got = bytearray()
    with pytest.raises(TransferIncomplete) as info, open_ranged(http_for(server.url), "/file") as body:
        for chunk in body.iter_bytes():
            got += chunk
    assert info.value.exit_code == 6
    assert "sent the whole body again" in info.value.message
    assert served.seen[1][0] is not None  # it was asked for the rest, and answered 200 with everything
    assert DATA.startswith(bytes(got))  # nothing of the second answer was handed on


def test_a_restart_before_anything_was_handed_on_starts_cleanly(loopback) -> None:
    served = RangeFile(DATA, cuts=(0,), ignore_range=True)  # cut before any byte of the body
    server = loopback(served)
    with open_ranged(http_for(server.url), "/file") as body:
        assert body.read() == DATA


def test_a_content_range_that_does_not_continue_is_refused(loopback) -> None:
    served = RangeFile(DATA, cuts=(70_000,), content_range="bytes 0-99/100")
    server = loopback(served)
    with pytest.raises(TransferIncomplete) as info, open_ranged(http_for(server.url), "/file") as body:
        body.read()
    assert "does not continue from there" in info.value.message


@pytest.mark.parametrize(
    ("etag", "accept_ranges"), [(None, None), (None, "none"), ('"v1"', "none")], ids=["nothing-said", "no-ranges", "etag-but-none"]
)
def test_no_resume_where_the_server_did_not_offer_ranges(loopback, etag: str | None, accept_ranges: str | None) -> None:
    served = RangeFile(DATA, cuts=(70_000,), etag=etag, accept_ranges=accept_ranges)
    server = loopback(served)
    with pytest.raises(UnavailableError), open_ranged(http_for(server.url), "/file") as body:
        body.read()
    assert len(served.seen) == 1


def test_an_etag_alone_is_enough_to_resume(loopback) -> None:
    served = RangeFile(DATA, cuts=(70_000,), accept_ranges=None)
    server = loopback(served)
    with open_ranged(http_for(server.url), "/file") as body:
        assert body.read() == DATA
    assert served.seen[1] == ("bytes=70000-", '"v1"')


def test_a_weak_etag_is_never_sent_as_if_range(loopback) -> None:
    served = RangeFile(DATA, cuts=(70_000,), etag='W/"v1"')
    server = loopback(served)
    with open_ranged(http_for(server.url), "/file") as body:
        assert body.read() == DATA
    assert served.seen[1][1] is None


def test_without_a_strong_etag_the_last_modified_date_is_the_if_range(loopback) -> None:
    date = "Thu, 01 Jan 2026 00:00:00 GMT"
    served = RangeFile(DATA, cuts=(70_000,), etag=None, last_modified=date)
    server = loopback(served)
    with open_ranged(http_for(server.url), "/file") as body:
        assert body.read() == DATA
    assert served.seen[1] == ("bytes=70000-", date)


def test_resumes_are_bounded_by_the_retry_policy(loopback) -> None:
    served = RangeFile(DATA, cuts=(70_000, 1, 1, 1, 1, 1))  # it never gets further
    server = loopback(served)
    sleeps: list[float] = []
    with pytest.raises(UnavailableError), open_ranged(http_for(server.url, sleeps, max_retries=2), "/file") as body:
        body.read()
    assert len(served.seen) == 3  # the first answer, and two resumes
    assert len(sleeps) == 2
