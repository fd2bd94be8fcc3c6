"""The one HTTP layer: the only module that imports httpx.

- client construction with connect/read timeouts;
- retries as :mod:`bifrost_cli.http.retry`'s one policy decides (exponential backoff and jitter,
  honouring ``x-should-retry``, ``retry-after-ms`` and ``retry-after``; a request that must not be
  sent twice, a batch create, is retried only when the server cannot have received it);
- mapping of error answers and transport failures onto :mod:`bifrost_cli.errors`;
- secret redaction in the verbose log and in every message built from a server answer;
- credentials are sent only to the configured origin, and never over plain HTTP to a host that is
  not loopback.

:mod:`bifrost_cli.http.wsgi` runs a WSGI application (the built-in emulator) in-process, without sockets.
"""

import sys as _sys

if "httpx" not in _sys.modules:
    # ``import httpx`` also imports httpx's own command line client (``httpx._main``), and with it click,
    # pygments and rich.syntax whenever they are installed: a third of the startup of ``bifrost batches
    # get``, for a module never used here. Marked absent for that one import, httpx defines a stub
    # ``main`` instead; the mark is removed at once, so ``import httpx._main`` still works afterwards.
    _sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    try:
        import httpx  # noqa: F401
    finally:
        if _sys.modules.get("httpx._main", 0) is None:
            del _sys.modules["httpx._main"]

from bifrost_cli.http.body import Body, json_body  # noqa: E402
from bifrost_cli.http.client import HttpClient  # noqa: E402
from bifrost_cli.http.errors import UNSENT_HINT, status_error  # noqa: E402
from bifrost_cli.http.response import CHUNK_SIZE, MAX_ERROR_BODY, Response  # noqa: E402
from bifrost_cli.http.secrets import MIN_SECRET, Redactor, is_loopback, same_origin, sensitive_headers  # noqa: E402

__all__ = [
    "CHUNK_SIZE",
    "MAX_ERROR_BODY",
    "MIN_SECRET",
    "UNSENT_HINT",
    "Body",
    "HttpClient",
    "Redactor",
    "Response",
    "is_loopback",
    "json_body",
    "same_origin",
    "sensitive_headers",
    "status_error",
]
