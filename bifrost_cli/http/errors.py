"""Error answers mapped onto :mod:`bifrost_cli.errors`."""

from __future__ import annotations

from typing import Any

from bifrost_cli.hints import expand
from bifrost_cli.errors import (
    APIError,
    AuthError,
    ConflictError,
    NotFoundError,
    RateLimitError,
    UnavailableError,
)
from bifrost_cli.http.retry import (
    GiveUp,
)
from bifrost_cli.http.secrets import Redactor

MAX_MESSAGE = 1000  # characters of a server's error message shown

UNSENT_HINT = (
    "The server may have received the request and acted on it; check (for example with "
    "`bifrost batches list`) before running it again."
)



# --------------------------------------------------------------------------------------------
# error mapping


def _error_details(body: Any) -> tuple[str | None, str | None]:
    """(type, message) from any of the providers' or the gateway's error shapes."""
    if not isinstance(body, dict):
        return None, None
    err = body.get("error")
    if isinstance(err, dict):
        inner = err.get("error")
        if isinstance(inner, dict) and inner.get("message"):  # a doubly nested envelope
            err = inner
        etype = err.get("type") or err.get("status") or err.get("code")
        message = err.get("message")
        return (str(etype) if etype is not None else None), (str(message) if message else None)
    if isinstance(err, str):
        return None, err
    message = body.get("message") or body.get("Message")
    etype = body.get("__type") or body.get("code") or body.get("type")
    return (str(etype) if etype else None), (str(message) if message else None)


def _clip(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


def _page_text(body: str) -> str | None:
    """What an HTML error page (a proxy's, a load balancer's) says, in a few words: its title, or
    else its text, never its markup; None when the body is not a page."""
    import html
    import re

    head = body.lstrip()[:4096]
    if not head.startswith("<") or not re.search(r"<(html|head|body|title)\b", head, re.I):
        return None
    title = re.search(r"<title[^>]*>(.*?)</title>", head, re.I | re.S)
    if title:
        text = title.group(1)
    else:
        text = re.sub(r"<(script|style)\b.*?</\1\s*>", " ", head, flags=re.I | re.S)
        text = re.sub(r"<[^>]*>", " ", text)
    text = " ".join(html.unescape(text).split())[:100]
    said = f" saying {text!r}" if text else ""
    return f"an HTML page{said}, not an API answer (a proxy or load balancer in the way?)"


def status_error(
    status: int,
    body: Any,
    *,
    classify_as: int | None = None,
    label: str,
    method: str,
    url: str,
    request_id: str | None,
    redact: Redactor,
    auth_hint: str | None = None,
) -> APIError:
    """The error for an error answer: the class picks the exit code, the text says what happened."""
    etype, message = _error_details(body)
    if message is None and isinstance(body, str) and body.strip():
        message = _page_text(body) or body.strip()[:300]
    detail = _clip(redact(message or "no error message in the answer"))
    etype = _clip(redact(etype), 100) if etype else etype
    what = f"{label} answered {status}" + (f" {etype}" if etype else "")
    text = f"{what}: {detail}"
    kwargs: dict[str, Any] = {"status": status, "error_type": etype, "request_id": request_id}
    status = classify_as or status  # a target's own reading of an error (Gemini's 400 for a bad key...)
    if status in (401, 403):
        return AuthError(text, hint=auth_hint, **kwargs)
    if status == 404:
        return NotFoundError(text, **kwargs)
    if status == 409:
        return ConflictError(text, **kwargs)
    if status == 429:
        return RateLimitError(text, hint="Still rate-limited after retries; wait and try again, or raise --max-retries.", **kwargs)
    if status == 413:
        return APIError(text, hint="The request is larger than the server accepts; split the input.", **kwargs)
    if status == 408 or status >= 500:
        return UnavailableError(text, **kwargs)
    return APIError(text, **kwargs)




def _unsent_hint(error: APIError, decision: GiveUp) -> APIError:
    """The error, telling to check before running again when the server may have acted on it."""
    if decision.may_have_been_received:
        error.hint = expand(UNSENT_HINT)
        error.may_have_been_received = True
    return error
