"""Time and peak memory of ``batches results --join INPUT --retry-file PATH`` on a large input.

Serves the emulator on a loopback port (a private state directory), creates one Anthropic batch of
``--requests`` requests (100,000 by default; one in 50 fails and one in 100 expires, by the emulator's
markers), waits for it to end, then measures, each as a fresh process reaped with ``wait4`` by
``results_memory.py``'s launcher:

- ``batches results ID -o FILE`` (plain results, the reference),
- ``batches results ID --join INPUT -o FILE --retry-file PATH`` (join and retry; the input shuffled
  so that results arrive in another order than the input's), and
- ``batches results ID --input INPUT --retry-file PATH`` (the retry file alone),

directly and through the gateway's ``/anthropic`` route, and checks each output (one joined line per
input line, the retry file holding exactly the failed requests' lines). Prints a Markdown table.

    python bench/join.py [--requests 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_memory import API_KEY, bifrost, emulator_url, run_measured  # noqa: E402


def write_requests(path: Path, count: int) -> tuple[int, list[bytes]]:
    """The batch's input; returns (requests that will not succeed, the lines in a shuffled order)."""
    lines = []
    failing = 0
    for i in range(count):
        text = f"question {i}"
        if i % 50 == 7:
            text += " [emulator:error]"
        elif i % 100 == 3:
            text += " [emulator:expire]"
        failing += text.endswith("]")
        params = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": text}]}
        lines.append((json.dumps({"custom_id": f"req-{i:06d}", "params": params}) + "\n").encode())
    path.write_bytes(b"".join(lines))
    random.Random(12).shuffle(lines)
    return failing, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000, help="requests in the batch (default 100000)")
    ns = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bifrost-join-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIFROST_", "ANTHROPIC_", "OPENAI_"))}
    env["BIFROST_CONFIG_DIR"] = str(work / "config")
    env["BIFROST_LEDGER"] = str(work / "ledger.jsonl")
    server = subprocess.Popen(
        [*bifrost(), "emulator", "serve", "--port", "0", "--state-dir", str(work / "state"), "--batch-seconds", "1", "-q"],
        env=env, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert server.stderr is not None
        url = emulator_url(server)
        direct_env = {**env, "ANTHROPIC_BASE_URL": url + "/native/anthropic", "ANTHROPIC_API_KEY": API_KEY}
        sent = work / "requests.jsonl"
        failing, shuffled = write_requests(sent, ns.requests)
        joined_input = work / "input.jsonl"
        joined_input.write_bytes(b"".join(shuffled))
        _, _, out = run_measured([*bifrost(), "batches", "create", str(sent), "-q"], direct_env)
        batch_id = out.strip()
        run_measured([*bifrost(), "batches", "wait", batch_id, "--poll", "1", "-q", "--allow-errors"], direct_env)

        rows = []
        for path, head in (("directly", [*bifrost()]), ("gateway", [*bifrost(), "--base-url", url, "-p", "anthropic"])):
            out_file, retry = work / "out.jsonl", work / "retry.jsonl"
            cases = [
                ("results -o (reference)", ["-o", str(out_file)]),
                ("--join -o --retry-file", ["--join", str(joined_input), "-o", str(out_file), "--retry-file", str(retry)]),
                ("--input --retry-file", ["--input", str(joined_input), "--retry-file", str(retry)]),
            ]
            for name, extra in cases:
                rss, secs, _ = run_measured([*head, "batches", "results", batch_id, *extra, "-q"], direct_env)
                lines = sum(1 for _ in open(out_file, "rb")) if out_file.exists() else None
                retried = sum(1 for _ in open(retry, "rb")) if retry.exists() else None
                if "--join" in extra:
                    with open(out_file, "rb") as fh:
                        first = json.loads(fh.readline())
                    assert first["custom_id"] == json.loads(shuffled[0])["custom_id"], "not in input order"
                if retried is not None:
                    assert retried == failing, f"retry file: {retried} lines, expected {failing}"
                if lines is not None:
                    assert lines == ns.requests, f"{lines} lines, expected {ns.requests}"
                rows.append((path, name, secs, rss, lines, retried))
                out_file.unlink(missing_ok=True)
                retry.unlink(missing_ok=True)
        print(f"| path | command (`batches results ID ...`, {ns.requests:,} requests) | time | peak RSS | lines | retry lines |")
        print("| --- | --- | --- | --- | --- | --- |")
        for path, name, secs, rss, lines, retried in rows:
            print(f"| {path} | `{name}` | {secs:.2f} s | {rss:.1f} MiB | {lines if lines is not None else '-'} | "
                  f"{retried if retried is not None else '-'} |")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
