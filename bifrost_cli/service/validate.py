"""``batches validate`` and ``batches create --dry-run``: the whole pre-flight of a create, with
no credentials, no target and no ledger: nothing is sent, looked up or recorded.

The checks are the ones ``create`` runs, from the same code: the input's own
(:func:`bifrost_cli.inputs.load_requests`: JSON per line, custom_id rules, required params), what
the target's spec refuses (``--metadata``, ``--timeout-hours``, a create at all), and the
provider's own (its spec's ``batch_checks`` module: fields it cannot take, one model, its limits on
requests and bytes per batch, Gemini inline or file, Bedrock's quotas, S3 and tag rules, the
gateway's rules), which its adapters call before sending. Every problem is kept as
``(line, message)``; the report says what a create would send.

The estimate of input tokens is a heuristic, not a tokenizer: the characters of every string in
the requests (message text, system prompt, tool definitions...) divided by
:data:`CHARS_PER_TOKEN`, leaving out ids, model names and base64 data.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from bifrost_cli.errors import BifrostError, InputError

if TYPE_CHECKING:
    from bifrost_cli.config import Settings
    from bifrost_cli.inputs import RequestSet
    from bifrost_cli.providers.base import BatchOptions
    from bifrost_cli.providers.spec import Mode

CHARS_PER_TOKEN = 4
"""The estimate's ratio: about four characters of English text a token (it varies by model and
language; code and non-Latin text take more tokens)."""
_NOT_TEXT = frozenset({"custom_id", "key", "recordId", "model", "method", "url", "data", "anthropic_version", "file_uri", "fileUri"})
VALID_HINT = "Fix them and validate again; nothing was sent."


@dataclass(frozen=True)
class Problem:
    """One reason the input would be refused: on a line of the input, or (``line`` None) the
    input's or the options' as a whole."""

    line: int | None
    message: str
    hint: str | None = None

    def text(self, display_name: str) -> str:
        """``FILE:LINE: message`` (``FILE: message``), with the hint."""
        where = display_name if self.line is None else f"{display_name}:{self.line}"
        return f"{where}: {self.message}" + (f" (hint: {self.hint})" if self.hint else "")


@dataclass
class Validation:
    """What ``batches validate`` found."""

    input: str
    provider: str
    mode: str  # direct, gateway or emulator
    requests: int = 0
    bytes: int = 0
    models: list[str] = field(default_factory=list)
    estimated_input_tokens: int = 0
    problems: list[Problem] = field(default_factory=list)
    total_problems: int = 0
    """Every problem found (``problems`` lists at most the first 50 of the input's lines)."""
    notes: list[str] = field(default_factory=list)
    """How it would be sent (inline or as a file, the job's kind and size...)."""

    @property
    def ok(self) -> bool:
        return not self.total_problems

    def add(self, line: int | None, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(line, message, _hint(hint)))
        self.total_problems += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "input": self.input,
            "provider": self.provider,
            "mode": self.mode,
            "requests": self.requests,
            "bytes": self.bytes,
            "models": self.models,
            "estimated_input_tokens": self.estimated_input_tokens,
            "estimate": f"characters / {CHARS_PER_TOKEN} over the requests' text (a heuristic, not a tokenizer)",
            "problems": [
                {"line": p.line, "message": p.message, **({"hint": p.hint} if p.hint else {})} for p in self.problems
            ],
            "total_problems": self.total_problems,
            "notes": self.notes,
        }

    def verdict(self) -> None:
        """Exit 2 (:class:`InputError` listing every problem as ``FILE:LINE: message``) unless
        the input would be accepted."""
        if not self.ok:
            raise InputError([p.text(self.input) for p in self.problems], total=self.total_problems, hint=VALID_HINT)


def mode_of(settings: Settings) -> Mode:
    """How the settings reach their provider (as :func:`bifrost_cli.providers.build_target` decides)."""
    return "emulator" if settings.emulator else "gateway" if settings.base_url else "direct"


def validate_batch(
    settings: Settings,
    input_path: str,
    *,
    model: str | None = None,
    input_format: str | None = None,
    metadata: Sequence[str] = (),
    timeout_hours: int | None = None,
    stdin: BinaryIO | None = None,
) -> Validation:
    """Run every check ``batches create`` runs before sending, for the provider and mode in
    ``settings``, and report what it finds. Reads only the input (and the environment); sends
    nothing, needs no credentials. An input that cannot be read at all (no such file, not UTF-8)
    raises its :class:`~bifrost_cli.errors.UsageError`, as create does."""
    from bifrost_cli.inputs import load_requests
    from bifrost_cli.providers import registry
    from bifrost_cli.providers.base import BatchOptions
    from bifrost_cli.service.batches import batch_options

    display = "<stdin>" if input_path == "-" else input_path
    mode = mode_of(settings)
    report = Validation(input=display, provider=settings.provider, mode=mode)
    spec = registry.get(settings.provider)
    checks = importlib.import_module(spec.batch_checks) if spec.batch_checks else None

    options = BatchOptions()
    with _problem(report):
        options = batch_options(metadata=metadata, timeout_hours=timeout_hours)
    _check_options(report, settings, mode, options, checks)
    if report.total_problems:  # said once: the requests are checked as they would be sent without them
        options = BatchOptions()

    try:
        requests = load_requests(input_path, model=model, stdin=stdin, input_format=input_format)
    except InputError as exc:
        _add_listed(report, exc)
        _count_input(report, input_path, stdin)
        return report
    with requests:
        report.input = requests.display_name
        report.requests = requests.count
        report.bytes = requests.input_bytes
        report.models = sorted(requests.models)
        report.estimated_input_tokens = estimate_tokens(requests)
        with _problem(report):
            check_set(requests, settings.provider, mode)
            if checks is not None and hasattr(checks, "check_requests"):
                notes = checks.check_requests(requests, options, settings, mode)
                report.notes.extend(notes or ())
    return report


def check_set(requests: RequestSet, provider: str, mode: str) -> None:
    """The provider's cheap checks of the request set as a whole (format, models, its limits on
    requests and bytes per batch): what ``batches create`` refuses before it looks anything up,
    and ``validate`` before the provider's checks of every line."""
    from bifrost_cli.providers import registry

    spec = registry.get(provider)
    checks = importlib.import_module(spec.batch_checks) if spec.batch_checks else None
    if checks is not None and hasattr(checks, "check_set"):
        checks.check_set(requests, provider, mode)


def _check_options(report: Validation, settings: Settings, mode: Mode, options: BatchOptions, checks: Any) -> None:
    """What the target's spec refuses (a create at all, --metadata, --timeout-hours), then the
    provider's own option checks: the refusals of :meth:`CheckedTarget.preflight`, without a target."""
    from bifrost_cli.providers import target_unsupported
    from bifrost_cli.providers.spec import METADATA, TIMEOUT_HOURS

    unsupported = target_unsupported(settings)
    asked = ["batches.create"]
    if options.metadata:
        asked.append(METADATA)
    if options.timeout_hours is not None:
        asked.append(TIMEOUT_HOURS)
    refused = [unsupported[op] for op in asked if op in unsupported]
    for reason in refused:
        report.add(None, reason)
    if refused or checks is None or not hasattr(checks, "check_options"):
        return
    with _problem(report):
        checks.check_options(options, settings, mode)


class _problem:
    """``with _problem(report):`` a :class:`BifrostError` raised inside becomes the report's
    problems (each ``FILE:LINE`` of an :class:`InputError`), and the block ends."""

    def __init__(self, report: Validation):
        self.report = report

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, InputError):
            _add_listed(self.report, exc)
            return True
        if isinstance(exc, BifrostError):
            self.report.add(None, exc.message, exc.hint)
            return True
        return False


def _add_listed(report: Validation, exc: InputError) -> None:
    """The problems of an :class:`InputError` (``FILE:LINE: message`` strings) as (line, message);
    a hint beyond "fix the lines" (Bedrock's quota setting, --split) goes with the whole input's."""
    from bifrost_cli.inputs import FIX_HINT

    hint = exc.hint or ""
    hint = hint[len(FIX_HINT) :].strip().removeprefix("(").removesuffix(")") if hint.startswith(FIX_HINT) else hint
    for text in exc.problems:
        line, message = _split(text, report.input)
        report.problems.append(Problem(line, message, _hint(hint) if line is None else None))
    report.total_problems += max(_total(exc), len(exc.problems))


def _hint(hint: str | None) -> str | None:
    """A refusal's hint without "nothing was sent" (the report says so once)."""
    if not hint:
        return None
    return hint.replace("; nothing was sent.", ".").replace(" Nothing was sent.", "").strip() or None


def _total(exc: InputError) -> int:
    match = re.match(r"the input has (\d+) problem", exc.message)
    return int(match.group(1)) if match else len(exc.problems)


def _split(text: str, display_name: str) -> tuple[int | None, str]:
    rest = text[len(display_name) + 1 :] if text.startswith(display_name + ":") else text
    match = re.match(r"(\d+): (.*)", rest, re.DOTALL)
    if match:
        return int(match.group(1)), match.group(2)
    return None, rest.removeprefix(" ")


def _count_input(report: Validation, input_path: str, stdin: BinaryIO | None) -> None:
    """The input's size, when it is a file (its requests are not counted once a line is bad)."""
    import os

    if input_path != "-":
        try:
            report.bytes = os.path.getsize(input_path)
        except OSError:
            pass


def estimate_tokens(requests: RequestSet) -> int:
    """About how many input tokens the requests hold: see :data:`CHARS_PER_TOKEN` (streamed: one
    request in memory at a time)."""
    chars = 0
    for request in requests.iter_checked():
        chars += _text_chars(request)
    return math.ceil(chars / CHARS_PER_TOKEN)


def _text_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_text_chars(v) for k, v in value.items() if k not in _NOT_TEXT)
    if isinstance(value, list):
        return sum(_text_chars(v) for v in value)
    return 0
