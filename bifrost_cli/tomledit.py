"""Changing one key of a TOML file in place, keeping everything else as the user wrote it.

The standard library only reads TOML. The config file has a flat shape (top-level keys and
``[profiles.NAME]`` tables of scalar values), so a change is one line: the key's line is
replaced (its trailing comment kept) or removed, or a line is added at the end of its table (the
table is appended when missing). Comments, blank lines, order and every other key stay as they
were. Each edit is checked by reading the result back with :mod:`tomllib`: when it does not hold
exactly the old data with the one change (a shape this editor does not handle: dotted keys,
inline tables...), :class:`EditError` is raised and nothing should be written.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from typing import Any

Table = tuple[str, ...]
"""A table's path: ``()`` for the top level, ``("profiles", "ci")`` for ``[profiles.ci]``."""
Scalar = str | int | float | bool

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class EditError(ValueError):
    """The file cannot be changed safely by this editor (or the value cannot be written)."""


@dataclass(frozen=True)
class _Entry:
    table: Table
    key: str
    first: int  # line index of the entry's first line
    last: int  # ... and of its last (a multi-line string or array spans several)
    plain: bool  # ``key = value``, not a dotted key (``a.b = 1``)


def format_key(key: str) -> str:
    """``key`` as a TOML key: bare when it can be, else a quoted string."""
    return key if _BARE_KEY.fullmatch(key) else format_value(key)


def format_value(value: Scalar) -> str:
    """A TOML literal for ``value`` (strings as basic strings, control characters escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EditError(f"{value!r} is not a finite number")
        return repr(value)
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, f"\\u{ord(ch):04x}"))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def set_key(text: str, table: Table, key: str, value: Scalar) -> str:
    """``text`` with ``key = value`` in ``table`` (replaced where it is, else added to the table)."""
    data = _parse(text)
    expected = _copy(data)
    node = _node(expected, table, create=True)
    assert node is not None  # made when missing
    node[key] = value
    lines = _lines(text)
    newline = _newline(lines)
    entries, headers = _scan(lines)
    line = f"{format_key(key)} = {format_value(value)}"
    found = [e for e in entries if e.table == table and e.key == key and e.plain]
    if found:
        entry = found[-1]
        old = lines[entry.first]
        line = old[: len(old) - len(old.lstrip())] + line  # its indentation
        if entry.first == entry.last:
            line = _keep_comment(old, line)
        lines[entry.first : entry.last + 1] = [line + newline]
    elif table in headers or not table:
        lines.insert(_insertion_point(lines, table, entries, headers), line + newline)
    else:
        if lines and lines[-1].strip():
            lines.append(newline)
        header = ".".join(format_key(k) for k in table)
        lines += [f"[{header}]{newline}", line + newline]
    return _checked("".join(lines), expected)


def unset_key(text: str, table: Table, key: str) -> tuple[str, bool]:
    """``text`` without ``key`` in ``table``, and whether it was there."""
    data = _parse(text)
    expected = _copy(data)
    node = _node(expected, table, create=False)
    if node is None or key not in node:
        return text, False
    del node[key]
    lines = _lines(text)
    entries, _ = _scan(lines)
    found = [e for e in entries if e.table == table and e.key == key and e.plain]
    if not found:
        raise EditError(f"{key} is not written as `{key} = ...` in its table")
    for entry in reversed(found):
        del lines[entry.first : entry.last + 1]
    return _checked("".join(lines), expected), True


# ------------------------------------------------------------------------------------------------


def _parse(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EditError(f"not valid TOML: {exc}") from None


def _copy(data: Any) -> Any:
    return {k: _copy(v) for k, v in data.items()} if isinstance(data, dict) else data


def _node(data: dict[str, Any], table: Table, *, create: bool) -> dict[str, Any] | None:
    node = data
    for part in table:
        child = node.get(part)
        if child is None and create:
            child = node[part] = {}
        if child is None:
            return None
        if not isinstance(child, dict):
            raise EditError(f"{'.'.join(table)} is not a table")
        node = child
    return node


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\r\n" if lines[0].endswith("\r\n") else "\n"
    return lines


def _newline(lines: list[str]) -> str:
    return "\r\n" if lines and lines[0].endswith("\r\n") else "\n"


def _scan(lines: list[str]) -> tuple[list[_Entry], dict[Table, int]]:
    """Every key/value entry with its table and lines, and each table header's line."""
    entries: list[_Entry] = []
    headers: dict[Table, int] = {}
    table: Table = ()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        if stripped.startswith("["):
            path = _header(lines[i])
            if path is not None:
                table = path
                headers.setdefault(path, i)
                i += 1
                continue
        for last in range(i, len(lines)):
            try:
                parsed = tomllib.loads("".join(lines[i : last + 1]))
            except tomllib.TOMLDecodeError:
                continue
            dotted = "." in lines[i].split("=", 1)[0]
            for key, value in parsed.items():
                entries.append(_Entry(table, key, i, last, plain=not (dotted and isinstance(value, dict))))
            i = last + 1
            break
        else:
            raise EditError(f"line {i + 1} cannot be read on its own")
    return entries, headers


def _header(line: str) -> Table | None:
    """The path of a ``[a.b]`` header line (``[[a]]`` gives a path no setting uses)."""
    try:
        node: Any = tomllib.loads(line)
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        key, node = next(iter(node.items()))
        path.append(key)
    return tuple(path) if node == {} else (*path, "[[]]")


def _keep_comment(old: str, new: str) -> str:
    """``new`` with the trailing comment of the one-line entry ``old`` (and the space before it)."""
    body = old.rstrip("\r\n")
    for match in re.finditer("#", body):
        head = body[: match.start()]
        try:
            tomllib.loads(head)
        except tomllib.TOMLDecodeError:
            continue
        spaces = len(head) - len(head.rstrip())
        return new + (head[len(head.rstrip()) :] if spaces else " ") + body[match.start() :]
    return new


def _insertion_point(lines: list[str], table: Table, entries: list[_Entry], headers: dict[Table, int]) -> int:
    """Where a new entry of ``table`` goes: after the table's last entry, else after its header
    (the top level: before the first header and the comments just above it)."""
    mine = [e for e in entries if e.table == table]
    if mine:
        return max(e.last for e in mine) + 1
    if table:
        return headers[table] + 1
    if not headers:
        return len(lines)
    at = min(headers.values())
    while at > 0 and lines[at - 1].strip().startswith("#"):
        at -= 1
    lines.insert(at, _newline(lines))  # a blank line between the new key and what follows
    return at


def _checked(text: str, expected: dict[str, Any]) -> str:
    try:
        result = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EditError(f"the change would not be valid TOML ({exc})") from None
    if result != expected:
        raise EditError("the file is laid out in a way this change cannot keep (dotted keys or inline tables?)")
    return text
