"""A finished job's data in S3, read the same way directly (boto3) and through the gateway's
``/bedrock/files`` routes: its input files, the output Bedrock wrote for each, and its manifest.

Each adapter supplies an :class:`ObjectStore` (three reads); the rules of where Bedrock puts what
are written once, here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Protocol

from bifrost_cli.errors import BifrostError, ResponseError
from bifrost_cli.models import Batch
from bifrost_cli.providers.bedrock import format as fmt
from bifrost_cli.providers.bedrock.jobs import job_counts, record_ids
from bifrost_cli.providers.bedrock.s3 import manifest_key, output_key, parse_s3_uri, s3_uri


class ObjectStore(Protocol):
    def lines(self, bucket: str, key: str) -> Iterator[str]:
        """The non-blank lines of an object, streamed."""
        ...

    def exists(self, bucket: str, key: str) -> bool: ...

    def keys(self, bucket: str, prefix: str) -> Iterator[str]:
        """Every key under ``prefix``."""
        ...


def _config_uri(job: dict[str, Any], config: str, inner: str) -> str:
    outer = job.get(config)
    uri = (outer.get(inner) or {}).get("s3Uri") if isinstance(outer, dict) else None
    if not isinstance(uri, str) or not uri:
        raise ResponseError(
            f"the job {job.get('jobArn')} does not say where its data is ({config} is missing from the answer)"
        )
    return uri


def job_inputs(store: ObjectStore, job: dict[str, Any]) -> list[tuple[str, str]]:
    """``(bucket, key)`` of every input file of a job (one file, or each ``.jsonl`` under a prefix)."""
    bucket, key = parse_s3_uri(_config_uri(job, "inputDataConfig", "s3InputDataConfig"), what="the job's input URI")
    if key.endswith(".jsonl"):
        return [(bucket, key)]
    return [(bucket, k) for k in store.keys(bucket, key) if k.endswith(".jsonl")]


def job_outputs(store: ObjectStore, job: dict[str, Any], batch_id: str) -> Iterator[tuple[list[str], Iterator[dict[str, Any]]]]:
    """For each input file: its record ids and its output records (nothing when Bedrock wrote none)."""
    out_uri = _config_uri(job, "outputDataConfig", "s3OutputDataConfig")
    job_id = fmt.job_id_of(job["jobArn"])
    for bucket, key in job_inputs(store, job):
        ids = record_ids(store.lines(bucket, key))
        out_bucket, out_key = output_key(out_uri, job_id, key)
        exists = store.exists(out_bucket, out_key)
        yield ids, _records(store, out_bucket, out_key, batch_id) if exists else iter(())


def _records(store: ObjectStore, bucket: str, key: str, batch_id: str) -> Iterator[dict[str, Any]]:
    for n, line in enumerate(store.lines(bucket, key), 1):
        try:
            yield json.loads(line)
        except ValueError:
            raise ResponseError(f"output of {batch_id} ({s3_uri(bucket, key)}), line {n}: not JSON") from None


def counts_from_manifest(store: ObjectStore, job: dict[str, Any], batch: Batch) -> Batch:
    """An ended job's counts from the ``manifest.json.out`` Bedrock writes beside its output
    (the job itself reports none); the batch unchanged when the manifest cannot be read."""
    out = batch.details.get("output")
    if not out:
        return batch
    try:
        bucket, key = manifest_key(out, fmt.job_id_of(batch.id))
        manifest = json.loads("".join(store.lines(bucket, key)))
    except (BifrostError, ValueError):
        return batch
    if not isinstance(manifest, dict):
        return batch
    counts = job_counts({**manifest, "status": job.get("status")})
    return batch if counts is None else batch.model_copy(update={"request_counts": counts})
