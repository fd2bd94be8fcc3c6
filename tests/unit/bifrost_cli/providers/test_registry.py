"""The proof that a provider has one home: Toy, a fifth provider written entirely in the test suite
(``tests/toy_provider.py``: a spec, an input format, an adapter and its API), is registered at run
time with ``registry.register`` and then works through every command a user would run, with its
settings in ``config show``, its key redacted, its credential header hidden from ``-v``, its native
input recognised and what it cannot do refused, while no line under ``bifrost_cli/`` names it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bifrost_cli.providers import registry
from tests import toy_provider
from tests.conftest import EXAMPLES, invoke
from tests.toy_provider import NO_DOWNLOAD, ToyServer, signature

KEY = "toy-secret-KEY-0123456789"
LINES = [{"ref": "q1", "prompt": "two plus two?"}, {"ref": "q2", "prompt": "hello", "model": "toy-2"}]

def bifrost(*args: str):
    return invoke("-p", "toy", *args)


def register(spec: object) -> None:
    registry.register(spec)  # type: ignore[arg-type]


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ToyServer]:
    """Toy registered and its API served on a loopback port, with TOY_API_KEY and TOY_BASE_URL set."""
    server = ToyServer(KEY)
    register(toy_provider.SPEC)
    monkeypatch.setenv("TOY_API_KEY", KEY)
    monkeypatch.setenv("TOY_BASE_URL", server.url)
    try:
        yield server
    finally:
        registry.unregister("toy")
        server.close()


def write(tmp_path: Path, name: str, lines: list[dict]) -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def test_a_provider_defined_outside_the_package_runs_every_command(toy: ToyServer, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello toy\n")

    uploaded = bifrost("files", "upload", str(notes))
    assert uploaded.exit_code == 0, uploaded.stderr
    assert "tf-1" in uploaded.stdout and "notes.txt" in uploaded.stdout and "10 B" in uploaded.stdout
    more = bifrost("files", "upload", str(notes), str(notes), "-q")
    assert more.stdout == "tf-2\ntf-3\n"

    listed = bifrost("files", "list", "--json")  # three files: two pages of Toy's API
    assert listed.exit_code == 0, listed.stderr
    files = json.loads(listed.stdout)
    assert [(f["id"], f["filename"], f["size_bytes"], f["provider"]) for f in files] == [
        ("tf-1", "notes.txt", 10, "toy"), ("tf-2", "notes.txt", 10, "toy"), ("tf-3", "notes.txt", 10, "toy")]
    human = bifrost("files", "list")
    assert all(f"tf-{i}\tnotes.txt\t" in human.stdout for i in (1, 2, 3))

    created = bifrost("batches", "create", write(tmp_path, "in.jsonl", LINES), "--json")  # Toy's native lines
    assert created.exit_code == 0, created.stderr
    batch = json.loads(created.stdout)
    assert (batch["id"], batch["provider"], batch["status"], batch["native_status"]) == ("tj-1", "toy", "in_progress", "queued")
    assert batch["request_counts"]["processing"] == 2
    assert toy.jobs["tj-1"]["lines"] == [{**LINES[0], "model": "toy-1"}, LINES[1]]

    got = bifrost("batches", "get", "tj-1")
    assert got.exit_code == 0, got.stderr
    assert "in_progress (queued)" in got.stdout and "provider\ttoy\n" in got.stdout  # piped: key<TAB>value

    waited = bifrost("batches", "wait", "tj-1", "--poll", "0.1")
    assert waited.exit_code == 0, waited.stderr
    assert "tj-1 in_progress (running) processing=1 succeeded=1" in waited.stderr
    assert "tj-1 ended (done) processing=0 succeeded=2 errored=0" in waited.stderr
    assert "ended (done)" in waited.stdout

    results = bifrost("batches", "results", "tj-1")
    assert results.exit_code == 0, results.stderr
    lines = [json.loads(line) for line in results.stdout.splitlines()]
    assert [(r["custom_id"], r["result"]["type"], r["result"]["message"]["model"], r["result"]["message"]["content"])
            for r in lines] == [("q1", "succeeded", "toy-1", [{"type": "text", "text": "TWO PLUS TWO?"}]),
                                ("q2", "succeeded", "toy-2", [{"type": "text", "text": "HELLO"}])]
    assert "2 results of tj-1: 2 succeeded" in results.stderr
    raw = bifrost("batches", "results", "tj-1", "--raw")
    assert [json.loads(line) for line in raw.stdout.splitlines()] == [
        {"ref": "q1", "model": "toy-1", "answer": "TWO PLUS TWO?"}, {"ref": "q2", "model": "toy-2", "answer": "HELLO"}]


def test_a_failed_request_shows_in_wait_and_results(toy: ToyServer, tmp_path: Path) -> None:
    batch_id = bifrost("batches", "create", write(tmp_path, "in.jsonl", [*LINES, {"ref": "q3", "prompt": "fail"}]), "-q")
    assert batch_id.stdout == "tj-1\n", batch_id.stderr
    waited = bifrost("batches", "wait", "tj-1", "--poll", "0.1")
    assert waited.exit_code == 7
    assert "not every request succeeded" in waited.stderr
    results = bifrost("batches", "results", "tj-1")
    errored = json.loads(results.stdout.splitlines()[2])
    assert errored == {"custom_id": "q3", "result": {"type": "errored", "error": {
        "type": "error", "error": {"type": "toy_error", "message": "the toy cannot answer that"}}}}
    assert "3 results of tj-1: 2 succeeded, 1 errored" in results.stderr


def test_input_is_checked_by_the_toys_own_format_before_anything_is_sent(toy: ToyServer, tmp_path: Path) -> None:
    path = write(tmp_path, "in.jsonl", [LINES[0], {"ref": "q2", "prompt": "", "temperature": 1}])
    refused = bifrost("batches", "create", path)
    assert refused.exit_code == 2
    assert f"{path}:2: prompt must be a non-empty string" in refused.stderr
    assert f'{path}:2: unknown field "temperature"' in refused.stderr
    assert toy.headers == []  # nothing was sent

    other = write(tmp_path, "openai.jsonl", [{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                                               "body": {"model": "gpt-4o-mini", "messages": []}}])
    foreign = bifrost("batches", "create", other)
    assert foreign.exit_code == 2
    assert "openai's native format, which toy cannot run" in foreign.stderr
    assert toy.headers == []

    neutral = bifrost("batches", "create", str(EXAMPLES / "requests.jsonl"), "-q")  # the provider-neutral form
    assert neutral.exit_code == 0, neutral.stderr
    assert [line["ref"] for line in toy.jobs["tj-1"]["lines"]] == [
        json.loads(line)["custom_id"] for line in (EXAMPLES / "requests.jsonl").read_text().splitlines()]


def test_what_the_spec_says_toy_cannot_do_is_refused_before_sending(toy: ToyServer) -> None:
    refused = bifrost("files", "download", "tf-1")
    assert refused.exit_code == 2
    assert NO_DOWNLOAD in refused.stderr
    assert toy.headers == []


def test_config_show_lists_the_toys_settings_with_the_key_redacted(toy: ToyServer) -> None:
    shown = bifrost("config", "show", "--json")
    assert shown.exit_code == 0, shown.stderr
    settings = json.loads(shown.stdout)["settings"]
    assert settings["provider"] == {"value": "toy", "source": "flag"}
    assert settings["toy_base_url"] == {"value": toy.url, "source": "env TOY_BASE_URL"}
    assert settings["toy_api_key"]["source"] == "env TOY_API_KEY"
    assert settings["toy_api_key"]["value"].startswith("***")
    human = bifrost("config", "show")
    assert "toy_api_key" in human.stdout and "toy_base_url" in human.stdout
    assert KEY not in shown.stdout + human.stdout


def test_the_verbose_log_hides_the_toys_secret_header(toy: ToyServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logged = bifrost("-v", "files", "list")
    assert logged.exit_code == 0, logged.stderr
    assert f"> GET {toy.url}/v1/files" in logged.stderr
    assert "'x-toy-signature': '***'" in logged.stderr
    assert toy.headers[0]["x-toy-signature"] == signature(KEY)  # sent all the same
    assert signature(KEY) not in logged.stderr and KEY not in logged.stderr

    # The spec's secret_headers entry is what hides it: a spec without it shows the header.
    register(dataclasses.replace(toy_provider.SPEC, secret_headers=frozenset()))
    assert signature(KEY) in bifrost("-v", "files", "list").stderr


def test_toy_is_known_only_while_registered(toy: ToyServer) -> None:
    unknown = invoke("-p", "nosuch", "files", "list")
    assert unknown.exit_code == 2
    assert "unknown provider 'nosuch'" in unknown.stderr
    assert "Choose one of: anthropic, openai, gemini, bedrock, toy" in unknown.stderr
    registry.unregister("toy")
    gone = bifrost("files", "list")
    assert gone.exit_code == 2
    assert "unknown provider 'toy'" in gone.stderr
    assert "toy" not in gone.stderr.split("Choose one of:")[1]
    assert toy.headers == []


def test_an_unregistered_providers_input_format_is_refused(toy: ToyServer, tmp_path: Path) -> None:
    path = write(tmp_path, "in.jsonl", LINES)
    assert bifrost("batches", "create", path, "--input-format", "toy", "-q").exit_code == 0
    registry.unregister("toy")
    refused = invoke("--emulator", "batches", "create", path, "--input-format", "toy")
    assert refused.exit_code == 2
    assert "unknown input format 'toy'" in refused.stderr
