"""Peak memory of streamed transfers: ``files upload`` and ``files download`` of a large file.

Serves the emulator on a loopback port (with a private state directory), writes a file of
``--mb`` megabytes, uploads it to the emulated OpenAI API (above 512 MB, through its Uploads API in
64 MiB parts), downloads it back to disk and to stdout, and reports each command's peak resident memory (from ``wait4``) next to the file size,
as a ratio. A streamed transfer's peak stays flat whatever the size; a buffered one grows with it.

    python bench/transfer.py [--mb 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def bifrost() -> list[str]:
    script = Path(sys.executable).with_name("bifrost")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bifrost_cli"]


def measure(args: list[str], env: dict[str, str], stdout: int | None = None) -> tuple[float, float, str]:
    """(peak RSS in MB, seconds, stdout text) of one command."""
    started = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read() if proc.stdout is not None else b""
    err = proc.stderr.read() if proc.stderr is not None else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[1:])} failed ({proc.returncode}): {err.decode(errors='replace')}")
    return usage.ru_maxrss / 1024, time.monotonic() - started, out.decode(errors="replace")


def write_file(path: Path, megabytes: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for i in range(megabytes):
            chunk = block[i % 251 :] + block[: i % 251]  # cheap variation, incompressible
            fh.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="size of the test file in MB (default 1024)")
    ns = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bifrost-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIFROST_", "ANTHROPIC_", "OPENAI_"))}
    env["BIFROST_CONFIG_DIR"] = str(work / "config")
    server = subprocess.Popen(
        [*bifrost(), "emulator", "serve", "--port", "0", "--state-dir", str(work / "state"), "-q"],
        env=env, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert server.stderr is not None
        url = ""
        while not url:
            line = server.stderr.readline()
            if not line:
                raise SystemExit("the emulator did not start")
            match = re.search(r"listening on (http://\S+)", line)
            url = match.group(1) if match else ""
        # OpenAI's own API on the emulator: files above 512 MB go through its Uploads API in parts.
        env["OPENAI_BASE_URL"] = url + "/native/openai/v1"
        env["OPENAI_API_KEY"] = "bench-key-not-secret"
        base = [*bifrost(), "-p", "openai"]

        source = work / "big.bin"
        want = write_file(source, ns.mb)
        rows = []
        rss, secs, out = measure([*base, "files", "upload", str(source), "-q"], env)
        file_id = out.strip()
        rows.append(("upload", rss, secs))
        dest = work / "copy.bin"
        rss, secs, _ = measure([*base, "files", "download", file_id, "-o", str(dest)], env)
        rows.append(("download -o FILE", rss, secs))
        ok_file = sha256(dest) == want
        dest.unlink()
        with open(os.devnull, "wb") as sink:
            rss, secs, _ = measure([*base, "files", "download", file_id, "-o", "-"], env, stdout=sink.fileno())
        rows.append(("download -o -", rss, secs))
        rss, secs, _ = measure([*base, "files", "get", file_id, "--json"], env)
        rows.append(("baseline: files get", rss, secs))
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)

    print(f"bifrost transfer benchmark: {ns.mb} MB file, emulator served on loopback; Python {sys.version.split()[0]}")
    print(f"{'command':22} {'peak RSS MB':>12} {'RSS/file size':>14} {'seconds':>8} {'MB/s':>8}")
    for name, rss, secs in rows:
        rate = f"{ns.mb / secs:8.0f}" if not name.startswith("baseline") else f"{'-':>8}"
        print(f"{name:22} {rss:12.1f} {rss / ns.mb:14.3f} {secs:8.2f} {rate}")
    print(f"downloaded file identical to the original: {'yes' if ok_file else 'NO'}")


if __name__ == "__main__":
    main()
