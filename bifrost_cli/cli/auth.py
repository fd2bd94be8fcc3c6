"""``bifrost auth ...``"""

from typing import Annotated

import typer

from bifrost_cli.cli._common import JsonOpt, examples, handle_errors, make_group, output, state
from bifrost_cli.cli.config import ProfileOpt

auth_app = make_group("Save an API key in the config file (never shown), or remove it.")


def _key_holders(incomplete: str) -> list[str]:
    from bifrost_cli.providers import registry
    from bifrost_cli.service.settings import GATEWAY

    return [name for name in (*registry.names(), GATEWAY) if name.startswith(incomplete)]


ProviderArg = Annotated[
    str,
    typer.Argument(
        metavar="PROVIDER",
        help="Whose key: a provider (anthropic, openai, gemini), or gateway for the gateway's virtual key.",
        autocompletion=_key_holders,
        show_default=False,
    ),
]


@auth_app.command(
    "set",
    epilog=examples(
        "bifrost auth set openai                      # asks for the key, without echo",
        'echo "$OPENAI_API_KEY" | bifrost auth set openai',
        "bifrost auth set gateway --profile prod      # the gateway's virtual key",
    ),
)
@handle_errors
def set_(
    ctx: typer.Context,
    provider: ProviderArg,
    profile: ProfileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Save PROVIDER's API key in the config file (mode 0600): asked for on a terminal, else read from stdin."""
    from bifrost_cli.service.settings import save_key

    out = output(json_)
    out.setting_changed(save_key(provider, out.secret, profile=profile, global_profile=state(ctx).profile))


@auth_app.command("unset", epilog=examples("bifrost auth unset openai", "bifrost auth unset gateway --profile prod"))
@handle_errors
def unset(ctx: typer.Context, provider: ProviderArg, profile: ProfileOpt = None, json_: JsonOpt = False) -> None:
    """Remove PROVIDER's API key from the config file (the top level, or a profile)."""
    from bifrost_cli.service.settings import forget_key

    output(json_).setting_changed(forget_key(provider, profile=profile, global_profile=state(ctx).profile))
