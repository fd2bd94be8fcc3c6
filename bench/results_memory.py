"""Peak memory of ``batches results`` for a large batch, through the gateway and directly, beside curl and the SDK.

Serves the emulator on a loopback port (with a private state directory), creates one Anthropic batch
of ``--requests`` requests (100,000 by default) on its own API, waits for it to end, then writes its
results to a file with ``bifrost batches results ID -o FILE``:

- directly (Anthropic's API answers JSONL, read a line at a time), and
- through the gateway's ``/anthropic`` route (which answers ONE JSON object
  ``{"batch_id", "results": [...], "extra_fields"}``, parsed as a stream with ijson),

and, in the same run, the same results written to a file by other clients, for comparison:

- floors: a bare interpreter (``python -c pass``) and a standard-library script that copies the
  direct JSONL results URL to a file with ``urllib`` (the least a Python client can cost);
- ``curl`` fetching the direct JSONL URL and the gateway's route to a file (skipped if absent);
- the official ``anthropic`` SDK iterating ``client.messages.batches.results(ID)`` against the
  emulator's native Anthropic API and writing each result as a line (skipped if not installed).

It reports each command's peak resident memory (from ``wait4``) beside a plain ``batches get`` as
the baseline, as ratios (each / baseline, gateway / direct, bifrost through the gateway / curl
through the gateway, bifrost directly / SDK), and checks bifrost's rows against the 64 MiB ceiling.

    python bench/results_memory.py [--requests 100000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CEILING_MB = 64.0
API_KEY = "bench-key-not-secret"
ANTHROPIC_VERSION = "2023-06-01"

# Each measured command is started by this small launcher, which forks, execs the command and reaps
# it with wait4. Started straight from this script, a command's ru_maxrss would never be below this
# script's own peak: Linux keeps the high-water mark of the memory a process had before exec (the
# parent's, with vfork). Forked from the launcher, it starts from the launcher's few pages instead
# (the floor printed as "measurement floor", ``true``'s peak).
LAUNCHER = """\
import os, sys, time
fd = int(sys.argv[1])
os.set_inheritable(fd, False)
started = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
os.write(fd, f"{usage.ru_maxrss} {time.monotonic() - started:.3f}".encode())
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""

# The standard-library floor: copy the direct JSONL results to a file with urllib, nothing outside the standard library.
STDLIB_FETCH = """\
import shutil
import sys
import urllib.request

url, key, version, dest = sys.argv[1:5]
req = urllib.request.Request(url, headers={"x-api-key": key, "anthropic-version": version})
with urllib.request.urlopen(req) as resp, open(dest, "wb") as fh:
    shutil.copyfileobj(resp, fh, 1 << 16)
"""

# The official SDK: iterate the batch's results (it retrieves the batch, then streams its JSONL).
SDK_RESULTS = """\
import sys

import anthropic

base_url, key, batch_id, dest = sys.argv[1:5]
client = anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0)
with open(dest, "w", encoding="utf-8") as fh:
    for result in client.messages.batches.results(batch_id):
        fh.write(result.to_json(indent=None) + "\\n")
"""


@dataclass
class Row:
    name: str
    rss: float | None = None  # MiB; None when skipped
    secs: float = 0.0
    lines: int | None = None  # results written; None when the row writes none
    note: str = ""


def bifrost() -> list[str]:
    script = Path(sys.executable).with_name("bifrost")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bifrost_cli"]


def emulator_url(server: subprocess.Popen[str]) -> str:
    """The URL a started ``bifrost emulator serve`` (stderr piped, text) says it listens on."""
    assert server.stderr is not None
    while True:
        line = server.stderr.readline()
        if not line:
            raise SystemExit("the emulator did not start")
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return match.group(1)


def run_measured(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(peak RSS in MiB, seconds, stdout text) of one command, reaped with ``wait4`` by :data:`LAUNCHER`."""
    report_r, report_w = os.pipe()
    launcher = [sys.executable, "-S", "-I", "-c", LAUNCHER, str(report_w), *args]
    proc = subprocess.Popen(launcher, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(report_w,))
    os.close(report_w)
    with os.fdopen(report_r, "rb") as report:
        out, err = proc.communicate()
        measured = report.read().split()
    if proc.returncode != 0 or len(measured) != 2:
        raise SystemExit(f"{' '.join(args[1:])} failed ({proc.returncode}): {err.decode(errors='replace')}")
    maxrss_kib, seconds = measured
    return int(maxrss_kib) / 1024, float(seconds), out.decode(errors="replace")


def write_requests(path: Path, count: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(count):
            params = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": f"question {i}"}]}
            fh.write(json.dumps({"custom_id": f"req-{i:06d}", "params": params}) + "\n")


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def count_document_results(path: Path) -> int:
    """Items of ``results`` in the gateway's one JSON document (streamed, as the CLI reads it)."""
    import ijson

    with open(path, "rb") as fh:
        return sum(1 for _ in ijson.items(fh, "results.item"))


def measure_to_file(name: str, command: list[str], env: dict[str, str], dest: Path, counter=count_lines) -> Row:
    rss, secs, _ = run_measured(command, env)
    lines = counter(dest)
    dest.unlink()
    return Row(name, rss, secs, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000, help="requests in the batch (default 100000)")
    ns = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bifrost-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIFROST_", "ANTHROPIC_", "OPENAI_"))}
    env["BIFROST_CONFIG_DIR"] = str(work / "config")
    server = subprocess.Popen(
        [*bifrost(), "emulator", "serve", "--port", "0", "--state-dir", str(work / "state"), "--batch-seconds", "1", "-q"],
        env=env, stderr=subprocess.PIPE, text=True,
    )
    rows: dict[str, Row] = {}
    py = sys.executable
    curl = shutil.which("curl")
    has_sdk = importlib.util.find_spec("anthropic") is not None
    try:
        assert server.stderr is not None
        url = emulator_url(server)
        native = url + "/native/anthropic"
        direct_env = {**env, "ANTHROPIC_BASE_URL": native, "ANTHROPIC_API_KEY": API_KEY}
        gateway = [*bifrost(), "--base-url", url, "-p", "anthropic"]

        requests = work / "requests.jsonl"
        write_requests(requests, ns.requests)
        _, _, out = run_measured([*bifrost(), "batches", "create", str(requests), "-q"], direct_env)
        batch_id = out.strip()
        run_measured([*bifrost(), "batches", "wait", batch_id, "--poll", "1", "-q"], direct_env)
        direct_url = f"{native}/v1/messages/batches/{batch_id}/results"
        gateway_url = f"{url}/anthropic/v1/messages/batches/{batch_id}/results"
        dest = work / "results.jsonl"
        (work / "stdlib_fetch.py").write_text(STDLIB_FETCH, encoding="utf-8")
        (work / "sdk_results.py").write_text(SDK_RESULTS, encoding="utf-8")

        rss, secs, _ = run_measured([*bifrost(), "batches", "get", batch_id, "--json"], direct_env)
        rows["baseline"] = Row("baseline: bifrost batches get", rss, secs)
        floor, _, _ = run_measured(["true"], env)
        rss, secs, _ = run_measured([py, "-c", "pass"], env)
        rows["floor-python"] = Row("floor: python -c pass", rss, secs)
        rows["floor-stdlib"] = measure_to_file(
            "floor: stdlib urllib, directly",
            [py, str(work / "stdlib_fetch.py"), direct_url, API_KEY, ANTHROPIC_VERSION, str(dest)], env, dest)
        if curl:
            common = [curl, "-sS", "--fail", "-o", str(dest), "-H", f"anthropic-version: {ANTHROPIC_VERSION}"]
            rows["curl-direct"] = measure_to_file(
                "curl, directly (JSONL)", [*common, "-H", f"x-api-key: {API_KEY}", direct_url], env, dest)
            rows["curl-gateway"] = measure_to_file(
                "curl, gateway (one JSON)", [*common, "-H", "x-model-provider: anthropic", gateway_url], env, dest,
                counter=count_document_results)
        else:
            rows["curl-direct"] = Row("curl, directly (JSONL)", note="skipped: curl not found")
            rows["curl-gateway"] = Row("curl, gateway (one JSON)", note="skipped: curl not found")
        if has_sdk:
            rows["sdk-direct"] = measure_to_file(
                "anthropic SDK, directly",
                [py, str(work / "sdk_results.py"), native, API_KEY, batch_id, str(dest)], env, dest)
        else:
            rows["sdk-direct"] = Row("anthropic SDK, directly", note="skipped: anthropic SDK not installed")
        rows["bifrost-direct"] = measure_to_file(
            "bifrost results, directly (JSONL)", [*bifrost(), "batches", "results", batch_id, "-o", str(dest)],
            direct_env, dest)
        rows["bifrost-gateway"] = measure_to_file(
            "bifrost results, gateway (one JSON)", [*gateway, "batches", "results", batch_id, "-o", str(dest)],
            env, dest)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)

    baseline = rows["baseline"].rss
    assert baseline is not None
    print(f"bifrost results memory benchmark: {ns.requests:,} results, emulator served on loopback; Python {sys.version.split()[0]}")
    print(f"{'command':36} {'peak RSS MiB':>12} {'/ baseline':>10} {'seconds':>8} {'results':>8}")
    for row in rows.values():
        if row.rss is None:
            print(f"{row.name:36} {'-':>12} {'-':>10} {'-':>8} {'-':>8}  ({row.note})")
            continue
        lines = f"{row.lines:8}" if row.lines is not None else f"{'-':>8}"
        print(f"{row.name:36} {row.rss:12.1f} {row.rss / baseline:10.2f} {row.secs:8.2f} {lines}")

    def ratio(label: str, over: str, under: str) -> None:
        top, bottom = rows[over], rows[under]
        if top.rss is None or bottom.rss is None:
            print(f"{label}: - ({(top.note or bottom.note)})")
        else:
            print(f"{label}: {top.rss / bottom.rss:.2f}")

    print(f"measurement floor (the launcher's pages, seen by `true`): {floor:.1f} MiB")
    ratio("bifrost gateway / bifrost direct peak RSS", "bifrost-gateway", "bifrost-direct")
    ratio("bifrost gateway / curl gateway peak RSS", "bifrost-gateway", "curl-gateway")
    ratio("bifrost direct / anthropic SDK direct peak RSS", "bifrost-direct", "sdk-direct")
    highest = max(rows["bifrost-direct"].rss or 0.0, rows["bifrost-gateway"].rss or 0.0)
    verdict = "PASS" if highest <= CEILING_MB else "MISS"
    print(f"ceiling {CEILING_MB:.0f} MiB (bifrost rows): {verdict} (highest {highest:.1f} MiB)")
    if any(row.lines is not None and row.lines != ns.requests for row in rows.values()):
        raise SystemExit(2)


if __name__ == "__main__":
    main()
