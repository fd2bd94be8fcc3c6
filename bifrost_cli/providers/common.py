"""Rules every adapter shares: statuses, file objects, JSONL bodies, ids in paths, and the
"not ended yet" error. (A gateway's "answered with its web page" is in :mod:`.gateway`.)"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from pydantic_core import from_json as _from_json

from bifrost_cli.hints import expand, suggest
from bifrost_cli.errors import BatchNotEnded, ResponseError
from bifrost_cli.models import Batch, BatchResult, File, RequestCounts

if TYPE_CHECKING:
    from pydantic import ValidationError

    from bifrost_cli.http import Response
    from bifrost_cli.http.ranged import Ranged

P = ParamSpec("P")
T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# malformed answers: one error, naming the field, never echoing a value


class MalformedAnswer(ResponseError):
    """A server answer in the wrong shape, found by a parse helper. ``detail`` says where
    (a field path, an item number) and never holds a value from the answer; the target's boundary
    (:class:`~bifrost_cli.providers.base.CheckedTarget`) turns it into "unexpected answer from SERVER"."""

    def __init__(self, detail: str, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.detail = detail


_EXPECTED = (  # pydantic error type prefixes -> what the field should have been
    ("int", "a valid integer"),
    ("float", "a valid number"),
    ("finite", "a finite number"),
    ("decimal", "a valid number"),
    ("bool", "a valid boolean"),
    ("datetime", "a valid date and time"),
    ("date", "a valid date"),
    ("timezone", "a valid date and time"),
    ("string", "a valid string"),
    ("str", "a valid string"),
    ("literal", "one of the known values"),
    ("enum", "one of the known values"),
    ("dict", "a valid object"),
    ("model", "a valid object"),
    ("mapping", "a valid object"),
    ("list", "a valid list"),
    ("iterable", "a valid list"),
)
_FIELD = re.compile(r"[a-z][a-z0-9_]{0,39}")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,39}")  # a value safe to name: one short word, nothing else


def _field_names() -> frozenset[str]:
    from bifrost_cli import models

    names: set[str] = set()
    for cls in (models.File, models.Batch, models.RequestCounts, models.BatchResult, models.ResultBody, models.ResultError):
        names.update(cls.model_fields)
    return frozenset(names)


def field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as ``a.b[2]``: our own field names and item numbers only (a key
    from the answer, in a free-form object, may be anything: it shows as ``[...]``)."""
    known = _field_names()
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part in known and _FIELD.fullmatch(part):
            out += ("." if out else "") + part
        else:
            out += "[...]"
    return out or "the answer"


def field_problems(exc: ValidationError, *, limit: int = 3) -> str:
    """``created_at is not a valid date and time; ...``: where and what, never the value (except a
    short plain word where one of a list of words was expected, e.g. a new ``result.type``)."""
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        kind = str(error.get("type", ""))
        where = field_path(tuple(error.get("loc", ())))
        value = error.get("input")
        if kind == "missing":
            text = f"{where} is missing"
        elif kind in ("none_required", "none_type"):
            text = f"{where} is not null"
        elif kind in ("literal_error", "enum") and isinstance(value, str) and _WORD.fullmatch(value):
            # a word the CLI does not know yet (a new result type): named, as is what it knows
            known = str((error.get("ctx") or {}).get("expected", "")).replace("'", "")
            text = f"{where} is {value!r}, not one of {known}" if known else f"{where} is {value!r}, not a known value"
        else:
            expected = next((label for prefix, label in _EXPECTED if kind.startswith(prefix)), "a valid value")
            text = f"{where} is not {expected}"
        if text not in problems:
            problems.append(text)
    shown = "; ".join(problems[:limit])
    return shown + (f" (and {len(problems) - limit} more problems)" if len(problems) > limit else "")


def shape(value: Any) -> str:
    """What a JSON value is, without what it holds: for messages about an answer."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return "something else"


@contextmanager
def reading(what: str, *, within: bool = False) -> Iterator[None]:
    """Reading part of a server's answer (``what``: "a batch", "the list page"): a field of the
    wrong type, or a shape the code cannot walk (a list where an object belongs...), is a
    :class:`MalformedAnswer`, never an internal error. ``within``: ``what`` is the outer place
    (an item of a list) that a malformed answer found inside is prefixed with."""
    from pydantic import ValidationError

    try:
        yield
    except MalformedAnswer as exc:
        if within:
            raise MalformedAnswer(f"{what}: {exc.detail}") from None
        raise
    except ValidationError as exc:
        raise MalformedAnswer(f"{what}: {field_problems(exc)}") from None
    except ResponseError:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, OverflowError, RecursionError):
        raise MalformedAnswer(f"{what} is not in the expected shape") from None


def parses(what: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorates a parse helper (server data in, a model out) with :func:`reading`."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def parse(*args: P.args, **kwargs: P.kwargs) -> T:
            with reading(what):
                return fn(*args, **kwargs)

        return parse

    return decorate


# what to check after a malformed answer to an operation that may have acted on the server
_MAY_HAVE_ACTED = {
    "create_batch": "The batch may have been created: check with `bifrost batches list` before running it again.",
    "upload_file": "The file may have been uploaded: check with `bifrost files list` before uploading it again.",
}


def unexpected_answer(server: str, operation: str, detail: str) -> ResponseError:
    from bifrost_cli.config import redact_url

    hint = _MAY_HAVE_ACTED.get(operation)
    return ResponseError(f"unexpected answer from {redact_url(server)}: {detail}", hint=hint and expand(hint))


@contextmanager
def answers_from(server: Callable[[], str], operation: str) -> Iterator[None]:
    """The boundary around one operation of a target: a malformed answer (and a pydantic error
    that escaped a parse helper) becomes "unexpected answer from SERVER: ..." (exit 1)."""
    from pydantic import ValidationError

    try:
        yield
    except MalformedAnswer as exc:
        raise unexpected_answer(server(), operation, exc.detail) from None
    except ValidationError as exc:
        raise unexpected_answer(server(), operation, field_problems(exc)) from None


# operations that take an id first: its kind, and the command that does the same
_ID_OPERATIONS = {
    "get_batch": ("batch", "batches get"), "cancel_batch": ("batch", "batches cancel"),
    "delete_batch": ("batch", "batches delete"), "iter_results": ("batch", "batches results"),
    "iter_raw_results": ("batch", "batches results"), "iter_raw_lines": ("batch", "batches results --raw"),
    "iter_result_texts": ("batch", "batches results"), "get_file": ("file", "files get"),
    "delete_file": ("file", "files delete"), "open_download": ("file", "files download"),
}


def refuse_foreign_id(provider: str, operation: str, identifier: object) -> None:
    """Before any I/O: an id shaped as another provider's and not as this one's (``batches/abc``
    with ``-p anthropic``) is a usage error that names the provider, with the command to paste."""
    from bifrost_cli.errors import UsageError
    from bifrost_cli.providers import registry

    kind, words = _ID_OPERATIONS.get(operation, (None, ""))
    if kind is None or not isinstance(identifier, str):
        return

    def shaped(name: str) -> bool:
        pattern = registry.get(name).id_shapes.get(kind)
        return bool(pattern and re.fullmatch(pattern, identifier))

    if provider not in registry.names() or shaped(provider):
        return
    other = next((name for name in registry.names() if name != provider and shaped(name)), None)
    if other is not None:
        title = registry.get(other).title
        article = "an" if title[0] in "AEIOU" else "a"
        raise UsageError(
            f"{identifier} looks like {article} {title} {kind} id, and the provider is {provider}: add -p {other}",
            hint=f"`{suggest(words, identifier, provider=other)}`",
        )


class Answering:
    """A target whose every operation runs inside :func:`answers_from` (iterators too, item by
    item), after :func:`refuse_foreign_id`. What :meth:`CheckedTarget.check` hands out."""

    def __init__(self, inner: Any):
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            if args:
                refuse_foreign_id(self._inner.provider, name, args[0])
            with answers_from(self._inner.describe, name):
                result = attr(*args, **kwargs)
            if isinstance(result, Iterator):
                return self._guarded(result, name)
            return result

        return call

    def _guarded(self, items: Iterator[Any], name: str) -> Iterator[Any]:
        with answers_from(self._inner.describe, name):
            yield from items

# Anthropic's processing_status plus what a gateway passes through from other providers.
_RUNNING = {"in_progress", "validating", "finalizing", "pending", "running", "queued"}
_CANCELING = {"canceling", "cancelling"}
_ENDED = {"ended", "completed", "failed", "expired", "cancelled", "canceled", "succeeded"}


def unified_status(native: str | None) -> str:
    value = (native or "").lower()
    if value in _CANCELING:
        return "canceling"
    if value in _ENDED:
        return "ended"
    return "in_progress"


Leftover = Literal["processing", "canceled", "expired", "errored"]
"""Where the requests a provider counts neither as succeeded nor as failed went."""


def counts_with_leftover(succeeded: int, errored: int, leftover: int, bucket: Leftover | None) -> RequestCounts | None:
    """Request counts from a provider that counts the requests that succeeded and those that failed:
    the ones left over go to ``bucket`` (``processing`` while the batch runs; ``canceled``,
    ``expired`` or ``errored`` by how it ended). ``None`` when some are left over and no bucket
    says where they went (then only the results can tell)."""
    if leftover > 0 and bucket is None:
        return None
    buckets = {"succeeded": succeeded, "errored": errored}
    if leftover > 0 and bucket is not None:
        buckets[bucket] = buckets.get(bucket, 0) + leftover
    return RequestCounts(**buckets)


def timestamp(value: Any) -> Any:
    return None if value in ("", 0) else value


@parses("a file")
def parse_file(data: Any, provider: str) -> File:
    if not isinstance(data, dict) or not data.get("id"):
        raise MalformedAnswer(f"expected a file object with an id, got {shape(data)}")
    return File(
        id=data["id"],  # validated as a string: an object here is refused, not shown
        filename=data.get("filename"),
        size_bytes=data.get("size_bytes", data.get("bytes")),
        mime_type=data.get("mime_type") or None,
        purpose=data.get("purpose"),
        created_at=timestamp(data.get("created_at")),
        expires_at=timestamp(data.get("expires_at")),
        downloadable=data.get("downloadable"),
        provider=provider,
        status=_text(data.get("status")),
        error=_text(data.get("status_details")) if str(data.get("status", "")).lower() == "error" else None,
    )


def _text(value: Any) -> str | None:
    """A server's optional text field: a non-empty string, else nothing (never an object shown raw)."""
    return value if isinstance(value, str) and value.strip() else None


def load_json(text: str | bytes) -> Any:
    """One JSON value (a result line, an output file line), parsed in Rust: the one parser of
    result lines, so that the fast and the general path of ``batches results`` read them alike.
    Strict about what is not JSON text (a lone surrogate escape, a raw control character);
    ``Infinity``/``NaN`` are read as :func:`json.loads` reads them. :class:`ValueError` when not JSON."""
    return _from_json(text)


def raw_line_object(line: str | bytes, *, where: str) -> dict[str, Any]:
    """One line of a provider's own results, for ``--raw``: a JSON object, else :class:`MalformedAnswer`."""
    try:
        data = load_json(line)
    except ValueError:
        raise MalformedAnswer(f"{where}: not a result line (not JSON)") from None
    if not isinstance(data, dict):
        raise MalformedAnswer(f"{where}: expected a JSON object, got {shape(data)}")
    return data


def parse_result_line(line: str | bytes, *, where: str) -> tuple[dict[str, Any], BatchResult]:
    """Parse one JSONL result line in Anthropic's shape (raw dict and the validated model)."""
    try:
        data = load_json(line)
    except ValueError:
        raise MalformedAnswer(f"{where}: not a result line (not JSON)") from None
    with reading(f"{where}: a result line"):
        return data, BatchResult.model_validate(data)


def iter_jsonl(response: Response | Ranged) -> Iterator[str]:
    with response:
        for line in response.iter_lines():
            if line.strip():
                yield line


def iter_sized_jsonl(response: Ranged, size: int | None, *, what: str) -> Iterator[str]:
    """The non-blank lines of a results file, then a check that as many bytes arrived as its
    metadata says it holds (a file that ends early at a line boundary, without a length or with
    one that matches the cut, is otherwise indistinguishable from a whole one)."""
    from bifrost_cli.errors import TransferIncomplete

    with response:
        for line in response.iter_lines():
            if line.strip():
                yield line
    if size is not None and response.handed != size:
        raise TransferIncomplete(
            f"{what} ended after {response.handed} of its {size} bytes; nothing was saved",
            hint="Run the command again.",
        )


def iter_json_results(response: Ranged, *, where: str) -> Iterator[Any]:
    """The items of ONE JSON document of results (``{"results": [...], ...}`` or a bare list),
    parsed as a stream with ijson: each item is handed on as soon as it has arrived, and memory
    holds one item, not the document. A document cut short is
    :class:`~bifrost_cli.errors.TransferIncomplete`; one that is not JSON, a MalformedAnswer."""
    import ijson  # the C backend (yajl2_c) when it is built, else pure Python

    from bifrost_cli.errors import TransferIncomplete
    from bifrost_cli.http.ranged import ChunkReader

    reader = ChunkReader(response.iter_bytes())
    events = ijson.parse(reader, use_float=True)
    count = 0
    try:
        first = next(events, None)
        if first is None:
            raise MalformedAnswer(f"{where}: the answer is empty, not JSON")
        _, event, _ = first
        if event == "start_array":
            prefix = "item"
        elif event == "start_map":
            prefix = "results.item"
        else:
            raise MalformedAnswer(f"{where}: expected a JSON object with results, got a {event}")
        listed: list[bool] = []

        def watched() -> Iterator[Any]:
            for found in events:
                if found[0] == "results" and found[1] == "start_array":
                    listed.append(True)
                yield found

        for item in ijson.items(watched(), prefix):
            count += 1
            yield item
    except ijson.JSONError as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "premature EOF" in text or "Incomplete" in text:
            raise TransferIncomplete(
                f"{where}: the answer ended before its JSON did, after {count} results; nothing was saved",
                hint="Run the command again.",
            ) from None
        # the parser's message may quote the answer: only where it broke is said
        raise MalformedAnswer(f"{where}: not valid JSON after {count} results") from None
    if prefix == "results.item" and not listed:
        raise MalformedAnswer(f"{where}: the answer has no \"results\" list")


def path_segment(value: str) -> str:
    """An id as one path segment (ids are opaque: they may hold '/' or other characters)."""
    from urllib.parse import quote

    return quote(value, safe="-_.~")


def require_ended(batch: Batch, *, provider: str | None = None, noun: str = "batch", state: str | None = None) -> Batch:
    """``batch`` once it has ended; before that, :class:`~bifrost_cli.errors.BatchNotEnded` (its
    results come only once it ends). ``provider``: named in the hint (``-p openai``); ``state``:
    how the provider says where it stands (default: its status)."""
    if batch.ended:
        return batch
    where = state or f"status {batch.native_status}"
    raise BatchNotEnded(
        f"{noun} {batch.id} has not ended yet ({where}); results come once it ends",
        hint=f"Run `{suggest('batches wait', batch.id, provider=provider)}` first.",
    )


# --------------------------------------------------------------------------------------------
# error types of errored results: one vocabulary for every provider

ERROR_TYPES = (
    "invalid_request_error",  # the request itself is wrong (400, 422, INVALID_ARGUMENT, ValidationException)
    "authentication_error",  # 401, UNAUTHENTICATED
    "permission_error",  # 403, PERMISSION_DENIED, AccessDeniedException
    "not_found_error",  # 404, NOT_FOUND, an unknown model
    "request_too_large",  # 413
    "rate_limit_error",  # 429, RESOURCE_EXHAUSTED, ThrottlingException
    "api_error",  # 500, INTERNAL, and whatever says nothing more precise
    "overloaded_error",  # 503, 529, UNAVAILABLE
    "timeout_error",  # 408, 504, DEADLINE_EXCEEDED, ModelTimeoutException
    "blocked",  # Gemini: the prompt was blocked (promptFeedback.blockReason)
    "missing_result",  # Bedrock: the job's output holds no record for the request
)
"""The ``error.error.type`` of every errored result line, whatever the provider (Anthropic's own
names, which Anthropic's lines already carry); the provider's own type is kept in ``native_type``."""

_ERROR_BY_NAME = {
    **{name: name for name in ERROR_TYPES},
    **dict.fromkeys(("invalid_request", "invalid_argument", "failed_precondition", "out_of_range", "bad_request",
                     "validationexception", "validation_error", "context_length_exceeded", "invalid_prompt",
                     "batch_failed"),  # OpenAI: the batch's input was rejected, so none of its requests ran
                    "invalid_request_error"),
    **dict.fromkeys(("authentication", "unauthenticated", "invalid_api_key", "unauthorized",
                     "unrecognizedclientexception", "expiredtokenexception"), "authentication_error"),
    **dict.fromkeys(("permission", "permission_denied", "accessdeniedexception", "forbidden"), "permission_error"),
    **dict.fromkeys(("not_found", "model_not_found", "resourcenotfoundexception"), "not_found_error"),
    **dict.fromkeys(("rate_limit", "rate_limit_exceeded", "resource_exhausted", "throttlingexception",
                     "servicequotaexceededexception"), "rate_limit_error"),
    **dict.fromkeys(("server_error", "internal", "internal_error", "internalserverexception", "unknown",
                     "modelerrorexception", "data_loss"), "api_error"),
    **dict.fromkeys(("overloaded", "unavailable", "server_overloaded", "serviceunavailableexception",
                     "modelnotreadyexception"), "overloaded_error"),
    **dict.fromkeys(("timeout", "deadline_exceeded", "modeltimeoutexception"), "timeout_error"),
}
_ERROR_BY_STATUS = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 408: "timeout_error", 409: "invalid_request_error", 413: "request_too_large",
                    422: "invalid_request_error", 424: "api_error", 429: "rate_limit_error", 500: "api_error",
                    502: "api_error", 503: "overloaded_error", 504: "timeout_error", 529: "overloaded_error"}


def error_type(*names: Any, status: Any = None) -> str:
    """The one error type (:data:`ERROR_TYPES`) for what a provider said: its HTTP ``status`` when
    known (the same failure has the same status everywhere; OpenAI's refused key is an
    ``invalid_request_error`` with a 401), else the first of ``names`` (its type, code, status name,
    or an HTTP status as text) that is known, else ``api_error``."""
    try:
        known: str | None = _ERROR_BY_STATUS.get(int(status))
    except (TypeError, ValueError):
        known = None
    for name in names:
        if known is not None:
            break
        text = str(name).strip() if name is not None else ""
        known = _ERROR_BY_NAME.get(text.lower())
        if known is None and text.isdigit():
            known = _ERROR_BY_STATUS.get(int(text))
    return known or "api_error"


def error_detail(native: Any, message: Any, *others: Any, status: Any = None) -> dict[str, Any]:
    """An errored result's ``error`` object: ``{"type", "message"}`` with the one vocabulary's type
    (from ``native``, then ``others``, then the HTTP ``status``), and ``native_type`` (what the
    provider said) when that differs."""
    unified = error_type(native, *others, status=status)
    detail: dict[str, Any] = {"type": unified, "message": "" if message is None else str(message)}
    named = native if native not in (None, "") else next((o for o in others if o not in (None, "")), None)
    if named is not None and str(named) != unified:
        detail["native_type"] = str(named)
    return detail


def error_envelope(native: Any, message: Any, *others: Any, status: Any = None) -> dict[str, Any]:
    """Anthropic's error envelope ``{"type": "error", "error": {...}}`` of :func:`error_detail`."""
    return {"type": "error", "error": error_detail(native, message, *others, status=status)}
