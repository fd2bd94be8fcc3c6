"""Rules every adapter shares: statuses, file objects, JSONL bodies, ids in paths, and the
"not ended yet" error. (A gateway's "answered with its web page" is in :mod:`.gateway`.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from bifrost_cli.errors import BatchNotEnded, ResponseError
from bifrost_cli.models import Batch, BatchResult, File, RequestCounts

if TYPE_CHECKING:
    from bifrost_cli.http import Response
    from bifrost_cli.http.ranged import Ranged

# Anthropic's processing_status plus what a gateway passes through from other providers.
_RUNNING = {"in_progress", "validating", "finalizing", "pending", "running", "queued"}
_CANCELING = {"canceling", "cancelling"}
_ENDED = {"ended", "completed", "failed", "expired", "cancelled", "canceled", "succeeded"}


def unified_status(native: str | None) -> str:
    value = (native or "").lower()
    if value in _CANCELING:
        return "canceling"
    if value in _ENDED:
        return "ended"
    return "in_progress"


Leftover = Literal["processing", "canceled", "expired", "errored"]
"""Where the requests a provider counts neither as succeeded nor as failed went."""


def counts_with_leftover(succeeded: int, errored: int, leftover: int, bucket: Leftover | None) -> RequestCounts | None:
    """Request counts from a provider that counts the requests that succeeded and those that failed:
    the ones left over go to ``bucket`` (``processing`` while the batch runs; ``canceled``,
    ``expired`` or ``errored`` by how it ended). ``None`` when some are left over and no bucket
    says where they went (then only the results can tell)."""
    if leftover > 0 and bucket is None:
        return None
    buckets = {"succeeded": succeeded, "errored": errored}
    if leftover > 0 and bucket is not None:
        buckets[bucket] = buckets.get(bucket, 0) + leftover
    return RequestCounts(**buckets)


def timestamp(value: Any) -> Any:
    return None if value in ("", 0) else value


def parse_file(data: Any, provider: str) -> File:
    if not isinstance(data, dict) or not data.get("id"):
        raise ResponseError(f"expected a file object, got: {json.dumps(data)[:200]}")
    return File(
        id=str(data["id"]),
        filename=data.get("filename"),
        size_bytes=data.get("size_bytes", data.get("bytes")),
        mime_type=data.get("mime_type") or None,
        purpose=data.get("purpose"),
        created_at=timestamp(data.get("created_at")),
        expires_at=timestamp(data.get("expires_at")),
        downloadable=data.get("downloadable"),
        provider=provider,
    )


def parse_result_line(line: str, *, where: str) -> tuple[dict[str, Any], BatchResult]:
    """Parse one JSONL result line in Anthropic's shape (raw dict and the validated model)."""
    try:
        data = json.loads(line)
        return data, BatchResult.model_validate(data)
    except ValueError as exc:  # json and pydantic errors are both ValueErrors
        raise ResponseError(f"{where}: not a result line: {str(exc).splitlines()[0]}") from None


def iter_jsonl(response: Response | Ranged) -> Iterator[str]:
    with response:
        for line in response.iter_lines():
            if line.strip():
                yield line


def iter_sized_jsonl(response: Ranged, size: int | None, *, what: str) -> Iterator[str]:
    """The non-blank lines of a results file, then a check that as many bytes arrived as its
    metadata says it holds (a file that ends early at a line boundary, without a length or with
    one that matches the cut, is otherwise indistinguishable from a whole one)."""
    from bifrost_cli.errors import TransferIncomplete

    with response:
        for line in response.iter_lines():
            if line.strip():
                yield line
    if size is not None and response.handed != size:
        raise TransferIncomplete(
            f"{what} ended after {response.handed} of its {size} bytes; nothing was saved",
            hint="Run the command again.",
        )


def iter_json_results(response: Ranged, *, where: str) -> Iterator[Any]:
    """The items of ONE JSON document of results (``{"results": [...], ...}`` or a bare list),
    parsed as a stream with ijson: each item is handed on as soon as it has arrived, and memory
    holds one item, not the document. A document cut short is
    :class:`~bifrost_cli.errors.TransferIncomplete`; one that is not JSON, a ResponseError."""
    import ijson  # the C backend (yajl2_c) when it is built, else pure Python

    from bifrost_cli.errors import TransferIncomplete
    from bifrost_cli.http.ranged import ChunkReader

    reader = ChunkReader(response.iter_bytes())
    events = ijson.parse(reader, use_float=True)
    count = 0
    try:
        first = next(events, None)
        if first is None:
            raise ResponseError(f"{where}: the answer is empty, not JSON")
        _, event, _ = first
        if event == "start_array":
            prefix = "item"
        elif event == "start_map":
            prefix = "results.item"
        else:
            raise ResponseError(f"{where}: expected a JSON object with results, got a {event}")
        listed: list[bool] = []

        def watched() -> Iterator[Any]:
            for found in events:
                if found[0] == "results" and found[1] == "start_array":
                    listed.append(True)
                yield found

        for item in ijson.items(watched(), prefix):
            count += 1
            yield item
    except ijson.JSONError as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "premature EOF" in text or "Incomplete" in text:
            raise TransferIncomplete(
                f"{where}: the answer ended before its JSON did, after {count} results; nothing was saved",
                hint="Run the command again.",
            ) from None
        raise ResponseError(f"{where}: not valid JSON after {count} results ({text})") from None
    if prefix == "results.item" and not listed:
        raise ResponseError(f"{where}: the answer has no \"results\" list")


def path_segment(value: str) -> str:
    """An id as one path segment (ids are opaque: they may hold '/' or other characters)."""
    from urllib.parse import quote

    return quote(value, safe="-_.~")


def require_ended(batch: Batch, *, provider: str | None = None, noun: str = "batch", state: str | None = None) -> Batch:
    """``batch`` once it has ended; before that, :class:`~bifrost_cli.errors.BatchNotEnded` (its
    results come only once it ends). ``provider``: named in the hint (``-p openai``); ``state``:
    how the provider says where it stands (default: its status)."""
    if batch.ended:
        return batch
    where = state or f"status {batch.native_status}"
    option = f"-p {provider} " if provider else ""
    raise BatchNotEnded(
        f"{noun} {batch.id} has not ended yet ({where}); results come once it ends",
        hint=f"Run `bifrost {option}batches wait {batch.id}` first.",
    )
