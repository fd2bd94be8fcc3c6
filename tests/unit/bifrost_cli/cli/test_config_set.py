"""``config set``/``unset`` and ``auth set``: the config file changed without editing TOML, as
``config show`` then sees it; bad input refused with the file untouched; keys never shown."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import invoke

KEY = "sk-proj-test-openai-key-7391"
CONFIG = """\
# written by hand
max_retries = 4  # flaky network

[profiles.ci]   # the CI job
emulator = true
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "config" / "config.toml"


def write(config: Path, text: str = CONFIG, mode: int = 0o644) -> Path:
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)
    config.chmod(mode)
    return config


def shown(*args: str) -> dict:
    result = invoke(*args, "config", "show", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["settings"]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ------------------------------------------------------------------------------------------------
# config set / unset


def test_set_then_show_names_the_config_file_or_profile(config: Path) -> None:
    assert invoke("config", "set", "base_url", "http://localhost:8080").exit_code == 0
    set_ci = invoke("config", "set", "max_retries", "7", "--profile", "ci")
    assert set_ci.exit_code == 0, set_ci.stderr
    assert "Set max_retries = 7" in set_ci.stderr and "(profile ci)" in set_ci.stderr
    assert shown()["base_url"] == {"value": "http://localhost:8080", "source": "config file"}
    assert shown("--profile", "ci")["max_retries"] == {"value": 7, "source": "profile ci"}
    assert shown()["max_retries"]["source"] == "default"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_new_config_file_is_private_in_a_private_directory(config: Path) -> None:
    assert not config.parent.exists()
    assert invoke("config", "set", "emulator", "true").exit_code == 0
    assert mode_of(config) == 0o600
    assert mode_of(config.parent) == 0o700
    assert config.read_text() == "emulator = true\n"
    assert invoke("config", "set", "timeout", "9").exit_code == 0
    assert [p.name for p in config.parent.iterdir()] == ["config.toml"]  # no temporary file left behind


def test_comments_and_other_keys_are_kept(config: Path) -> None:
    write(config)
    assert invoke("config", "set", "max_retries", "9").exit_code == 0
    assert invoke("config", "set", "timeout", "30", "--profile", "ci").exit_code == 0
    assert config.read_text() == CONFIG.replace("max_retries = 4", "max_retries = 9") + "timeout = 30.0\n"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_setting_keeps_the_file_mode_and_a_secret_makes_it_private(config: Path) -> None:
    write(config, mode=0o644)
    assert invoke("config", "set", "region", "eu-west-1").exit_code == 0
    assert mode_of(config) == 0o644
    result = invoke("config", "set", "openai_api_key", KEY)
    assert result.exit_code == 0, result.stderr
    assert mode_of(config) == 0o600
    assert "made it private" in result.stderr
    assert KEY not in result.stdout + result.stderr


def test_unset_removes_the_key_and_the_default_applies(config: Path) -> None:
    write(config)
    result = invoke("config", "unset", "max_retries")
    assert result.exit_code == 0, result.stderr
    assert "max_retries" not in config.read_text()
    assert "# written by hand" in config.read_text()
    assert shown()["max_retries"] == {"value": 2, "source": "default"}
    again = invoke("config", "unset", "max_retries", "--json")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["action"] == "not set"


def test_unset_in_a_profile_leaves_the_top_level(config: Path) -> None:
    write(config, CONFIG + "max_retries = 1\n")
    assert invoke("config", "unset", "max_retries", "--profile", "ci").exit_code == 0
    assert shown("--profile", "ci")["max_retries"] == {"value": 4, "source": "config file"}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("max_retrie", "3"), "Did you mean max_retries?"),
        (("max-retries", "3"), "Did you mean max_retries?"),
        (("max_retries", "three"), "max_retries must be a whole number"),
        (("timeout", "0"), "timeout must be a number > 0"),
        (("emulator", "maybe"), "emulator must be true or false"),
        (("provider", "opnai"), "Did you mean openai?"),
        (("base_url", " "), "config unset base_url"),
    ],
)
def test_a_bad_key_or_value_is_refused_and_nothing_is_written(config: Path, args: tuple[str, str], said: str) -> None:
    write(config)
    before = config.stat().st_mtime_ns
    result = invoke("config", "set", *args)
    assert result.exit_code == 2
    assert said in result.stderr
    assert config.read_text() == CONFIG
    assert config.stat().st_mtime_ns == before


def test_an_unknown_key_lists_the_settings(config: Path) -> None:
    result = invoke("config", "unset", "colour")
    assert result.exit_code == 2
    assert "unknown setting 'colour'" in result.stderr
    assert "max_retries" in result.stderr and "openai_api_key" in result.stderr
    assert not config.exists()


def test_unset_removes_a_stray_key_the_resolver_refuses(config: Path) -> None:
    write(config, CONFIG + "colour = true\n")
    refused = invoke("--profile", "ci", "config", "show")
    assert refused.exit_code == 2
    assert "config unset" in refused.stderr
    assert invoke("config", "unset", "colour").exit_code == 2  # not in the top level
    removed = invoke("config", "unset", "colour", "--profile", "ci")
    assert removed.exit_code == 0, removed.stderr
    assert config.read_text() == CONFIG
    assert invoke("config", "set", "colour", "true").exit_code == 2  # but never written


def test_a_file_it_cannot_keep_the_shape_of_is_left_alone(config: Path) -> None:
    text = "profiles.ci.emulator = true\n"
    write(config, text)
    result = invoke("config", "set", "timeout", "5", "--profile", "ci")
    assert result.exit_code == 2
    assert "nothing was written" in result.stderr and "by hand" in result.stderr
    assert config.read_text() == text


def test_invalid_toml_is_refused(config: Path) -> None:
    write(config, "max_retries = \n")
    result = invoke("config", "set", "timeout", "5")
    assert result.exit_code == 2
    assert "not valid TOML" in result.stderr
    assert config.read_text() == "max_retries = \n"


def test_the_global_profile_and_the_command_s_are_the_same_option(config: Path) -> None:
    assert invoke("--profile", "ci", "config", "set", "timeout", "5").exit_code == 0
    assert invoke("--profile", "ci", "config", "set", "max_retries", "1", "--profile", "ci").exit_code == 0
    assert shown("--profile", "ci")["timeout"]["source"] == "profile ci"
    both = invoke("--profile", "prod", "config", "set", "timeout", "9", "--profile", "ci")
    assert both.exit_code == 2
    assert "two profiles" in both.stderr
    assert "9" not in config.read_text()


def test_bifrost_profile_chooses_the_profile_written(config: Path) -> None:
    result = invoke("config", "set", "emulator", "true", env={"BIFROST_PROFILE": "ci"})
    assert result.exit_code == 0, result.stderr
    assert "(profile ci)" in result.stderr
    assert config.read_text() == "[profiles.ci]\nemulator = true\n"


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_linked_config_file_is_written_where_it_points(config: Path, tmp_path: Path) -> None:
    dotfiles = write(tmp_path / "dotfiles" / "bifrost.toml")
    config.parent.mkdir(parents=True)
    config.symlink_to(dotfiles)
    assert invoke("config", "set", "max_retries", "0").exit_code == 0
    assert config.is_symlink()
    assert "max_retries = 0  # flaky network" in dotfiles.read_text()


def test_set_json_reports_the_change(config: Path) -> None:
    result = invoke("config", "set", "emulator", "yes", "--json", "--profile", "ci")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "config_file": str(config),
        "profile": "ci",
        "setting": "emulator",
        "action": "set",
        "value": True,
        "provider": None,
        "created": True,
    }


def test_a_value_an_environment_variable_overrides_is_warned_about(config: Path) -> None:
    result = invoke("config", "set", "max_retries", "3", env={"BIFROST_MAX_RETRIES": "5"})
    assert result.exit_code == 0
    assert "BIFROST_MAX_RETRIES is set in this environment and wins" in result.stderr


# ------------------------------------------------------------------------------------------------
# auth set


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_auth_set_reads_the_key_from_a_pipe_and_never_shows_it(config: Path) -> None:
    write(config, mode=0o644)
    result = invoke("auth", "set", "openai", input=KEY + "\n")
    assert result.exit_code == 0, result.stderr
    assert f"Saved the openai key to {config}" in result.stderr
    assert KEY not in result.stdout + result.stderr
    assert mode_of(config) == 0o600
    assert f'openai_api_key = "{KEY}"' in config.read_text()
    assert "# written by hand" in config.read_text()
    show = invoke("config", "show", "--json")
    assert KEY not in show.stdout + show.stderr
    assert json.loads(show.stdout)["settings"]["openai_api_key"] == {"value": "***7391", "source": "config file"}


def test_auth_set_json_and_a_profile(config: Path) -> None:
    result = invoke("auth", "set", "Gemini", "--profile", "ci", "--json", input="  gm-key-000000000001\n")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["provider"] == "gemini" and data["setting"] == "gemini_api_key" and data["profile"] == "ci"
    assert "gm-key-000000000001" not in result.stdout
    assert shown("--profile", "ci")["gemini_api_key"]["source"] == "profile ci"


def test_auth_set_gateway_saves_the_virtual_key(config: Path) -> None:
    result = invoke("auth", "set", "gateway", input="sk-bf-virtual-000000001\n")
    assert result.exit_code == 0, result.stderr
    assert "Saved the gateway's virtual key" in result.stderr
    assert shown()["api_key"]["source"] == "config file"


def test_auth_unset_removes_the_key(config: Path) -> None:
    assert invoke("auth", "set", "openai", input=KEY + "\n").exit_code == 0
    removed = invoke("auth", "unset", "openai")
    assert removed.exit_code == 0, removed.stderr
    assert "Removed the openai key" in removed.stderr
    assert "openai_api_key" not in config.read_text()
    assert shown()["openai_api_key"] == {"value": None, "source": "default"}
    again = invoke("auth", "unset", "openai")
    assert again.exit_code == 0
    assert "was not set" in again.stderr


@pytest.mark.parametrize(
    ("provider", "stdin", "said"),
    [
        ("bedrock", KEY + "\n", "aws configure"),
        ("opnai", KEY + "\n", "Did you mean openai?"),
        ("openai", "", "no key was given"),
        ("openai", "\n  \n", "no key was given"),
        ("openai", f"{KEY}\n{KEY}\n", "has 2 lines"),
        ("openai", "sk-with a-space-000001\n", "spaces or control characters"),
    ],
)
def test_auth_set_refuses_and_writes_nothing(config: Path, provider: str, stdin: str, said: str) -> None:
    result = invoke("auth", "set", provider, input=stdin)
    assert result.exit_code == 2
    assert said in result.stderr
    assert KEY not in result.stdout + result.stderr
    assert not config.exists()


# ------------------------------------------------------------------------------------------------
# config show: the defaults worked out at run time


def test_config_show_names_the_emulator_s_real_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIFROST_EMULATOR_STATE_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    state = shown()["emulator_state_dir"]
    assert state == {"value": str(tmp_path / "data" / "bifrost-cli" / "emulator"), "source": "default"}
    human = invoke("config", "show")
    assert str(tmp_path / "data" / "bifrost-cli" / "emulator") in human.stdout
    # and that is where the emulator keeps what it is given
    uploaded = invoke("--emulator", "files", "upload", str(Path(__file__).resolve()), "-q")
    assert uploaded.exit_code == 0, uploaded.stderr
    assert any(Path(state["value"]).rglob("*"))
