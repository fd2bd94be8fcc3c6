"""Settings: flag > environment > profile in ``config.toml`` > defaults.

The config file lives in platformdirs' user config dir (``BIFROST_CONFIG_DIR`` overrides). Top-level
keys apply to every profile; ``[profiles.NAME]`` tables override them when NAME is selected with
``--profile`` or ``BIFROST_PROFILE``::

    provider = "anthropic"
    base_url = "http://localhost:8080"

    [profiles.ci]
    emulator = true
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bifrost_cli.errors import UsageError
from bifrost_cli.providers.spec import Setting, SettingValue

APP_NAME = "bifrost-cli"


# Settings of the program itself; each provider's come from its spec (see :func:`settings_table`).
CORE_SETTINGS: tuple[Setting, ...] = (
    Setting("provider", ("BIFROST_PROVIDER",), str, "anthropic", help="the provider: see `bifrost --help`"),
    Setting("base_url", ("BIFROST_BASE_URL",), str, help="a running Bifrost gateway; unset: call the provider directly"),
    Setting("api_key", ("BIFROST_VIRTUAL_KEY",), str, secret=True, help="the gateway's virtual key"),
    Setting(
        "allow_insecure_http",
        ("BIFROST_ALLOW_INSECURE_HTTP",),
        bool,
        False,
        help="send credentials over plain http:// to a host that is not loopback (a private network), with a warning",
    ),
    Setting("emulator", ("BIFROST_EMULATOR",), bool, False, help="use the built-in emulator in-process"),
    Setting(
        "emulator_state_dir",
        ("BIFROST_EMULATOR_STATE_DIR",),
        str,
        help="where the emulator keeps its state",
        default_from="bifrost_cli.emulator.config:default_state_dir",
    ),
)
TAIL_SETTINGS: tuple[Setting, ...] = (
    Setting("max_retries", ("BIFROST_MAX_RETRIES",), int, 2, help="retries of a failed request"),
    Setting("timeout", ("BIFROST_TIMEOUT",), float, 300.0, help="seconds to wait for an answer"),
    Setting(
        "ledger",
        ("BIFROST_LEDGER",),
        str,
        help="the local ledger of creates and uploads (a SQLite file; default in the user data dir; off: none)",
        default_from="bifrost_cli.ledger:default_path",
    ),
    Setting(
        "split_max_requests",
        ("BIFROST_SPLIT_MAX_REQUESTS",),
        int,
        help="batches create --split: at most this many requests a batch (lowers the provider's limit)",
    ),
    Setting(
        "split_max_bytes",
        ("BIFROST_SPLIT_MAX_BYTES",),
        int,
        help="batches create --split: at most this many bytes of requests a batch (lowers the provider's limit)",
    ),
)


def settings_table() -> tuple[Setting, ...]:
    """Every setting: the program's own, then each registered provider's, in registry order."""
    from bifrost_cli.providers import registry

    return CORE_SETTINGS + registry.provider_settings() + TAIL_SETTINGS


def secret_settings() -> tuple[Setting, ...]:
    """Settings whose values are secrets: keys, and base URLs (which may hold a password)."""
    return tuple(s for s in settings_table() if s.secret or s.is_url)


def secret_env_names() -> tuple[str, ...]:
    """Environment variables whose values are secrets (redacted from any message shown)."""
    from bifrost_cli.providers import registry

    names = [env for s in settings_table() if s.secret for env in s.env]
    return tuple(dict.fromkeys([*names, *(e for spec in registry.specs() for e in spec.secret_env)]))
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def config_dir() -> Path:
    override = os.environ.get("BIFROST_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return platformdirs.user_config_path(APP_NAME)


def config_path() -> Path:
    return config_dir() / "config.toml"


@dataclass
class Settings:
    """Resolved settings, with where each value came from (``flag``, ``env NAME``, ``profile``, ``default``)."""

    values: dict[str, SettingValue]
    sources: dict[str, str]
    profile: str | None
    path: Path
    verbose: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # to show on stderr (a config file others can read...)

    def get(self, name: str) -> SettingValue:
        """A setting's value (None when unset and without default); KeyError for an unknown name."""
        return self.values[name]

    def text(self, name: str) -> str | None:
        """A text setting's value, or None."""
        value = self.values.get(name)
        return None if value is None else str(value)

    # The program's own settings, typed.
    @property
    def provider(self) -> str:
        return str(self.values["provider"])

    @property
    def base_url(self) -> str | None:
        return self.text("base_url")

    @property
    def api_key(self) -> str | None:
        return self.text("api_key")

    @property
    def allow_insecure_http(self) -> bool:
        return bool(self.values.get("allow_insecure_http"))

    @property
    def emulator(self) -> bool:
        return bool(self.values.get("emulator"))

    @property
    def emulator_state_dir(self) -> str | None:
        return self.text("emulator_state_dir")

    @property
    def max_retries(self) -> int:
        return int(self.values.get("max_retries") or 0)

    @property
    def timeout(self) -> float:
        value = self.values.get("timeout")
        return float(value) if value is not None else 300.0

    @property
    def ledger(self) -> str | None:
        return self.text("ledger")

    def secrets(self) -> list[str]:
        """Every secret value these settings hold (keys, and passwords in base URLs)."""
        out: list[str] = []
        for s in secret_settings():
            value = self.text(s.name)
            if value:
                out.append(value if s.secret else (url_password(value) or ""))
        return [v for v in out if v]

    def redacted(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for s in settings_table():
            value = self.values.get(s.name)
            if s.secret and value:
                value = redact_secret(str(value))
            elif s.is_url and value:
                value = redact_url(str(value))
            elif value is None and s.default_from:
                value = str(derived_default(s.default_from))
            out[s.name] = {"value": value, "source": self.sources.get(s.name, "default")}
        return out


def derived_default(ref: str) -> object:
    """What a ``"module:function"`` default reference (:attr:`Setting.default_from`) gives."""
    import importlib

    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)()


def redact_secret(value: str) -> str:
    return "***" + value[-4:] if len(value) >= 12 else "***"


def url_password(url: str | None) -> str | None:
    """The password of a ``scheme://user:password@host`` URL, if it has one."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password if url else None
    except ValueError:
        return None


def redact_url(text: str) -> str:
    """``text`` (a URL, or a sentence holding one) without the URL's password."""
    import re

    return re.sub(r"(://[^/@\s:]*:)[^/@\s]*@", r"\1***@", text)


def coerce(setting: Setting, raw: object, origin: str) -> SettingValue:
    if raw is None:
        return None
    try:
        if setting.kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(raw)
        if setting.kind is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            whole = int(raw)  # type: ignore[call-overload]  # anything else is refused below
            if whole < 0:
                raise ValueError(raw)
            return whole
        if setting.kind is float:
            number = float(raw)  # type: ignore[arg-type]
            if number <= 0:
                raise ValueError(raw)
            return number
        return str(raw)
    except (TypeError, ValueError):
        kind = {bool: "true or false", int: "a whole number >= 0", float: "a number > 0"}.get(setting.kind, "text")
        raise UsageError(f"{origin}: {setting.name} must be {kind}, got {raw!r}") from None


def load_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    import tomllib  # only when there is a file to read (startup time)

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}", hint="Fix or remove the config file.") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the config file: {exc.strerror}") from None


def resolve(
    flags: Mapping[str, SettingValue] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    profile: str | None = None,
    path: Path | None = None,
) -> Settings:
    """Resolve every setting from flags, the environment, the config file and defaults."""
    env = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    path = path or config_path()
    data = load_file(path)
    profile = profile or env.get("BIFROST_PROFILE") or None
    section: dict[str, Any] = {k: v for k, v in data.items() if k != "profiles"}
    from_profile: set[str] = set()
    profiles = data.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise UsageError(f"{path}: profiles must be tables, like [profiles.NAME]")
    not_tables = sorted(name for name, value in profiles.items() if not isinstance(value, dict))
    if not_tables:
        raise UsageError(f"{path}: profile(s) {', '.join(not_tables)} must be tables, like [profiles.NAME]")
    if profile:
        if profile not in profiles:
            names = ", ".join(sorted(profiles)) or "none"
            raise UsageError(
                f"no profile {profile!r} in {path} (profiles: {names})",
                hint="Add a [profiles.NAME] table to the config file, or drop --profile / BIFROST_PROFILE.",
            )
        section.update(profiles[profile])
        from_profile = set(profiles[profile])
    table = settings_table()
    known = [s.name for s in table]
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise UsageError(
            f"{path}: unknown setting(s): {', '.join(unknown)}",
            hint="Remove it with `bifrost config unset NAME` (add --profile P for a profile's). Known settings: "
            + ", ".join(known),
        )
    values: dict[str, SettingValue] = {}
    sources: dict[str, str] = {}
    for s in table:
        if s.name in flags:
            values[s.name], sources[s.name] = coerce(s, flags[s.name], "--" + s.name.replace("_", "-")), "flag"
            continue
        env_name = next((e for e in s.env if env.get(e)), None)
        if env_name:
            values[s.name], sources[s.name] = coerce(s, env[env_name], env_name), f"env {env_name}"
        elif s.name in section:
            where = f"profile {profile}" if s.name in from_profile else "config file"
            values[s.name], sources[s.name] = coerce(s, section[s.name], f"{path}"), where
        else:
            values[s.name], sources[s.name] = s.default, "default"
    from bifrost_cli.providers import registry

    provider = str(values["provider"]).lower()
    if provider not in registry.names():
        origin = sources["provider"]
        if origin == "config file" or origin.startswith("profile "):
            origin = f"{origin} {path}"
        raise UsageError(
            f"unknown provider {values['provider']!r} (from {origin})",
            hint="Choose one of: " + ", ".join(registry.names()),
        )
    values["provider"] = provider
    return Settings(values=values, sources=sources, profile=profile, path=path, warnings=_exposed_secrets(path, data))


def _exposed_secrets(path: Path, data: Mapping[str, Any]) -> list[str]:
    """A warning when the config file holds a secret (in any profile) and other users can read it."""
    if os.name != "posix" or not data:
        return []
    tables = [data, *(t for t in (data.get("profiles") or {}).values() if isinstance(t, dict))]
    names = sorted({s.name for s in settings_table() if s.secret for t in tables if t.get(s.name)})
    if not names:
        return []
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    if not mode & 0o044:
        return []
    who = "other users" if mode & 0o004 else "its group"
    return [
        f"{path} holds secrets ({', '.join(names)}) and {who} can read it; "
        f"make it private with: chmod 600 {path}"
    ]
