"""What a provider is, as cheap data: the one description every table in the program derives from.

Each provider package (``bifrost_cli/providers/<name>/__init__.py``) defines a :class:`ProviderSpec`
and imports nothing heavy. From the specs come the settings and their environment variables
(:mod:`bifrost_cli.config`), the global options, the secrets redacted from messages and logs, the
headers hidden in the ``-v`` log, native input detection (:mod:`bifrost_cli.inputs`), the emulator's
banner and what the tests clear from the environment. The adapters themselves are named by
``"module:function"`` references and imported only when a command needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["direct", "gateway", "emulator"]
"""How a target is reached: the provider's own API, a running gateway, or the in-process emulator."""

SettingValue = str | int | float | bool | None

RefusalProof = Callable[[Mapping[str, str], object], bool]
"""Whether an error answer (its headers, looked up with lower-case names, and its JSON body) is
the provider's own refusal: proof that a request which creates something was not acted on, so
that the one retry policy may send it again. Only 429/503/529 answers are asked."""


def has_text(mapping: object, *keys: str) -> bool:
    """Whether ``mapping`` is a dict whose ``keys`` are all non-empty strings."""
    return isinstance(mapping, dict) and all(isinstance(mapping.get(k), str) and mapping.get(k) for k in keys)

OPERATIONS = (
    "files.upload",
    "files.list",
    "files.get",
    "files.delete",
    "files.download",
    "batches.create",
    "batches.list",
    "batches.get",
    "batches.cancel",
    "batches.delete",
    "batches.results",
)
EXPIRES_AFTER = "files.upload --expires-after"
"""An option some targets cannot honour, named like an operation in the ``unsupported`` tables."""
METADATA = "batches.create --metadata"
TIMEOUT_HOURS = "batches.create --timeout-hours"


@dataclass(frozen=True)
class Setting:
    """One setting: flag > environment > profile in ``config.toml`` > default."""

    name: str
    env: tuple[str, ...]
    kind: type = str
    default: SettingValue = None
    secret: bool = False
    help: str = ""
    flag: str | None = None
    """A global option (``--region``) that sets it; the option's help is ``help``."""
    default_from: str | None = None
    """``"module:function"`` giving the default when it is worked out at run time (a path in the
    user's data dir): shown by ``config show``, the value itself staying unset."""

    @property
    def is_url(self) -> bool:
        """A URL whose password (``scheme://user:password@host``) is a secret too."""
        return self.name.endswith("base_url")


@dataclass(frozen=True)
class NativeInput:
    """How a provider's own batch input lines are recognised and read.

    ``key``: a top-level key only this format's lines have (``"body"`` for OpenAI); ``module``: the
    module whose ``INPUT_FORMAT`` checks and reads them, imported only when such an input is read.
    """

    key: str
    module: str


@dataclass(frozen=True)
class ProviderSpec:
    """Everything the rest of the program needs to know of a provider before talking to it."""

    name: str
    title: str
    settings: tuple[Setting, ...] = ()
    secret_headers: frozenset[str] = frozenset()
    """Request headers that carry a credential (shown as ``***`` in the ``-v`` log)."""
    secret_env: tuple[str, ...] = ()
    """Environment variables read by the provider's libraries (not settings) that hold secrets."""
    other_env: tuple[str, ...] = ()
    """Further environment variables the adapter or its libraries read (tests clear them)."""
    native_input: NativeInput | None = None
    direct: str | None = None
    """``"module:function"``: ``function(settings, **http_kwargs) -> Target`` for the provider's API."""
    gateway: str | None = None
    """``"module:function"``: ``function(base_url, provider, key, *, trusted, settings, **http_kwargs)``;
    ``None``: through the gateway's Anthropic-compatible route."""
    unsupported: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """By mode (``direct``, ``gateway``, ``emulator``): operation -> what to do instead. The emulator
    inherits the gateway's entries unless it has its own."""
    refusal_proof: RefusalProof | None = None
    """What proves a 429/503/529 of the provider's own API is its refusal (see :data:`RefusalProof`);
    ``None``: nothing does, a create is never sent twice on an error status. Not used through a
    gateway, whose answers prove nothing of what the provider behind it did."""
    batch_checks: str | None = None
    """The module whose ``check_options(options, settings, mode)`` and ``check_requests(requests,
    options, settings, mode)`` raise what a ``batches create`` of this provider refuses before
    sending, with no I/O and no credentials (``check_requests`` may return notes on how it would be
    sent): ``batches validate`` and ``create --dry-run`` run them, and the adapters call the same
    functions. ``None``: nothing beyond the input's own checks."""
    emulator_surface: str | None = None
    """The banner line of ``bifrost emulator serve`` for this provider's own API (``{url}`` is filled)."""
    id_shapes: Mapping[str, str] = field(default_factory=dict)
    """``batch`` and ``file``: a regular expression every id of that kind has at this provider,
    directly and through the gateway (ids shaped otherwise may still be valid here: another
    provider's shape is only recognised where this provider's does not match too)."""

    def unsupported_in(self, mode: Mode) -> dict[str, str]:
        if mode == "emulator" and "emulator" in self.unsupported:
            return dict(self.unsupported["emulator"])
        return dict(self.unsupported.get("gateway" if mode == "emulator" else mode, {}))

    @property
    def env_names(self) -> tuple[str, ...]:
        """Every environment variable this provider reads: its settings', then the rest."""
        names = [env for s in self.settings for env in s.env]
        return tuple(dict.fromkeys([*names, *self.secret_env, *self.other_env]))
