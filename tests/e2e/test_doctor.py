"""End to end: ``bifrost doctor`` against the served emulator (ready), a dead port (not ready,
exit 6, with a hint), missing credentials and targets that cannot run a batch (exit 2), and never a
secret in what it prints."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import Served, bifrost_executable, clean_env, start_emulator, stop_emulator

KEYS = {
    "anthropic": ("ANTHROPIC_BASE_URL", "/native/anthropic", "ANTHROPIC_API_KEY", "sk-ant-doctor-secret-9f8e7d6c5b4a"),
    "openai": ("OPENAI_BASE_URL", "/native/openai/v1", "OPENAI_API_KEY", "sk-openai-doctor-secret-1a2b3c4d5e"),
    "gemini": ("GEMINI_BASE_URL", "/native/gemini", "GEMINI_API_KEY", "gm-doctor-secret-0123456789abcdef"),
}


def checks(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"]}


@pytest.mark.parametrize("provider", sorted(KEYS))
def test_direct_target_is_ready_and_its_key_is_never_printed(served: Served, provider: str) -> None:
    url_env, path, key_env, key = KEYS[provider]
    env = {url_env: served.url + path, key_env: key}
    proc = served.run("-p", provider, "doctor", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["mode"] == "direct"
    found = checks(report)
    assert found["credentials"]["status"] == "ok"
    assert f"set via {key_env}" in found["credentials"]["detail"]
    assert found["answers"]["status"] == "ok"
    assert {"name": f"{provider}_api_key", "value": "set", "source": f"env {key_env}"} in report["settings"]
    human = served.run("-p", provider, "doctor", env=env)
    assert human.returncode == 0, human.stderr
    assert "Ready" in human.stderr
    for text in (proc.stdout, proc.stderr, human.stdout, human.stderr):
        assert key not in text and key[-4:] not in text  # not even the tail


@pytest.mark.parametrize("provider", ["anthropic", "openai", "gemini", "bedrock"])
def test_gateway_is_ready_and_tells_its_version(served: Served, provider: str) -> None:
    proc = served.gateway("-p", provider, "doctor", "--json", env={"BIFROST_VIRTUAL_KEY": "vk-doctor-secret-abcdef123456"})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["mode"] == "gateway"
    assert report["gateway_version"] == "emulator"
    assert "BIFROST_VIRTUAL_KEY" in checks(report)["credentials"]["detail"]
    ops = {o["operation"]: o for o in report["operations"]}
    assert ops["batches.create"]["supported"] and ops["batches.results"]["supported"]
    if provider in ("anthropic", "openai", "bedrock"):
        assert ops["batches.delete"]["supported"] is False and ops["batches.delete"]["instead"]
    assert "vk-doctor-secret-abcdef123456" not in proc.stdout + proc.stderr


def test_human_table_names_checks_and_operations(served: Served) -> None:
    proc = served.gateway("doctor", "-p", "openai")  # -p after the command too
    assert proc.returncode == 0, proc.stderr
    for word in ("configuration", "credentials", "answers", "gateway version", "batches.delete", "OpenAI has no way"):
        assert word in proc.stdout


def test_dead_port_is_not_ready_exit_6_with_a_hint() -> None:
    proc = subprocess.run([*bifrost_executable(), "--base-url", "http://127.0.0.1:9", "--max-retries", "0", "doctor"],
                          env=clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 6, proc.stderr
    assert "not ready: answers" in proc.stderr
    assert "Hint:" in proc.stderr
    assert "answers" in proc.stdout and "fail" in proc.stdout


def test_missing_key_is_exit_2_and_says_which_variable(served: Served) -> None:
    proc = served.run("-p", "openai", "doctor", env={"OPENAI_BASE_URL": served.url + "/native/openai/v1"})
    assert proc.returncode == 2
    assert "openai_api_key missing" in proc.stderr and "OPENAI_API_KEY" in proc.stderr


def test_a_refused_key_is_exit_3(tmp_path) -> None:
    locked = start_emulator(tmp_path / "locked", "--virtual-key", "vk-the-right-one-123456", "--quiet")
    try:
        wrong = locked.gateway("doctor", env={"BIFROST_VIRTUAL_KEY": "vk-a-wrong-one-654321"})
        right = locked.gateway("doctor", env={"BIFROST_VIRTUAL_KEY": "vk-the-right-one-123456"})
    finally:
        stop_emulator(locked)
    assert wrong.returncode == 3, wrong.stderr
    assert "not ready: answers" in wrong.stderr
    assert "vk-a-wrong-one-654321" not in wrong.stdout + wrong.stderr
    assert right.returncode == 0, right.stderr


def test_target_that_cannot_run_a_batch_is_exit_2(served: Served) -> None:
    proc = served.run("--emulator", "-p", "bedrock", "doctor", "--json")
    assert proc.returncode == 2
    report = json.loads(proc.stdout)
    assert report["ok"] is False
    assert checks(report)["batch operations"]["status"] == "fail"
    assert "AWS_ENDPOINT_URL_BEDROCK" in proc.stderr


def test_a_bad_config_file_is_a_failed_check(served: Served, tmp_path) -> None:
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "config.toml").write_text("provider = [\n")
    proc = served.run("doctor", "--json", env={"BIFROST_CONFIG_DIR": str(config)})
    assert proc.returncode == 2
    report = json.loads(proc.stdout)
    assert checks(report)["configuration"]["status"] == "fail"
