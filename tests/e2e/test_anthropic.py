"""End to end: the installed ``bifrost`` command, as a subprocess, against ``bifrost emulator serve``
on a loopback port, through the gateway routes and directly against the Anthropic API."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Served, bifrost_executable, clean_env, start_emulator, stop_emulator

REQUESTS = EXAMPLES / "requests.jsonl"
WITH_FAILURES = EXAMPLES / "requests-with-failures.jsonl"
KEY = "sk-ant-test-key-1234"


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["custom_id"] for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(params=["gateway", "direct"])
def via(request: pytest.FixtureRequest, served: Served):
    """Run a bifrost command through the gateway routes, or directly against Anthropic's API."""
    return served.gateway if request.param == "gateway" else served.direct


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """An emulator whose batches take a minute: room to cancel, time out and interrupt."""
    server = start_emulator(tmp_path_factory.mktemp("slow-state"), "--batch-seconds", "60", "--quiet")
    yield server
    stop_emulator(server)


def _json(proc: subprocess.CompletedProcess) -> object:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# -- files ------------------------------------------------------------------------------------------


def test_files_upload_list_get_delete(via, tmp_path: Path) -> None:
    uploaded = _json(via("files", "upload", str(REQUESTS), "--json"))
    assert isinstance(uploaded, list) and len(uploaded) == 1
    file = uploaded[0]
    assert file["filename"] == "requests.jsonl"
    assert file["size_bytes"] == REQUESTS.stat().st_size

    listed = _json(via("files", "list", "--all", "--json"))
    assert file["id"] in [f["id"] for f in listed]
    quiet = via("files", "list", "-q")
    assert file["id"] in quiet.stdout.split()

    got = _json(via("files", "get", file["id"], "--json"))
    assert got["id"] == file["id"] and got["size_bytes"] == file["size_bytes"]

    human = via("files", "get", file["id"])
    assert human.returncode == 0 and "requests.jsonl" in human.stdout

    deleted = _json(via("files", "delete", file["id"], "--json"))
    assert deleted == [{"id": file["id"], "deleted": True}]
    gone = via("files", "get", file["id"])
    assert gone.returncode == 4, gone.stderr
    assert "Error:" in gone.stderr and gone.stdout == ""


def test_upload_from_stdin_needs_a_name(via) -> None:
    data = b'{"hello": "world"}\n'
    refused = via("files", "upload", "-", input=data)
    assert refused.returncode == 2
    assert b"--filename" in refused.stderr
    ok = via("files", "upload", "-", "--filename", "piped.jsonl", "--json", input=data)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)[0]["filename"] == "piped.jsonl"


def test_upload_of_a_missing_file_sends_nothing(via, tmp_path: Path) -> None:
    before = _json(via("files", "list", "--all", "--json"))
    proc = via("files", "upload", str(REQUESTS), str(tmp_path / "nope.jsonl"))
    assert proc.returncode == 2
    assert "nope.jsonl: no such file" in proc.stderr
    assert _json(via("files", "list", "--all", "--json")) == before


def test_anthropic_uploads_are_not_downloadable(served: Served, tmp_path: Path) -> None:
    file_id = _json(served.direct("files", "upload", str(REQUESTS), "--json"))[0]["id"]
    proc = served.direct("files", "download", file_id, "-o", str(tmp_path / "x"))
    assert proc.returncode == 2
    assert "never serves uploaded files" in proc.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.part").exists()


def test_download_through_the_gateway_is_streamed_and_atomic(served: Served, tmp_path: Path) -> None:
    payload = tmp_path / "payload.bin"
    payload.write_bytes(bytes(range(256)) * 40_000)  # ~10 MB
    file_id = _json(served.gateway("-p", "openai", "files", "upload", str(payload), "--json"))[0]["id"]

    dest = tmp_path / "out.bin"
    proc = served.gateway("-p", "openai", "files", "download", file_id, "-o", str(dest))
    assert proc.returncode == 0, proc.stderr
    assert dest.read_bytes() == payload.read_bytes()
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "ledger")
    assert left == ["out.bin", "payload.bin"]  # no temporary file left

    again = served.gateway("-p", "openai", "files", "download", file_id, "-o", str(dest))
    assert again.returncode == 2 and "already exists" in again.stderr
    forced = served.gateway("-p", "openai", "files", "download", file_id, "-o", str(dest), "--force")
    assert forced.returncode == 0, forced.stderr

    to_stdout = served.gateway("-p", "openai", "files", "download", file_id, "-o", "-", input=b"")
    assert to_stdout.returncode == 0
    assert to_stdout.stdout == payload.read_bytes()


# -- batches ----------------------------------------------------------------------------------------


def test_batch_lifecycle(via, tmp_path: Path) -> None:
    batch = _json(via("batches", "create", str(REQUESTS), "--json"))
    assert batch["status"] == "in_progress"
    assert batch["request_counts"]["processing"] == 3

    assert batch["id"] in via("batches", "list", "-q").stdout.split()
    for batch_id in via("batches", "list", "-q", "--limit", "2").stdout.split():
        assert via("batches", "get", batch_id, "-q").stdout.strip() == batch_id

    waited = via("batches", "wait", batch["id"], "--poll", "0.2", "--json")
    assert waited.returncode == 0, waited.stderr
    events = [json.loads(line) for line in waited.stdout.splitlines()]  # one JSON event a line
    final = events[-1]["batches"]
    assert events[-1]["event"] == "end" and events[-1]["exit_code"] == 0
    assert final[0]["status"] == "ended"
    assert final[0]["request_counts"]["succeeded"] == 3
    assert {e["id"] for e in events if e["event"] == "status"} == {batch["id"]}  # a status event per change

    results = via("batches", "results", batch["id"])
    assert results.returncode == 0, results.stderr
    lines = [json.loads(line) for line in results.stdout.splitlines()]
    assert sorted(r["custom_id"] for r in lines) == sorted(_ids(REQUESTS))
    assert all(r["result"]["type"] == "succeeded" for r in lines)
    assert all(r["result"]["message"]["content"][0]["type"] == "text" for r in lines)

    out = tmp_path / "results.jsonl"
    saved = via("batches", "results", batch["id"], "-o", str(out))
    assert saved.returncode == 0 and saved.stdout == ""
    assert [json.loads(x) for x in out.read_text().splitlines()] == lines
    assert "3 succeeded" in saved.stderr


def test_create_wait_with_failures_exits_7(via) -> None:
    proc = via("batches", "create", str(WITH_FAILURES), "--wait", "--poll", "0.2", "--json")
    assert proc.returncode == 7, proc.stderr
    batch = json.loads(proc.stdout)
    assert batch["status"] == "ended"
    assert "not every request succeeded" in proc.stderr

    results = [json.loads(x) for x in via("batches", "results", batch["id"]).stdout.splitlines()]
    by_id = {r["custom_id"]: r["result"] for r in results}
    assert by_id["ok-1"]["type"] == "succeeded"
    assert by_id["fails-1"]["type"] == "errored"
    assert by_id["fails-1"]["error"]["error"]["type"] == "invalid_request_error"
    assert by_id["expires-1"]["type"] == "expired"

    allowed = via("batches", "wait", batch["id"], "--allow-errors", "--poll", "0.2")
    assert allowed.returncode == 0, allowed.stderr


def test_raw_results_keep_the_gateways_shape(served: Served) -> None:
    batch = _json(served.gateway("batches", "create", str(WITH_FAILURES), "--json"))
    assert served.gateway("batches", "wait", batch["id"], "--poll", "0.2", "--allow-errors").returncode == 0
    raw = [json.loads(x) for x in served.gateway("batches", "results", batch["id"], "--raw").stdout.splitlines()]
    errored = next(r for r in raw if r["custom_id"] == "fails-1")
    assert errored["error"]["code"] == "invalid_request_error"  # the gateway moves the error out of result
    normalized = [json.loads(x) for x in served.gateway("batches", "results", batch["id"]).stdout.splitlines()]
    errored = next(r for r in normalized if r["custom_id"] == "fails-1")
    assert errored["result"]["error"] == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "emulated failure"},
    }


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_other_providers_through_the_gateway(served: Served, provider: str) -> None:
    proc = served.gateway("-p", provider, "batches", "create", str(REQUESTS), "--wait", "--poll", "0.2", "--json")
    assert proc.returncode == 0, proc.stderr
    batch = json.loads(proc.stdout)
    assert batch["request_counts"]["succeeded"] == 3
    results = [json.loads(x) for x in served.gateway("-p", provider, "batches", "results", batch["id"]).stdout.splitlines()]
    assert sorted(r["custom_id"] for r in results) == sorted(_ids(REQUESTS))
    assert all(r["result"]["message"]["content"][0]["text"] for r in results)


def test_bedrock_through_the_gateway_names_the_missing_settings_before_sending(served: Served) -> None:
    proc = served.gateway("-p", "bedrock", "batches", "create", str(REQUESTS))
    assert proc.returncode == 2
    assert "--s3-uri" in proc.stderr and "--role-arn" in proc.stderr


def test_bad_input_is_reported_by_line_and_nothing_is_sent(via, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    good_line = REQUESTS.read_text().splitlines()[0]
    bad.write_text(good_line + "\n{not json\n" + good_line + "\n")
    before = via("batches", "list", "--all", "-q").stdout
    proc = via("batches", "create", str(bad))
    assert proc.returncode == 2
    assert f"{bad}:2: not valid JSON" in proc.stderr
    assert f'{bad}:3: duplicate custom_id "capital-fr" (first used on line 1)' in proc.stderr
    assert via("batches", "list", "--all", "-q").stdout == before


def test_model_flag_fills_missing_models(via, tmp_path: Path) -> None:
    lines = [json.loads(x) for x in REQUESTS.read_text().splitlines()]
    for line in lines:
        del line["params"]["model"]
    src = tmp_path / "nomodel.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    refused = via("batches", "create", str(src))
    assert refused.returncode == 2 and "--model" in refused.stderr
    ok = via("batches", "create", "-", "--model", "claude-haiku-4-5", "--json", input=src.read_text())
    assert ok.returncode == 0, ok.stderr


def test_unknown_batch_is_exit_4(via) -> None:
    proc = via("batches", "get", "msgbatch_doesnotexist")
    assert proc.returncode == 4
    assert proc.stdout == ""


def test_cancel_midway(slow: Served) -> None:
    for run in (slow.gateway, slow.direct):
        batch = _json(run("batches", "create", str(REQUESTS), "--json"))
        canceled = _json(run("batches", "cancel", batch["id"], "--json"))
        assert canceled["status"] == "canceling"
        waited = run("batches", "wait", batch["id"], "--poll", "0.3", "--json")
        assert waited.returncode == 7, waited.stderr
        final = json.loads(waited.stdout.splitlines()[-1])["batches"][0]
        assert final["status"] == "ended"
        assert final["request_counts"]["canceled"] == 3
        results = [json.loads(x) for x in run("batches", "results", batch["id"]).stdout.splitlines()]
        assert {r["result"]["type"] for r in results} == {"canceled"}


def test_results_before_the_end_say_to_wait(slow: Served) -> None:
    batch = _json(slow.direct("batches", "create", str(REQUESTS), "--json"))
    proc = slow.direct("batches", "results", batch["id"])
    assert proc.returncode == 1
    assert "has not ended" in proc.stderr and "batches wait" in proc.stderr


def test_wait_timeout_is_exit_6(slow: Served) -> None:
    batch = _json(slow.gateway("batches", "create", str(REQUESTS), "--json"))
    proc = slow.gateway("batches", "wait", batch["id"], "--poll", "0.2", "--timeout", "0.6", "--json")
    assert proc.returncode == 6
    assert "timed out" in proc.stderr
    end = json.loads(proc.stdout.splitlines()[-1])
    assert end["event"] == "end" and end["outcome"] == "timeout" and end["exit_code"] == 6
    assert end["batches"][0]["status"] == "in_progress"


def test_ctrl_c_stops_waiting_without_canceling(slow: Served) -> None:
    batch = _json(slow.gateway("batches", "create", str(REQUESTS), "--json"))
    proc = subprocess.Popen(
        [*bifrost_executable(), "--base-url", slow.url, "batches", "wait", batch["id"], "--poll", "0.2"],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the first status line: the wait is under way
    assert batch["id"] in first
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "nothing was canceled" in err
    after = _json(slow.gateway("batches", "get", batch["id"], "--json"))
    assert after["status"] == "in_progress"
    assert after["cancel_initiated_at"] is None


# -- targets, credentials, failures ---------------------------------------------------------------


def test_gateway_virtual_key(tmp_path: Path) -> None:
    guarded = start_emulator(tmp_path / "state", "--virtual-key", "sk-bf-secret-virtual-key", "--quiet")
    try:
        refused = guarded.gateway("batches", "list")
        assert refused.returncode == 3
        assert "virtual key" in refused.stderr
        ok = guarded.gateway("--api-key", "sk-bf-secret-virtual-key", "batches", "list", "--json")
        assert ok.returncode == 0, ok.stderr
        by_env = guarded.gateway("-v", "batches", "list", env={"BIFROST_VIRTUAL_KEY": "sk-bf-secret-virtual-key"})
        assert by_env.returncode == 0
        assert "GET" in by_env.stderr  # the verbose log...
        assert "sk-bf-secret-virtual-key" not in by_env.stderr + by_env.stdout  # ...never shows the key
    finally:
        stop_emulator(guarded)


def test_provider_key_is_never_sent_to_a_gateway(tmp_path: Path) -> None:
    guarded = start_emulator(tmp_path / "state", "--virtual-key", "sk-bf-the-virtual-key", "--quiet")
    try:
        # The Anthropic key is set, but only the virtual key may authenticate at the gateway.
        proc = guarded.gateway("batches", "list", env={"ANTHROPIC_API_KEY": "sk-bf-the-virtual-key"})
        assert proc.returncode == 3
    finally:
        stop_emulator(guarded)


def test_unreachable_gateway_is_exit_6() -> None:
    proc = subprocess.run(
        [*bifrost_executable(), "--base-url", "http://127.0.0.1:9", "--max-retries", "0", "batches", "list"],
        env=clean_env(), capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 6
    assert "could not connect" in proc.stderr


def test_plain_http_to_a_remote_host_never_carries_credentials() -> None:
    proc = subprocess.run(
        [*bifrost_executable(), "--base-url", "http://gateway.example.com", "--api-key", "sk-bf-abcdefgh", "batches", "list"],
        env=clean_env(), capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "plain HTTP" in proc.stderr
    assert "sk-bf-abcdefgh" not in proc.stderr


def test_a_flaky_gateway_is_retried(tmp_path: Path) -> None:
    flaky = start_emulator(tmp_path / "state", "--flaky-every", "2", "--batch-seconds", "1", "--quiet")
    try:
        proc = flaky.gateway("batches", "create", str(REQUESTS), "--wait", "--poll", "0.2", "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["request_counts"]["succeeded"] == 3
    finally:
        stop_emulator(flaky)


def test_a_gateway_without_a_route_gives_a_clear_error(tmp_path: Path) -> None:
    legacy = start_emulator(tmp_path / "state", "--legacy-gateway", "--quiet")
    try:
        file_id = _json(legacy.gateway("files", "upload", str(REQUESTS), "--json"))[0]["id"]
        got = legacy.gateway("files", "get", file_id, "--json")  # no per-file route: found by listing
        assert got.returncode == 0, got.stderr
        assert json.loads(got.stdout)["id"] == file_id
        download = legacy.gateway("files", "download", file_id, "-o", str(tmp_path / "f"))
        assert download.returncode == 1
        assert "metadata" in download.stderr and "upgrade" in download.stderr
        assert not (tmp_path / "f").exists()
        html = legacy.run("--base-url", legacy.url + "/ui", "batches", "list")
        assert html.returncode == 1
        assert "web page" in html.stderr and "Traceback" not in html.stderr
    finally:
        stop_emulator(legacy)


def test_python_dash_m_is_the_same_program() -> None:
    import sys

    proc = subprocess.run([sys.executable, "-m", "bifrost_cli", "--version"], capture_output=True, text=True, env=clean_env())
    assert proc.returncode == 0
    assert proc.stdout.startswith("bifrost-cli ")


def test_state_persists_between_invocations_in_process(tmp_path: Path) -> None:
    env = {"BIFROST_EMULATOR_STATE_DIR": str(tmp_path / "emu"), "BIFROST_EMULATOR_BATCH_SECONDS": "1"}
    run = lambda *a: subprocess.run([*bifrost_executable(), "--emulator", *a], env=clean_env(**env),  # noqa: E731
                                    capture_output=True, text=True, timeout=60)
    batch_id = run("batches", "create", str(REQUESTS), "-q").stdout.strip()
    assert batch_id.startswith("msgbatch_")
    time.sleep(0.1)
    assert run("batches", "wait", batch_id, "--poll", "0.2").returncode == 0
    assert len(run("batches", "results", batch_id).stdout.splitlines()) == 3


def test_batches_delete_where_the_provider_allows_it(served: Served, slow: Served, tmp_path: Path) -> None:
    # on the slow emulator the batch is surely still running when the first delete arrives
    batch = _json(slow.direct("batches", "create", str(REQUESTS), "--json"))
    early = slow.direct("batches", "delete", batch["id"])
    assert early.returncode == 5, early.stderr  # Anthropic deletes only ended batches: a conflict
    assert "still running" in early.stderr and "batches cancel" in early.stderr
    assert slow.direct("batches", "cancel", batch["id"]).returncode == 0  # it ends about 1 s later
    assert slow.direct("batches", "wait", batch["id"], "--poll", "0.2", "--allow-errors").returncode == 0
    deleted = _json(slow.direct("batches", "delete", batch["id"], "--json"))
    assert deleted == [{"id": batch["id"], "deleted": True}]
    assert slow.direct("batches", "get", batch["id"]).returncode == 4

    gemini_env = {"GEMINI_BASE_URL": served.url + "/native/gemini", "GEMINI_API_KEY": "test-gemini-key"}
    gemini = _json(served.run("-p", "gemini", "batches", "create", str(REQUESTS), "--json", env=gemini_env))
    assert served.run("-p", "gemini", "batches", "delete", gemini["id"], "-q", env=gemini_env).stdout.strip() == gemini["id"]
    assert served.run("-p", "gemini", "batches", "get", gemini["id"], env=gemini_env).returncode == 4


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-p", "anthropic"], "no route to delete"),  # through the gateway
        (["-p", "openai"], "OpenAI has no way to delete a batch"),
    ],
)
def test_batches_delete_is_refused_before_sending_where_it_cannot_work(served: Served, args: list[str], says: str) -> None:
    proc = served.gateway(*args, "batches", "delete", "batch_x", "batch_y")
    assert proc.returncode == 2
    assert says in proc.stderr


def test_a_gateway_url_with_route_and_version_works(served: Served) -> None:
    for suffix in ("/anthropic/v1", "/openai/v1/"):
        result = served.run("--base-url", served.url + suffix, "batches", "list", "--json")
        assert result.returncode == 0, result.stderr
        assert isinstance(json.loads(result.stdout), list)
