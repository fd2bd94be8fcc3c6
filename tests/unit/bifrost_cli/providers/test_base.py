"""The one capability check (``CheckedTarget``, ``providers/base.py``): what a target cannot do is refused
before any request."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bifrost_cli.cli.app import app


def test_expires_after_is_refused_before_sending_where_uploads_take_no_expiry(tmp_path: Path) -> None:
    """Anthropic (directly or through the gateway's Anthropic route) has no upload expiry: saying so
    beats dropping the option silently."""
    src = tmp_path / "a.jsonl"
    src.write_text("{}\n")
    result = CliRunner().invoke(app, ["--emulator", "files", "upload", str(src), "--expires-after", "3600"])
    assert result.exit_code == 2
    assert "--expires-after" in result.stderr
    assert CliRunner().invoke(app, ["--emulator", "files", "list", "-q"]).stdout == ""
