"""Tests for bifrost_cli.layout: a table fitted to a width, ids never cut, columns dropped by priority."""

from __future__ import annotations

from bifrost_cli.layout import ELLIPSIS, Col, cell, fit

COLS = (
    Col("id", 0),
    Col("status", 1),
    Col("processing", 3, short="proc", right=True),
    Col("succeeded", 2, short="ok", right=True),
    Col("created", 4),
)
ROW = ["msgbatch_01hJGeqb4HWQCUUMR70EfHcE", "in_progress", "3", "0", "2026-11-30 05:50:35Z"]


def names(cols: tuple[Col, ...], shown: list[int]) -> list[str]:
    return [cols[i].name for i in shown]


def test_everything_shown_with_full_headers_when_it_fits() -> None:
    layout = fit(COLS, [ROW], 200)
    assert names(COLS, layout.shown) == ["id", "status", "processing", "succeeded", "created"]
    assert layout.headers == ["id", "status", "processing", "succeeded", "created"] and layout.stacked is None
    assert layout.widths[0] == len(ROW[0])


def test_short_headers_come_before_dropping_a_column() -> None:
    # full: 33+2+11+2+10+2+9+2+20 = 91; short headers: 33+2+11+2+4+2+2+2+20 = 78
    layout = fit(COLS, [ROW], 80)
    assert names(COLS, layout.shown) == ["id", "status", "processing", "succeeded", "created"]
    assert layout.headers == ["id", "status", "proc", "ok", "created"]
    assert layout.width <= 80


def test_columns_go_by_priority_and_the_id_stays_whole() -> None:
    layout = fit(COLS, [ROW], 60)  # created (4) goes first; then it all fits
    assert names(COLS, layout.shown) == ["id", "status", "processing", "succeeded"]
    assert layout.widths[0] == len(ROW[0]) and layout.width <= 60
    narrower = fit(COLS, [ROW], 52)  # then processing (3): succeeded (2) stays
    assert names(COLS, narrower.shown) == ["id", "status", "succeeded"]


def test_an_id_too_wide_for_the_line_gets_a_line_of_its_own() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcd1234efgh5678ijkl0123"
    layout = fit(COLS, [[arn, *ROW[1:]]], 80)
    assert layout.stacked == 0 and 0 not in layout.shown  # the id above, the rest indented below it
    assert names(COLS, layout.shown) == ["status", "processing", "succeeded", "created"]
    assert layout.width <= 80


def test_free_text_is_cut_with_an_ellipsis_before_a_column_is_dropped() -> None:
    cols = (Col("check", 0), Col("status", 1), Col("detail", 2, flex=True, min_width=12))
    row = ["gateway", "ok", "a long detail that does not fit in a narrow terminal at all"]
    layout = fit(cols, [row], 40)
    assert names(cols, layout.shown) == ["check", "status", "detail"] and layout.width == 40
    shown = cell(row[2], layout.widths[2], cols[2], last=True)
    assert shown.endswith(ELLIPSIS) and len(shown) == layout.widths[2]
    assert cell(row[0], 3, cols[0], last=False) == "gateway"  # anything else is never cut


def test_the_last_left_aligned_cell_is_not_padded() -> None:
    assert cell("x", 5, Col("a"), last=True) == "x"
    assert cell("x", 5, Col("a"), last=False) == "x    "
    assert cell("7", 5, Col("a", right=True), last=True) == "    7"
