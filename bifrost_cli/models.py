"""The unified, provider-neutral view: files, batches, request counts and results.

Adapters translate each target's wire format into these models; the output layer renders them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from bifrost_cli.timestamps import rfc3339, utc_seconds

# Unified processing status: every native status maps onto one of these three.
Status = Literal["in_progress", "canceling", "ended"]
ResultType = Literal["succeeded", "errored", "canceled", "expired"]
RESULT_TYPES: tuple[str, ...] = ("succeeded", "errored", "canceled", "expired")

# Every time a model holds: UTC, whole seconds, written as RFC 3339 (``2026-11-30T05:42:03Z``)
# whatever the provider sent (epoch seconds, an offset, sub-seconds).
Timestamp = Annotated[datetime, AfterValidator(utc_seconds), PlainSerializer(rfc3339, return_type=str, when_used="json")]

# Native statuses that end a batch as a whole without its requests having run to completion.
WHOLE_BATCH_FAILURES = frozenset({"failed", "expired", "cancelled", "canceled", "stopped"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class File(_Model):
    """A stored file at a provider (or behind a gateway)."""

    id: str
    filename: str | None = None
    size_bytes: int | None = None
    mime_type: str | None = None
    purpose: str | None = None
    created_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    downloadable: bool | None = None
    provider: str | None = None
    status: str | None = None
    """The provider's own processing state where it gives one (OpenAI ``processed``/``error``,
    Gemini ``ACTIVE``/``FAILED``)."""
    error: str | None = None
    """Why the provider could not process the file (OpenAI ``status_details``, Gemini ``error``)."""

    @property
    def failed(self) -> bool:
        return (self.status or "").lower() in ("error", "failed")


class DeletedFile(_Model):
    id: str
    deleted: bool = True


class DeletedBatch(_Model):
    id: str
    deleted: bool = True


class Usage(_Model):
    """Tokens a batch used, as its provider reports them (OpenAI's batch ``usage``)."""

    input_tokens: int = 0
    cached_tokens: int = 0
    """Of the input tokens, those read from the prompt cache."""
    output_tokens: int = 0
    reasoning_tokens: int = 0
    """Of the output tokens, those spent reasoning."""
    total_tokens: int = 0


class RequestCounts(_Model):
    """Request counts in Anthropic's five buckets; they always add up to the total."""

    processing: int = 0
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0

    @property
    def total(self) -> int:
        return self.processing + self.succeeded + self.errored + self.canceled + self.expired

    @property
    def not_succeeded(self) -> int:
        return self.errored + self.canceled + self.expired


class Batch(_Model):
    """A batch job in the unified view.

    ``status`` is the unified status; ``native_status`` is what the target said (``finalizing``,
    ``failed``, ``Completed``...). ``request_counts`` is ``None`` when the target did not say.
    """

    id: str
    provider: str | None = None
    status: Status
    native_status: str | None = None
    request_counts: RequestCounts | None = None
    created_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    cancel_initiated_at: Timestamp | None = None
    results_url: str | None = None
    message: str | None = None
    usage: Usage | None = None
    """Tokens used, where the target reports them for the batch as a whole."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Target-specific facts worth showing (input/output file ids, endpoint, job ARN...)."""
    counts_need_results: bool = Field(default=False, exclude=True)
    """The target's counts leave requests unexplained, so ``request_counts`` is ``None`` and only
    the results can say how each request ended (``batches get`` counts them, as ``wait`` does)."""

    no_requests: bool = Field(default=False, exclude=True)
    """The batch ended with no requests at all: zero counts, and its results (read) hold none."""

    @property
    def ended(self) -> bool:
        return self.status == "ended"

    @property
    def failed_as_whole(self) -> bool:
        """True when the batch itself failed, expired or was canceled (not just some requests)."""
        return self.ended and (self.native_status or "").lower() in WHOLE_BATCH_FAILURES

    @property
    def fully_succeeded(self) -> bool | None:
        """Whether every request succeeded; ``None`` when the counts cannot tell."""
        if not self.ended:
            return False
        if self.failed_as_whole:
            return False
        counts = self.request_counts
        if counts is not None and counts.total == 0 and self.no_requests:
            return True  # nothing was asked, so nothing failed
        if counts is None or counts.total == 0:
            return None
        return counts.not_succeeded == 0 and counts.processing == 0


class ResultError(_Model):
    """Anthropic's error envelope, as found in an ``errored`` result."""

    model_config = ConfigDict(extra="allow")

    type: str = "error"
    error: dict[str, Any] = Field(default_factory=dict)


class ResultBody(_Model):
    model_config = ConfigDict(extra="allow")

    type: ResultType
    message: dict[str, Any] | None = None
    error: ResultError | None = None


class BatchResult(_Model):
    """One normalized result line: Anthropic's ``MessageBatchIndividualResponse`` shape."""

    custom_id: str
    result: ResultBody

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def counts_from_results(types: Mapping[str, int]) -> RequestCounts:
    """Request counts from a tally of result types (used when a target gives no counts)."""
    return RequestCounts(**{t: types.get(t, 0) for t in RESULT_TYPES})
