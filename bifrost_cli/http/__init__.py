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

from bifrost_cli.http.body import Body, json_body
from bifrost_cli.http.client import HttpClient
from bifrost_cli.http.errors import UNSENT_HINT, status_error
from bifrost_cli.http.response import CHUNK_SIZE, MAX_ERROR_BODY, Response
from bifrost_cli.http.secrets import MIN_SECRET, Redactor, is_loopback, same_origin, sensitive_headers

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
