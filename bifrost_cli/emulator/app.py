"""The emulator as a WSGI (PEP 3333) application: :func:`create_app` and request routing.

Route map (``SURFACES`` below; each module answers under its prefix):

* ``/native/anthropic/v1/...``  Anthropic's Files and Message Batches API (``anthropic_native``)
* ``/native/openai/v1/...``     OpenAI's Files, Uploads and Batches API (``openai_native``)
* ``/native/gemini/...``        the Gemini API's files, resumable uploads and batches (``gemini_native``)
* ``/native/bedrock/...``       Bedrock's model invocation jobs; their data lives in S3 (``bedrock_native``)
* ``/anthropic/v1/...``         the gateway's Anthropic-compatible routes, upstream by ``x-model-provider`` (``gateway``)
* ``/openai/v1/...``            the gateway's OpenAI-compatible routes (``gateway_openai``)
* ``/genai/...``                the gateway's GenAI-compatible routes (``gateway_genai``)
* ``/bedrock/...``              the gateway's Bedrock routes: S3 files and jobs (``gateway_bedrock``)

The gateway routes serve every provider the real gateway routes through them (``/openai`` by the
``provider`` field or query, ``/genai``, ``/bedrock`` and ``/anthropic`` by ``x-model-provider``),
through the gateway core ``gateway_cross`` for a route's foreign providers.
* ``GET /_emulator/health``     ``{"ok": true}``
* ``GET /api/version``          the gateway's version, as a JSON string (``bifrost doctor`` shows it)
* ``POST /_emulator/files``     admin: create a *downloadable* file (raw body = content; query
  ``filename=``, optional ``mime_type=`` and ``provider=`` (anthropic|openai|gemini))
* ``GET|POST|DELETE /_emulator/faults``  admin: the armed fault rules (:mod:`.faults`)
* any other GET                 the gateway web UI's HTML page (``200 text/html``)

Importing this module is cheap: no HTTP server, no third-party package.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from . import anthropic_native, faults, gateway, ops
from .config import EmulatorConfig
from .ops import Context
from .store import Store
from .web import ApiError, Request, Response, apply_range, bad_request, json_response

VERSION = "emulator"
"""What ``GET /api/version`` answers (a real gateway: its release, e.g. ``"v1.3.9"``)."""

# Each API surface: a path prefix and the module (in this package) whose ``handle(context, request,
# rest_of_path)`` answers under it; imported on first use.
SURFACES: list[tuple[str, str]] = [
    (anthropic_native.PREFIX, "anthropic_native"),  # /native/anthropic: Anthropic's own API
    (gateway.PREFIX, "gateway"),  # /anthropic: the gateway's Anthropic-compatible routes
    ("/native/openai/v1", "openai_native"),  # OpenAI's own Files, Uploads and Batches API
    ("/openai", "gateway_openai"),  # the gateway's OpenAI-compatible routes
    ("/native/gemini", "gemini_native"),  # the Gemini API's files, uploads and batches
    ("/genai", "gateway_genai"),  # the gateway's GenAI-compatible routes (gemini upstream)
    ("/native/bedrock", "bedrock_native"),  # Bedrock's batch inference control plane (jobs read S3)
    ("/bedrock", "gateway_bedrock"),  # the gateway's Bedrock-compatible routes (S3 files, jobs)
]


def _surface(path: str) -> tuple[Any, str] | None:
    import importlib

    for prefix, module in SURFACES:
        if path == prefix or path.startswith(prefix + "/"):
            return importlib.import_module(f"{__package__}.{module}"), path[len(prefix) :]
    return None


class EmulatorApp:
    """The WSGI callable returned by :func:`create_app`."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.context = Context(config, Store(config.state_dir))
        self.faults = faults.FaultSet(faults.parse_rules(config.faults))
        self._count = 0
        self._count_lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except ApiError as error:  # errors outside any API surface (admin routes)
            response = anthropic_native.error_response(error, None)
        except Exception:  # noqa: BLE001 - an emulator bug must still answer
            traceback.print_exc(file=environ.get("wsgi.errors") or sys.stderr)
            environ.pop(faults.WIRE_KEY, None)
            response = faults.provider_error(faults.surface(request.path), 500, "internal emulator error")
        return response(start_response)

    def _flaky(self) -> bool:
        every = self.config.flaky_every
        if every <= 0:
            return False
        with self._count_lock:
            self._count += 1
            return self._count % every == 0

    def dispatch(self, req: Request) -> Response:
        path = req.path
        if self._flaky():  # before doing anything, so retrying a create is safe
            req.drain()
            return faults.provider_error(faults.surface(path), 503, "emulated outage", headers=[("retry-after", "0")])
        surface = _surface(path)
        if surface is not None:
            op = faults.classify(req.method, path)
            fault = self.faults.take(op)
            if fault is not None and fault.kind == "status":  # before doing anything
                req.drain()
                return faults.refusal(fault, op or "", path, req.environ)
            module, rest = surface
            response = apply_range(req, module.handle(self.context, req, rest))
            return response if fault is None else faults.apply(fault, response, req.environ)
        if path == "/_emulator/health" and req.method == "GET":
            return json_response({"ok": True})
        if path == "/api/version" and req.method == "GET":  # as the gateway's config handler answers
            return json_response(VERSION)
        if path == "/_emulator/files" and req.method == "POST":
            return self.admin_create_file(req)
        if path == "/_emulator/faults":
            return self.admin_faults(req)
        if req.method in ("GET", "HEAD"):
            return gateway.spa_page()
        return json_response({"type": "error", "error": {"type": "not_found_error",
                                                         "message": f"route not found: {req.method} {path}"}}, 404)

    def admin_faults(self, req: Request) -> Response:
        """GET: the armed rules; POST ``{"rules": [...]}``: replace them; DELETE: clear them."""
        if req.method == "POST":
            body = req.read_json()
            rules = body.get("rules") if isinstance(body, dict) else None
            if not isinstance(rules, list) or not all(isinstance(rule, str) for rule in rules):
                raise bad_request('expected a JSON object {"rules": ["OP:KIND...", ...]}')
            try:
                self.faults.arm(faults.parse_rules(rules))
            except faults.FaultRuleError as exc:
                raise bad_request(str(exc)) from None
        elif req.method == "DELETE":
            self.faults.clear()
        elif req.method != "GET":
            raise ApiError(405, "invalid_request_error", f"method {req.method} not allowed on /_emulator/faults")
        return json_response({"rules": self.faults.describe()})

    def admin_create_file(self, req: Request) -> Response:
        """Create a downloadable file, as a tool (code execution, skills) would on the real API."""
        provider = req.arg("provider", "anthropic") or "anthropic"
        if provider not in ops.PROVIDERS:
            raise bad_request(f"provider must be one of {', '.join(ops.PROVIDERS)}")
        files = self.context.store.files(provider)
        raw_name = req.arg("filename") or ""
        mime = ops.guess_mime(raw_name, req.arg("mime_type"))
        filename = ops.clean_filename(raw_name, mime)
        tmp, size = ops.store_stream_as_file(req.body, files)
        record = ops.add_file(self.context.store, provider, tmp, filename=filename, mime_type=mime, size=size,
                              created_at=self.context.now(), downloadable=True,
                              purpose="batch_output" if provider == "openai" else None)
        if provider == "anthropic":
            return json_response(anthropic_native.file_json(record))
        return json_response(gateway.file_json(record, False))


def create_app(config: EmulatorConfig) -> EmulatorApp:
    """Build the emulator's WSGI application for ``config``."""
    return EmulatorApp(config)
