"""Options converted without pydantic give what typer's own converter gives: the same value, or
(handed over to it) the same error; and ``batches get`` starts without what it does not need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from bifrost_cli.cli._coercion import PlainConverter
from tests.conftest import EXAMPLES, invoke


def _option(annotation: Any, **info: Any) -> Any:
    """A real typer option of ``annotation`` (as typer builds it for a command)."""

    def command(value: Any = typer.Option(None, "--value", **info)) -> None:
        pass

    command.__annotations__ = {"value": annotation, "return": None}
    app = typer.Typer()
    app.command()(command)
    return next(p for p in typer.main.get_command(app).params if p.name == "value")


def _typer_converted(param: Any, value: Any) -> tuple[str, Any]:
    from typer._coercion import build_runtime_param

    try:
        return "value", build_runtime_param(param.type_descriptor).coerce(value, param=param, ctx=None)
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return type(exc).__name__, getattr(exc, "message", str(exc))


def _plain_converted(param: Any, value: Any) -> tuple[str, Any]:
    try:
        return "value", PlainConverter(param.type_descriptor).coerce(value, param=param, ctx=None)
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__, getattr(exc, "message", str(exc))


CASES = [
    (str, {}, ["abc", "", " spaced ", "ünïcode", None]),
    (int, {}, ["0", "42", "-7", "007", "1_000", " 5", "+3", "1e3", "x", "", "9" * 30, 3, None]),
    (int, {"min": 1}, ["1", "0", "-1", "20", 20, 0]),
    (int, {"min": 24, "max": 168}, ["24", "168", "169", "23", "100"]),
    (int, {"min": 0, "max": 65535}, ["8080", "65536", 8080]),
    (float, {"min": 0.1}, ["1", "0.1", "0.05", "1.5", "5", "1e-3", "inf", "nan", "-1", "x", 5.0, 5, None]),
    (float, {"min": 0}, ["0", "0.0", "-0.5", "3600", "12345678901234567.5"]),
    (bool, {}, [True, False, None]),
    (list[str], {}, [["a", "b"], ("a",), [], None]),
    (Path, {}, ["out.jsonl", "dir/", "~/x", "-", "", " ", "a b", None]),
    (Path, {"exists": True}, ["no-such-file.jsonl"]),
    (Path, {"resolve_path": True}, ["rel/../x"]),
    (Path, {"allow_dash": True}, ["-"]),
    (Path, {"dir_okay": False}, ["."]),
]


@pytest.mark.parametrize(
    ("annotation", "info", "value"),
    [(a, i, v) for a, i, values in CASES for v in values],
    ids=lambda x: repr(x)[:30],
)
def test_plain_conversion_is_typers_conversion(annotation: Any, info: dict[str, Any], value: Any) -> None:
    param = _option(annotation, **info)
    plain, typer_own = _plain_converted(param, value), _typer_converted(param, value)
    assert plain == typer_own
    assert type(plain[1]) is type(typer_own[1])


def test_out_of_range_values_get_typers_error_through_the_cli() -> None:
    result = invoke("batches", "wait", "msgbatch_x", "--poll", "0.01")
    assert result.exit_code == 2
    assert "--poll" in result.stderr and "0.1" in result.stderr
    result = invoke("batches", "list", "--limit", "ten")
    assert result.exit_code == 2
    assert "--limit" in result.stderr


SHOW_MODULES = """
import atexit, json, sys
listing = sys.argv.pop(1)
atexit.register(lambda: open(listing, "w").write(json.dumps(sorted(sys.modules))))
from bifrost_cli.cli.app import main
main(prog_name="bifrost")
"""


def test_batches_get_starts_without_what_it_does_not_need(tmp_path: Path) -> None:
    """Startup is a user-visible cost: ``batches get --json`` must not load the ledger's sqlite3,
    the streaming JSON parser, Rich's live display, the typer's pydantic converters or another provider's adapter."""
    env = {**os.environ, "BIFROST_EMULATOR_STATE_DIR": str(tmp_path / "state"), "BIFROST_EMULATOR": "1"}
    env.pop("BIFROST_PROVIDER", None)
    created = subprocess.run(
        [sys.executable, "-m", "bifrost_cli", "batches", "create", str(EXAMPLES / "requests.jsonl"), "-q"],
        env=env, capture_output=True, text=True, check=True,
    )
    batch_id = created.stdout.split()[0]
    listing = tmp_path / "modules.json"
    got = subprocess.run(
        [sys.executable, "-c", SHOW_MODULES, str(listing), "batches", "get", batch_id, "--json"],
        env=env, capture_output=True, text=True,
    )
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["id"] == batch_id
    modules = set(json.loads(listing.read_text()))
    for heavy in ("sqlite3", "ijson", "rich.live", "rich.progress", "typer._adapters", "bifrost_cli.ledger",
                  "bifrost_cli.providers.openai.api", "bifrost_cli.providers.gemini.api", "bifrost_cli.providers.bedrock.api"):
        assert heavy not in modules, f"batches get --json imported {heavy}"
