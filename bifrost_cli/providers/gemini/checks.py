"""What ``batches create`` checks of a Gemini batch before sending it, with no I/O (also run by
``batches validate``, so the two never disagree)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from bifrost_cli.errors import UnsupportedError, UsageError
from bifrost_cli.providers.base import SPLIT_HINT

if TYPE_CHECKING:
    from bifrost_cli.config import Settings
    from bifrost_cli.inputs import RequestSet
    from bifrost_cli.providers.base import BatchOptions
    from bifrost_cli.providers.spec import Mode

MAX_FILE_BYTES = 2 * 1024**3  # a Files API file: the batch input when it is not sent inline


def check_options(options: BatchOptions, settings: Settings, mode: Mode) -> None:
    refuse_options(options)


def refuse_options(options: BatchOptions) -> None:
    """Gemini batches keep no metadata and take no timeout."""
    if options.metadata:
        raise UnsupportedError("Gemini batches have no metadata; --metadata cannot be sent", hint="Leave out --metadata.")
    if options.timeout_hours is not None:
        raise UnsupportedError(
            "Gemini batches have no timeout setting (they expire after 48 hours); --timeout-hours cannot be sent",
            hint="Leave out --timeout-hours.",
        )


def check_set(requests: RequestSet, provider: str, mode: Mode) -> None:
    """Format and one model: cheap, run by ``create`` before it looks for an earlier batch."""
    one_model(requests)


def one_model(requests: RequestSet) -> str:
    from bifrost_cli.providers.gemini.format import model_name

    if requests.input_format not in ("anthropic", "gemini"):
        raise UnsupportedError(
            f"{requests.display_name} is in {requests.input_format}'s native format, which gemini cannot run",
            hint=f'Use -p {requests.input_format}, or write the requests in the provider-neutral form {{"custom_id": ..., "params": {{...}}}}.',
        )
    models = sorted({model_name(m) for m in requests.models})
    if len(models) > 1:
        raise UsageError(
            f"a Gemini batch runs one model; {requests.display_name} uses {len(models)}: {', '.join(models)}",
            hint="Split the input into one file per model, or set the same model on every line.",
        )
    return models[0]


def check_model(requests: RequestSet) -> str:
    """Every line translatable and one model for all; returns the model. Nothing is sent."""
    from bifrost_cli.inputs import Problems
    from bifrost_cli.providers.gemini.format import to_gemini_request

    model = one_model(requests)
    problems = Problems(requests.display_name)
    if requests.input_format == "anthropic":
        for line in requests.iter_checked():
            _, found = to_gemini_request(line["params"])
            for problem in found:
                problems.add(requests.line_of(line["custom_id"]), problem)
    problems.raise_any()
    return model


def check_size(requests: RequestSet, size: int) -> None:
    """A batch input over 20 MB goes as a Files API file, which holds at most 2 GB."""
    if size > MAX_FILE_BYTES:
        raise UsageError(
            f"the batch input for {requests.display_name} is {size:,} bytes as Gemini requests; a Gemini batch "
            f"input file holds at most {MAX_FILE_BYTES // 1024**3} GB",
            hint=SPLIT_HINT,
        )


def inline_size(requests: RequestSet) -> int:
    """About the size of the inline create body (the requests as Gemini ``{request, metadata}``
    items): how ``create`` decides between inline (up to ``BIFROST_GEMINI_INLINE_LIMIT``, 20 MB)
    and an uploaded file."""
    from bifrost_cli.providers.gemini.api import request_lines

    size = 40  # the body's frame
    for key, request in request_lines(requests):
        item = {"request": request, "metadata": {"key": key}}
        size += len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()) + 1
    return size


def check_requests(requests: RequestSet, options: BatchOptions, settings: Settings, mode: Mode) -> list[str]:
    """Everything ``create_batch`` refuses of the input before sending (its options:
    :func:`check_options`); returns how it would be sent."""
    from bifrost_cli.providers.gemini.api import inline_limit

    check_model(requests)
    size = inline_size(requests)
    check_size(requests, size)
    limit = inline_limit()
    if size <= limit:
        return [f"sent inline: about {size:,} bytes, within the {limit:,}-byte inline limit"]
    return [f"sent as an uploaded file: about {size:,} bytes, over the {limit:,}-byte inline limit"]
