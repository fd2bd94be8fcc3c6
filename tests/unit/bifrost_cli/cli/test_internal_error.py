"""The last line of defence (``main``): an unexpected exception is "internal error: TYPE at
PLACE", never the exception's text (which may hold a server's data or a secret). The failure is
injected through the public provider registry: a provider whose adapter factory raises."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bifrost_cli.cli.app import main
from bifrost_cli.providers import registry
from bifrost_cli.providers.spec import ProviderSpec, Setting

KEY = "boom-secret-KEY-0123456789"


def exploding_target(settings: Any, **http_kwargs: Any) -> Any:
    raise RuntimeError(f"a bug holding a server's text and the key's tail {KEY[-10:]}\nHint: fake")


@pytest.fixture
def boom(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    registry.register(
        ProviderSpec(
            name="boom",
            title="Boom",
            settings=(Setting("boom_api_key", ("BOOM_API_KEY",), secret=True),),
            direct=f"{__name__}:exploding_target",
        )
    )
    monkeypatch.setenv("BOOM_API_KEY", KEY)
    try:
        yield
    finally:
        registry.unregister("boom")


@pytest.mark.parametrize("debug", ["", "1"])
def test_an_internal_error_shows_its_kind_and_place_never_its_text(
    boom: None, debug: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BIFROST_DEBUG", debug)
    monkeypatch.setattr(sys, "argv", ["bifrost", "-p", "boom", "files", "list"])
    with pytest.raises(SystemExit) as info:
        main(prog_name="bifrost")
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "Error: internal error: RuntimeError at " in err
    assert "This is a bug in bifrost-cli" in err
    for i in range(len(KEY) - 7):
        assert KEY[i : i + 8] not in err
    assert not any(line.startswith("Hint: fake") for line in err.splitlines())
    if debug:  # the traceback, line by line
        assert "Traceback (most recent call last):\n" in err and "exploding_target" in err
    else:
        assert "a bug holding" not in err and "Traceback" not in err
