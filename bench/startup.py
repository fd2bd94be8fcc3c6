#!/usr/bin/env python3
"""Startup benchmark of the ``bifrost`` command.

    python bench/startup.py [--runs N] [--json-out FILE]

Measures the median wall time (a fresh process each run) of

  help          bifrost --help                                  (installed console script)
  typer-help    a one-command Typer app's --help                (same Python)
  emu-get       bifrost --emulator batches get ID --json        (in-process emulator)
  sdk-get       anthropic.Anthropic(...).messages.batches.retrieve(ID)
                against `bifrost emulator serve` on 127.0.0.1   (same Python)

and reports the ratios help/typer-help (target <= 1.3) and emu-get/sdk-get
(target <= 0.2, issue 10).  Each case runs once as a warm-up (and its output is checked),
then N times, round-robin across cases so drift affects them alike.  The exit
status is 0 whatever the figures (this is a benchmark, not a test); it is
non-zero only when a case cannot run at all.

The console script measured is the one installed next to sys.executable
(``bin/bifrost``), so run this with the Python of the environment bifrost is
installed in, e.g. ``.venv/bin/python bench/startup.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TARGETS = {
    # ratio name: (numerator case, denominator case, maximum)
    "help/typer-help": ("help", "typer-help", 1.3),
    "emu-get/sdk-get": ("emu-get", "sdk-get", 0.2),
}

MINIMAL_TYPER_APP = '''\
import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    typer.echo(f"hello {name}")


if __name__ == "__main__":
    app()
'''

SDK_GET = '''\
import sys

import anthropic

base_url, batch_id = sys.argv[1], sys.argv[2]
client = anthropic.Anthropic(api_key="x", base_url=base_url, max_retries=0)
batch = client.messages.batches.retrieve(batch_id)
print(batch.id)
'''

REQUEST_LINE = {
    "custom_id": "bench-1",
    "params": {
        "model": "claude-sonnet-4-5",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Hello"}],
    },
}

LISTENING_RE = re.compile(r"listening on (http://\S+)")


class BenchError(Exception):
    pass


def find_console_script() -> Path:
    bindir = Path(sys.executable).parent
    for name in ("bifrost", "bifrost.exe"):
        candidate = bindir / name
        if candidate.is_file():
            return candidate
    raise BenchError(
        f"no bifrost console script next to this Python ({bindir.name}/); "
        "run the bench with the Python of the environment bifrost-cli is installed in"
    )


def clean_env(tmp: Path) -> dict[str, str]:
    """The caller's environment without settings that would change what bifrost does."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BIFROST_", "ANTHROPIC_", "OPENAI_", "GEMINI_", "GOOGLE_", "_BIFROST_", "_TYPER_"))
    }
    env["BIFROST_CONFIG_DIR"] = str(tmp / "config")  # no user config file or profile
    env["BIFROST_EMULATOR_STATE_DIR"] = str(tmp / "state")
    env["NO_COLOR"] = "1"
    return env


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=str(cwd), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    return time.perf_counter() - start, proc


def checked(name: str, proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    if proc.returncode != 0:
        raise BenchError(f"{name}: exit {proc.returncode}\nstdout: {proc.stdout.strip()[:2000]}\nstderr: {proc.stderr.strip()[:2000]}")
    return proc


class Server:
    """``bifrost emulator serve --port 0`` in the background; its URL is read from stderr."""

    def __init__(self, bifrost: Path, env: dict[str, str], cwd: Path, state_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [str(bifrost), "emulator", "serve", "--host", "127.0.0.1", "--port", "0", "--quiet", "--state-dir", str(state_dir)],
            env=env,
            cwd=str(cwd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url: str | None = None
        self._lines: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._lines.append(line)
            if self.url is None:
                m = LISTENING_RE.search(line)
                if m:
                    self.url = m.group(1).rstrip("/")
                    self._ready.set()
        self._ready.set()  # stderr closed: the server ended

    def wait_ready(self, timeout: float = 30.0) -> str:
        self._ready.wait(timeout)
        if self.url is None:
            self.stop()
            raise BenchError("bifrost emulator serve did not print its URL:\n" + "".join(self._lines)[-2000:])
        return self.url

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, 5.0), (signal.SIGTERM, 5.0)):
            try:
                self.proc.send_signal(sig)
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                return
        self.proc.kill()
        self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Startup benchmark of the bifrost command.")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per case, after one warm-up (default 15)")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        return bench(args.runs, args.json_out)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2


def compile_package() -> None:
    """Byte-compile bifrost_cli as an installer does: an editable install (or PYTHONDONTWRITEBYTECODE)
    would otherwise make every run compile the sources, which installed packages never do."""
    import compileall

    import bifrost_cli

    compileall.compile_dir(str(Path(bifrost_cli.__file__).parent), quiet=1)


def bench(runs: int, json_out: Path | None) -> int:
    bifrost = find_console_script()
    py = sys.executable
    compile_package()
    with tempfile.TemporaryDirectory(prefix="bifrost-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "config").mkdir()
        state_dir = tmp / "state"
        state_dir.mkdir()
        env = clean_env(tmp)
        (tmp / "minimal_typer_app.py").write_text(MINIMAL_TYPER_APP, encoding="utf-8")
        (tmp / "sdk_get.py").write_text(SDK_GET, encoding="utf-8")
        (tmp / "requests.jsonl").write_text(json.dumps(REQUEST_LINE) + "\n", encoding="utf-8")

        # A batch in the emulator's state, for both gets.
        _, proc = run_once([str(bifrost), "--emulator", "batches", "create", "requests.jsonl", "-q"], env, tmp)
        batch_id = checked("bifrost --emulator batches create", proc).stdout.strip()
        if not batch_id or len(batch_id.split()) != 1:
            raise BenchError(f"batches create -q printed {proc.stdout!r}, not one batch id")

        server = Server(bifrost, env, tmp, state_dir)
        try:
            url = server.wait_ready()
            sdk_base = f"{url}/anthropic"
            cases: dict[str, list[str]] = {
                "help": [str(bifrost), "--help"],
                "typer-help": [py, "minimal_typer_app.py", "--help"],
                "emu-get": [str(bifrost), "--emulator", "batches", "get", batch_id, "--json"],
                "sdk-get": [py, "sdk_get.py", sdk_base, batch_id],
            }
            descriptions = {
                "help": "bifrost --help",
                "typer-help": "minimal Typer app --help",
                "emu-get": "bifrost --emulator batches get ID --json",
                "sdk-get": "anthropic SDK batches.retrieve(ID) over HTTP",
            }

            # Warm-up, with a check that each case does what it should.
            for name, argv in cases.items():
                _, proc = run_once(argv, env, tmp)
                checked(name, proc)
                if name == "help" and "batches" not in proc.stdout:
                    raise BenchError("bifrost --help does not list the batches command")
                if name == "typer-help" and "Usage:" not in proc.stdout:
                    raise BenchError("the minimal Typer app printed no help")
                if name == "emu-get" and json.loads(proc.stdout).get("id") != batch_id:
                    raise BenchError(f"bifrost --emulator batches get printed another batch: {proc.stdout[:500]}")
                if name == "sdk-get" and proc.stdout.strip() != batch_id:
                    raise BenchError(f"the SDK retrieved {proc.stdout.strip()!r}, not {batch_id}")

            samples: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(runs):
                for name, argv in cases.items():
                    elapsed, proc = run_once(argv, env, tmp)
                    checked(name, proc)
                    samples[name].append(elapsed)
        finally:
            server.stop()

    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {}
    for ratio, (num, den, limit) in TARGETS.items():
        value = medians[num] / medians[den]
        ratios[ratio] = {"value": value, "target_max": limit, "pass": value <= limit}

    print(f"bifrost startup benchmark: {runs} runs per case after 1 warm-up; Python {platform.python_version()}, {platform.system()} {platform.machine()}")
    print()
    print(f"{'case':<11} {'median ms':>10} {'min ms':>8} {'max ms':>8}  command")
    for name, values in samples.items():
        print(f"{name:<11} {medians[name] * 1000:>10.1f} {min(values) * 1000:>8.1f} {max(values) * 1000:>8.1f}  {descriptions[name]}")
    print()
    for ratio, r in ratios.items():
        verdict = "PASS" if r["pass"] else "MISS"
        print(f"{ratio:<16} {r['value']:.3f}  (target <= {r['target_max']})  {verdict}")

    if json_out is not None:
        report = {
            "runs": runs,
            "python": platform.python_version(),
            "platform": f"{platform.system()} {platform.machine()}",
            "cases": {
                name: {
                    "command": descriptions[name],
                    "median_s": medians[name],
                    "min_s": min(values),
                    "max_s": max(values),
                    "samples_s": values,
                }
                for name, values in samples.items()
            },
            "ratios": ratios,
        }
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
