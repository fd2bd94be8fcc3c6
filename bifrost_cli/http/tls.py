"""The TLS context of every client: verifying, loaded only when a TLS connection is made."""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any


class LazyTLSContext(ssl.SSLContext):
    """What httpx's default ``verify=True`` gives (certificates verified against ``SSL_CERT_FILE``,
    else ``SSL_CERT_DIR``, else certifi's bundle, hostnames checked), except that the certificates
    are loaded on the first TLS connection instead of when the client is made: loading them costs
    more than the whole transfer of a small answer, and a plain-HTTP command (a loopback gateway,
    the emulator) never needs them."""

    _loaded = False
    _lock = threading.Lock()

    def __new__(cls, *args: Any, **kwargs: Any) -> LazyTLSContext:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def __init__(self) -> None:
        # PROTOCOL_TLS_CLIENT: CERT_REQUIRED and check_hostname, as ssl.create_default_context
        keylog = os.environ.get("SSLKEYLOGFILE")
        if keylog and hasattr(self, "keylog_filename"):
            self.keylog_filename = keylog

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            cafile = os.environ.get("SSL_CERT_FILE")
            capath = os.environ.get("SSL_CERT_DIR")
            if cafile:
                self.load_verify_locations(cafile=cafile)
            elif capath:
                self.load_verify_locations(capath=capath)
            else:
                import certifi

                self.load_verify_locations(cafile=certifi.where())
            self._loaded = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> Any:
        self._load()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> Any:
        self._load()
        return super().wrap_bio(*args, **kwargs)
