"""S3 for Bedrock: ``s3://`` URIs and the keys of a job's data, and streaming an object's body."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from typing import Any

from bifrost_cli.errors import (
    UsageError,
)
from bifrost_cli.providers.base import Checksum
from bifrost_cli.providers.bedrock import format as fmt

# ------------------------------------------------------------------------------------------------
# S3 locations


def parse_s3_uri(uri: str, *, what: str = "S3 URI") -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/key`` (the key may be empty)."""
    if not uri.startswith("s3://"):
        raise UsageError(f"{what} {uri!r} is not an s3:// URI", hint="Write it as s3://BUCKET/PREFIX.")
    bucket, _, key = uri[5:].partition("/")
    if not fmt.BUCKET_RE.match(bucket):
        raise UsageError(f"{what} {uri!r}: {bucket!r} is not a valid S3 bucket name")
    return bucket, key


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def basename(key: str) -> str:
    return key.rstrip("/").rsplit("/", 1)[-1]


def output_key(output_uri: str, job_id: str, input_key: str) -> tuple[str, str]:
    """``(bucket, key)`` of the output Bedrock writes for one input file: ``<out>/<job-id>/<name>.out``."""
    bucket, prefix = parse_s3_uri(output_uri, what="the job's output URI")
    return bucket, join_key(prefix, job_id, basename(input_key) + ".out")


def manifest_key(output_uri: str, job_id: str) -> tuple[str, str]:
    bucket, prefix = parse_s3_uri(output_uri, what="the job's output URI")
    return bucket, join_key(prefix, job_id, "manifest.json.out")


def join_key(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


# ------------------------------------------------------------------------------------------------
# streaming helpers


class IterReader(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (what boto3's managed upload reads)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


class S3Download:
    """An open S3 object (``providers.base.Download``'s interface): ``chunks()`` streams its body."""

    def __init__(self, body: Any, size: int | None, filename: str, errors: Callable[[], Any], checksum: Checksum | None = None):
        self._body = body
        self.size = size
        self.filename = filename
        self._errors = errors
        self.checksum = checksum

    def chunks(self) -> Iterator[bytes]:
        with self._errors():
            yield from self._body.iter_chunks(1024 * 1024)

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> S3Download:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def etag_checksum(reply: dict[str, Any]) -> Checksum | None:
    """The MD5 an S3 object's ETag is, for an object uploaded in one part and not encrypted with
    KMS or a customer key (a multipart ETag ends ``-N``; an encrypted one is no MD5 of the bytes)."""
    etag = str(reply.get("ETag") or "").strip().strip('"')
    if reply.get("ServerSideEncryption") == "aws:kms" or reply.get("SSECustomerAlgorithm"):
        return None
    if len(etag) != 32 or any(c not in "0123456789abcdefABCDEF" for c in etag):
        return None
    return Checksum("md5", bytes.fromhex(etag), "S3 ETag")


def env_size(name: str, default: int) -> int:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(f"{name} must be a number of bytes, got {raw!r}")
    return int(raw)
