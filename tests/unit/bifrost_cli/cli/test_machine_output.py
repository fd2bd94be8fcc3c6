"""Output for scripts, the same on every command: ``size_bytes`` for sizes, every id of ``delete
--json`` reported (failures too), ``-q`` printing only ids (or saying what it prints instead), and
``--limit`` with ``--all`` refused before any I/O. In-process, on the built-in emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import invoke

LINE = {"custom_id": "a", "params": {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}}


@pytest.fixture(autouse=True)
def quick_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_EMULATOR_BATCH_SECONDS", "0")


def emu(*args: str, provider: str = "anthropic"):
    return invoke("--emulator", "-p", provider, *args)


def requests(tmp_path: Path) -> str:
    path = tmp_path / "requests.jsonl"
    path.write_text(json.dumps(LINE) + "\n")
    return str(path)


def test_download_json_names_the_size_size_bytes_as_file_metadata_does(tmp_path: Path) -> None:
    uploaded = emu("files", "upload", requests(tmp_path), "--json", provider="openai")
    assert uploaded.exit_code == 0, uploaded.stderr
    file = json.loads(uploaded.stdout)[0]
    got = emu("files", "download", file["id"], "-o", str(tmp_path / "copy.jsonl"), "--json", provider="openai")
    assert got.exit_code == 0, got.stderr
    data = json.loads(got.stdout)
    assert data == {"id": file["id"], "path": str(tmp_path / "copy.jsonl"), "size_bytes": file["size_bytes"]}


def test_files_delete_json_reports_each_id_failures_included(tmp_path: Path) -> None:
    uploaded = json.loads(emu("files", "upload", requests(tmp_path), "--json").stdout)[0]
    missing = "file_011NoSuchFileAtAll000000"
    result = emu("files", "delete", missing, uploaded["id"], "--json")
    assert result.exit_code == 4, result.stderr  # the first failure's code, as without --json
    entries = json.loads(result.stdout)
    assert [e["id"] for e in entries] == [missing, uploaded["id"]]
    assert entries[1] == {"id": uploaded["id"], "deleted": True}
    failed = entries[0]
    assert failed["deleted"] is False
    assert failed["error"]["type"] == "not_found_error" and failed["error"]["exit_code"] == 4
    assert failed["error"]["message"]
    assert "could not delete 1 of 2" in result.stderr


def test_quiet_prints_only_ids(tmp_path: Path) -> None:
    path = requests(tmp_path)
    created = emu("batches", "create", path, "-q")
    assert created.exit_code == 0, created.stderr
    batch_id = created.stdout.strip()
    assert batch_id.startswith("msgbatch_") and created.stdout == batch_id + "\n"
    uploaded = emu("files", "upload", path, "-q")
    assert uploaded.exit_code == 0 and uploaded.stdout.strip().startswith("file_") and len(uploaded.stdout.split()) == 1
    waited = emu("batches", "wait", batch_id, "-q", "--poll", "0.1")
    assert waited.exit_code == 0, waited.stderr
    assert waited.stdout == batch_id + "\n"
    listed = emu("batches", "list", "-q")
    assert batch_id in listed.stdout.split() and all(line.startswith("msgbatch_") for line in listed.stdout.split())


def test_quiet_where_there_is_no_id_says_what_it_prints(tmp_path: Path) -> None:
    """results -q: the results, with no summary on stderr; download -q: the path; validate -q:
    nothing but the exit code; doctor -q: the failed checks. Each command's help says so."""
    batch_id = emu("batches", "create", requests(tmp_path), "-q").stdout.strip()
    emu("batches", "wait", batch_id, "-q", "--poll", "0.1")
    results = emu("batches", "results", batch_id, "-q")
    assert results.exit_code == 0 and json.loads(results.stdout)["custom_id"] == "a"
    assert "results of" not in results.stderr and emu("batches", "results", batch_id).stderr  # the summary -q leaves out
    for command, says in (
        (("batches", "results"), "No summary line"),
        (("files", "download"), "only the path"),
        (("batches", "validate"), "no summary"),
        (("doctor",), "failed checks"),
        (("batches", "create"), "only ids"),
    ):
        shown = " ".join(invoke(*command, "--help").stdout.split())
        assert says in shown, (command, shown)
    file_id = json.loads(emu("files", "upload", requests(tmp_path), "--json", provider="openai").stdout)[0]["id"]
    target = tmp_path / "copy.jsonl"
    downloaded = emu("files", "download", file_id, "-o", str(target), "-q", provider="openai")
    assert downloaded.stdout == f"{target}\n"
    validated = emu("batches", "validate", requests(tmp_path), "-q")
    assert validated.exit_code == 0 and validated.stdout == ""


@pytest.mark.parametrize("command", [("batches", "list"), ("files", "list"), ("batches", "list", "--local")], ids=" ".join)
@pytest.mark.parametrize("limit", [("--limit", "5"), ("-n", "20")], ids=["--limit", "-n default value"])
def test_limit_with_all_is_a_usage_error_before_any_io(command: tuple[str, ...], limit: tuple[str, ...]) -> None:
    # nothing listens on port 9: any request would end in exit 6, not 2
    result = invoke("--base-url", "http://127.0.0.1:9", *command, "--all", *limit)
    assert result.exit_code == 2, result.stderr
    assert "--limit or --all" in result.stderr


def test_all_alone_lists_everything() -> None:
    tried = invoke("--base-url", "http://127.0.0.1:9", "files", "list", "--all", env={"BIFROST_MAX_RETRIES": "0"})
    assert tried.exit_code == 6, tried.stderr  # sent (and nothing listens on port 9)


def test_batches_delete_json_reports_failures_too(tmp_path: Path) -> None:
    import io

    import httpx

    from bifrost_cli import service
    from bifrost_cli.config import resolve
    from bifrost_cli.output import Output
    from bifrost_cli.providers import build_target

    def anthropic(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/msgbatch_gone"):
            return httpx.Response(404, json={"type": "error", "error": {"type": "not_found_error", "message": "no such batch"}})
        return httpx.Response(200, json={"id": "msgbatch_ok", "type": "message_batch_deleted"})

    flags = {"provider": "anthropic", "anthropic_api_key": "sk-ant-test-0123456789", "max_retries": "0"}
    target = build_target(resolve(flags, environ={}, path=tmp_path / "absent.toml"), transport=httpx.MockTransport(anthropic))
    report = service.delete_batches(target, ["msgbatch_gone", "msgbatch_ok"])
    out = io.StringIO()
    Output("json", stdout=out, stderr=io.StringIO()).deleted(report.deleted, report)
    gone, ok = json.loads(out.getvalue())
    assert ok == {"id": "msgbatch_ok", "deleted": True}
    assert gone["id"] == "msgbatch_gone" and gone["deleted"] is False
    assert gone["error"] == {"type": "not_found_error", "message": gone["error"]["message"], "exit_code": 4}
    assert "no such batch" in gone["error"]["message"]
