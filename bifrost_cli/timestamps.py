"""The one timestamp format of every output: RFC 3339 in UTC, to the second (``2026-11-30T05:42:03Z``).

Standard library only: the models, the output layer and the ledger's views all format through
:func:`rfc3339`, whatever the provider gave (an ISO string with an offset or sub-seconds, epoch
seconds, an HTTP date).
"""

from __future__ import annotations

from datetime import UTC, datetime

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_seconds(value: datetime) -> datetime:
    """``value`` in UTC without sub-seconds (a naive time is taken as UTC)."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.replace(microsecond=0)


def rfc3339(value: datetime | float | None) -> str | None:
    """A time (or epoch seconds) as ``YYYY-MM-DDTHH:MM:SSZ``; ``None`` stays ``None``."""
    if value is None:
        return None
    moment = datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else value
    return utc_seconds(moment).strftime(FORMAT)
