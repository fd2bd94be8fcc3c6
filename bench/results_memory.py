"""Peak memory of ``batches results`` for a large batch, through the gateway and directly.

Serves the emulator on a loopback port (with a private state directory), creates one Anthropic batch
of ``--requests`` requests (100,000 by default) on its own API, waits for it to end, then writes its
results to a file with ``bifrost batches results ID -o FILE``:

- directly (Anthropic's API answers JSONL, read a line at a time), and
- through the gateway's ``/anthropic`` route (which answers ONE JSON object
  ``{"batch_id", "results": [...], "extra_fields"}``, parsed as a stream with ijson),

and reports each command's peak resident memory (from ``wait4``) beside a plain ``batches get`` as the
baseline, as ratios (gateway / direct, and each / baseline), with the 64 MiB ceiling.

    python bench/results_memory.py [--requests 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CEILING_MB = 64.0


def bifrost() -> list[str]:
    script = Path(sys.executable).with_name("bifrost")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bifrost_cli"]


def run_measured(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(peak RSS in MiB, seconds, stdout text) of one command, reaped with ``wait4`` for its own rusage."""
    started = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[1:])} failed ({proc.returncode}): {err.decode(errors='replace')}")
    return usage.ru_maxrss / 1024, time.monotonic() - started, out.decode(errors="replace")


def write_requests(path: Path, count: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(count):
            params = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": f"question {i}"}]}
            fh.write(json.dumps({"custom_id": f"req-{i:06d}", "params": params}) + "\n")


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
    rows: list[tuple[str, float, float, int]] = []
    try:
        assert server.stderr is not None
        url = ""
        while not url:
            line = server.stderr.readline()
            if not line:
                raise SystemExit("the emulator did not start")
            match = re.search(r"listening on (http://\S+)", line)
            url = match.group(1) if match else ""
        direct_env = {**env, "ANTHROPIC_BASE_URL": url + "/native/anthropic", "ANTHROPIC_API_KEY": "bench-key-not-secret"}
        gateway = [*bifrost(), "--base-url", url, "-p", "anthropic"]

        requests = work / "requests.jsonl"
        write_requests(requests, ns.requests)
        _, _, out = run_measured([*bifrost(), "batches", "create", str(requests), "-q"], direct_env)
        batch_id = out.strip()
        run_measured([*bifrost(), "batches", "wait", batch_id, "--poll", "1", "-q"], direct_env)

        rss, secs, _ = run_measured([*bifrost(), "batches", "get", batch_id, "--json"], direct_env)
        rows.append(("baseline: batches get", rss, secs, 0))
        for name, command, where in (
            ("results, directly (JSONL)", [*bifrost(), "batches", "results", batch_id], direct_env),
            ("results, gateway (one JSON)", [*gateway, "batches", "results", batch_id], env),
        ):
            dest = work / "results.jsonl"
            rss, secs, _ = run_measured([*command, "-o", str(dest)], where)
            with open(dest, "rb") as fh:
                lines = sum(1 for _ in fh)
            dest.unlink()
            rows.append((name, rss, secs, lines))
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)

    baseline = rows[0][1]
    print(f"bifrost results memory benchmark: {ns.requests:,} results, emulator served on loopback; Python {sys.version.split()[0]}")
    print(f"{'command':30} {'peak RSS MiB':>12} {'/ baseline':>10} {'seconds':>8} {'lines':>8}")
    for name, rss, secs, lines in rows:
        print(f"{name:30} {rss:12.1f} {rss / baseline:10.2f} {secs:8.2f} {lines:8}")
    direct, through = rows[1][1], rows[2][1]
    print(f"gateway / direct peak RSS: {through / direct:.2f}")
    verdict = "PASS" if max(direct, through) <= CEILING_MB else "MISS"
    print(f"ceiling {CEILING_MB:.0f} MiB: {verdict} (highest {max(direct, through):.1f} MiB)")
    if any(lines != ns.requests for _, _, _, lines in rows[1:]):
        raise SystemExit(2)


if __name__ == "__main__":
    main()
