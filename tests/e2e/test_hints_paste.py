"""Every suggested command can be pasted as printed: it repeats the target options of the run
(--base-url, -p, --emulator, --profile) and works. Each test provokes one kind of hint with
non-default target options, takes the command out of stderr, runs it, and checks that it did what
the hint says. Also: the gateway gaps that had no hint (Anthropic results before the end, downloads
of uploads) and downloads named after the file."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Served, bifrost_executable, clean_env, start_emulator, stop_emulator

REQUESTS = EXAMPLES / "requests.jsonl"
LATER = {"BIFROST_EMULATOR_CLOCK_OFFSET": "100000"}  # the in-process emulator, long after: every batch has ended
LONG = {"BIFROST_EMULATOR_BATCH_SECONDS": "3600"}  # the in-process emulator's new batches run for an hour


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A served emulator whose batches run for an hour: they have not ended when asked about."""
    server = start_emulator(tmp_path_factory.mktemp("slow-state"), "--batch-seconds", "3600", "--quiet")
    yield server
    stop_emulator(server)


def run(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``bifrost ARGS`` as a process; the in-process emulator keeps its state in this test's directory."""
    env = {"BIFROST_EMULATOR_STATE_DIR": os.environ["BIFROST_EMULATOR_STATE_DIR"], **(env or {})}
    return subprocess.run(
        [*bifrost_executable(), *args], env=clean_env(**env), capture_output=True, text=True, timeout=120, cwd=cwd
    )


def pasted(stderr: str) -> str:
    """The one suggested command in ``stderr``: backticked, or after "Resume with:"."""
    found = re.findall(r"`(bifrost [^`]*)`", stderr) or re.findall(r"[Rr]esume with: (bifrost [^(\n]*?)(?: \(|\.?$)", stderr, re.M)
    assert len(found) == 1, stderr
    return found[0].strip()


def hint_of(args: list[str], code: int, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run ``bifrost ARGS``, which must fail with ``code``; the command its message suggests."""
    failed = run(args, env, cwd)
    assert failed.returncode == code, failed.stderr
    return pasted(failed.stderr)


def run_pasted(command: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    words = shlex.split(command)
    assert words[0] == "bifrost" and "--api-key" not in words, command
    return run(words[1:], env, cwd)


def create(options: list[str], env: dict[str, str] | None = None) -> str:
    made = run([*options, "batches", "create", str(REQUESTS), "-q", "--new"], env)  # never an earlier test's batch
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def gateway(server: Served, provider: str | None = None) -> list[str]:
    return ["--base-url", server.url, *(["-p", provider] if provider else [])]


# -- wait, stopped: "Resume with: ..." ---------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stopped_wait_says_how_to_resume_on_the_same_target(slow: Served, signum: int) -> None:
    options = gateway(slow, "gemini")
    batch_id = create(options)
    proc = subprocess.Popen(
        [*bifrost_executable(), *options, "batches", "wait", batch_id, "--poll", "0.2"],
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stderr is not None
        seen = proc.stderr.readline()  # the first poll has answered
        assert batch_id in seen, seen
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = seen + err
    command = pasted(err)
    assert command == f"bifrost --base-url {slow.url} -p gemini batches wait {batch_id}"
    assert run([*options, "batches", "cancel", batch_id]).returncode == 0  # so that it ends soon
    resumed = run_pasted(command)
    assert resumed.returncode == 7, resumed.stderr  # waited to the end: canceled (exit 7), not "no such batch"
    assert batch_id in resumed.stderr and "cancel" in resumed.stderr


# -- results before the end: "Run `... batches wait ID` first" ---------------------------------------


@pytest.mark.parametrize("provider", ["anthropic", "openai", "gemini"])
def test_results_before_the_end_say_to_wait_on_the_same_target_through_the_gateway(slow: Served, provider: str) -> None:
    options = gateway(slow, provider if provider != "anthropic" else None)
    batch_id = create(options)
    early = run([*options, "batches", "results", batch_id])
    assert early.returncode == 1 and f"{batch_id} has not ended yet" in early.stderr, early.stderr
    assert early.stdout == ""
    command = pasted(early.stderr)
    assert command == f"bifrost --base-url {slow.url} -p {provider} batches wait {batch_id}"
    assert run([*options, "batches", "cancel", batch_id]).returncode == 0
    waited = run_pasted(command)
    assert waited.returncode == 7 and batch_id in waited.stderr, waited.stderr


EMULATOR_HINTS = [  # (provider, the command, its exit code, the clock it runs at, the command it suggests)
    pytest.param("openai", ["batches", "results"], 1, LONG, "batches wait", id="results-before-the-end"),
    pytest.param("gemini", ["batches", "get", "--usage"], 5, LONG, "batches wait", id="usage-before-the-end"),
    pytest.param("gemini", ["batches", "cancel"], 5, LATER, "batches results", id="cancel-after-the-end"),
]


@pytest.mark.parametrize(("provider", "command", "code", "clock", "suggested"), EMULATOR_HINTS)
def test_hints_on_the_emulator_repeat_the_emulator_option(
    provider: str, command: list[str], code: int, clock: dict[str, str], suggested: str
) -> None:
    options = ["--emulator", "-p", provider]
    batch_id = create(options, LONG)
    hint = hint_of([*options, *command[:2], batch_id, *command[2:]], code, clock)
    assert hint == f"bifrost --emulator -p {provider} {suggested} {batch_id}"
    done = run_pasted(hint, LATER)  # later: the batch has ended
    assert done.returncode == 0, done.stderr
    assert batch_id in done.stderr or batch_id in done.stdout


# -- cancel and delete ------------------------------------------------------------------------------


def test_deleting_a_running_batch_says_how_to_cancel_it_with_the_profile(slow: Served, isolated_env: Path) -> None:
    config = isolated_env / "config"
    config.mkdir(exist_ok=True)
    (config / "config.toml").write_text(
        f'[profiles.direct]\nanthropic_base_url = "{slow.url}/native/anthropic"\nanthropic_api_key = "sk-ant-test-1234"\n'
    )
    options = ["--profile", "direct"]
    batch_id = create(options)
    command = hint_of([*options, "batches", "delete", batch_id], 5)
    assert command == f"bifrost --profile direct batches cancel {batch_id}"
    canceled = run_pasted(command)
    assert canceled.returncode == 0 and batch_id in canceled.stdout, canceled.stderr


# -- files --------------------------------------------------------------------------------------------


def test_an_upload_through_the_gateway_is_refused_before_downloading_with_a_hint(slow: Served, tmp_path: Path) -> None:
    tmp_path = tmp_path / "here"
    tmp_path.mkdir()
    options = gateway(slow)
    file_id = run([*options, "files", "upload", str(REQUESTS), "-q"]).stdout.strip()
    refused = run([*options, "files", "download", file_id], cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "cannot be downloaded: Anthropic never serves uploaded files back" in refused.stderr
    assert "the gateway answered" not in refused.stderr  # refused before asking for the content
    assert list(tmp_path.iterdir()) == []
    command = pasted(refused.stderr)
    assert command == f"bifrost --base-url {slow.url} files get {file_id}"
    shown = run_pasted(command)
    assert shown.returncode == 0 and file_id in shown.stdout, shown.stderr


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_download_through_the_gateway_is_named_after_the_file(slow: Served, tmp_path: Path, provider: str) -> None:
    tmp_path = tmp_path / "here"
    tmp_path.mkdir()
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{slow.url}/_emulator/files?filename=report.csv&provider={provider}", data=b"a,b\n1,2\n", method="POST"
    )
    with urllib.request.urlopen(request) as answer:
        file_id = json.load(answer)["id"]
    done = run([*gateway(slow, provider), "files", "download", file_id], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]
    assert (tmp_path / "report.csv").read_bytes() == b"a,b\n1,2\n"


def test_the_gemini_gateway_download_refusal_names_the_results_command_with_the_options(slow: Served) -> None:
    options = gateway(slow, "gemini")
    command = hint_of([*options, "files", "download", "files/abc"], 2)
    assert command == f"bifrost --base-url {slow.url} -p gemini batches results BATCH_ID"
    batch_id = create(options)
    early = run_pasted(command.replace("BATCH_ID", batch_id))
    assert f"{batch_id} has not ended yet" in early.stderr, early.stderr  # the batch was found: same target


def test_no_gemini_key_suggests_the_emulator_with_the_provider() -> None:
    missing = run(["batches", "list"], {"BIFROST_PROVIDER": "gemini"})
    assert missing.returncode == 2 and "no Gemini API key" in missing.stderr, missing.stderr
    command = pasted(missing.stderr)
    assert command == "bifrost --emulator -p gemini batches list"
    listed = run_pasted(command)
    assert listed.returncode == 0, listed.stderr


def test_an_openai_create_that_fails_after_its_upload_says_how_to_delete_the_upload() -> None:
    options = ["--emulator", "-p", "openai"]
    faults = {"BIFROST_EMULATOR_FAULTS": "batches.create:status=400"}
    command = hint_of([*options, "batches", "create", str(REQUESTS)], 1, faults)
    file_id = command.rsplit(" ", 1)[1]
    assert command == f"bifrost --emulator -p openai files delete {file_id}"
    deleted = run_pasted(command)
    assert deleted.returncode == 0, deleted.stderr
    assert run([*options, "files", "get", file_id]).returncode == 4  # it is gone


def test_a_wait_that_gives_up_says_how_to_resume_on_the_same_target() -> None:
    options = ["--emulator", "-p", "openai"]
    batch_id = create(options, LONG)
    faults = {"BIFROST_EMULATOR_FAULTS": "batches.get:status=503x100", **LONG}
    command = hint_of([*options, "--max-retries", "0", "batches", "wait", batch_id, "--poll", "0.1", "--max-poll-errors", "1"], 6, faults)
    assert command == f"bifrost --emulator -p openai batches wait {batch_id}"
    assert run_pasted(command, LATER).returncode == 0


def test_suggested_commands_never_repeat_the_api_key(slow: Served) -> None:
    key = "vk-secret-123456"
    options = [*gateway(slow, "openai"), "--api-key", key]
    batch_id = create(options)
    early = run([*options, "batches", "results", batch_id])
    assert key not in early.stderr
    assert pasted(early.stderr) == f"bifrost --base-url {slow.url} -p openai batches wait {batch_id}"


# -- an id of another provider ------------------------------------------------------------------------


def test_a_gemini_id_through_the_gateway_with_the_default_provider_names_gemini(slow: Served) -> None:
    batch_id = create(gateway(slow, "gemini"))
    command = hint_of([*gateway(slow), "batches", "get", batch_id], 2)
    assert command == f"bifrost --base-url {slow.url} -p gemini batches get {batch_id}"
    shown = run_pasted(command)
    assert shown.returncode == 0 and batch_id in shown.stdout, shown.stderr


def test_an_openai_id_given_to_anthropic_directly_names_openai(slow: Served) -> None:
    env = {
        "ANTHROPIC_BASE_URL": slow.url + "/native/anthropic", "ANTHROPIC_API_KEY": "sk-ant-test-1234",
        "OPENAI_BASE_URL": slow.url + "/native/openai/v1", "OPENAI_API_KEY": "sk-test-1234",
    }
    batch_id = create(["-p", "openai"], env)
    refused = run(["batches", "wait", batch_id], env)
    assert refused.returncode == 2, refused.stderr
    assert f"{batch_id} looks like an OpenAI batch id, and the provider is anthropic: add -p openai" in refused.stderr
    shown = run_pasted(pasted(refused.stderr), env)
    assert shown.returncode == 0 and batch_id in shown.stdout, shown.stderr
