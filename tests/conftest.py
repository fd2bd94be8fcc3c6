"""Shared fixtures: every test runs with a private config dir and emulator state, no provider
credentials from the developer's environment, and no colour."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import Loopback, Route

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TESTS = ROOT / "tests"
MARKED_DIRS = ("e2e", "conformance")
"""Every test under ``tests/<dir>/`` gets the marker ``<dir>`` (declared in pyproject.toml)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.relative_to(TESTS).parts if item.path.is_relative_to(TESTS) else ()
        if parts and parts[0] in MARKED_DIRS:
            item.add_marker(getattr(pytest.mark, parts[0]))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    bedrock_s3 = sys.modules.get("tests.bedrock_s3")
    if bedrock_s3 is not None:  # moto's S3 server, shared by the Bedrock tests of this process
        bedrock_s3.stop_moto_s3()


def _program_env() -> tuple[str, ...]:
    """Every environment variable the program reads: its own settings' and every provider's (from
    the specs), then those of the emulator, the output and the HTTP stack."""
    from bifrost_cli.config import settings_table
    from bifrost_cli.providers import registry

    names = [env for s in settings_table() for env in s.env]
    names += [env for spec in registry.specs() for env in spec.env_names]
    return tuple(dict.fromkeys(names))


_CLEARED = _program_env() + (
    "BIFROST_PROFILE",
    "BIFROST_DEBUG",
    "BIFROST_EMULATOR_GEMINI_API_KEY",
    "BIFROST_EMULATOR_VIRTUAL_KEY",
    "BIFROST_EMULATOR_FLAKY_EVERY",
    "BIFROST_EMULATOR_FAULTS",
    "BIFROST_EMULATOR_LEGACY_GATEWAY",
    "FORCE_COLOR",
    # httpx mounts environment proxies even beside an injected transport: keep every request local.
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BIFROST_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("BIFROST_EMULATOR_STATE_DIR", str(tmp_path / "emulator"))
    monkeypatch.setenv("BIFROST_LEDGER", str(tmp_path / "ledger" / "ledger.sqlite3"))  # never the user's own
    monkeypatch.setenv("BIFROST_EMULATOR_BATCH_SECONDS", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


@pytest.fixture
def loopback() -> Iterator[Callable[[Route], Loopback]]:
    """``loopback(route)`` starts a :class:`~tests.fakes.Loopback` server, stopped after the test."""
    started: list[Loopback] = []

    def start(route: Route) -> Loopback:
        started.append(Loopback(route))
        return started[-1]

    yield start
    for server in started:
        server.close()


def invoke(*args: str, env: dict[str, str] | None = None, input: str | bytes | None = None) -> Any:
    """``bifrost ARGS`` in-process (typer's CliRunner): the result has exit_code, stdout and stderr."""
    from typer.testing import CliRunner

    from bifrost_cli.cli.app import app

    return CliRunner().invoke(app, list(args), env=env, input=input)


def bifrost_executable() -> list[str]:
    """The installed console script (next to this Python), else ``python -m bifrost_cli``."""
    script = Path(sys.executable).with_name("bifrost")
    if script.exists():
        return [str(script)]
    found = shutil.which("bifrost")
    return [found] if found else [sys.executable, "-m", "bifrost_cli"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    if "BIFROST_LEDGER" in os.environ:  # the test's own ledger (isolated_env), never the user's
        env["BIFROST_LEDGER"] = os.environ["BIFROST_LEDGER"]
    env.update(extra)
    return env


class Served:
    """A ``bifrost emulator serve`` process on a loopback port."""

    def __init__(self, proc: subprocess.Popen[str], url: str, state_dir: Path):
        self.proc = proc
        self.url = url
        self.state_dir = state_dir

    def run(self, *args: str, env: dict[str, str] | None = None, input: str | bytes | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        """Run the installed ``bifrost`` with ``args``; text mode unless ``input`` is bytes."""
        text = not isinstance(input, bytes)
        return subprocess.run(
            [*bifrost_executable(), *args],
            env=clean_env(**(env or {})),
            input=input,
            capture_output=True,
            text=text,
            timeout=timeout,
        )

    def gateway(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess:
        return self.run("--base-url", self.url, *args, **kwargs)  # type: ignore[arg-type]

    def direct(self, *args: str, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.CompletedProcess:
        direct_env = {"ANTHROPIC_BASE_URL": self.url + "/native/anthropic", "ANTHROPIC_API_KEY": "sk-ant-test-key-1234"}
        return self.run(*args, env={**direct_env, **(env or {})}, **kwargs)  # type: ignore[arg-type]


def start_emulator(state_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Served:
    proc = subprocess.Popen(
        [*bifrost_executable(), "emulator", "serve", "--port", "0", "--state-dir", str(state_dir), *extra],
        env=clean_env(**(env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return Served(proc, match.group(1), state_dir)
    proc.kill()
    raise RuntimeError("the emulator did not start: " + (proc.stderr.read() if proc.stderr else ""))


def stop_emulator(served: Served) -> None:
    served.proc.terminate()
    try:
        served.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        served.proc.kill()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One served emulator per test module (batches end about 1 s after creation)."""
    server = start_emulator(tmp_path_factory.mktemp("served-state"), "--batch-seconds", "1", "--quiet")
    yield server
    stop_emulator(server)
