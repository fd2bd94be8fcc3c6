"""Shared pieces of the Typer apps: group factory, option aliases, per-invocation state, and the
wrapper that turns our errors into messages and exit codes."""


import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import typer

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
F = TypeVar("F", bound=Callable[..., Any])


def make_group(help: str) -> typer.Typer:
    from bifrost_cli.cli._coercion import App, FastGroup

    return App(
        help=help,
        cls=FastGroup,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings=CONTEXT,
        pretty_exceptions_enable=False,
        add_completion=False,
    )


def examples(*lines: str) -> str:
    """An epilog of examples, kept verbatim by the help formatter."""
    return "Examples:\n\n\b\n" + "\n".join("  " + line for line in lines)


# Shell completion of the options whose values are a closed set (typer ``autocompletion``): the
# values offered are the ones the program accepts, from where it keeps them; a value typed anyway
# is checked as before (same error, same did-you-mean).


def complete_provider(incomplete: str) -> list[str]:
    """``-p/--provider``: the registered providers."""
    from bifrost_cli.providers import registry

    return [name for name in registry.names() if name.startswith(incomplete)]


def complete_input_format(incomplete: str) -> list[str]:
    """``--input-format``: auto, anthropic and each provider's native format."""
    from bifrost_cli.inputs import format_names

    return [name for name in format_names() if name.startswith(incomplete)]


def complete_status(incomplete: str) -> list[str]:
    """``batches list --status``: the status words, also after a comma (``running,can``)."""
    from bifrost_cli.service.filters import STATUS_WORDS

    done, _, word = incomplete.rpartition(",")
    prefix = done + "," if done else ""
    return [prefix + name for name in STATUS_WORDS if name.startswith(word)]


def complete_result_format(incomplete: str) -> list[str]:
    """``batches results --format``: auto, jsonl, table."""
    from bifrost_cli.service.join import FORMATS

    return [name for name in FORMATS if name.startswith(incomplete)]


FILE_PURPOSES = ("batch", "batch_output")
"""The purposes of the files batches use: what ``files upload`` sends by default and what a batch
writes (OpenAI and the gateway keep a purpose; others accept any value)."""


def complete_purpose(incomplete: str) -> list[str]:
    """``--purpose``: the purposes of batch files."""
    return [name for name in FILE_PURPOSES if name.startswith(incomplete)]


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only ids, one per line.")]
LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, metavar="N", help="List at most this many.")]
AllOpt = Annotated[bool, typer.Option("--all", help="List everything (follow every page).")]
PollOpt = Annotated[float, typer.Option("--poll", min=0.1, metavar="SECONDS", help="Seconds between status checks.")]
TimeoutOpt = Annotated[
    float | None, typer.Option("--timeout", min=0, metavar="SECONDS", help="Give up waiting after this many seconds (exit 6).")
]

MaxPollErrorsOpt = Annotated[
    int,
    typer.Option(
        "--max-poll-errors",
        min=0,
        metavar="N",
        help="Give up (exit 6) when a batch's status check fails this many times in a row "
        "for a passing reason (network, 5xx, 429); 0: never give up.",
    ),
]


def check_ids(value: Any) -> Any:
    """Refuse an id that is empty, '.' or '..': in a URL it would name another route."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and (not item.strip() or item in (".", "..")):
            raise typer.BadParameter(f"{item!r} is not an id")
    return value


OlderThanOpt = Annotated[
    str,
    typer.Option(
        "--older-than",
        metavar="AGE",
        help="Only what was created more than AGE ago: 30m, 12h, 7d, 2w (required: no prune of everything).",
        show_default=False,
    ),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Only show what would be deleted.")]
YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", help="Delete without asking (required when not on a terminal, e.g. in CI).")
]

AllowErrorsOpt = Annotated[
    bool, typer.Option("--allow-errors", help="Exit 0 even when requests errored or the batch did not complete.")
]


@dataclass
class State:
    """What the root callback gathered; settings and the target are built on first use."""

    flags: dict[str, Any] = field(default_factory=dict)
    profile: str | None = None
    verbose: bool = False
    _settings: Any = None
    _target: Any = None
    _ledger: Any = None

    def suggest_with_options(self) -> None:
        """Suggested commands (:mod:`bifrost_cli.hints`) repeat this run's target options."""
        from bifrost_cli import hints

        hints.use(hints.Invocation.from_flags(self.flags, profile=self.profile))

    def settings(self) -> Any:
        if self._settings is None:
            from bifrost_cli.config import resolve

            self.suggest_with_options()  # the options as they stand once parsed; close() forgets them

            self._settings = resolve(self.flags, profile=self.profile)
            if self._settings.warnings:
                from bifrost_cli.output import Output

                for warning in self._settings.warnings:
                    Output().warning(warning)
        return self._settings

    def ledger(self) -> Any:
        """The local ledger (``BIFROST_LEDGER``), or None when it is off; closed with the state."""
        if self._ledger is None:
            from bifrost_cli.ledger import open_ledger

            self._ledger = open_ledger(self.settings().ledger) or False
        return self._ledger or None

    def target(self, out: Any) -> Any:
        if self._target is None:
            from bifrost_cli.providers import build_target

            from bifrost_cli.output import Output

            self._target = build_target(
                self.settings(), log=out.log if self.verbose else None, warn=Output().warning
            )
            if self.verbose:
                from bifrost_cli.config import redact_url

                out.log(f"target: {redact_url(self._target.describe())}")
        return self._target

    def close(self) -> None:
        from bifrost_cli import hints

        hints.use(hints.Invocation())  # the run is over (in-process runs share the module)
        if self._target is not None:
            self._target.close()
        if self._ledger:
            self._ledger.close()


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


def list_limit(ctx: typer.Context, limit: int, all_: bool) -> int | None:
    """How many to list: ``None`` with ``--all``; both given is a usage error (before any I/O)."""
    source = ctx.get_parameter_source("limit")
    if all_ and source is not None and source.name != "DEFAULT":
        raise typer.BadParameter("use either --limit or --all, not both (--all lists everything)")
    return None if all_ else limit


def output(json_: bool = False, quiet: bool = False) -> Any:
    from bifrost_cli.output import Output

    if json_ and quiet:
        raise typer.BadParameter("use either --json or --quiet, not both")
    return Output("json" if json_ else "quiet" if quiet else "human")


def handle_errors(fn: F) -> F:
    """Run a command; print a BifrostError (and its hint) on stderr and exit with its code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from bifrost_cli.errors import BifrostError, InputError, Terminated, stop_code
        from bifrost_cli.output import Output

        # the context typer hands a command is its click Context, of which typer.Context is a subclass
        ctx = next((a for a in list(args) + list(kwargs.values()) if hasattr(a, "find_root")), None)
        try:
            return fn(*args, **kwargs)
        except BifrostError as exc:
            problems: Sequence[str] = exc.problems if isinstance(exc, InputError) else ()
            # a message may quote a server (an id, a status): never with a secret, even in part
            redact = secrets_redactor(state(ctx) if ctx is not None else None)
            hint = redact(exc.hint) if exc.hint else exc.hint
            Output().error(redact(exc.message), hint=hint, problems=[redact(p) for p in problems])
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt as stop:
            Output().error(f"stopped by {stop.name}" if isinstance(stop, Terminated) else "interrupted")
            raise typer.Exit(int(stop_code(stop))) from None
        finally:
            if ctx is not None:
                state(ctx).close()

    return wrapper  # type: ignore[return-value]


def secrets_redactor(st: State | None = None) -> Any:
    """A :class:`~bifrost_cli.http.Redactor` of every secret this run knows: the secret environment
    variables, ``--api-key``, and the resolved settings' (keys and base URL passwords)."""
    import sys

    from bifrost_cli.config import secret_env_names
    from bifrost_cli.http import Redactor

    secrets = [os.environ.get(n) for n in secret_env_names()]
    argv = sys.argv
    for i, arg in enumerate(argv):
        if arg == "--api-key" and i + 1 < len(argv):
            secrets.append(argv[i + 1])
        elif arg.startswith("--api-key="):
            secrets.append(arg.split("=", 1)[1])
    if st is not None:
        secrets.append(st.flags.get("api_key"))
        if st._settings is not None:
            secrets.extend(st._settings.secrets())
    return Redactor(secrets)


def debug_enabled() -> bool:
    return os.environ.get("BIFROST_DEBUG", "").lower() in ("1", "true", "yes")



def prune_consent(out: Any, yes: bool) -> Any:
    """A prune's :class:`~bifrost_cli.service.Consent`: --yes, or asking on a terminal (the plan on
    stderr, then y/N); without a terminal on stdin the service refuses before any I/O."""
    import sys

    from bifrost_cli.service.prune import Consent

    try:
        interactive = sys.stdin.isatty() and not yes
    except (AttributeError, ValueError):
        interactive = False

    def ask(report: Any) -> bool:
        out.prune_plan(report)
        n = len(report.items)
        question = f"Delete this {report.kind}?" if n == 1 else f"Delete these {n} {'batches' if report.kind == 'batch' else 'files'}?"
        return bool(out.confirm(question))

    return Consent(yes=yes, interactive=interactive, ask=ask)
