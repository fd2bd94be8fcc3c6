"""Writing the config file: ``config set``/``unset`` and ``auth set``.

A change edits one line of ``config.toml`` (:mod:`bifrost_cli.tomledit`: comments, order and the
other keys stay as they were), after the value passed the same checks the settings resolver makes;
nothing is written when anything is wrong. The file is replaced atomically (a temporary file in the
same directory, renamed over it), created 0600 in a 0700 directory, and made 0600 whenever a secret
is written to it. A config file that is a symbolic link (dotfiles) is written where it points.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from bifrost_cli.config import coerce, config_path, redact_secret, redact_url, settings_table
from bifrost_cli.errors import UsageError
from bifrost_cli.providers.spec import Setting, SettingValue

GATEWAY = "gateway"
"""``auth set gateway``: the gateway's virtual key (``api_key``), beside each provider's own key."""


@dataclass(frozen=True)
class SettingChange:
    """What a ``config set``/``unset`` or ``auth set`` did to the config file."""

    path: Path
    name: str
    profile: str | None
    action: Literal["set", "unset", "not set"]
    """``not set``: an unset of a key the file did not have (nothing written)."""
    value: SettingValue
    secret: bool
    created: bool = False
    made_private: bool = False
    """The file was readable by others and holds a secret now: it was made 0600."""
    provider: str | None = None
    """``auth set``: the provider (or ``gateway``) whose key was saved."""
    shadowed_by: str | None = None
    """An environment variable set in this run that wins over what the file now says."""

    @property
    def shown_value(self) -> SettingValue:
        """The value as it may be shown: a secret redacted, a URL without its password."""
        if self.value is None:
            return None
        if self.secret:
            return redact_secret(str(self.value))
        if isinstance(self.value, str):
            return redact_url(self.value)
        return self.value


def write_profile(own: str | None, global_: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The profile a change is written to: the command's ``--profile``, else the global one
    (``bifrost --profile P config set ...``), else ``BIFROST_PROFILE``; ``None``: the top level.
    Both options given with different names is an error."""
    if own and global_ and own != global_:
        raise UsageError(
            f"two profiles given: --profile {global_} before the command and --profile {own} after it",
            hint="Give one --profile.",
        )
    env = os.environ if environ is None else environ
    return own or global_ or env.get("BIFROST_PROFILE") or None


def set_setting(name: str, raw: str, *, profile: str | None = None, global_profile: str | None = None,
                path: Path | None = None) -> SettingChange:
    """``name = raw`` (checked and converted as the resolver would) in the top level or a profile."""
    setting = find_setting(name)
    if not raw.strip():
        raise UsageError(
            f"no value given for {setting.name}",
            hint=f"To remove it, run `bifrost config unset {setting.name}`.",
        )
    value = coerce(setting, raw, "bad value")
    if setting.name == "provider":
        value = _check_provider(str(value))
    return _write(path or config_path(), setting, value, write_profile(profile, global_profile))


def unset_setting(name: str, *, profile: str | None = None, global_profile: str | None = None,
                  path: Path | None = None) -> SettingChange:
    """``name`` removed from the top level or a profile (an absent key is no error: nothing to do).
    A name no setting has is refused, unless the file has it there (a typo, or a setting of
    another version of bifrost-cli, which the resolver refuses): then it is removed."""
    path = path or config_path()
    target = write_profile(profile, global_profile)
    try:
        setting = find_setting(name)
    except UsageError:
        from bifrost_cli.config import load_file

        data = load_file(path)
        table = (data.get("profiles") or {}).get(target) if target else data
        if not isinstance(table, dict) or name not in table:
            raise
        setting = Setting(name, ())
    return _write(path, setting, None, target)


def save_key(provider: str, read_key: Callable[[str], str], *, profile: str | None = None,
             global_profile: str | None = None, path: Path | None = None) -> SettingChange:
    """A provider's API key (or the gateway's virtual key), read with ``read_key(prompt)``, saved
    under the secret setting its spec declares. Everything is checked before the key is asked for."""
    setting = key_setting(provider)
    target = write_profile(profile, global_profile)
    path = path or config_path()
    title = "the gateway's virtual key" if setting.name == "api_key" else f"the {provider.lower()} API key"
    key = _one_line(read_key(f"Paste {title} (it will not be shown): "), setting.name)
    return replace(_write(path, setting, key, target), provider=provider.lower())


def forget_key(provider: str, *, profile: str | None = None, global_profile: str | None = None,
               path: Path | None = None) -> SettingChange:
    """A provider's key (or the gateway's virtual key) removed from the config file."""
    setting = key_setting(provider)
    change = _write(path or config_path(), setting, None, write_profile(profile, global_profile))
    return replace(change, provider=provider.lower())


def key_setting(provider: str) -> Setting:
    """The setting that holds ``provider``'s key: the one secret setting of its spec."""
    from bifrost_cli.providers import registry

    name = provider.lower()
    if name == GATEWAY:
        return next(s for s in settings_table() if s.name == "api_key")
    spec = registry.get(_check_provider(name, extra=(GATEWAY,)))
    secrets = [s for s in spec.settings if s.secret]
    if not secrets:
        env = ", ".join(spec.secret_env) or "its libraries' own"
        raise UsageError(
            f"{spec.title} takes no API key of its own: it uses its standard credentials ({env})",
            hint="Set them up with the provider's own tools (for AWS: `aws configure` or AWS_PROFILE)"
            + (f"; its settings ({', '.join(s.name for s in spec.settings)}) go in with `bifrost config set`." if spec.settings else "."),
        )
    if len(secrets) > 1:
        names = ", ".join(s.name for s in secrets)
        raise UsageError(f"{spec.title} has several keys ({names})", hint="Use `bifrost config set NAME VALUE`.")
    return secrets[0]


def find_setting(name: str) -> Setting:
    """The setting called ``name`` as the config file spells it; a clear error with the closest
    names and the list otherwise."""
    table = settings_table()
    for setting in table:
        if setting.name == name:
            return setting
    names = [s.name for s in table]
    raise UsageError(f"unknown setting {name!r}", hint=_did_you_mean(name.lower().replace("-", "_"), names, "Settings"))


def _check_provider(name: str, extra: tuple[str, ...] = ()) -> str:
    from bifrost_cli.providers import registry

    lowered = name.lower()
    if lowered in registry.names():
        return lowered
    raise UsageError(f"unknown provider {name!r}", hint=_did_you_mean(lowered, [*registry.names(), *extra], "Providers"))


def _did_you_mean(word: str, choices: list[str], what: str) -> str:
    import difflib

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close and close[0] == word:  # only the spelling differed (``max-retries``)
        return f"Did you mean {close[0]}?"
    lead = f"Did you mean {close[0]}? " if close else ""
    return f"{lead}{what}: {', '.join(choices)}."


def _one_line(text: str, name: str) -> str:
    """A key as read: one line, surrounding spaces and the line break taken off."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise UsageError(f"no key was given for {name}; nothing was written",
                         hint="Type or paste the key at the prompt, or pipe it: `echo \"$KEY\" | bifrost auth set PROVIDER`.")
    if len(lines) > 1:
        raise UsageError(f"the input for {name} has {len(lines)} lines, a key has one; nothing was written",
                         hint="Pipe only the key.")
    if any(ch.isspace() or not ch.isprintable() for ch in lines[0]):
        raise UsageError(f"the key for {name} holds spaces or control characters; nothing was written")
    return lines[0]


def _write(path: Path, setting: Setting, value: SettingValue, profile: str | None) -> SettingChange:
    from bifrost_cli import tomledit
    from bifrost_cli.ledger import private_dirs
    from bifrost_cli.service.writing import write_atomically

    real = Path(os.path.realpath(path))
    table = ("profiles", profile) if profile else ()
    try:
        text = real.read_text(encoding="utf-8") if real.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"{path}: cannot read the config file: {reason}") from None
    try:
        if value is None:
            new_text, found = tomledit.unset_key(text, table, setting.name)
        else:
            new_text, found = tomledit.set_key(text, table, setting.name, value), True
    except tomledit.EditError as exc:
        raise UsageError(f"{path}: cannot change {setting.name}: {exc}; nothing was written",
                         hint="Edit the file by hand (`bifrost config path` prints where it is).") from None
    action: Literal["set", "unset", "not set"] = "set" if value is not None else "unset" if found else "not set"
    shadowed_by = next((env for env in setting.env if os.environ.get(env)), None) if value is not None else None
    change = SettingChange(path, setting.name, profile, action, value, setting.secret, shadowed_by=shadowed_by)
    if action == "not set":
        return change
    created = not real.exists()
    old_mode = 0o600 if created else stat.S_IMODE(real.stat().st_mode)
    mode = 0o600 if setting.secret and value is not None else old_mode
    try:
        private_dirs(real.parent)
    except OSError as exc:
        raise UsageError(f"cannot create {real.parent}: {exc.strerror or exc}") from None
    write_atomically(real, [new_text.encode("utf-8")], mode=mode, hint="Check the permissions of the config file and its directory.")
    return replace(change, created=created, made_private=not created and mode != old_mode)
