"""Reading and checking the input of ``bifrost batches create``.

The input is JSONL of ``{"custom_id": ..., "params": {...Messages API body...}}`` lines, or one JSON
array of such objects; ``-`` reads standard input. Every request is checked before anything is
sent, and every problem is reported as ``FILE:LINE: message``.

Inputs can be hundreds of megabytes, so a JSONL file is streamed line by line and only what is
needed is kept (the custom_ids with their line numbers, counts, the models). The requests are
parsed again from the file each time :meth:`RequestSet.iter_requests` runs. Standard input, and
anything else that cannot be read twice (a pipe given by path), is first copied to a temporary
file. A JSON array is one document, so it is loaded whole, but each element keeps its own line
(:mod:`bifrost_cli.json_items` reads both).

Nothing here imports typer, rich or pydantic.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
import tempfile
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from bifrost_cli.errors import InputError, UsageError
from bifrost_cli.json_items import Bad, detect_layout, read_items
from bifrost_cli.json_items import Items as Items  # kept importable from here

if TYPE_CHECKING:
    from bifrost_cli.providers.spec import NativeInput

CUSTOM_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_REPORTED = 50  # problems listed at most; InputError.total still gives the real count
MAX_REQUESTS = 100_000  # Anthropic's limit on the requests in one batch

STDIN_NAME = "<stdin>"
FIX_HINT = "Fix the lines above and run the command again; nothing was sent."
CHANGED_HINT = "The input changed after it was checked; run the command again."

_COPY_CHUNK = 1 << 20
_BLOCK = 256 << 10  # the checked copy is written and read in blocks of this size (RSS stays low)
_LINE_FIELDS = ("custom_id", "params")
_ROLES = ("user", "assistant")
_CLIP = 60  # longest value quoted back in a message


# --- The file as a whole ---------------------------------------------------------------------


_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def _check_encoding(path: str, display_name: str) -> None:
    """Refuse, with one clear message, a file that is not UTF-8 text at all: UTF-16 or UTF-32
    (as some Windows editors and PowerShell's ``>`` write), or binary. JSON text never holds a
    raw NUL byte, and those encodings put one in nearly every character."""
    with open(path, "rb") as fp:
        head = fp.read(4096)
    encoding = next((name for bom, name in _WIDE_BOMS if head.startswith(bom)), None)
    if encoding is None and b"\x00" in head:
        half = max(len(head) // 2, 1)
        wide = max(head[0::2].count(0), head[1::2].count(0)) > half // 2
        encoding = "UTF-16" if wide else None
        if not wide:
            raise UsageError(f"{display_name}: binary data, not JSON text; nothing was sent", hint="Pass the JSONL file of requests.")
    if encoding is not None:
        convert = f"iconv -f {encoding} -t UTF-8"
        if display_name != STDIN_NAME:
            import shlex

            convert += f" {shlex.quote(display_name)} > requests.jsonl"
        raise UsageError(f"{display_name}: {encoding} text; requests must be UTF-8", hint=f"Convert it first: {convert}")


# --- Input formats ---------------------------------------------------------------------------


class Checked(NamedTuple):
    """What checking one request found: its problems, and its custom_id and model when valid."""

    problems: list[str]
    custom_id: str | None = None
    model: str | None = None
    endpoint: str | None = None  # the endpoint a native request names (OpenAI's url), if any


class InputFormat(NamedTuple):
    """How requests of one input format are checked and turned into ``{custom_id, params}``."""

    check: Callable[[Any, str | None], Checked]  # (item, --model) -> Checked
    to_request: Callable[[Any, str | None], dict[str, Any]]  # called only on checked items
    id_name: str = "custom_id"  # what the format calls a request's id, for messages


def _clip(text: str) -> str:
    return text if len(text) <= _CLIP else text[: _CLIP - 3] + "..."


def _describe(value: Any) -> str:
    """A JSON value as messages show it: an object, an array, ``"text"``, ``42``, ``null``."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return json.dumps(_clip(value), ensure_ascii=False)
    return json.dumps(value)


def _quote(text: str) -> str:
    return json.dumps(_clip(text), ensure_ascii=False)


def _check_custom_id(line: dict[str, Any], problems: list[str]) -> str | None:
    if "custom_id" not in line:
        problems.append("custom_id is missing")
        return None
    custom_id = line["custom_id"]
    if not isinstance(custom_id, str):
        problems.append(f"custom_id must be a string, got {_describe(custom_id)}")
        return None
    if not CUSTOM_ID_RE.fullmatch(custom_id):  # fullmatch: "$" alone lets a final "\n" through
        problems.append(
            f'custom_id {_quote(custom_id)} is not valid: use 1-64 letters, digits, "_" or "-"'
        )
        return None
    return custom_id


def _check_model(params: dict[str, Any], default: str | None, problems: list[str]) -> str | None:
    if "model" not in params:
        if default is None:
            problems.append("params.model is missing (add it, or pass --model to fill it in)")
        return default
    model = params["model"]
    if not isinstance(model, str) or not model.strip():
        problems.append(f"params.model must be a non-empty string, got {_describe(model)}")
        return None
    return model


def _check_max_tokens(params: dict[str, Any], problems: list[str]) -> None:
    if "max_tokens" not in params:
        problems.append("params.max_tokens is missing")
        return
    value = params["max_tokens"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.append(f"params.max_tokens must be a positive integer, got {_describe(value)}")


def _check_message(where: str, message: Any, problems: list[str]) -> None:
    if not isinstance(message, dict):
        problems.append(f"{where} must be an object, got {_describe(message)}")
        return
    role = message.get("role")
    if role not in _ROLES:
        got = f", got {_describe(role)}" if "role" in message else ""
        note = " (a system prompt goes in params.system)" if role == "system" else ""
        problems.append(f'{where}.role must be "user" or "assistant"{got}{note}')
    if "content" not in message:
        problems.append(f"{where}.content is missing")
    elif not isinstance(message["content"], (str, list)):
        problems.append(
            f"{where}.content must be a string or an array, got {_describe(message['content'])}"
        )


def _check_messages(params: dict[str, Any], problems: list[str]) -> None:
    if "messages" not in params:
        problems.append("params.messages is missing")
        return
    messages = params["messages"]
    if not isinstance(messages, list):
        problems.append(f"params.messages must be an array, got {_describe(messages)}")
    elif not messages:
        problems.append("params.messages must not be empty")
    for index, message in enumerate(messages if isinstance(messages, list) else ()):
        _check_message(f"params.messages[{index}]", message, problems)


def _accept_anthropic(line: Any, model: str | None) -> Checked | None:
    """The common case in one go: a line that passes every check below (exactly, or more
    strictly: exact JSON types), else ``None`` and the checks below say what is wrong."""
    if type(line) is not dict or len(line) != 2:
        return None
    custom_id, params = line.get("custom_id"), line.get("params")
    if type(custom_id) is not str or type(params) is not dict or not CUSTOM_ID_RE.fullmatch(custom_id):
        return None
    if "model" in params:
        model = params["model"]
        if type(model) is not str or not model.strip():
            return None
    elif model is None:
        return None
    max_tokens = params.get("max_tokens")
    if type(max_tokens) is not int or max_tokens < 1:  # type(): True is not a number of tokens
        return None
    messages = params.get("messages")
    if type(messages) is not list or not messages:
        return None
    for message in messages:
        if type(message) is not dict or message.get("role") not in _ROLES:
            return None
        content = message.get("content")
        if type(content) is not str and type(content) is not list:
            return None
    return Checked([], custom_id, model)


def _check_anthropic(line: Any, model: str | None) -> Checked:
    accepted = _accept_anthropic(line, model)
    if accepted is not None:
        return accepted
    if not isinstance(line, dict):
        return Checked(
            [f'expected a JSON object with "custom_id" and "params", got {_describe(line)}']
        )
    problems = [
        f'unknown field {_quote(key)} (a request line has only "custom_id" and "params")'
        for key in line
        if key not in _LINE_FIELDS
    ]
    custom_id = _check_custom_id(line, problems)
    params = line.get("params")
    if "params" not in line:
        problems.append("params is missing (it holds the Messages API request body)")
    elif not isinstance(params, dict):
        problems.append(f"params must be an object, got {_describe(params)}")
    else:
        model = _check_model(params, model, problems)
        _check_max_tokens(params, problems)
        _check_messages(params, problems)
        return Checked(problems, custom_id, model)
    return Checked(problems, custom_id)


def _anthropic_request(line: dict[str, Any], model: str | None) -> dict[str, Any]:
    params = line["params"]
    if model is not None and "model" not in params:
        params = {"model": model, **params}
    return {"custom_id": line["custom_id"], "params": params}


def _check_item(fmt: InputFormat, item: Any, model: str | None) -> Checked:
    return Checked([item.message]) if isinstance(item, Bad) else fmt.check(item, model)


# Input formats by name: the provider-neutral one here; each provider's native one is named in its
# spec (a key that tells its lines apart, and the module with its ``INPUT_FORMAT``), imported only
# when used.
NEUTRAL = "anthropic"
_FORMATS: dict[str, InputFormat] = {NEUTRAL: InputFormat(_check_anthropic, _anthropic_request)}
_NEUTRAL_KEY = "params"


def native_formats() -> dict[str, NativeInput]:
    """Provider name -> how its native input lines are told apart and read."""
    from bifrost_cli.providers import registry

    return {spec.name: spec.native_input for spec in registry.specs() if spec.native_input is not None}


def format_names() -> tuple[str, ...]:
    """What ``--input-format`` takes."""
    return ("auto", NEUTRAL, *native_formats())


def _resolve_format(input_format: str | None) -> str:
    name = (input_format or "auto").lower()
    if name not in ("auto", NEUTRAL) and name not in native_formats():
        raise UsageError(
            f"unknown input format {input_format!r}",
            hint="Use one of: " + ", ".join(format_names()) + ".",
        )
    return name


_LOADED: dict[str, InputFormat] = {}  # a native format's module -> its INPUT_FORMAT, once imported


def _format(name: str) -> InputFormat:
    """The format named ``name`` now: the neutral one, or what the registered provider's spec names
    (so the answer follows the registry, also after a provider is added, replaced or removed)."""
    if name == NEUTRAL:
        return _FORMATS[NEUTRAL]
    native = native_formats().get(_resolve_format(name))  # refuses a name no registered provider has
    assert native is not None
    if native.module not in _LOADED:
        import importlib

        try:
            module = importlib.import_module(native.module)
        except ImportError:
            raise UsageError(
                f"this version does not read {name}'s native input format yet",
                hint='Write the requests in the provider-neutral form: {"custom_id": ..., "params": {...}}.',
            ) from None
        _LOADED[native.module] = module.INPUT_FORMAT
    return _LOADED[native.module]


def _detect_format(path: str, layout: str) -> str:
    """The format of the first request that is a JSON object (the neutral one if none tells)."""
    with open(path, "rb") as fp:
        for _, item in read_items(fp, layout):
            if isinstance(item, dict):
                if _NEUTRAL_KEY in item:
                    return NEUTRAL
                for name, native in native_formats().items():
                    if native.key in item:
                        return name
                break
    return NEUTRAL


# --- Opening the input -----------------------------------------------------------------------


class _Source(NamedTuple):
    display_name: str
    path: str  # the file to read: the user's, or the spooled copy
    spool: str | None  # a temporary copy to remove when done


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _spool(stream: BinaryIO, display_name: str) -> str:
    """Copy a stream that cannot be read twice to a temporary file; return its path."""
    fd, path = tempfile.mkstemp(prefix="bifrost-input-")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(stream, out, _COPY_CHUNK)
    except BaseException as err:
        _remove(path)
        if isinstance(err, OSError):
            raise UsageError(
                f"{display_name}: could not copy the input to a temporary file"
                f" ({err.strerror or err})",
                hint="Check that the temporary directory (TMPDIR) has room, or pass a file path.",
            ) from err
        raise
    return path


def _unreadable(path: str, err: OSError) -> UsageError:
    if isinstance(err, (FileNotFoundError, NotADirectoryError)):
        return UsageError(
            f"{path}: no such file",
            hint="Check the path, or pass - to read the requests from standard input.",
        )
    if isinstance(err, IsADirectoryError):
        return _is_directory(path)
    if isinstance(err, PermissionError):
        return UsageError(f"{path}: permission denied", hint="Check the file's permissions.")
    return UsageError(f"{path}: cannot read the file ({err.strerror or err})")


def _is_directory(path: str) -> UsageError:
    return UsageError(
        f"{path}: is a directory",
        hint='Pass a JSONL file with one {"custom_id": ..., "params": {...}} request per line.',
    )


def _open_source(path: str, stdin: BinaryIO | None) -> _Source:
    if path == "-":
        spool = _spool(stdin or sys.stdin.buffer, STDIN_NAME)
        return _Source(STDIN_NAME, spool, spool)
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise _is_directory(path)
        with open(path, "rb") as fp:
            if stat.S_ISREG(mode):
                return _Source(path, path, None)
            spool = _spool(fp, path)  # a pipe or a device: keep a copy to read again
    except OSError as err:
        raise _unreadable(path, err) from err
    return _Source(path, spool, spool)


# --- Checking --------------------------------------------------------------------------------


class Problems:
    """Problems as ``FILE:LINE: message``: the first MAX_REPORTED listed, all of them counted.

    Every check of a whole input (this module's, and each provider's translation) collects its
    problems here, so they are all listed and counted the same way."""

    def __init__(self, display_name: str):
        self.display_name = display_name
        self.listed: list[str] = []
        self.total = 0
        self._leading = 0  # problems listed first, before those of lines

    def add(self, line: int | None, message: str, *, first: bool = False) -> None:
        """Count a problem; list it if there is room (``first``: list it before every problem that
        was not added ``first``, always). ``line=None``: the problem is the whole input's."""
        self.total += 1
        where = self.display_name if line is None else f"{self.display_name}:{line}"
        if first:
            self.listed.insert(self._leading, f"{where}: {message}")
            self._leading += 1
            del self.listed[MAX_REPORTED:]
        elif len(self.listed) < MAX_REPORTED:
            self.listed.append(f"{where}: {message}")

    def raise_any(self, hint: str = FIX_HINT) -> None:
        """Raise :class:`InputError` listing the problems, if there are any."""
        if self.total:
            raise InputError(self.listed, total=self.total, hint=hint)


class RequestSet:
    """A validated input. Re-readable: iter_requests() can be called several times (once to
    build a request body, again on retry)."""

    def __init__(
        self,
        *,
        display_name: str,
        path: str,
        layout: str,
        input_format: str,
        model: str | None,
        lines: dict[str, int],
        models: set[str],
        input_bytes: int,
        spool: str | None = None,
        checked: _CheckedCopy | None = None,
        endpoints: dict[str, str] | None = None,
    ):
        self.display_name = display_name  # path as the user gave it, or "<stdin>"
        self.path = path  # the file iter_requests() reads: the user's, or the spooled copy
        self.layout = layout  # "jsonl" or "array"
        self.input_format = input_format  # "anthropic", or a provider's native format
        self.count = len(lines)  # number of requests
        self.custom_ids = list(lines)  # in input order
        self.models = models  # distinct params.model values (after --model filling)
        self.endpoints = endpoints or {}
        """The endpoints native requests name (OpenAI's url), each with the first custom_id naming it,
        in input order (empty for formats whose requests name none)."""
        self.input_bytes = input_bytes  # size of the input read
        self._model = model
        self._lines = lines  # custom_id -> line
        self._closed = False
        self._cleanup = weakref.finalize(self, _remove, spool) if spool else None
        self._checked = checked
        self._checked_cleanup = weakref.finalize(self, checked.file.close) if checked else None
        self.sha256 = checked.sha256 if checked else None
        """sha256 of the requests as checked: each one (after --model) as compact JSON in its own key
        order, ``\n`` after each (what :meth:`iter_encoded` yields)."""
        self.encoded_bytes = checked.size if checked else None  # total size of iter_encoded()

    def line_of(self, custom_id: str) -> int | None:
        """The line a custom_id is on, or ``None`` when no request has it."""
        return self._lines.get(custom_id)

    def iter_requests(self) -> Iterator[dict[str, Any]]:
        """Each request as ``{"custom_id", "params"}``, in input order, with --model applied.

        The input is parsed again each time (from the file, or its spooled copy).
        """
        if self._closed:
            raise ValueError("the request set is closed")
        return self._iter_requests()

    def _iter_requests(self) -> Iterator[dict[str, Any]]:
        fmt = _format(self.input_format)
        expected = iter(self.custom_ids)
        with open(self.path, "rb") as fp:
            for line, item in read_items(fp, self.layout):
                checked = _check_item(fmt, item, self._model)
                if checked.problems or checked.custom_id != next(expected, None):
                    problem = checked.problems[0] if checked.problems else "not as checked before"
                    raise InputError([f"{self.display_name}:{line}: {problem}"], hint=CHANGED_HINT)
                yield fmt.to_request(item, self._model)
        if next(expected, None) is not None:
            problem = f"{self.display_name}: fewer requests than before"
            raise InputError([problem], hint=CHANGED_HINT)

    def iter_encoded(self, chunk: int = _BLOCK) -> Iterator[bytes]:
        """The checked requests as JSONL bytes (compact JSON, one request a line, each ending in
        ``\n``), in chunks that may split lines, read from the copy written while checking: no
        parsing or checking again, and what is sent is what was checked even if the input file
        changes meanwhile. Re-readable, like :meth:`iter_requests`."""
        if self._closed:
            raise ValueError("the request set is closed")
        if self._checked is None:
            return self._encode_requests()
        return self._read_checked(self._checked.file.fileno(), chunk)

    def _encode_requests(self) -> Iterator[bytes]:
        for request in self.iter_requests():
            yield encode_line(request)

    @staticmethod
    def _read_checked(fd: int, chunk: int) -> Iterator[bytes]:
        offset = 0
        while data := os.pread(fd, chunk, offset):  # pread: readers do not share a position
            offset += len(data)
            yield data

    def iter_checked(self) -> Iterator[dict[str, Any]]:
        """Each request as :meth:`iter_requests` gives it, parsed back from the checked copy (no
        checking again)."""
        if self._closed:
            raise ValueError("the request set is closed")
        if self._checked is None:
            return self.iter_requests()
        return self._parse_checked(self._checked.file.fileno())

    @classmethod
    def _parse_checked(cls, fd: int) -> Iterator[dict[str, Any]]:
        from pydantic_core import from_json  # Rust; json.loads reads what it refuses (a lone surrogate)

        rest = b""
        for data in cls._read_checked(fd, _BLOCK):
            lines = (rest + data).split(b"\n")
            rest = lines.pop()
            for raw in lines:
                try:
                    value = from_json(raw, cache_strings="keys")
                except ValueError:
                    value = json.loads(raw)
                yield value

    def close(self) -> None:
        """Remove the spooled copy, if any. Safe to call more than once."""
        self._closed = True
        if self._cleanup is not None:
            self._cleanup()
        if self._checked_cleanup is not None:
            self._checked_cleanup()

    def __enter__(self) -> RequestSet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RequestSet {self.display_name!r}: {self.count} requests>"


def load_requests(
    path: str,
    *,
    model: str | None = None,
    stdin: BinaryIO | None = None,
    input_format: str | None = None,
    max_requests: int | None = MAX_REQUESTS,
) -> RequestSet:
    """Read and check an input file (``-``: ``stdin``, by default the process's standard input).

    ``model`` (``--model``) fills params.model on the requests that have none. Raises
    :class:`UsageError` when the input cannot be read or the format is unknown, and
    :class:`InputError` listing ``FILE:LINE: message`` problems when any request is bad.
    """
    format_name = _resolve_format(input_format)
    if model is not None and not model.strip():
        raise UsageError("--model must not be empty")
    source = _open_source(path, stdin)
    try:
        return _check_input(source, format_name, model, max_requests)
    except BaseException:
        if source.spool:
            _remove(source.spool)
        raise


def _check_input(
    source: _Source, format_name: str, model: str | None, max_requests: int | None
) -> RequestSet:
    name = source.display_name
    problems = Problems(name)
    lines: dict[str, int] = {}
    models: set[str] = set()
    copy = _CopyWriter(name)
    try:
        return _check_into(source, format_name, model, max_requests, problems, lines, models, copy)
    except BaseException:
        copy.discard()
        raise


def _check_into(
    source: _Source,
    format_name: str,
    model: str | None,
    max_requests: int | None,
    problems: Problems,
    lines: dict[str, int],
    models: set[str],
    copy: _CopyWriter,
) -> RequestSet:
    name = source.display_name
    count = 0
    endpoints: dict[str, str] = {}
    try:
        _check_encoding(source.path, name)
        layout = detect_layout(source.path)
        if format_name == "auto":
            format_name = _detect_format(source.path, layout)
        fmt = _format(format_name)
        with open(source.path, "rb") as fp:
            for line, item in read_items(fp, layout):
                count += 1
                checked = Checked([item.message]) if type(item) is Bad else fmt.check(item, model)
                for message in checked.problems:
                    problems.add(line, message)
                custom_id = checked.custom_id
                if custom_id is not None and custom_id in lines:
                    problems.add(
                        line,
                        f"duplicate {fmt.id_name} {_quote(custom_id)}"
                        f" (first used on line {lines[custom_id]})",
                    )
                elif custom_id is not None:
                    lines[custom_id] = line
                if checked.model is not None:
                    models.add(checked.model)
                if checked.endpoint is not None and custom_id is not None and checked.endpoint not in endpoints:
                    endpoints[checked.endpoint] = custom_id
                if not problems.total:  # once a problem is found nothing will be sent
                    copy.add(fmt.to_request(item, model))
        input_bytes = os.path.getsize(source.path)
    except OSError as err:
        raise UsageError(f"{name}: cannot read the input ({err.strerror or err})") from err
    if max_requests is not None and count > max_requests:
        problems.add(None, f"{count} requests; a batch holds at most {max_requests:,}", first=True)
    problems.raise_any()
    if not count:
        raise InputError(
            [f"{name}: no requests found"],
            hint='Write one {"custom_id": ..., "params": {...}} request per line.',
        )
    return RequestSet(
        display_name=name,
        path=source.path,
        layout=layout,
        input_format=format_name,
        model=model,
        lines=lines,
        models=models,
        input_bytes=input_bytes,
        spool=source.spool,
        checked=copy.finish(),
        endpoints=endpoints,
    )


def encode_line(request: Any) -> bytes:
    """One request (or any JSON value) as it is sent and hashed: compact JSON in its own key
    order, then ``\n`` -- the one encoding of every JSONL line bifrost writes from requests (the
    checked copy, and each provider's translated lines), so a line that needs no translation is
    sent byte for byte as it was checked.

    pydantic-core's serializer (Rust; pydantic is loaded by every command that sends anyway) is
    several times faster than ``json.dumps``; a string it cannot write as UTF-8 (a lone surrogate,
    which JSON's ``\\ud800`` escape can hold) is written by ``json.dumps`` with escapes."""
    to_json, failed = _serializer()
    try:
        return to_json(request) + b"\n"
    except failed:
        return (json.dumps(request, separators=(",", ":")) + "\n").encode()


_SERIALIZER: tuple[Callable[[Any], bytes], type[Exception]] | None = None


def _serializer() -> tuple[Callable[[Any], bytes], type[Exception]]:
    """pydantic-core's ``to_json`` and its error, imported once (not on every line)."""
    global _SERIALIZER
    if _SERIALIZER is None:
        from pydantic_core import PydanticSerializationError, to_json

        _SERIALIZER = (to_json, PydanticSerializationError)
    return _SERIALIZER


class _CheckedCopy(NamedTuple):
    file: BinaryIO  # unnamed (nothing is left behind, whatever happens), read with pread
    sha256: str
    size: int


class _CopyWriter:
    """Writes each checked request, encoded, to a temporary file while the input is checked, and
    hashes it: the one pass that every later read (body, hash, retries) reuses."""

    def __init__(self, display_name: str):
        import hashlib

        self.display_name = display_name
        self._digest = hashlib.sha256()
        self._size = 0
        self._serializer = _serializer()
        self._buffer: list[bytes] = []
        self._buffered = 0
        try:
            self._fp: BinaryIO | None = tempfile.TemporaryFile(prefix="bifrost-checked-")
        except OSError as err:
            raise self._failed(err) from err

    def add(self, request: dict[str, Any]) -> None:
        to_json, failed = self._serializer
        try:
            data = to_json(request) + b"\n"  # encode_line, without a call more on every line
        except failed:
            data = encode_line(request)
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= _BLOCK:
            self._flush()

    def _flush(self) -> None:
        block = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        self._digest.update(block)
        self._size += len(block)
        assert self._fp is not None
        try:
            self._fp.write(block)
        except OSError as err:
            raise self._failed(err) from err

    def _failed(self, err: OSError) -> UsageError:
        return UsageError(
            f"{self.display_name}: could not write the checked requests to a temporary file"
            f" ({err.strerror or err}); nothing was sent",
            hint="Check that the temporary directory (TMPDIR) has room.",
        )

    def finish(self) -> _CheckedCopy:
        self._flush()
        assert self._fp is not None
        try:
            self._fp.flush()
        except OSError as err:
            raise self._failed(err) from err
        fp, self._fp = self._fp, None
        return _CheckedCopy(fp, self._digest.hexdigest(), self._size)

    def discard(self) -> None:
        if self._fp is not None:
            self._fp.close()
            self._fp = None
