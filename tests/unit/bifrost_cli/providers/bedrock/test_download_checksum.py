"""Direct Bedrock downloads (S3 GetObject with boto3, against a loopback S3): the bytes must be as
many as the object holds and, for an object stored in one part, have the MD5 its ETag is."""

from __future__ import annotations

import hashlib
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from bifrost_cli import service
from bifrost_cli.errors import TransferIncomplete
from bifrost_cli.providers import build_target
from tests.fakes import settings

pytest.importorskip("boto3")

DATA = b"record line\n" * 5000


def s3(content: bytes, etag: str):
    """S3 serving one object: its ``content`` under the ``etag`` it claims."""

    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("content-type", "application/octet-stream")
        h.send_header("content-length", str(len(content)))
        h.send_header("etag", etag)
        h.send_header("last-modified", "Thu, 01 Jan 2026 00:00:00 GMT")
        h.end_headers()
        if h.command == "GET":
            h.wfile.write(content)

    return route


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    def point_at(url: str) -> None:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": url, "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        }.items():
            monkeypatch.setenv(name, value)

    return point_at


def download(tmp_path: Path, dest: Path):
    target = build_target(settings(tmp_path, provider="bedrock", region="us-east-1", max_retries=0))
    return service.download_file(target, "s3://bucket/data.bin", output=str(dest))


def test_an_object_whose_bytes_do_not_match_its_single_part_etag_is_refused(loopback, aws, tmp_path: Path) -> None:
    server = loopback(s3(DATA.replace(b"line", b"LINE"), f'"{hashlib.md5(DATA).hexdigest()}"'))
    aws(server.url)
    dest = tmp_path / "out" / "data.bin"
    dest.parent.mkdir()
    with pytest.raises(TransferIncomplete) as info:
        download(tmp_path, dest)
    assert info.value.exit_code == 6 and "does not match its S3 ETag" in info.value.message
    assert list(dest.parent.iterdir()) == []


@pytest.mark.parametrize("etag", ["md5", "multipart"])
def test_an_object_that_matches_or_has_no_md5_etag_is_saved(loopback, aws, tmp_path: Path, etag: str) -> None:
    value = f'"{hashlib.md5(DATA).hexdigest()}"' if etag == "md5" else '"0123456789abcdef0123456789abcdef-2"'
    server = loopback(s3(DATA, value))
    aws(server.url)
    dest = tmp_path / "data.bin"
    assert download(tmp_path, dest).bytes == len(DATA)
    assert dest.read_bytes() == DATA
