"""The config file editor: one key changed, everything else as the user wrote it."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_cli.tomledit import EditError, format_value, set_key, unset_key

CONFIG = """\
# my bifrost setup
provider = "openai"   # the usual one
max_retries = 4

# CI runs on the emulator
[profiles.ci]
emulator = true  # fast
timeout = 12.5

[profiles."night shift"]
base_url = \"\"\"
http://gw.example.test\"\"\"
"""


def test_a_key_is_replaced_in_place_with_its_comment() -> None:
    edited = set_key(CONFIG, ("profiles", "ci"), "emulator", False)
    assert edited == CONFIG.replace("emulator = true  # fast", "emulator = false  # fast")


def test_a_top_level_key_is_replaced_where_it_is() -> None:
    edited = set_key(CONFIG, (), "provider", "gemini")
    assert edited == CONFIG.replace('provider = "openai"   # the usual one', 'provider = "gemini"   # the usual one')


def test_a_new_key_goes_at_the_end_of_its_table() -> None:
    edited = set_key(CONFIG, ("profiles", "ci"), "max_retries", 0)
    assert edited == CONFIG.replace("timeout = 12.5\n", "timeout = 12.5\nmax_retries = 0\n")
    top = set_key(CONFIG, (), "timeout", 30.0)
    assert top == CONFIG.replace("max_retries = 4\n", "max_retries = 4\ntimeout = 30.0\n")


def test_a_new_top_level_key_goes_before_the_first_table_and_its_comments() -> None:
    text = "# CI\n[profiles.ci]\nemulator = true\n"
    edited = set_key(text, (), "provider", "gemini")
    assert edited == 'provider = "gemini"\n\n# CI\n[profiles.ci]\nemulator = true\n'
    assert tomllib.loads(edited)["profiles"] == {"ci": {"emulator": True}}


def test_a_missing_profile_is_appended() -> None:
    edited = set_key(CONFIG, ("profiles", "prod"), "region", "eu-west-1")
    assert edited == CONFIG + '\n[profiles.prod]\nregion = "eu-west-1"\n'
    quoted = set_key("", ("profiles", "a b"), "emulator", True)
    assert quoted == '[profiles."a b"]\nemulator = true\n'
    assert tomllib.loads(quoted) == {"profiles": {"a b": {"emulator": True}}}


def test_an_empty_file_and_one_without_a_final_line_break() -> None:
    assert set_key("", (), "provider", "gemini") == 'provider = "gemini"\n'
    assert set_key("timeout = 5.0", (), "provider", "gemini") == 'timeout = 5.0\nprovider = "gemini"\n'


def test_a_multi_line_value_is_replaced_whole() -> None:
    edited = set_key(CONFIG, ("profiles", "night shift"), "base_url", "http://other.example.test")
    assert edited.endswith('[profiles."night shift"]\nbase_url = "http://other.example.test"\n')
    assert edited.startswith(CONFIG.split("[profiles.\"night")[0])


def test_unset_removes_only_that_line() -> None:
    edited, found = unset_key(CONFIG, ("profiles", "ci"), "timeout")
    assert found
    assert edited == CONFIG.replace("timeout = 12.5\n", "")
    multi, found = unset_key(CONFIG, ("profiles", "night shift"), "base_url")
    assert found and multi.endswith('[profiles."night shift"]\n')


def test_unset_of_an_absent_key_changes_nothing() -> None:
    assert unset_key(CONFIG, (), "timeout") == (CONFIG, False)
    assert unset_key(CONFIG, ("profiles", "nope"), "timeout") == (CONFIG, False)


def test_windows_line_breaks_are_kept() -> None:
    text = 'provider = "openai"\r\n\r\n[profiles.ci]\r\nemulator = true\r\n'
    edited = set_key(text, ("profiles", "ci"), "timeout", 5.0)
    assert edited == text + "timeout = 5.0\r\n"


@pytest.mark.parametrize(
    "text",
    [
        "profiles.ci.emulator = true\n",  # dotted keys
        "profiles = { ci = { emulator = true } }\n",  # an inline table
        "[profiles]\nci.emulator = true\n",
    ],
)
def test_a_shape_it_cannot_keep_is_refused(text: str) -> None:
    with pytest.raises(EditError):
        set_key(text, ("profiles", "ci"), "timeout", 1.0)


def test_invalid_toml_is_refused() -> None:
    with pytest.raises(EditError, match="not valid TOML"):
        set_key("provider = \n", (), "timeout", 1.0)


def test_a_number_that_is_not_finite_is_refused() -> None:
    with pytest.raises(EditError):
        format_value(float("nan"))


@given(st.text())
def test_any_text_is_written_as_a_string_toml_reads_back(value: str) -> None:
    assert tomllib.loads(set_key("", (), "key", value)) == {"key": value}


@given(st.one_of(st.booleans(), st.integers(min_value=0, max_value=10**18), st.floats(min_value=1e-9, max_value=1e12)))
def test_any_scalar_reads_back(value: object) -> None:
    text = set_key('# head\nkey = "old"  # note\n', (), "key", value)  # type: ignore[arg-type]
    assert tomllib.loads(text) == {"key": value}
    assert text.endswith("  # note\n")
