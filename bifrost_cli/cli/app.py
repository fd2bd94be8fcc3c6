"""The ``bifrost`` command: assembly of the command groups, global options and ``main()``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer

from bifrost_cli.cli._coercion import App, FastGroup
from bifrost_cli.cli._common import CONTEXT, complete_provider, state
from bifrost_cli.cli.auth import auth_app
from bifrost_cli.cli.batches import batches_app
from bifrost_cli.cli.config import config_app
from bifrost_cli.cli.doctor import DOCTOR_EPILOG, doctor
from bifrost_cli.cli.emulator import emulator_app
from bifrost_cli.cli.files import files_app
from bifrost_cli.errors import EXIT_CODE_HELP

ROOT_EPILOG = (
    "Examples:\n\n\b\n"
    "  bifrost --emulator batches create examples/requests.jsonl --wait\n"
    "  bifrost --base-url http://localhost:8080 -p openai files list\n"
    "  ANTHROPIC_API_KEY=... bifrost batches wait msgbatch_01... --poll 5\n\n"
    "Without --base-url or --emulator, commands go straight to the provider's API.\n"
    "Global options go before or after the command: bifrost batches list -p openai.\n"
    "`python -m bifrost_cli` is the same program, whatever else is named bifrost on PATH.\n\n\b\n"
    + EXIT_CODE_HELP
)

app = App(
    cls=FastGroup,
    help="Files and batch jobs for Anthropic, OpenAI, Gemini and Bedrock, directly or through a Bifrost gateway.",
    epilog=ROOT_EPILOG,
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=CONTEXT,
    pretty_exceptions_enable=False,
    add_completion=True,
)
app.add_typer(files_app, name="files")
app.add_typer(batches_app, name="batches")
app.add_typer(config_app, name="config")
app.add_typer(auth_app, name="auth")
app.add_typer(emulator_app, name="emulator")
app.command("doctor", short_help="Check that this target can run a batch end to end.", epilog=DOCTOR_EPILOG)(doctor)


def _version(value: bool) -> None:
    if value:
        from bifrost_cli import __version__

        typer.echo(f"bifrost-cli {__version__}")
        raise typer.Exit()


def root(
    ctx: typer.Context,
    base_url: Annotated[
        str | None, typer.Option("--base-url", metavar="URL", help="A running Bifrost gateway, e.g. http://localhost:8080 [env BIFROST_BASE_URL].", show_default=False)
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option("--provider", "-p", metavar="NAME", autocompletion=complete_provider, help=f"{_provider_names()} [env BIFROST_PROVIDER; default anthropic].", show_default=False),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", metavar="KEY", help="The gateway's virtual key [env BIFROST_VIRTUAL_KEY].", show_default=False)
    ] = None,
    emulator: Annotated[
        bool | None, typer.Option("--emulator/--no-emulator", help="Use the built-in emulator, in-process [env BIFROST_EMULATOR=1].", show_default=False)
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", metavar="NAME", help="A [profiles.NAME] table of the config file [env BIFROST_PROFILE].", show_default=False)
    ] = None,
    max_retries: Annotated[
        int | None, typer.Option("--max-retries", min=0, metavar="N", help="Retries of a failed request [env BIFROST_MAX_RETRIES; default 2].", show_default=False)
    ] = None,
    allow_insecure_http: Annotated[
        bool,
        typer.Option(
            "--allow-insecure-http",
            help="Send credentials over plain http:// to a host that is not loopback (a gateway in a private "
            "network), with a warning [env BIFROST_ALLOW_INSECURE_HTTP=1].",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each HTTP request on stderr (secrets redacted).")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    **provider_flags: str | None,
) -> None:
    """Files and batch jobs for Anthropic, OpenAI, Gemini and Bedrock, directly or through a Bifrost gateway."""
    st = state(ctx)
    st.flags = {
        "base_url": base_url,
        "provider": provider,
        "api_key": api_key,
        "emulator": emulator,
        "max_retries": max_retries,
        "allow_insecure_http": True if allow_insecure_http else None,
        **provider_flags,
    }
    st.profile = profile
    st.verbose = verbose


def _provider_names() -> str:
    from bifrost_cli.providers import registry

    *rest, last = registry.names()
    return f"{', '.join(rest)} or {last}" if rest else last


def _with_provider_flags(fn: Callable[..., None]) -> Callable[..., None]:
    """``fn`` with a global option for each provider setting that has one (``--region``...), taken
    from the providers' specs and placed before ``--verbose``."""
    import inspect

    from bifrost_cli.providers import registry

    signature = inspect.signature(fn, eval_str=True)
    params = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    extra = [
        inspect.Parameter(
            s.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                str | None,
                typer.Option(
                    s.flag, metavar=s.name.rsplit("_", 1)[-1].upper(), help=f"{s.help} [env {s.env[0]}].", show_default=False
                ),
            ],
        )
        for s in registry.provider_settings()
        if s.flag
    ]
    at = next(i for i, p in enumerate(params) if p.name == "verbose")
    params = [*params[:at], *(p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in extra), *params[at:]]
    fn.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    fn.__annotations__ = {**{p.name: p.annotation for p in params}, "return": None}
    return fn


app.callback()(_with_provider_flags(root))


def main(prog_name: str | None = None) -> None:
    """Console-script entry point: runs the app; an unexpected failure never shows secrets."""
    import os

    # Startup time: pydantic would scan every installed package's entry points for plugins, and
    # this program uses none (set PYDANTIC_DISABLE_PLUGINS yourself to change that).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _exit_cleanly_on_termination()
    try:
        app(prog_name=prog_name)
    except SystemExit:
        if _stopped_by:  # whatever ran when the signal came (even outside a command), its code
            sys.exit(128 + _stopped_by[0])
        if _reader_went_away():
            sys.exit(0)  # `bifrost ... | head -1`: the reader had enough; that is not a failure
        raise
    except KeyboardInterrupt:
        sys.exit(128 + _stopped_by[0] if _stopped_by else 130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        from bifrost_cli.cli._common import debug_enabled
        from bifrost_cli.output import Output

        if debug_enabled():
            import traceback

            # the frames line by line (the program's own code); the exception's text on one line
            # (it may hold a server's text: its line breaks are shown escaped, never as lines)
            trace = traceback.TracebackException.from_exception(exc)
            frames = "".join(trace.stack.format()).rstrip("\n").split("\n")
            for line in ["Traceback (most recent call last):", *frames]:
                Output().log(_redact_env(line))
            Output().log(_redact_env("".join(trace.format_exception_only()).rstrip("\n")))
        # Only the kind of failure and where: an exception's text may hold server data or a secret.
        Output().error(
            f"internal error: {type(exc).__name__} at {_where(exc)}",
            hint="This is a bug in bifrost-cli; set BIFROST_DEBUG=1 for the traceback and report it.",
        )
        sys.exit(1)


_stopped_by: list[int] = []  # the signal that stopped the program, if any


def _reader_went_away() -> bool:
    """Whether the program stopped because stdout's reader closed the pipe: click then exits 1
    after wrapping stdout so that nothing more is written to it."""
    return type(sys.stdout).__name__ == "PacifyFlushWrapper"  # click's, or the copy typer carries


def _exit_cleanly_on_termination() -> None:
    """SIGTERM (``timeout``, a CI job canceled) and SIGHUP (the terminal closed) unwind the program
    like Ctrl-C does (:class:`~bifrost_cli.errors.Terminated` is a KeyboardInterrupt): a half-written
    ``-o PATH.part`` is removed, a wait says it stopped and how to resume; then exit 128 + the signal."""
    import signal

    from bifrost_cli.errors import Terminated

    def stop(signum: int, frame: object) -> None:
        signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once
        _stopped_by.append(signum)
        raise Terminated(signum, signal.Signals(signum).name)

    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, stop)


def _where(exc: BaseException) -> str:
    """``module.py:LINE`` of the innermost frame of the program's own code in the traceback."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if "bifrost_cli" in f.filename] or frames
    if not own:
        return "an unknown place"
    frame = own[-1]
    parts = frame.filename.replace("\\", "/").split("/")
    path = "/".join(parts[parts.index("bifrost_cli") :]) if "bifrost_cli" in parts else parts[-1]
    return f"{path}:{frame.lineno}"


def _redact_env(text: str) -> str:
    from bifrost_cli.cli._common import secrets_redactor

    return str(secrets_redactor()(text))
