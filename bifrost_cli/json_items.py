"""Reading a JSON input item by item: each line of a JSONL file, or each element of one JSON array,
parsed, with the line it starts on. An item that is not JSON is a :class:`Bad` with the reason.

A JSONL file is streamed line by line; a JSON array is one document, so it is read whole, but each
element keeps its own line. A UTF-8 byte order mark is skipped. NaN and Infinity are not JSON.

Nothing here imports typer, rich or pydantic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, NamedTuple

_BOM = b"\xef\xbb\xbf"
_JSON_WS = b" \t\r\n"
_WS_RE = re.compile(r"[ \t\r\n]*")
_CHUNK = 1 << 20


def _skip_ws(text: str, pos: int) -> int:
    """The position of the first character at or after ``pos`` that is not JSON whitespace."""
    match = _WS_RE.match(text, pos)
    return match.end() if match else pos


class Bad(NamedTuple):
    """An item that could not be read as JSON at all."""

    message: str


class _NotJSON(ValueError):
    """Raised while parsing for values Python accepts but JSON does not (NaN, Infinity)."""


def _reject_constant(name: str) -> Any:
    raise _NotJSON(f"not valid JSON: {name} is not allowed")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _bad_json(err: Exception) -> Bad:
    if isinstance(err, json.JSONDecodeError):
        return Bad(f"not valid JSON: {err.msg} (column {err.colno})")
    if isinstance(err, RecursionError):
        return Bad("not valid JSON: nested too deeply")
    return Bad(str(err))


_PARSE_ERRORS = (ValueError, RecursionError)  # JSONDecodeError and _NotJSON are ValueErrors

Items = Iterator[tuple[int, Any]]  # (line number, parsed value or Bad)


def _jsonl_items(fp: BinaryIO) -> Items:
    """Each non-blank line of a JSONL stream, parsed.

    pydantic-core's parser (Rust) reads a line first: it accepts a strict subset of what
    ``json`` does (no NaN or Infinity, no lone surrogate, less nesting, strict UTF-8) and gives
    the same values, so whatever it refuses is read again by ``json``, which says what is wrong
    (or accepts it, as before)."""
    from pydantic_core import from_json

    for lineno, raw in enumerate(fp, 1):
        if lineno == 1:
            raw = raw.removeprefix(_BOM)
        try:
            yield lineno, from_json(raw, allow_inf_nan=False, cache_strings="keys")
            continue
        except ValueError:
            pass
        if not raw.strip(_JSON_WS):
            continue
        try:
            text = raw.rstrip(b"\r\n").decode("utf-8")  # so an error at the end is on this line
        except UnicodeDecodeError:
            yield lineno, Bad("not valid UTF-8")
            continue
        try:
            yield lineno, _DECODER.decode(text)
        except _PARSE_ERRORS as err:
            yield lineno, _bad_json(err)


def _array_items(fp: BinaryIO) -> Items:
    """Each element of a JSON array, with the line its value starts on.

    Elements are decoded one at a time with ``raw_decode`` so that each keeps its line; a syntax
    error ends the reading (the rest of the document cannot be told apart).
    """
    data = fp.read().removeprefix(_BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        yield data.count(b"\n", 0, err.start) + 1, Bad("not valid UTF-8")
        return
    line, counted = 1, 0

    def line_at(pos: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, pos)
        counted = pos
        return line

    pos = _skip_ws(text, 0) + 1  # past the "[" that made this an array
    pos = _skip_ws(text, pos)
    closed = text.startswith("]", pos)
    while not closed:
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            yield err.lineno, _bad_json(err)
            return
        except _PARSE_ERRORS as err:
            yield line_at(pos), _bad_json(err)
            return
        yield line_at(pos), value
        pos = _skip_ws(text, end)
        if text.startswith(",", pos):
            pos = _skip_ws(text, pos + 1)
        elif text.startswith("]", pos):
            closed = True
        else:
            break
    if closed and _skip_ws(text, pos + 1) == len(text):
        return
    # Broken structure around the elements: let the JSON parser name the problem and its place.
    try:
        _DECODER.decode(text)
    except json.JSONDecodeError as err:
        yield err.lineno, _bad_json(err)
    else:  # pragma: no cover - the scan above and the parser agree on valid documents
        yield line_at(pos), Bad("not valid JSON")


_READERS: dict[str, Callable[[BinaryIO], Items]] = {"jsonl": _jsonl_items, "array": _array_items}


def read_items(fp: BinaryIO, layout: str) -> Items:
    """Each item of ``fp`` in ``layout`` (``"jsonl"`` or ``"array"``): ``(line, value or Bad)``."""
    return _READERS[layout](fp)


def detect_layout(path: str) -> str:
    """``"array"`` when the first byte after a BOM and whitespace is ``[``, else ``"jsonl"``."""
    with open(path, "rb") as fp:
        chunk = fp.read(_CHUNK).removeprefix(_BOM)
        while chunk:
            head = chunk.lstrip(_JSON_WS)
            if head:
                return "array" if head.startswith(b"[") else "jsonl"
            chunk = fp.read(_CHUNK)
    return "jsonl"
