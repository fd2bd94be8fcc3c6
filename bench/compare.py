"""Issue 10's one measuring instrument: the CLI beside curl, the official SDKs and plain-Python floors.

    python bench/compare.py [--quick] [--rounds 5] [--only ROW[,ROW...]] [--out bench/RESULTS.md] [--label TEXT]

Builds the test data in a temporary directory, serves the emulator on a loopback port (``bifrost
emulator serve``, one process, with a private state directory), and runs every row of the table in
issue 10 interleaved: in each round, every command of every row once, round-robin, so drift and the
load of other processes touch them alike; the table shows medians. Each command is forked by a tiny
launcher that reaps it with ``wait4`` (see :data:`LAUNCHER`), which gives its wall time, CPU time and
peak RSS. Rows whose SDK is not installed (or curl absent) are printed with a note instead of a ratio.

The emulator is the server for every row. The ``server`` line of the table is curl fetching the
download file from it: if the emulator were the bottleneck of a transfer, the curl baseline of that
row would show it (its MB/s is printed there), and the ratio would understate the CLI's cost.

``--quick`` uses small sizes (a few thousand requests, tens of MB) so a full pass takes well under
two minutes: it checks the harness, not the figures. ``--only`` takes row keys (``--list`` prints them).
The table is printed and written as markdown (``--out``, default ``bench/RESULTS.md``) with the
machine it ran on; exit 0 whatever the figures (PASS/FAIL is a column), 2 when a command fails.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import pty
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_memory import write_requests  # noqa: E402  (the same request lines as the memory bench)
from startup import MINIMAL_TYPER_APP, compile_package  # noqa: E402
from transfer import write_file  # noqa: E402

API_KEY = "bench-key-not-secret"
ANTHROPIC_VERSION = "2023-06-01"
MiB = 1 << 20

# Forks the command, optionally stops it with SIGINT after a number of seconds (the ``wait`` row),
# and reaps it with wait4: peak RSS (KiB), wall seconds, CPU seconds (user + system), written to fd.
# Started straight from this script, a command's ru_maxrss would never read below this script's own
# peak (Linux keeps the pre-exec high-water mark); forked from the launcher it starts from a few pages.
# A command stopped after S seconds also gets its CPU over a window after its startup: read from
# /proc/PID/task/*/schedstat (every thread, nanoseconds) at half of S and just before the SIGINT, so
# neither its startup nor what it does on the way out (the final table, the resume hint) counts.
LAUNCHER = """\
import os, signal, sys, time
fd = int(sys.argv[1]); stop_after = float(sys.argv[2])
os.set_inheritable(fd, False)

def cpu_of(pid):
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                total += int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e9

started = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        # a shell's background job (nohup, &) ignores SIGINT, and an ignored signal stays ignored
        # across exec: give the command SIGINT back, so the wait row's stop reaches it
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execvp(sys.argv[3], sys.argv[3:])
    finally:
        os._exit(127)
window = ""
if stop_after > 0:
    first = None
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        now = time.monotonic()
        if first is None and now - started >= 0.5 * stop_after:
            first = (cpu_of(pid), now)
        if now - started >= stop_after:
            last = (cpu_of(pid), time.monotonic())
            if first is not None and first[0] is not None and last[0] is not None:
                window = f" {last[0] - first[0]:.4f} {last[1] - first[1]:.4f}"
            os.kill(pid, signal.SIGINT)
            _, status, usage = os.wait4(pid, 0)
            status = 0
            break
        time.sleep(0.05)
else:
    _, status, usage = os.wait4(pid, 0)
elapsed = time.monotonic() - started
os.write(fd, (f"{usage.ru_maxrss} {elapsed:.4f} {usage.ru_utime + usage.ru_stime:.4f}" + window).encode())
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""

# --- baseline scripts (each a file in the work dir, run with this Python) --------------------------

FLOOR_JSON_LOADS = """\
import json, sys
n = 0
with open(sys.argv[1], "rb") as fh:
    for line in fh:
        json.loads(line)
        n += 1
print(n)
"""

FLOOR_LINE_COPY = """\
import sys, urllib.request
url, dest = sys.argv[1], sys.argv[2]
headers = dict(h.split(": ", 1) for h in sys.argv[3:])
with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as resp, open(dest, "wb") as fh:
    for line in resp:
        fh.write(line)
"""

SDK_ANTHROPIC_CREATE = """\
import json, sys
import anthropic
base_url, key, path = sys.argv[1:4]
with open(path, "rb") as fh:
    requests = [json.loads(line) for line in fh if line.strip()]
client = anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0, timeout=600)
print(client.messages.batches.create(requests=requests).id)
"""

SDK_OPENAI_CREATE = """\
import sys
import openai
base_url, key, path = sys.argv[1:4]
client = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=600)
with open(path, "rb") as fh:
    uploaded = client.files.create(file=fh, purpose="batch")
print(client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h").id)
"""

SDK_ANTHROPIC_RESULTS = """\
import sys
import anthropic
base_url, key, batch_id, dest = sys.argv[1:5]
client = anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0, timeout=600)
with open(dest, "w", encoding="utf-8") as fh:
    for result in client.messages.batches.results(batch_id):
        fh.write(result.to_json(indent=None) + "\\n")
"""

SDK_OPENAI_RESULTS = """\
import json, sys
import openai
base_url, key, batch_id, dest = sys.argv[1:5]
client = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=600)
batch = client.batches.retrieve(batch_id)
with client.files.with_streaming_response.content(batch.output_file_id) as resp, open(dest, "w", encoding="utf-8") as fh:
    for line in resp.iter_lines():
        if line:
            fh.write(json.dumps(json.loads(line)) + "\\n")
"""

SDK_OPENAI_DOWNLOAD = """\
import sys
import openai
base_url, key, file_id, dest = sys.argv[1:5]
client = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=600)
with client.files.with_streaming_response.content(file_id) as resp:
    resp.stream_to_file(dest)
"""

SDK_OPENAI_UPLOAD_CHUNKED = """\
import sys
from pathlib import Path
import openai
base_url, key, path, part = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
client = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=600)
upload = client.uploads.upload_file_chunked(file=path, mime_type="application/jsonl", purpose="batch", part_size=part)
print(upload.file.id if upload.file else upload.id)
"""

SDK_ANTHROPIC_GET = """\
import sys
import anthropic
base_url, key, batch_id = sys.argv[1:4]
client = anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0)
print(client.messages.batches.retrieve(batch_id).model_dump_json())
"""

SDK_OPENAI_GET = """\
import sys
import openai
base_url, key, batch_id = sys.argv[1:4]
client = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0)
print(client.batches.retrieve(batch_id).model_dump_json())
"""

# curl through the resumable protocol: start (read the upload URL from the answer's headers), then
# one request that uploads and finalizes, streamed from the file (-T, not --data-binary, which loads it).
CURL_GEMINI_UPLOAD = """\
set -e
base=$1; key=$2; file=$3; size=$4
url=$(curl -sS --fail -D - -o /dev/null -X POST "$base/upload/v1beta/files" \\
  -H "x-goog-api-key: $key" -H "X-Goog-Upload-Protocol: resumable" -H "X-Goog-Upload-Command: start" \\
  -H "X-Goog-Upload-Header-Content-Length: $size" -H "X-Goog-Upload-Header-Content-Type: application/jsonl" \\
  -H "Content-Type: application/json" --data '{"file": {"display_name": "bench"}}' \\
  | tr -d '\\r' | sed -n 's/^[Xx]-[Gg]oog-[Uu]pload-[Uu][Rr][Ll]: //p')
curl -sS --fail -o /dev/null -X POST -T "$file" "$url" -H "x-goog-api-key: $key" \\
  -H "X-Goog-Upload-Command: upload, finalize" -H "X-Goog-Upload-Offset: 0" -H "Expect:"
"""


# --- measuring ---------------------------------------------------------------------------------------


@dataclass
class Sample:
    secs: float
    cpu: float
    rss: float  # MiB
    window_cpu: float = -1.0  # a stopped command's CPU seconds over the window after its startup (LAUNCHER)
    window_secs: float = 0.0


def parse_report(measured: list[bytes]) -> Sample | None:
    if len(measured) not in (3, 5):
        return None
    window = (float(measured[3]), float(measured[4])) if len(measured) == 5 else (-1.0, 0.0)
    return Sample(float(measured[1]), float(measured[2]), int(measured[0]) / 1024, *window)


class CommandFailed(Exception):
    pass


def bifrost() -> list[str]:
    script = Path(sys.executable).with_name("bifrost")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bifrost_cli"]


def run_measured(args: list[str], env: dict[str, str], *, stop_after: float = 0.0, stdout: int | None = None) -> tuple[Sample, str]:
    report_r, report_w = os.pipe()
    launcher = [sys.executable, "-S", "-I", "-c", LAUNCHER, str(report_w), str(stop_after), *args]
    proc = subprocess.Popen(
        launcher, env=env, stdin=subprocess.DEVNULL, stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE, pass_fds=(report_w,),
    )
    os.close(report_w)
    with os.fdopen(report_r, "rb") as report:
        out, err = proc.communicate()
        measured = report.read().split()
    sample = parse_report(measured)
    if proc.returncode != 0 or sample is None:
        tail = (err or b"").decode(errors="replace")[-1500:]
        raise CommandFailed(f"{' '.join(args)[:300]} failed ({proc.returncode}): {tail}")
    return sample, (out or b"").decode(errors="replace")


@dataclass
class Cmd:
    name: str
    argv: list[str]
    env: dict[str, str]
    before: Callable[[], None] | None = None  # untimed setup (e.g. remove the previous destination)
    after: Callable[[str], None] | None = None  # untimed check of the outcome (stdout given)
    stop_after: float = 0.0
    on_pty: bool = False
    samples: list[Sample] = field(default_factory=list)
    note: str = ""

    def run(self) -> None:
        if self.before:
            self.before()
        if self.on_pty:
            sample, out = run_on_pty(self.argv, self.env, self.stop_after)
        else:
            sample, out = run_measured(self.argv, self.env, stop_after=self.stop_after)
        if self.after:
            self.after(out)
        self.samples.append(sample)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)


def run_on_pty(argv: list[str], env: dict[str, str], stop_after: float) -> tuple[Sample, str]:
    """Run with stdout and stderr on a pseudo-terminal (the live display draws there), draining it."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    report_r, report_w = os.pipe()
    launcher = [sys.executable, "-S", "-I", "-c", LAUNCHER, str(report_w), str(stop_after), *argv]
    term_env = {**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    term_env.pop("NO_COLOR", None)
    proc = subprocess.Popen(launcher, env=term_env, stdin=slave, stdout=slave, stderr=slave, pass_fds=(report_w,))
    os.close(report_w)
    os.close(slave)
    with os.fdopen(report_r, "rb") as report:
        proc.wait()
        measured = report.read().split()
    os.close(master)
    reader.join(timeout=2)
    sample = parse_report(measured)
    if sample is None:
        raise CommandFailed(f"{' '.join(argv)[:300]} on a terminal failed ({proc.returncode})")
    return sample, b"".join(chunks).decode(errors="replace")


@dataclass
class Row:
    key: str
    path: str  # as in issue 10's table
    cli: Cmd | None
    baselines: list[Cmd]
    target: str
    verdict: Callable[[Row], tuple[str, str]]  # -> (ratio text, PASS/FAIL)
    note: str = ""
    units: int = 0  # lines or bytes, for rates


# --- the rows ----------------------------------------------------------------------------------------


def ratio_of(row: Row, index: int = 0) -> float | None:
    if row.cli is None or index >= len(row.baselines) or not row.baselines[index].samples or not row.cli.samples:
        return None
    return row.cli.median("secs") / row.baselines[index].median("secs")


def at_most(limit: float, index: int = 0, rss_limit: float | None = None, extra: Callable[[Row], tuple[str, bool]] | None = None):
    def verdict(row: Row) -> tuple[str, str]:
        r = ratio_of(row, index)
        if r is None:
            return "-", "skip"
        texts, ok = [f"{r:.2f}x {row.baselines[index].name}"], r <= limit
        if rss_limit is not None and row.cli is not None:
            rss = row.cli.median("rss")
            ok = ok and rss <= rss_limit
        if extra is not None:
            text, good = extra(row)
            texts.append(text)
            ok = ok and good
        return "; ".join(texts), "PASS" if ok else "FAIL"

    return verdict


def lines_per_second(minimum: float) -> Callable[[Row], tuple[str, bool]]:
    def check(row: Row) -> tuple[str, bool]:
        assert row.cli is not None
        rate = row.units / row.cli.median("secs")
        return f"{rate / 1000:.0f}k lines/s", rate >= minimum

    return check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the harness in under two minutes")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5; 2 with --quick)")
    parser.add_argument("--only", default="", help="comma-separated row keys (see --list)")
    parser.add_argument("--list", action="store_true", help="print the row keys and exit")
    parser.add_argument("--requests", type=int, help="override the request/line counts (create-openai uses half)")
    parser.add_argument("--mb", type=int, help="override the large transfer size in MiB (one-POST uploads: min(MB, 400))")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md", help="markdown table (default bench/RESULTS.md)")
    parser.add_argument("--no-out", action="store_true", help="print the table only")
    parser.add_argument("--label", default="", help="a heading for the markdown table, e.g. 'before (main at abc1234)'")
    ns = parser.parse_args(argv)
    if ns.list:
        print("\n".join(ROW_KEYS))
        return 0
    only = {k.strip() for k in ns.only.split(",") if k.strip()}
    unknown = only - set(ROW_KEYS)
    if unknown:
        parser.error(f"unknown row(s) {', '.join(sorted(unknown))}; rows: {', '.join(ROW_KEYS)}")
    rounds = ns.rounds if ns.rounds is not None else (2 if ns.quick else 5)
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        return bench(ns.quick, rounds, only or set(ROW_KEYS), None if ns.no_out else ns.out, ns.label, ns.requests, ns.mb)
    except CommandFailed as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2


ROW_KEYS = [
    "create", "create-openai", "results", "results-openai", "download-disk", "download-tmpfs",
    "upload-openai", "upload-openai-parts", "upload-gemini", "upload-anthropic", "get", "get-openai", "help", "wait",
]


class Server:
    def __init__(self, env: dict[str, str], state: Path, batch_seconds: float) -> None:
        self.proc = subprocess.Popen(
            [*bifrost(), "emulator", "serve", "--host", "127.0.0.1", "--port", "0", "--state-dir", str(state),
             "--batch-seconds", str(batch_seconds), "-q"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stderr is not None
        self.url = ""
        while not self.url:
            line = self.proc.stderr.readline()
            if not line:
                raise CommandFailed("the emulator did not start")
            match = re.search(r"listening on (http://\S+)", line)
            self.url = match.group(1).rstrip("/") if match else ""
        threading.Thread(target=lambda: self.proc.stderr and self.proc.stderr.read(), daemon=True).start()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def write_create_requests(path: Path, count: int) -> None:
    """Anthropic request lines of about 1 KB each (issue 10's 100,000 requests are 103 MB): a system prompt and two turns."""
    system = "You are a careful assistant. Answer briefly and cite nothing. " * 11
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(count):
            params = {"model": "claude-haiku-4-5", "max_tokens": 64, "system": system, "messages": [
                {"role": "user", "content": f"question {i}: what is {i} times {i + 1}?"},
                {"role": "assistant", "content": "Let me work it out."},
                {"role": "user", "content": "Go on, and show the steps in one line."}]}
            fh.write(json.dumps({"custom_id": f"req-{i:06d}", "params": params}) + "\n")


def write_openai_requests(path: Path, count: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(count):
            body = {"model": "gpt-4o-mini", "max_tokens": 16, "messages": [{"role": "user", "content": f"question {i}"}]}
            fh.write(json.dumps({"custom_id": f"req-{i:06d}", "method": "POST", "url": "/v1/chat/completions", "body": body}) + "\n")


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def one_id(out: str) -> str:
    text = out.strip().splitlines()
    if not text:
        raise CommandFailed("no id printed")
    return text[-1].strip()


def expect_lines(dest: Path, count: int) -> Callable[[str], None]:
    def check(_: str) -> None:
        got = count_lines(dest)
        if got != count:
            raise CommandFailed(f"{dest.name}: {got} lines, expected {count}")
        dest.unlink()

    return check


def expect_size(dest: Path, size: int) -> Callable[[str], None]:
    def check(_: str) -> None:
        got = dest.stat().st_size
        if got != size:
            raise CommandFailed(f"{dest}: {got} bytes, expected {size}")
        dest.unlink()

    return check


def warm_up(url: str, headers: dict[str, str]) -> None:
    """GET ``url`` once and drop the body."""
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=600) as answer:
        while answer.read(1 << 20):
            pass


def remove(path: Path) -> Callable[[], None]:
    return lambda: path.unlink(missing_ok=True)


def bench(quick: bool, rounds: int, only: set[str], out: Path | None, label: str,
          requests: int | None = None, mb: int | None = None) -> int:
    py = sys.executable
    curl = shutil.which("curl")
    has = {name: importlib.util.find_spec(name) is not None for name in ("anthropic", "openai")}
    has["google.genai"] = importlib.util.find_spec("google") is not None and importlib.util.find_spec("google.genai") is not None
    n_create = 2_000 if quick else 100_000
    n_create_openai = 1_000 if quick else 50_000
    n_results = 2_000 if quick else 100_000
    big_mb = 24 if quick else 1024  # download + Uploads API; MiB
    post_mb = 16 if quick else 400  # one-POST uploads (OpenAI's limit is 512 MB, Anthropic's 500 MB)
    if requests:
        n_create, n_create_openai, n_results = requests, max(requests // 2, 1), requests
    if mb:
        big_mb, post_mb = mb, min(mb, 400)
    wait_secs = 3.0 if quick else 10.0
    compile_package()

    work = Path(tempfile.mkdtemp(prefix="bifrost-compare-"))
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK) else None
    shm_dir = Path(tempfile.mkdtemp(prefix="bifrost-compare-", dir=shm)) if shm else None
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BIFROST_", "ANTHROPIC_", "OPENAI_", "GEMINI_", "GOOGLE_", "_BIFROST_", "_TYPER_"))}
    env["BIFROST_CONFIG_DIR"] = str(work / "config")
    env["BIFROST_LEDGER"] = str(work / "ledger.sqlite3")
    env["NO_COLOR"] = "1"
    servers: list[Server] = []
    rows: list[Row] = []
    started = time.monotonic()
    try:
        url = "http://127.0.0.1:9"  # no server when only rows that need none (help) are asked for
        if only - {"help"}:
            server = Server(env, work / "state", 1)
            servers.append(server)
            url = server.url
        native_a = f"{url}/native/anthropic"
        native_o = f"{url}/native/openai/v1"
        native_g = f"{url}/native/gemini"
        a_env = {**env, "ANTHROPIC_BASE_URL": native_a, "ANTHROPIC_API_KEY": API_KEY}
        o_env = {**env, "OPENAI_BASE_URL": native_o, "OPENAI_API_KEY": API_KEY}
        g_env = {**env, "GEMINI_BASE_URL": native_g, "GEMINI_API_KEY": API_KEY}
        B = bifrost()
        for name, text in (
            ("floor_json_loads.py", FLOOR_JSON_LOADS), ("floor_line_copy.py", FLOOR_LINE_COPY),
            ("sdk_anthropic_create.py", SDK_ANTHROPIC_CREATE), ("sdk_openai_create.py", SDK_OPENAI_CREATE),
            ("sdk_anthropic_results.py", SDK_ANTHROPIC_RESULTS), ("sdk_openai_results.py", SDK_OPENAI_RESULTS),
            ("sdk_openai_download.py", SDK_OPENAI_DOWNLOAD), ("sdk_openai_upload_chunked.py", SDK_OPENAI_UPLOAD_CHUNKED),
            ("sdk_anthropic_get.py", SDK_ANTHROPIC_GET), ("sdk_openai_get.py", SDK_OPENAI_GET),
            ("curl_gemini_upload.sh", CURL_GEMINI_UPLOAD), ("minimal_typer_app.py", MINIMAL_TYPER_APP),
        ):
            (work / name).write_text(text, encoding="utf-8")
        W = lambda name: str(work / name)  # noqa: E731

        def sdk_or_note(pkg: str, cmd: Cmd) -> Cmd:
            if not has[pkg]:
                cmd.note = f"skipped: {pkg} not installed"
            return cmd

        def curl_or_note(cmd: Cmd) -> Cmd:
            if not curl:
                cmd.note = "skipped: curl not found"
            return cmd

        curl_bin = curl or "curl"
        a_headers = ["-H", f"x-api-key: {API_KEY}", "-H", f"anthropic-version: {ANTHROPIC_VERSION}"]
        o_headers = ["-H", f"Authorization: Bearer {API_KEY}"]

        # create, Anthropic
        if "create" in only:
            req = work / "create_anthropic.jsonl"
            write_create_requests(req, n_create)
            mb = req.stat().st_size / 1e6
            rows.append(Row(
                "create", f"`batches create`, {n_create:,} Anthropic requests ({mb:.0f} MB)",
                Cmd("bifrost", [*B, "batches", "create", str(req), "--new", "-q"], a_env),
                [sdk_or_note("anthropic", Cmd("anthropic SDK", [py, W("sdk_anthropic_create.py"), native_a, API_KEY, str(req)], env)),
                 Cmd("json.loads loop", [py, W("floor_json_loads.py"), str(req)], env)],
                "<= 0.6x SDK, RSS <= 64 MiB", at_most(0.6, 0, rss_limit=64.0),
            ))
        if "create-openai" in only:
            req = work / "create_openai.jsonl"
            write_openai_requests(req, n_create_openai)
            rows.append(Row(
                "create-openai", f"`-p openai batches create`, {n_create_openai:,} requests",
                Cmd("bifrost", [*B, "-p", "openai", "batches", "create", str(req), "--new", "-q"], o_env),
                [sdk_or_note("openai", Cmd("openai SDK (upload + create)", [py, W("sdk_openai_create.py"), native_o, API_KEY, str(req)], env))],
                "<= 0.6x SDK", at_most(0.6),
            ))
        if "results" in only:
            req = work / "results_anthropic.jsonl"
            write_requests(req, n_results)
            sample, out_text = run_measured([*B, "batches", "create", str(req), "-q"], a_env)
            bid = one_id(out_text)
            run_measured([*B, "batches", "wait", bid, "--poll", "1", "-q"], a_env)
            dest = work / "results_a.jsonl"
            results_url = f"{native_a}/v1/messages/batches/{bid}/results"
            # the emulator builds an ended batch's results body once, on the first request, then serves
            # the stored bytes: fetched once here, so that the build is not billed to whichever command runs first
            warm_up(results_url, {"x-api-key": API_KEY, "anthropic-version": ANTHROPIC_VERSION})
            rows.append(Row(
                "results", f"`batches results`, {n_results:,} Anthropic lines",
                Cmd("bifrost", [*B, "batches", "results", bid, "-o", str(dest)], a_env, before=remove(dest), after=expect_lines(dest, n_results)),
                [Cmd("line-copy loop", [py, W("floor_line_copy.py"), results_url, str(dest), f"x-api-key: {API_KEY}",
                                        f"anthropic-version: {ANTHROPIC_VERSION}"], env, before=remove(dest), after=expect_lines(dest, n_results)),
                 sdk_or_note("anthropic", Cmd("anthropic SDK", [py, W("sdk_anthropic_results.py"), native_a, API_KEY, bid, str(dest)], env,
                                              before=remove(dest), after=expect_lines(dest, n_results)))],
                ">= 100k lines/s; <= 4x line-copy", at_most(4.0, 0, extra=lines_per_second(100_000)), units=n_results,
            ))
        if "results-openai" in only:
            n_results_o = min(n_results, 50_000)  # OpenAI's (and the emulator's) ceiling for one batch
            n_results = n_results_o
            req = work / "results_openai.jsonl"
            write_openai_requests(req, n_results)
            _, out_text = run_measured([*B, "-p", "openai", "batches", "create", str(req), "-q"], o_env)
            bid = one_id(out_text)
            run_measured([*B, "-p", "openai", "batches", "wait", bid, "--poll", "1", "-q"], o_env)
            dest = work / "results_o.jsonl"
            rows.append(Row(
                "results-openai", f"`-p openai batches results`, {n_results:,} lines",
                Cmd("bifrost", [*B, "-p", "openai", "batches", "results", bid, "-o", str(dest)], o_env,
                    before=remove(dest), after=expect_lines(dest, n_results)),
                [sdk_or_note("openai", Cmd("openai SDK", [py, W("sdk_openai_results.py"), native_o, API_KEY, bid, str(dest)], env,
                                           before=remove(dest), after=expect_lines(dest, n_results)))],
                "<= 0.7x SDK, >= 50k lines/s", at_most(0.7, 0, extra=lines_per_second(50_000)), units=n_results,
            ))
        big_file_id = ""
        big_size = big_mb * MiB
        if {"download-disk", "download-tmpfs"} & only:
            big = work / "big.bin"
            write_file(big, big_mb)
            _, out_text = run_measured([*B, "-p", "openai", "files", "upload", str(big), "-q"], o_env)
            big_file_id = one_id(out_text)
            big.unlink()
            content_url = f"{native_o}/files/{big_file_id}/content"
            for key, where, label_ in (("download-disk", work, "disk"), ("download-tmpfs", shm_dir, "tmpfs")):
                if key not in only:
                    continue
                if where is None:
                    rows.append(Row(key, f"`files download -o`, to {label_}", None, [], "<= 1.5x curl", at_most(1.5),
                                    note="skipped: no writable /dev/shm"))
                    continue
                dest = where / "download.bin"
                curl_cmd = [curl_bin, "-sS", "--fail", "-o", str(dest), *o_headers, content_url]
                if label_ == "disk":  # the same durability as the CLI's fsync before its rename
                    curl_cmd = ["sh", "-c", '"$@" && sync "$0"', str(dest), *curl_cmd]
                rows.append(Row(
                    key, f"`files download -o`, {big_mb:,} MiB to {label_}",
                    Cmd("bifrost", [*B, "-p", "openai", "files", "download", big_file_id, "-o", str(dest)], o_env,
                        before=remove(dest), after=expect_size(dest, big_size)),
                    [curl_or_note(Cmd("curl" + (" + fsync" if label_ == "disk" else ""), curl_cmd, env,
                                      before=remove(dest), after=expect_size(dest, big_size))),
                     sdk_or_note("openai", Cmd("openai SDK stream_to_file", [py, W("sdk_openai_download.py"), native_o, API_KEY, big_file_id, str(dest)],
                                               env, before=remove(dest), after=expect_size(dest, big_size)))],
                    "<= 1.5x curl", at_most(1.5), units=big_size,
                ))
        if {"upload-openai", "upload-anthropic"} & only:
            post = work / "post.bin"
            write_file(post, post_mb)
            if "upload-openai" in only:
                rows.append(Row(
                    "upload-openai", f"OpenAI upload, one POST ({post_mb} MiB)",
                    Cmd("bifrost", [*B, "-p", "openai", "files", "upload", str(post), "-q"], o_env),
                    [curl_or_note(Cmd("curl -F", [curl_bin, "-sS", "--fail", "-o", "/dev/null", *o_headers, "-F", "purpose=batch",
                                                  "-F", f"file=@{post}", f"{native_o}/files"], env))],
                    "<= 1.2x curl", at_most(1.2), units=post_mb * MiB,
                ))
            if "upload-anthropic" in only:
                rows.append(Row(
                    "upload-anthropic", f"Anthropic upload ({post_mb} MiB)",
                    Cmd("bifrost", [*B, "files", "upload", str(post), "-q"], a_env),
                    [curl_or_note(Cmd("curl -F", [curl_bin, "-sS", "--fail", "-o", "/dev/null", *a_headers,
                                                  "-H", "anthropic-beta: files-api-2025-04-14", "-F", f"file=@{post}",
                                                  f"{native_a}/v1/files"], env))],
                    "keep (<= 1.1x curl)", at_most(1.1), units=post_mb * MiB,
                ))
        if {"upload-openai-parts", "upload-gemini"} & only:
            big_up = work / "big_up.bin"
            write_file(big_up, big_mb)
            if "upload-openai-parts" in only:
                parts_env = {**o_env, "BIFROST_OPENAI_UPLOAD_THRESHOLD": str(8 * MiB)} if quick else o_env
                part = 64 * MiB if not quick else 8 * MiB
                if quick:
                    parts_env["BIFROST_OPENAI_PART_SIZE"] = str(part)
                rows.append(Row(
                    "upload-openai-parts", f"OpenAI upload, Uploads API ({big_mb:,} MiB, {part // MiB} MiB parts)",
                    Cmd("bifrost", [*B, "-p", "openai", "files", "upload", str(big_up), "-q"], parts_env),
                    # curl's floor for the same bytes: one streamed POST (OpenAI's /files refuses more than 512 MB,
                    # so the Gemini route's start + one upload-and-finalize, as in the upload-gemini row)
                    [curl_or_note(Cmd("curl (one streamed POST)", ["sh", W("curl_gemini_upload.sh"), native_g, API_KEY, str(big_up),
                                                                  str(big_size)], env)),
                     sdk_or_note("openai", Cmd("openai SDK upload_file_chunked", [py, W("sdk_openai_upload_chunked.py"), native_o, API_KEY,
                                                                                  str(big_up), str(part)], env))],
                    "<= 2.5x curl, <= 1.0x SDK", at_most(2.5, 0, extra=lambda r: (
                        (f"{ratio_of(r, 1):.2f}x SDK", (ratio_of(r, 1) or 0) <= 1.0) if ratio_of(r, 1) is not None else ("SDK -", True))),
                    units=big_size,
                ))
            if "upload-gemini" in only:
                rows.append(Row(
                    "upload-gemini", f"Gemini resumable upload ({big_mb:,} MiB)",
                    Cmd("bifrost", [*B, "-p", "gemini", "files", "upload", str(big_up), "-q"], g_env),
                    [curl_or_note(Cmd("curl (start + one upload)", ["sh", W("curl_gemini_upload.sh"), native_g, API_KEY, str(big_up),
                                                                   str(big_size)], env))],
                    "<= 1.3x curl, RSS <= 64 MiB", at_most(1.3, 0, rss_limit=64.0), units=big_size,
                ))
        if {"get", "get-openai", "wait"} & only:
            small = work / "small.jsonl"
            write_requests(small, 1)
            small_o = work / "small_openai.jsonl"
            write_openai_requests(small_o, 1)
            if "get" in only:
                _, out_text = run_measured([*B, "batches", "create", str(small), "-q"], a_env)
                bid = one_id(out_text)
                rows.append(Row(
                    "get", "`batches get --json`, startup included",
                    Cmd("bifrost", [*B, "batches", "get", bid, "--json"], a_env),
                    [sdk_or_note("anthropic", Cmd("anthropic SDK script", [py, W("sdk_anthropic_get.py"), native_a, API_KEY, bid], env))],
                    "<= 0.2x SDK", at_most(0.2),
                ))
            if "get-openai" in only:
                _, out_text = run_measured([*B, "-p", "openai", "batches", "create", str(small_o), "-q"], o_env)
                bid = one_id(out_text)
                rows.append(Row(
                    "get-openai", "`-p openai batches get --json`, startup included",
                    Cmd("bifrost", [*B, "-p", "openai", "batches", "get", bid, "--json"], o_env),
                    [sdk_or_note("openai", Cmd("openai SDK script", [py, W("sdk_openai_get.py"), native_o, API_KEY, bid], env))],
                    "<= 0.45x SDK", at_most(0.45),
                ))
            if "wait" in only:
                # a second emulator whose batches stay in progress for an hour, so wait polls the whole time
                slow = Server(env, work / "state-slow", 3600)
                servers.append(slow)
                slow_env = {**env, "ANTHROPIC_BASE_URL": f"{slow.url}/native/anthropic", "ANTHROPIC_API_KEY": API_KEY}
                _, out_text = run_measured([*B, "batches", "create", str(small), "-q"], slow_env)
                bid = one_id(out_text)

                def cpu_percent(row: Row) -> tuple[str, str]:
                    # the CPU of the polls and the live display: measured by the launcher over a window
                    # that starts after the startup (half the run) and ends before the stop, so neither
                    # the startup nor the way out (final table, resume hint) counts; the old estimate
                    # (whole run minus a `batches get`'s CPU) is shown for comparison
                    assert row.cli is not None
                    cpu, secs = row.cli.median("cpu"), row.cli.median("secs")
                    start_cpu, start_secs = row.baselines[0].median("cpu"), row.baselines[0].median("secs")
                    old = 100 * max(cpu - start_cpu, 0.0) / max(secs - start_secs, 0.1)
                    windows = [s for s in row.cli.samples if s.window_cpu >= 0 and s.window_secs > 0]
                    if not windows:
                        return (f"{old:.2f}% of a core after startup, estimated (whole run minus startup; "
                                f"no /proc schedstat here)", "PASS" if old <= 0.5 else "FAIL")
                    pct = statistics.median(100 * s.window_cpu / s.window_secs for s in windows)
                    window = statistics.median(s.window_secs for s in windows)
                    return (f"{pct:.2f}% of a core after startup (over {window:.0f} s before the stop; "
                            f"{100 * cpu / secs:.1f}% with startup and stop, {old:.2f}% by whole run minus startup)",
                            "PASS" if pct <= 0.5 else "FAIL")

                rows.append(Row(
                    "wait", f"`wait --poll 1` on a terminal, {wait_secs:.0f} s",
                    Cmd("bifrost", [*B, "batches", "wait", bid, "--poll", "1"], slow_env, stop_after=wait_secs, on_pty=True),
                    [Cmd("startup: batches get (CPU)", [*B, "batches", "get", bid], slow_env, on_pty=True)],
                    "<= 0.5% of a core", cpu_percent,
                ))
        if "help" in only:
            rows.append(Row(
                "help", "`bifrost --help`",
                Cmd("bifrost", [*B, "--help"], env, after=lambda out: None if "batches" in out else (_ for _ in ()).throw(
                    CommandFailed("bifrost --help does not list batches"))),
                [Cmd("minimal Typer app", [py, W("minimal_typer_app.py"), "--help"], env)],
                "keep (<= 0.7x Typer app)", at_most(0.7),
            ))
        rows.sort(key=lambda r: ROW_KEYS.index(r.key))

        # curl against the emulator's download route: is the server fast enough for the transfer rows?
        server_row: Cmd | None = None
        if big_file_id and curl:
            server_row = Cmd("curl -o /dev/null", [curl, "-sS", "--fail", "-o", "/dev/null", *o_headers, f"{native_o}/files/{big_file_id}/content"], env)

        commands = [c for row in rows for c in ([row.cli] if row.cli else []) + row.baselines if not c.note]
        if server_row:
            commands.append(server_row)
        setup_secs = time.monotonic() - started
        print(f"setup done in {setup_secs:.0f} s; {len(commands)} commands x {rounds} rounds", file=sys.stderr)
        for n in range(rounds):
            for cmd in commands:
                cmd.run()
            print(f"round {n + 1}/{rounds} done ({time.monotonic() - started:.0f} s)", file=sys.stderr)
            if out is not None and n + 1 < rounds:  # the medians so far, in case the run is cut short
                write_markdown(out, render(rows, server_row, big_mb), quick, n + 1, label + f" ({n + 1} of {rounds} rounds)",
                               time.monotonic() - started)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
        if shm_dir:
            shutil.rmtree(shm_dir, ignore_errors=True)

    table = render(rows, server_row, big_mb)
    print(table)
    if out is not None:
        write_markdown(out, table, quick, rounds, label, time.monotonic() - started)
        print(f"\nwrote {out}")
    return 0


def fmt_cmd(cmd: Cmd, units: int) -> str:
    if cmd.note:
        return f"{cmd.name}: {cmd.note}"
    secs = cmd.median("secs")
    rate = f", {units / secs / MiB:.0f} MiB/s" if units > 10 * MiB else ""
    cpu = f", {cmd.median('cpu'):.2f} s CPU" if cmd.on_pty else ""
    return f"{cmd.name} {secs:.2f} s{rate}{cpu}, {cmd.median('rss'):.0f} MiB"


def render(rows: list[Row], server_row: Cmd | None, big_mb: int) -> str:
    lines = ["| path | CLI (median s, peak RSS) | baselines (median s) | ratio | target | verdict |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        if row.cli is None:
            lines.append(f"| {row.path} | - | - | - | {row.target} | skip: {row.note} |")
            continue
        cli = f"{row.cli.median('secs'):.2f} s, {row.cli.median('rss'):.0f} MiB"
        if row.cli.on_pty:
            cli += f", {row.cli.median('cpu'):.2f} s CPU"
        if row.units > 10 * MiB:
            cli += f", {row.units / row.cli.median('secs') / MiB:.0f} MiB/s"
        base = "; ".join(fmt_cmd(b, row.units) for b in row.baselines) or "-"
        ratio, verdict = row.verdict(row)
        lines.append(f"| {row.path} | {cli} | {base} | {ratio} | {row.target} | {verdict} |")
    if server_row is not None and server_row.samples:
        secs = server_row.median("secs")
        lines.append(f"| server check: curl from the emulator to /dev/null, {big_mb:,} MiB | - | {secs:.2f} s, "
                     f"{big_mb * MiB / secs / MiB:.0f} MiB/s | - | - | info |")
    return "\n".join(lines)


def machine() -> str:
    cores = os.cpu_count()
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    curl = shutil.which("curl")
    curl_v = subprocess.run([curl, "--version"], capture_output=True, text=True).stdout.split()[1] if curl else "absent"
    versions = []
    for name in ("anthropic", "openai", "google-genai"):
        try:
            from importlib.metadata import version

            versions.append(f"{name} {version(name)}")
        except Exception:
            versions.append(f"{name} absent")
    return (f"{cores} cores ({model}), Python {platform.python_version()}, {platform.system()} {platform.release()} "
            f"{platform.machine()}, curl {curl_v}, {', '.join(versions)}")


def write_markdown(out: Path, table: str, quick: bool, rounds: int, label: str, secs: float) -> None:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        "# bench/compare.py results",
        "",
        f"## {label}" if label else "## latest run",
        "",
        f"Run {now} by `python bench/compare.py {' '.join(sys.argv[1:])}` ({secs:.0f} s in all); "
        f"medians of {rounds} interleaved rounds, each command a fresh process reaped with wait4.",
        "",
        f"Machine: {machine()}.",
        "",
    ]
    out.write_text("\n".join(head) + "\n" + table + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
