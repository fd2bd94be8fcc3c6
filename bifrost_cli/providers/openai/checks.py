"""What ``batches create`` checks of an OpenAI batch before sending it, with no I/O (also run by
``batches validate``, so the two never disagree)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bifrost_cli.errors import UnsupportedError, UsageError
from bifrost_cli.providers.base import SPLIT_HINT, require_format

if TYPE_CHECKING:
    from bifrost_cli.config import Settings
    from bifrost_cli.inputs import RequestSet
    from bifrost_cli.providers.base import BatchOptions
    from bifrost_cli.providers.spec import Mode

MAX_BATCH_REQUESTS = 50_000
MAX_BATCH_INPUT_BYTES = 200 * 1000 * 1000
MAX_METADATA_KEYS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 16, 64, 512


def check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """OpenAI's limits on a batch's metadata (16 keys of up to 64 characters, values up to 512)."""
    if len(metadata) > MAX_METADATA_KEYS:
        raise UsageError(f"--metadata: OpenAI takes at most {MAX_METADATA_KEYS} keys, got {len(metadata)}")
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY:
            raise UsageError(f"--metadata {key[:20]}...: keys are at most {MAX_METADATA_KEY} characters")
        if len(value) > MAX_METADATA_VALUE:
            raise UsageError(f"--metadata {key}: values are at most {MAX_METADATA_VALUE} characters")
    return metadata


def check_options(options: BatchOptions, settings: Settings, mode: Mode) -> None:
    check_metadata(options.metadata)


def check_set(requests: RequestSet, provider: str, mode: Mode) -> None:
    """Format, count and one model: cheap, run by ``create`` before it looks for an earlier batch."""
    check_request_set(requests, None)


def check_request_set(requests: RequestSet, options: BatchOptions | None) -> dict[str, str]:
    """Format, options, count and one model: what is refused before the input is translated.
    Returns the metadata to send."""
    require_format(requests, "openai", "openai")
    if options is not None and options.timeout_hours is not None:
        raise UnsupportedError(
            "OpenAI batches have no timeout setting (their completion window is 24 hours); "
            "--timeout-hours cannot be sent",
            hint="Leave out --timeout-hours.",
        )
    metadata = check_metadata(options.metadata) if options is not None else {}
    if requests.count > MAX_BATCH_REQUESTS:
        raise UsageError(
            f"{requests.display_name} has {requests.count:,} requests; an OpenAI batch holds at most {MAX_BATCH_REQUESTS:,}",
            hint=SPLIT_HINT,
        )
    if len(requests.models) > 1:
        raise UnsupportedError(
            f"{requests.display_name} uses {len(requests.models)} models ({', '.join(sorted(requests.models))}); "
            "an OpenAI batch input file targets one model",
            hint="Split the input into one file per model.",
        )
    return metadata


def check_size(requests: RequestSet, size: int) -> None:
    """The batch input file, as OpenAI JSONL, within OpenAI's 200 MB."""
    if size > MAX_BATCH_INPUT_BYTES:
        raise UsageError(
            f"the batch input for {requests.display_name} is {size:,} bytes as OpenAI JSONL; "
            f"OpenAI takes at most {MAX_BATCH_INPUT_BYTES // 1_000_000} MB",
            hint=SPLIT_HINT,
        )


def check_requests(requests: RequestSet, options: BatchOptions, settings: Settings, mode: Mode) -> None:
    """Everything ``create_batch`` refuses before sending: :func:`check_request_set`, then every
    line translated (:func:`~bifrost_cli.providers.openai.format.check_input`), then the size."""
    from bifrost_cli.providers.openai import format as openai_format

    check_request_set(requests, options)
    checked = openai_format.check_input(requests)
    check_size(requests, checked.size)
