"""emulator serve."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bifrost_cli.errors import (
    UsageError,
)

# ------------------------------------------------------------------------------------------------
# the emulator, served


def serve_emulator(
    *,
    host: str,
    port: int,
    state_dir: Path | None,
    batch_seconds: float | None,
    virtual_key: str | None,
    flaky_every: int | None,
    legacy_gateway: bool,
    faults: list[str] | None = None,
    on_ready: Callable[[str, Path], None],
    log: Callable[[str], None] | None,
) -> None:
    """Serve the emulator until interrupted (Ctrl-C ends it cleanly)."""
    import dataclasses

    from bifrost_cli.emulator import EmulatorConfig
    from bifrost_cli.emulator.server import make_server

    try:
        config = EmulatorConfig.from_env(state_dir)
    except ValueError as exc:
        raise UsageError(f"emulator settings: {exc}") from None
    changes: dict[str, Any] = {}
    if batch_seconds is not None:
        changes["batch_seconds"] = batch_seconds
    if virtual_key is not None:
        changes["virtual_key"] = virtual_key
    if flaky_every is not None:
        changes["flaky_every"] = flaky_every
    if legacy_gateway:
        changes["legacy_gateway"] = True
    if faults:  # --fault replaces BIFROST_EMULATOR_FAULTS
        changes["faults"] = list(faults)
    try:
        config = dataclasses.replace(config, **changes)
    except ValueError as exc:
        raise UsageError(f"emulator settings: {exc}",
                         hint="See README 'Fault injection' for the rule syntax.") from None
    try:
        server = make_server(config, host=host, port=port, log=log)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint="Choose another --port (0 picks a free one)."
        ) from None
    on_ready(server.url, config.state_dir)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
