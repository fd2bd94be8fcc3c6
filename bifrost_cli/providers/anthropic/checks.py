"""What ``batches create`` checks of an Anthropic batch before sending it, with no I/O (also run by
``batches validate``, so the two never disagree)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bifrost_cli.errors import UsageError
from bifrost_cli.providers.base import SPLIT_HINT, require_format

if TYPE_CHECKING:
    from bifrost_cli.config import Settings
    from bifrost_cli.inputs import RequestSet
    from bifrost_cli.providers.base import BatchOptions
    from bifrost_cli.providers.spec import Mode

MAX_BATCH_REQUESTS = 100_000
MAX_BATCH_BYTES = 256 * 1000 * 1000  # the create body ({"requests": [...]})


def check_options(options: BatchOptions, settings: Settings, mode: Mode) -> None:
    """Nothing of Anthropic's own: --metadata and --timeout-hours are refused by the spec's tables."""


def check_set(requests: RequestSet, provider: str, mode: Mode) -> None:
    """The input's format, and Anthropic's limits on one batch (100,000 requests, 256 MB): cheap,
    run by ``create`` before it looks for an earlier batch."""
    require_format(requests, "anthropic", provider)
    check_size(requests)


def check_requests(requests: RequestSet, options: BatchOptions, settings: Settings, mode: Mode) -> None:
    """Nothing beyond :func:`check_set`: Anthropic takes the provider-neutral requests as they are."""


def check_size(requests: RequestSet) -> int:
    """The create body's size; refused over Anthropic's limits, with the numbers and the hint."""
    from bifrost_cli.providers.anthropic.api import batch_length

    if requests.count > MAX_BATCH_REQUESTS:
        raise UsageError(
            f"{requests.display_name} has {requests.count:,} requests; an Anthropic batch holds at most {MAX_BATCH_REQUESTS:,}",
            hint=SPLIT_HINT,
        )
    size = batch_length(requests)
    if size > MAX_BATCH_BYTES:
        raise UsageError(
            f"the batch body for {requests.display_name} is {size:,} bytes; Anthropic takes at most "
            f"{MAX_BATCH_BYTES // 1_000_000} MB per batch",
            hint=SPLIT_HINT,
        )
    return size
