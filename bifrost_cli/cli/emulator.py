"""``bifrost emulator ...``"""


from pathlib import Path
from typing import Annotated

import typer

from bifrost_cli.cli._common import examples, handle_errors, make_group

emulator_app = make_group("Run the built-in emulator of the providers' and the gateway's APIs.")


@emulator_app.command(
    "serve",
    short_help="Serve the emulator over HTTP: the gateway's and providers' routes.",
    epilog=examples(
        "bifrost emulator serve --port 8080",
        "bifrost --base-url http://127.0.0.1:8080 batches list",
        "ANTHROPIC_BASE_URL=http://127.0.0.1:8080/native/anthropic ANTHROPIC_API_KEY=test bifrost batches list",
    ),
)
@handle_errors
def serve(
    host: Annotated[str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, metavar="PORT", help="Port (0 picks a free one).")] = 8080,
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", metavar="PATH", help="Where files and batches are kept (default: the user data dir; BIFROST_EMULATOR_STATE_DIR)."),
    ] = None,
    batch_seconds: Annotated[
        float | None, typer.Option("--batch-seconds", min=0.0, metavar="SECONDS", help="A batch ends about this long after it was created (default 8).")
    ] = None,
    virtual_key: Annotated[
        str | None, typer.Option("--virtual-key", metavar="KEY", help="Require this key on the gateway routes (default: any).")
    ] = None,
    flaky_every: Annotated[
        int | None, typer.Option("--flaky-every", min=0, help="Answer every Nth request with 503, to try retries.")
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option("--fault", metavar="RULE", help="Arm a fault rule, e.g. batches.create:status=503x2 or "
                     "files.download:reset=50% (repeatable; replaces BIFROST_EMULATOR_FAULTS; see README "
                     "'Fault injection')."),
    ] = None,
    legacy_gateway: Annotated[
        bool, typer.Option("--legacy-gateway", help="Behave as older gateways do: the file-route bugs before PR #6765; Bedrock job lists without names or filters, job get without name and message, timeoutDurationInHours dropped; the /openai upload ignoring expires_after.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not log requests.")] = False,
) -> None:
    """Serve the emulator over HTTP: the gateway's routes at the root, each provider's own API under
    /native/PROVIDER. State persists, so separate commands see the same files and batches."""
    from bifrost_cli import service
    from bifrost_cli.output import Output

    out = Output()
    service.serve_emulator(
        host=host,
        port=port,
        state_dir=state_dir,
        batch_seconds=batch_seconds,
        virtual_key=virtual_key,
        flaky_every=flaky_every,
        faults=fault,
        legacy_gateway=legacy_gateway,
        on_ready=out.emulator_banner,
        log=None if quiet else out.log,
    )
