"""Helpers for using the emulator as a test double (no pytest dependency).

Example::

    clock = ManualClock()
    config = EmulatorConfig(state_dir=tmp_path, clock=clock)
    with running_server(config) as server:
        client = anthropic.Anthropic(api_key="test", base_url=server.url + "/native/anthropic")
        ...
        clock.advance(config.batch_seconds)  # the batch has ended
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import EmulatorConfig
    from .server import EmulatorServer


class ManualClock:
    """A clock that only moves when told to (pass it as ``EmulatorConfig.clock``)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self.now += seconds
            return self.now


@contextmanager
def running_server(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 0,
                   log: Callable[[str], None] | None = None) -> Iterator[EmulatorServer]:
    """Serve the emulator in a background thread for the duration of the ``with`` block."""
    from .server import make_server

    server = make_server(config, host=host, port=port, log=log)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="bifrost-emulator", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
