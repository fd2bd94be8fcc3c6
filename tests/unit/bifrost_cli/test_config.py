"""Tests for bifrost_cli.config: flag > env > profile > top-level file > default."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bifrost_cli.cli.app import app
from bifrost_cli.config import config_path, resolve, settings_table
from bifrost_cli.errors import ExitCode, UsageError
from tests.conftest import invoke

ENV_NAMES = [name for s in settings_table() for name in s.env] + ["BIFROST_PROFILE"]


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BIFROST_CONFIG_DIR", str(tmp_path))
    return tmp_path


def write_config(config_dir: Path, text: str) -> Path:
    path = config_dir / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


CONFIG = """
provider = "openai"
base_url = "https://file.example.test"
max_retries = 4

[profiles.ci]
base_url = "https://profile.example.test"
timeout = 12.5
"""


def test_config_path_follows_the_env(config_dir: Path) -> None:
    assert config_path() == config_dir / "config.toml"


@pytest.mark.parametrize(
    ("flags", "env", "profile", "name", "value", "source"),
    [
        ({"base_url": "https://flag.example.test"}, {"BIFROST_BASE_URL": "https://env.example.test"}, "ci", "base_url", "https://flag.example.test", "flag"),
        ({}, {"BIFROST_BASE_URL": "https://env.example.test"}, "ci", "base_url", "https://env.example.test", "env BIFROST_BASE_URL"),
        ({}, {}, "ci", "base_url", "https://profile.example.test", "profile ci"),
        ({}, {}, None, "base_url", "https://file.example.test", "config file"),
        ({}, {}, "ci", "provider", "openai", "config file"),  # a top-level key applies under a profile too
        ({}, {}, None, "timeout", 300.0, "default"),
        ({}, {}, "ci", "timeout", 12.5, "profile ci"),
        ({}, {}, None, "max_retries", 4, "config file"),
        ({}, {"BIFROST_MAX_RETRIES": "0"}, None, "max_retries", 0, "env BIFROST_MAX_RETRIES"),
        ({"max_retries": 1}, {"BIFROST_MAX_RETRIES": "7"}, None, "max_retries", 1, "flag"),
        ({}, {"BIFROST_PROVIDER": "Gemini"}, None, "provider", "gemini", "env BIFROST_PROVIDER"),
        ({}, {"BIFROST_BASE_URL": ""}, None, "base_url", "https://file.example.test", "config file"),  # empty env ignored
        ({}, {"BIFROST_EMULATOR": "yes"}, None, "emulator", True, "env BIFROST_EMULATOR"),
        ({"emulator": False}, {"BIFROST_EMULATOR": "1"}, None, "emulator", False, "flag"),
        ({}, {}, None, "anthropic_base_url", "https://api.anthropic.com", "default"),
        ({}, {"BIFROST_PROFILE": "ci"}, None, "base_url", "https://profile.example.test", "profile ci"),
    ],
)
def test_precedence(
    config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: dict,
    env: dict,
    profile: str | None,
    name: str,
    value: object,
    source: str,
) -> None:
    write_config(config_dir, CONFIG)
    for key, val in env.items():
        monkeypatch.setenv(key, val)
    settings = resolve(flags, profile=profile)
    assert settings.get(name) == value
    assert settings.sources[name] == source
    assert settings.path == config_dir / "config.toml"


def test_flag_none_means_not_given(config_dir: Path) -> None:
    write_config(config_dir, CONFIG)
    settings = resolve({"base_url": None})
    assert settings.base_url == "https://file.example.test"


def test_no_config_file_gives_defaults(config_dir: Path) -> None:
    settings = resolve({})
    assert settings.provider == "anthropic"
    assert settings.base_url is None
    assert settings.max_retries == 2
    assert set(settings.sources.values()) == {"default"}


def test_unknown_attribute_is_an_attribute_error(config_dir: Path) -> None:
    with pytest.raises(AttributeError):
        resolve({}).no_such_setting  # noqa: B018


@pytest.mark.parametrize(
    ("text", "profile", "env", "flags", "words"),
    [
        (CONFIG, "prod", {}, {}, ["prod", "ci"]),
        (CONFIG, None, {"BIFROST_PROFILE": "nope"}, {}, ["nope"]),
        ('provider = "openai"\n', "ci", {}, {}, ["ci", "none"]),
        ('base_ur1 = "https://typo.example.test"\n', None, {}, {}, ["base_ur1"]),
        ('[profiles.ci]\napi_kee = "x"\n', "ci", {}, {}, ["api_kee"]),
        ('provider = "openai\n', None, {}, {}, ["not valid TOML"]),
        ('max_retries = "lots"\n', None, {}, {}, ["max_retries", "lots"]),
        ("max_retries = -1\n", None, {}, {}, ["max_retries"]),
        ("timeout = 0\n", None, {}, {}, ["timeout"]),
        ('emulator = "maybe"\n', None, {}, {}, ["emulator"]),
        ("max_retries = true\n", None, {}, {}, ["max_retries"]),
        pytest.param(
            'provider = "azure"\n',
            None,
            {},
            {},
            ["azure"],
        ),
        pytest.param(
            "max_retries = 2.5\n",
            None,
            {},
            {},
            ["max_retries"],
        ),
        pytest.param(
            '[profiles]\nci = "emulator"\n',
            "ci",
            {},
            {},
            ["ci"],
        ),
    ],
)
def test_bad_config_file_is_a_usage_error_naming_the_file(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, text: str, profile: str | None, env: dict, flags: dict, words: list[str]
) -> None:
    path = write_config(config_dir, text)
    for key, val in env.items():
        monkeypatch.setenv(key, val)
    with pytest.raises(UsageError) as info:
        resolve(flags, profile=profile)
    assert info.value.exit_code == ExitCode.USAGE
    assert str(path) in info.value.message
    for word in words:
        assert word in info.value.message


@pytest.mark.parametrize(
    ("env", "flags", "words"),
    [
        ({"BIFROST_MAX_RETRIES": "two"}, {}, ["BIFROST_MAX_RETRIES", "two"]),
        ({"BIFROST_TIMEOUT": "-3"}, {}, ["BIFROST_TIMEOUT"]),
        ({"BIFROST_PROVIDER": "azure"}, {}, ["azure", "BIFROST_PROVIDER"]),
        ({}, {"max_retries": "x"}, ["--max-retries"]),
        ({}, {"provider": "cohere"}, ["cohere", "flag"]),
        ({"BIFROST_EMULATOR": "perhaps"}, {}, ["BIFROST_EMULATOR"]),
    ],
)
def test_bad_env_or_flag_value_names_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, env: dict, flags: dict, words: list[str]
) -> None:
    for key, val in env.items():
        monkeypatch.setenv(key, val)
    with pytest.raises(UsageError) as info:
        resolve(flags)
    for word in words:
        assert word in info.value.message


def test_a_bad_file_does_not_matter_when_the_flag_wins(config_dir: Path) -> None:
    write_config(config_dir, 'max_retries = "lots"\n')
    assert resolve({"max_retries": 3}).max_retries == 3


@pytest.mark.parametrize(
    "secret", ["sk-ant-api03-LONGSECRETVALUE-abcdEFGH", "short", "exactly12chr"]
)
def test_redacted_never_shows_a_secret(config_dir: Path, monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    write_config(config_dir, f'api_key = "{secret}"\n')
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret + "-env")
    settings = resolve({})
    shown = settings.redacted()
    assert secret not in repr(shown)
    assert shown["api_key"]["value"].startswith("***")
    assert shown["api_key"]["source"] == "config file"
    assert shown["anthropic_api_key"]["source"] == "env ANTHROPIC_API_KEY"
    assert shown["provider"] == {"value": "anthropic", "source": "default"}
    # the real values are still there for use
    assert settings.api_key == secret


def test_redacted_keeps_unset_secrets_as_none(config_dir: Path) -> None:
    assert resolve({}).redacted()["api_key"]["value"] is None


# ------------------------------------------------------------------------------------------------
# secrets in a config file others can read, and in a base URL


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize(
    ("content", "mode", "warned"),
    [
        ('api_key = "sk-bf-virtual-key-0001"\n', 0o644, True),
        ('[profiles.ci]\nanthropic_api_key = "sk-ant-key-000000001"\n', 0o604, True),
        ('api_key = "sk-bf-virtual-key-0001"\n', 0o600, False),
        ('base_url = "http://localhost:8080"\n', 0o644, False),
    ],
)
def test_a_readable_config_file_with_secrets_is_warned_about(config_dir: Path, content: str, mode: int, warned: bool) -> None:
    config = config_dir / "config.toml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(content)
    config.chmod(mode)
    result = invoke("config", "show", "--json")
    assert result.exit_code == 0, result.stderr
    json.loads(result.stdout)  # stdout stays pure JSON
    assert ("chmod 600" in result.stderr) is warned
    assert "sk-bf-virtual-key-0001" not in result.stderr + result.stdout
    assert stat.S_IMODE(config.stat().st_mode) == mode  # only warned, never changed


def test_a_password_in_a_base_url_is_never_shown() -> None:
    url = "http://gw-user:s3cret-gateway-password@127.0.0.1:9"
    shown = CliRunner().invoke(app, ["--base-url", url, "config", "show", "--json"])
    assert shown.exit_code == 0
    assert "s3cret-gateway-password" not in shown.stdout
    assert json.loads(shown.stdout)["settings"]["base_url"]["value"] == "http://gw-user:***@127.0.0.1:9"
    failed = CliRunner().invoke(app, ["--base-url", url, "--max-retries", "0", "-v", "batches", "list"])
    assert failed.exit_code == 6
    assert "s3cret-gateway-password" not in failed.stdout + failed.stderr
