"""Fitting a table to a terminal's width (pure: :mod:`bifrost_cli.output` prints).

Nothing is wrapped: an id is never cut or broken (copy-pasteable as one string) and a header never
splits mid-word. When the width is short, headers take their short form, free-text columns
(``flex``) are cut with an ellipsis down to a minimum, and then columns are dropped by priority
(as ``gh`` does; ``--json`` and piped output keep every column). An id wider than the terminal with
the next column puts each row on two lines: the id alone, then the other cells indented.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

GAP = 2  # spaces between columns
INDENT = 2  # the cells under an id that has a line of its own
ELLIPSIS = "\u2026"


@dataclass(frozen=True)
class Col:
    name: str
    priority: int = 1
    """0: never dropped (the id); a higher number is dropped first when the width is short."""
    short: str | None = None
    """The header when the width is short (``proc`` for ``processing``)."""
    right: bool = False
    flex: bool = False
    """Free text: cut with an ellipsis (down to ``min_width``) before any column is dropped."""
    min_width: int = 12


@dataclass(frozen=True)
class Layout:
    shown: list[int]
    """The indexes of the columns shown, in table order (in stacked form, without the id's)."""
    widths: list[int]
    headers: list[str]
    stacked: int | None = None
    """The index of the id column printed on a line of its own above each row's other cells."""

    @property
    def width(self) -> int:
        return sum(self.widths) + GAP * max(0, len(self.widths) - 1) + (INDENT if self.stacked is not None else 0)


def fit(cols: Sequence[Col], rows: Sequence[Sequence[str]], width: int) -> Layout:
    """The columns (and their widths and headers) of ``rows`` shown in ``width`` cells."""
    data = [max((len(r[i]) for r in rows), default=0) for i in range(len(cols))]
    ids = [i for i, c in enumerate(cols) if c.priority == 0]
    if ids and len(cols) > 1:
        key = ids[0]
        rest = [i for i in range(len(cols)) if i != key]
        first = min(rest, key=lambda i: (cols[i].priority, i))
        if data[key] + GAP + _min_width(cols[first], data[first], short=True) > width:
            inner = _pick(cols, data, rest, width - INDENT, required=False)
            return Layout(inner.shown, inner.widths, inner.headers, stacked=key)
    return _pick(cols, data, list(range(len(cols))), width, required=True)


def _header(col: Col, short: bool) -> str:
    return (col.short or col.name) if short else col.name


def _natural(col: Col, data: int, short: bool) -> int:
    return max(len(_header(col, short)), data)


def _min_width(col: Col, data: int, short: bool) -> int:
    natural = _natural(col, data, short)
    return max(len(_header(col, short)), min(natural, col.min_width)) if col.flex else natural


def _pick(cols: Sequence[Col], data: list[int], indexes: list[int], width: int, *, required: bool) -> Layout:
    def total(chosen: list[int], short: bool) -> int:
        return sum(_min_width(cols[i], data[i], short) for i in chosen) + GAP * max(0, len(chosen) - 1)

    for short in (False, True):
        if total(indexes, short) <= width:
            return _grow(cols, data, indexes, short, width)
    chosen: list[int] = []
    for i in sorted(indexes, key=lambda i: (cols[i].priority, i)):
        if (required and cols[i].priority == 0) or total([*chosen, i], True) <= width:
            chosen.append(i)
    return _grow(cols, data, sorted(chosen), True, width)


def _grow(cols: Sequence[Col], data: list[int], chosen: list[int], short: bool, width: int) -> Layout:
    widths = {i: _min_width(cols[i], data[i], short) for i in chosen}
    spare = width - sum(widths.values()) - GAP * max(0, len(chosen) - 1)
    for i in chosen:
        if cols[i].flex and spare > 0:
            extra = min(spare, _natural(cols[i], data[i], short) - widths[i])
            widths[i] += extra
            spare -= extra
    return Layout(chosen, [widths[i] for i in chosen], [_header(cols[i], short) for i in chosen])


def cell(value: str, width: int, col: Col, *, last: bool) -> str:
    """``value`` in its column: padded (not after the last column), a flex cell cut with an
    ellipsis; any other value wider than its column is left whole (an id is never cut)."""
    if col.flex and len(value) > width:
        value = value[: max(0, width - 1)] + ELLIPSIS
    if col.right:
        return value.rjust(width)
    return value if last else value.ljust(width)


def tsv(values: Sequence[str]) -> str:
    """One line of tab-separated values (already cleaned: no tab or line break in them)."""
    return "\t".join(values)
