"""``bifrost doctor``"""


from typing import Annotated

import typer

from bifrost_cli.cli._common import JsonOpt, complete_provider, examples, handle_errors, output, state

DOCTOR_EPILOG = examples(
    "bifrost doctor",
    "bifrost --base-url http://localhost:8080 doctor -p openai",
    "bifrost -p gemini doctor --json | jq .checks",
)


@handle_errors
def doctor(
    ctx: typer.Context,
    provider: Annotated[
        str | None,
        typer.Option("--provider", "-p", metavar="NAME", autocompletion=complete_provider, help="Check this provider (as the global -p does).", show_default=False),
    ] = None,
    json_: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the names of the failed checks.")] = False,
) -> None:
    """Check that the selected target can run a batch end to end: configuration (secrets never
    shown), credentials (where set, or missing), that the gateway or provider answers (one list
    call), the gateway's version, and which file and batch operations it supports.

    Exit 0 only when create, wait and results all work here; otherwise the code of the first failed
    check: 2 bad configuration, missing credentials or an operation this target cannot do,
    3 key refused, 6 gateway/provider unreachable. -q prints only the failed checks' names."""
    from bifrost_cli import service

    out = output(json_, quiet)
    st = state(ctx)
    if provider is not None:
        st.flags["provider"] = provider
    report = service.run_doctor(st.settings, lambda: st.target(out))
    out.doctor(report)
    report.verdict()
