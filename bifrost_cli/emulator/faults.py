"""Fault injection: rules that make chosen requests fail the ways real networks and providers fail.

Off by default. A rule is ``OP:KIND[=VALUE][,retry-after=S][,shape=provider|bare][xN]``; rules are armed
by ``EmulatorConfig.faults`` (``BIFROST_EMULATOR_FAULTS``, ``;``-separated; ``emulator serve --fault``)
or at run time through ``/_emulator/faults`` (see :mod:`bifrost_cli.emulator`). They live in the
application's memory: each :class:`FaultSet` belongs to one application instance.

This module holds the ONE table classifying every API route into an operation (:data:`OPERATIONS`,
:func:`classify`), the rule parser (:func:`parse_rule`), the armed set (:class:`FaultSet`) and the
rendering of each kind (:func:`refusal`, :func:`apply`). Body-level kinds need the HTTP server's help:
they leave instructions in the WSGI environ under :data:`WIRE_KEY`, which ``server.py`` honours and
drops (close the connection after the body, send headers before the body). Through another WSGI server
(or in process) the body is still cut, stalled or dripped, but the connection is not closed.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .web import Response, json_response, random_token

WIRE_KEY = "bifrost_emulator.wire"
"""WSGI environ key: ``{"close": bool, "stream": bool}`` for the HTTP server (never sent)."""

OPERATIONS = (
    "batches.create", "batches.get", "batches.list", "batches.cancel", "batches.delete", "batches.results",
    "files.upload", "files.get", "files.list", "files.download", "files.delete",
)
KINDS = ("status", "after", "cut", "cut-length", "reset", "stall", "drip")

# ---------------------------------------------------------------- the classification table

_FILE = r"[^/:]+"
_GEMINI_FILE = r"files/(?:files/)?[A-Za-z0-9_-]+"  # /genai also names other upstreams' files (file-..., file_...)
_GEMINI_BATCH = r"batches/(?:batches/)?[A-Za-z0-9_-]+"
_GEMINI_V = r"/(?:v1beta|v1)"

# (path regex over the whole path, method, operation); first match wins.
ROUTES: list[tuple[str, str, str]] = [
    # Anthropic: native /native/anthropic/v1 and the gateway's /anthropic/v1 (same routes)
    (r"/(?:native/)?anthropic/v1/files", "POST", "files.upload"),
    (r"/(?:native/)?anthropic/v1/files", "GET", "files.list"),
    (rf"/(?:native/)?anthropic/v1/files/{_FILE}", "GET", "files.get"),
    (rf"/(?:native/)?anthropic/v1/files/{_FILE}", "DELETE", "files.delete"),
    (rf"/(?:native/)?anthropic/v1/files/{_FILE}/content", "GET", "files.download"),
    (r"/(?:native/)?anthropic/v1/messages/batches", "POST", "batches.create"),
    (r"/(?:native/)?anthropic/v1/messages/batches", "GET", "batches.list"),
    (rf"/(?:native/)?anthropic/v1/messages/batches/{_FILE}", "GET", "batches.get"),
    (rf"/(?:native/)?anthropic/v1/messages/batches/{_FILE}", "DELETE", "batches.delete"),
    (rf"/(?:native/)?anthropic/v1/messages/batches/{_FILE}/cancel", "POST", "batches.cancel"),
    (rf"/(?:native/)?anthropic/v1/messages/batches/{_FILE}/results", "GET", "batches.results"),
    # OpenAI: native /native/openai/v1 and the gateway's /openai/v1 and /openai (same routes)
    (r"/(?:native/openai/v1|openai(?:/v1)?)/files", "POST", "files.upload"),
    (r"/(?:native/openai/v1|openai(?:/v1)?)/files", "GET", "files.list"),
    (rf"/(?:native/openai/v1|openai(?:/v1)?)/files/{_FILE}", "GET", "files.get"),
    (rf"/(?:native/openai/v1|openai(?:/v1)?)/files/{_FILE}", "DELETE", "files.delete"),
    (rf"/(?:native/openai/v1|openai(?:/v1)?)/files/{_FILE}/content", "GET", "files.download"),
    (rf"/(?:native/openai/v1|openai(?:/v1)?)/uploads(?:/{_FILE}/(?:parts|complete|cancel))?", "POST",
     "files.upload"),
    (r"/(?:native/openai/v1|openai(?:/v1)?)/batches", "POST", "batches.create"),
    (r"/(?:native/openai/v1|openai(?:/v1)?)/batches", "GET", "batches.list"),
    (rf"/(?:native/openai/v1|openai(?:/v1)?)/batches/{_FILE}", "GET", "batches.get"),
    (rf"/(?:native/openai/v1|openai(?:/v1)?)/batches/{_FILE}/cancel", "POST", "batches.cancel"),
    # Gemini: native /native/gemini and the gateway's /genai (resumable upload start and chunks alike)
    (rf"/(?:native/gemini|genai)/upload{_GEMINI_V}/files", "POST", "files.upload"),
    (rf"/(?:native/gemini|genai){_GEMINI_V}/files", "GET", "files.list"),
    (rf"/(?:native/gemini|genai){_GEMINI_V}/{_GEMINI_FILE}", "GET", "files.get"),
    (rf"/(?:native/gemini|genai){_GEMINI_V}/{_GEMINI_FILE}", "DELETE", "files.delete"),
    (rf"/(?:native/gemini|genai)(?:/download)?{_GEMINI_V}/{_GEMINI_FILE}:download", "GET", "files.download"),
    (rf"/(?:native/gemini|genai){_GEMINI_V}/models/[^:]+:batchGenerateContent", "POST", "batches.create"),
    (rf"/(?:native/gemini|genai){_GEMINI_V}/batches", "GET", "batches.list"),
    (rf"/(?:native/gemini|genai){_GEMINI_V}/{_GEMINI_BATCH}", "GET", "batches.get"),
    (rf"/(?:native/gemini|genai){_GEMINI_V}/{_GEMINI_BATCH}", "DELETE", "batches.delete"),
    (rf"/(?:native/gemini|genai){_GEMINI_V}/{_GEMINI_BATCH}:cancel", "POST", "batches.cancel"),
    # Bedrock: native /native/bedrock and the gateway's /bedrock (plus its S3-style object routes)
    (r"/bedrock/files/[^/]+/.+", "PUT", "files.upload"),
    (r"/bedrock/files/[^/]+/.+", "GET", "files.download"),
    (r"/bedrock/files/[^/]+/.+", "DELETE", "files.delete"),
    (r"/bedrock/files/[^/]+/?", "GET", "files.list"),
    (r"/(?:native/)?bedrock/model-invocation-job", "POST", "batches.create"),
    (r"/(?:native/)?bedrock/model-invocation-jobs", "GET", "batches.list"),
    (r"/(?:native/)?bedrock/model-invocation-job/.+/stop", "POST", "batches.cancel"),
    (r"/(?:native/)?bedrock/model-invocation-job/.+", "GET", "batches.get"),
]
_COMPILED = [(re.compile(f"^{pattern}$"), method, op) for pattern, method, op in ROUTES]


def classify(method: str, path: str) -> str | None:
    """The operation of an API request (``files.upload``...); None for anything else (health, admin, web page)."""
    method = "GET" if method == "HEAD" else method
    for regex, route_method, op in _COMPILED:
        if route_method == method and regex.match(path):
            return op
    return None


def surface(path: str) -> str:
    """Whose error shape a path answers in: anthropic, openai, gemini, bedrock or gateway."""
    for prefix, name in (("/native/anthropic", "anthropic"), ("/native/openai", "openai"),
                         ("/native/gemini", "gemini"), ("/native/bedrock", "bedrock")):
        if path == prefix or path.startswith(prefix + "/"):
            return name
    return "gateway"


# ---------------------------------------------------------------- rules


class FaultRuleError(ValueError):
    """A rule that cannot be parsed; the message names the rule and what is wrong."""


@dataclass
class Fault:
    """One parsed rule and how many more requests it fires for (``remaining`` None: every one)."""

    text: str
    op: str
    kind: str
    code: int = 0
    amount: float = 0.0
    percent: bool = False
    seconds: float = 0.0
    retry_after: str | None = None
    shape: str = "provider"
    remaining: int | None = 1

    def matches(self, op: str) -> bool:
        return self.op in ("any", op)


_RULE = re.compile(r"^(?P<op>[a-z.*]+):(?P<body>.+?)(?:x(?P<count>\d+|\*))?$")


def parse_rule(text: str) -> Fault:
    """Parse ``OP:KIND[=VALUE][,retry-after=S][,shape=provider|bare][xN]``; :class:`FaultRuleError` if bad."""
    rule = text.strip()

    def bad(what: str) -> FaultRuleError:
        return FaultRuleError(f"fault rule {rule!r}: {what} "
                              "(expected OP:KIND[=VALUE][,retry-after=S][,shape=provider|bare][xN])")

    found = _RULE.match(rule)
    if not found:
        raise bad("not of the form OP:KIND...")
    op = found.group("op")
    if op not in (*OPERATIONS, "any"):
        raise bad(f"unknown operation {op!r}; one of {', '.join(OPERATIONS)} or any")
    count = found.group("count")
    remaining: int | None = None if count == "*" else int(count or 1)
    if remaining is not None and remaining < 1:
        raise bad("xN needs N of at least 1 (or x* for every request)")
    kind_part, *options = found.group("body").split(",")
    kind, has_value, value = kind_part.partition("=")
    kind = kind.strip()
    value = value.strip()
    if kind not in KINDS:
        raise bad(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    if not has_value or not value:
        raise bad(f"{kind} needs a value ({kind}={'CODE' if kind in ('status', 'after') else _VALUE_HELP[kind]})")
    fault = Fault(text=rule, op=op, kind=kind, remaining=remaining)
    if kind in ("status", "after"):
        if not value.isdigit() or not 400 <= int(value) <= 599:
            raise bad(f"{kind} needs an HTTP error status from 400 to 599, not {value!r}")
        fault.code = int(value)
    elif kind in ("cut", "cut-length", "reset"):
        fault.percent = value.endswith("%")
        number = value[:-1] if fault.percent else value
        if not number.isdigit() or (fault.percent and int(number) > 100):
            raise bad(f"{kind} needs a byte count N or a percentage P% (0 to 100), not {value!r}")
        fault.amount = float(number)
    else:  # stall, drip
        fault.seconds = _seconds(value, lambda: bad(f"{kind} needs a number of seconds, not {value!r}"))
    for option in options:
        name, has_value, raw = (part.strip() for part in option.partition("="))
        if not has_value or not raw:
            raise bad(f"option {option.strip()!r} needs a value (retry-after=S or shape=provider|bare)")
        if name == "retry-after":
            if kind not in ("status", "after"):
                raise bad("retry-after applies to status= and after= only")
            _seconds(raw, lambda raw=raw: bad(f"retry-after needs a number of seconds, not {raw!r}"))
            fault.retry_after = raw
        elif name == "shape":
            if kind != "status":
                raise bad("shape applies to status= only (after= answers are always bare)")
            if raw not in ("provider", "bare"):
                raise bad(f"shape is provider or bare, not {raw!r}")
            fault.shape = raw
        else:
            raise bad(f"unknown option {name!r}; retry-after=S or shape=provider|bare")
    return fault


_VALUE_HELP = {"cut": "N|P%", "cut-length": "N|P%", "reset": "N|P%", "stall": "S", "drip": "S"}


def _seconds(raw: str, error: Any) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        raise error() from None
    if not 0 <= seconds <= 3600 or seconds != seconds:
        raise error()
    return seconds


def parse_rules(texts: Iterable[str]) -> list[Fault]:
    """Parse several rules (blank ones skipped); the first bad one raises :class:`FaultRuleError`."""
    return [parse_rule(text) for text in texts if text.strip()]


def split_rules(raw: str) -> list[str]:
    """``BIFROST_EMULATOR_FAULTS``: rules separated by ``;``."""
    return [part.strip() for part in raw.split(";") if part.strip()]


@dataclass
class FaultSet:
    """The armed rules of one application; thread-safe. Checked in order; the first armed match fires."""

    rules: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def arm(self, rules: list[Fault]) -> None:
        with self._lock:
            self.rules = list(rules)

    def clear(self) -> None:
        self.arm([])

    def take(self, op: str | None) -> Fault | None:
        """The fault this request of operation ``op`` suffers (its count goes down), or None."""
        if op is None:
            return None
        with self._lock:
            for fault in self.rules:
                if fault.matches(op) and (fault.remaining is None or fault.remaining > 0):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None

    def describe(self) -> list[dict]:
        """``[{"rule", "remaining"}]``; remaining is ``"*"`` for x* rules and 0 once a rule is spent."""
        with self._lock:
            return [{"rule": f.text, "remaining": "*" if f.remaining is None else f.remaining} for f in self.rules]


# ---------------------------------------------------------------- answers

_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                    503: "overloaded_error", 529: "overloaded_error"}
_OPENAI_TYPES = {429: ("requests", "rate_limit_exceeded"), 401: ("invalid_request_error", "invalid_api_key")}
_BEDROCK_TYPES = {400: "ValidationException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
                  409: "ConflictException", 429: "ThrottlingException", 503: "ServiceUnavailableException",
                  500: "InternalServerException"}
_BARE_TEXT = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout", 429: "Too Many Requests"}


def provider_error(where: str, status: int, message: str, *, provider: str = "", request_type: str = "",
                   headers: list[tuple[str, str]] | None = None) -> Response:
    """An error answer in ``where``'s own shape with its request-id header (:func:`surface` names)."""
    headers = list(headers or [])
    if where == "anthropic":
        request_id = "req_011" + random_token(22)
        kind = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message},
                                "request_id": request_id}
        return json_response(body, status, [*headers, ("request-id", request_id)])
    if where == "openai":
        kind, code = _OPENAI_TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return json_response(body, status, [*headers, ("x-request-id", "req_" + random_token(32, "0123456789abcdef"))])
    if where == "gemini":
        from .gemini_native import STATUS_NAMES

        body = {"error": {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}}
        return json_response(body, status, headers)
    if where == "bedrock":
        aws_type = _BEDROCK_TYPES.get(status, "InternalServerException" if status >= 500 else "ValidationException")
        request_id = "-".join(random_token(n, "0123456789abcdef") for n in (8, 4, 4, 4, 12))
        return json_response({"message": message}, status, [
            *headers, ("x-amzn-ErrorType", f"{aws_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            ("x-amzn-RequestId", request_id)])
    kind = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    body = {"is_bifrost_error": True, "status_code": status, "error": {"type": kind, "message": message},
            "extra_fields": {"provider": provider, "request_type": request_type}}
    return json_response(body, status, headers)


def bare_error(status: int, headers: list[tuple[str, str]] | None = None) -> Response:
    """What a load balancer or proxy answers: a small HTML page, no request id."""
    reason = _BARE_TEXT.get(status, "Error")
    page = (f"<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}</h1>"
            f"</center><hr><center>emulated proxy</center></body></html>\n")
    return Response(status, page.encode(), list(headers or []), content_type="text/html")


def _gateway_provider(path: str, environ: dict) -> str:
    for prefix, default in (("/openai", "openai"), ("/genai", "gemini"), ("/bedrock", "bedrock")):
        if path.startswith(prefix):
            return default
    return (environ.get("HTTP_X_MODEL_PROVIDER") or "anthropic").strip().lower() or "anthropic"


def refusal(fault: Fault, op: str, path: str, environ: dict) -> Response:
    """The answer of a ``status=`` fault: sent before anything is done."""
    headers = [("retry-after", fault.retry_after)] if fault.retry_after is not None else []
    if fault.shape == "bare":
        return bare_error(fault.code, headers)
    return provider_error(surface(path), fault.code, f"emulated fault ({fault.text})",
                          provider=_gateway_provider(path, environ), request_type=op, headers=headers)


def _is_jsonl(response: Response, body: bytes) -> bool:
    kind = (response.header("Content-Type") or "").lower()
    if "jsonl" in kind or "ndjson" in kind:
        return True
    first, newline, _ = body.partition(b"\n")
    if not newline or not first.lstrip().startswith(b"{"):
        return False
    try:
        json.loads(first)
    except ValueError:
        return False
    return True


def _amount(fault: Fault, size: int) -> int:
    return int(size * fault.amount / 100) if fault.percent else int(fault.amount)


def apply(fault: Fault, response: Response, environ: dict) -> Response:
    """The answer of a fault that lets the request be done (every kind but ``status``)."""
    if fault.kind == "after":
        response.close()
        headers = [("retry-after", fault.retry_after)] if fault.retry_after is not None else []
        return bare_error(fault.code, headers)
    if environ.get("REQUEST_METHOD") == "HEAD":
        return response
    if fault.kind in ("stall", "drip"):
        environ[WIRE_KEY] = {"close": False, "stream": True}
        response.body = (_stalled if fault.kind == "stall" else _dripped)(response.body, fault.seconds)
        return response
    length = response.header("Content-Length")
    if length is not None and length.isdigit():  # known size: read no more than what is kept
        size = int(length)
        keep = min(size, _amount(fault, size))
        if fault.kind == "reset":
            keep = min(keep, max(0, size - 1))  # a reset always loses something
        kept = b"".join(_take(response.body, keep))
    else:
        whole = b"".join(response.body)
        size = len(whole)
        keep = min(size, _amount(fault, size))
        if fault.kind == "reset":
            keep = min(keep, max(0, size - 1))
        kept = whole[:keep]
    response.close()
    if fault.kind == "reset":
        environ[WIRE_KEY] = {"close": True, "stream": False}
        response.body = [kept]
        if response.header("Content-Length") is None:
            response.add_header("Content-Length", str(size))
        return response
    if keep < size and _is_jsonl(response, kept):
        kept = kept[: kept.rfind(b"\n") + 1]  # down to a line boundary (nothing when no whole line fits)
    response.body = [kept]
    response.remove_header("Content-Length")
    if fault.kind == "cut-length":
        response.add_header("Content-Length", str(len(kept)))
    else:  # cut: close-delimited, so the client cannot tell
        environ[WIRE_KEY] = {"close": True, "stream": False}
    return response


def _take(body: Iterable[bytes], keep: int) -> Iterator[bytes]:
    """The first ``keep`` bytes of ``body`` (the rest is never read)."""
    left = keep
    if left <= 0:
        return
    for chunk in body:
        yield chunk[:left]
        left -= min(len(chunk), left)
        if left <= 0:
            return


def _stalled(body: Iterable[bytes], seconds: float) -> Iterator[bytes]:
    try:
        time.sleep(seconds)
        yield from body
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def _dripped(body: Iterable[bytes], seconds: float) -> Iterator[bytes]:
    try:
        for chunk in body:
            for i in range(len(chunk)):
                time.sleep(seconds)
                yield chunk[i:i + 1]
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()

