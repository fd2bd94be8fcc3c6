"""Commands suggested to the user (in errors, hints, warnings and notes), ready to paste.

A suggested command is ``bifrost``, then the target options this run was given on its command line
(``--base-url URL``, ``-p NAME``, ``--emulator``, ``--profile P``, ``--allow-insecure-http`` and the
provider options such as ``--region``), then the command: run as printed, it reaches the same target.
Options that came from the environment or the config file are not repeated (they are still in effect
where the user pastes); a secret never is (``--api-key``), and a base URL loses its password.

The CLI's root callback sets the run's :class:`Invocation` once (:func:`use`); everything that
suggests a command calls :func:`suggest` (or :func:`expand` for a fixed text).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Invocation:
    """The target options of one run, as given on its command line: ``(option, value)`` pairs,
    ``None`` for a switch. ``provider``: the ``-p`` given, kept apart so a hint may name another;
    ``owners``: the provider each provider setting's flag belongs to (left out when a hint names another)."""

    options: tuple[tuple[str, str | None], ...] = ()
    provider: str | None = None
    owners: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_flags(
        cls, flags: Mapping[str, object], *, profile: str | None = None
    ) -> Invocation:
        """From the root callback's flags (``None``: not given)."""
        from bifrost_cli.config import redact_url
        from bifrost_cli.providers import registry

        options: list[tuple[str, str | None]] = []
        if profile:
            options.append(("--profile", profile))
        base_url = flags.get("base_url")
        if base_url:
            options.append(("--base-url", redact_url(str(base_url))))
        emulator = flags.get("emulator")
        if emulator is not None:
            options.append(("--emulator" if emulator else "--no-emulator", None))
        if flags.get("allow_insecure_http"):
            options.append(("--allow-insecure-http", None))
        owners: dict[str, str] = {}
        for spec in registry.specs():  # --region...: never a secret
            for setting in spec.settings:
                value = flags.get(setting.name)
                if setting.flag and not setting.secret and value is not None:
                    options.append((setting.flag, str(value)))
                    owners[setting.flag] = spec.name
        provider = flags.get("provider")
        return cls(tuple(options), str(provider) if provider else None, owners)

    def prefix(self, *, provider: str | None = None, adding: str | None = None) -> str:
        """``bifrost`` and the options; ``provider`` replaces the ``-p`` given (if any); ``adding``:
        a switch to add (``--emulator``), in place of the one given with it (``--no-emulator``)."""
        words = ["bifrost"]
        for option, value in self.options:
            if adding and option.replace("--no-", "--") == adding.replace("--no-", "--"):
                continue
            if provider and self.owners.get(option, provider) != provider:
                continue  # another provider's setting (--s3-uri when the hint names -p anthropic)
            words.append(option if value is None else f"{option} {shlex.quote(value)}")
        if adding:
            words.append(adding)
        chosen = provider or self.provider
        if chosen:
            words.append(f"-p {shlex.quote(chosen)}")
        return " ".join(words)

    def command(self, words: str, *args: str, provider: str | None = None, adding: str | None = None) -> str:
        """``bifrost OPTIONS WORDS ARGS``: ``words`` as written (``batches wait``, ``--split``),
        each of ``args`` quoted for a POSIX shell (ids, paths; ``ID`` stays as is)."""
        tail = " ".join([words, *(shlex.quote(a) for a in args)]).strip()
        return f"{self.prefix(provider=provider, adding=adding)} {tail}".rstrip()


_current = Invocation()


def use(invocation: Invocation) -> None:
    """Set the run's invocation (the CLI's root callback does, once a run)."""
    global _current
    _current = invocation


def current() -> Invocation:
    return _current


def suggest(words: str, *args: str, provider: str | None = None, adding: str | None = None) -> str:
    """The command to paste: ``suggest("batches wait", batch_id)`` gives ``bifrost --base-url URL
    -p gemini batches wait ID`` when the run was given those options (see :class:`Invocation`)."""
    return _current.command(words, *args, provider=provider, adding=adding)


_IN_TEXT = re.compile(r"`bifrost (?=[a-z-])(?!emulator )")  # the emulator's own commands have no target


def expand(text: str) -> str:
    """A fixed text (a table's, a constant's) with every backticked ```bifrost ...``` command
    given the run's options."""
    prefix = _current.prefix()
    return _IN_TEXT.sub(lambda _: f"`{prefix} ", text) if prefix != "bifrost" else text

