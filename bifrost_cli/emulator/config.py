"""Configuration of the emulator (no third-party imports at module level)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ENV_STATE_DIR = "BIFROST_EMULATOR_STATE_DIR"
ENV_BATCH_SECONDS = "BIFROST_EMULATOR_BATCH_SECONDS"
ENV_VIRTUAL_KEY = "BIFROST_EMULATOR_VIRTUAL_KEY"
ENV_FLAKY_EVERY = "BIFROST_EMULATOR_FLAKY_EVERY"
ENV_LEGACY_GATEWAY = "BIFROST_EMULATOR_LEGACY_GATEWAY"
ENV_GEMINI_API_KEY = "BIFROST_EMULATOR_GEMINI_API_KEY"
ENV_FAULTS = "BIFROST_EMULATOR_FAULTS"
ENV_CLOCK_OFFSET = "BIFROST_EMULATOR_CLOCK_OFFSET"

_TRUE = {"1", "true", "yes", "on"}


def default_state_dir() -> Path:
    """Where the emulator keeps its files and batches when no state directory is given."""
    import platformdirs

    return platformdirs.user_data_path("bifrost-cli") / "emulator"


@dataclass
class EmulatorConfig:
    """Settings of one emulator instance.

    Everything the emulator stores lives under ``state_dir``; several processes pointed at the same
    directory see the same files and batches.
    """

    state_dir: Path
    batch_seconds: float = 8.0
    """A batch ends about this many seconds after its creation."""
    virtual_key: str | None = None
    """Gateway routes: when set, this key is required (401 otherwise)."""
    anthropic_api_key: str | None = None
    """``/native/anthropic`` routes: when set, this key is required; when None any non-empty key works."""
    gemini_api_key: str | None = None
    """``/native/gemini`` routes: when set, another key answers 400 API_KEY_INVALID; when None any key works."""
    flaky_every: int = 0
    """When N > 0, every Nth request answers 503 ``overloaded_error`` with ``retry-after: 0``."""
    legacy_gateway: bool = False
    """Reproduce the gateway before its file-route fix (PR #6765)."""
    faults: list[str] = field(default_factory=list)
    """Fault rules armed at start (see :mod:`bifrost_cli.emulator.faults`); checked when the config is made."""
    clock: Callable[[], float] = field(default=time.time)
    """Returns the current time in epoch seconds; batch progress is computed from it."""
    clock_offset: float = 0.0
    """Seconds added to the clock (negative: the past), so that files and batches made now can be
    dated days ago, to try ``files prune --older-than`` and ``batches prune`` on them."""

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        if self.batch_seconds < 0:
            raise ValueError("batch_seconds must not be negative")
        if self.flaky_every < 0:
            raise ValueError("flaky_every must not be negative")
        if not math.isfinite(self.clock_offset):
            raise ValueError("clock_offset must be a finite number of seconds")
        from .faults import parse_rules

        self.faults = list(self.faults)
        parse_rules(self.faults)  # a bad rule: ValueError naming it

    @classmethod
    def from_env(cls, state_dir: Path | None = None) -> EmulatorConfig:
        """Build a configuration from ``BIFROST_EMULATOR_*`` environment variables.

        ``state_dir`` wins over ``BIFROST_EMULATOR_STATE_DIR``, which wins over :func:`default_state_dir`.
        """
        env = os.environ
        if state_dir is None:
            raw_dir = env.get(ENV_STATE_DIR, "").strip()
            state_dir = Path(raw_dir).expanduser() if raw_dir else default_state_dir()
        kwargs: dict = {"state_dir": Path(state_dir)}
        raw = env.get(ENV_BATCH_SECONDS, "").strip()
        if raw:
            try:
                kwargs["batch_seconds"] = float(raw)
            except ValueError:
                raise ValueError(f"{ENV_BATCH_SECONDS} must be a number of seconds, not {raw!r}") from None
        raw = env.get(ENV_VIRTUAL_KEY, "").strip()
        if raw:
            kwargs["virtual_key"] = raw
        raw = env.get(ENV_FLAKY_EVERY, "").strip()
        if raw:
            try:
                kwargs["flaky_every"] = int(raw)
            except ValueError:
                raise ValueError(f"{ENV_FLAKY_EVERY} must be an integer, not {raw!r}") from None
        kwargs["legacy_gateway"] = env.get(ENV_LEGACY_GATEWAY, "").strip().lower() in _TRUE
        raw = env.get(ENV_GEMINI_API_KEY, "").strip()
        if raw:
            kwargs["gemini_api_key"] = raw
        raw = env.get(ENV_FAULTS, "").strip()
        if raw:
            from .faults import split_rules

            kwargs["faults"] = split_rules(raw)
        raw = env.get(ENV_CLOCK_OFFSET, "").strip()
        if raw:
            try:
                kwargs["clock_offset"] = float(raw)
            except ValueError:
                raise ValueError(f"{ENV_CLOCK_OFFSET} must be a number of seconds (negative: the past), not {raw!r}") from None
        try:
            return cls(**kwargs)
        except ValueError as exc:
            if "fault rule" in str(exc):
                raise ValueError(f"{ENV_FAULTS}: {exc}") from None
            raise
