"""``bifrost config ...``"""

from typing import Annotated

import typer

from bifrost_cli.cli._common import JsonOpt, examples, handle_errors, make_group, output, state

config_app = make_group("Show the settings, change them in the config file, say where it lives.")

ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        help="Write into [profiles.NAME] (made when missing); the same as the global --profile "
        "[env BIFROST_PROFILE]; neither: the top level.",
        show_default=False,
    ),
]


def _setting_names(incomplete: str) -> list[str]:
    from bifrost_cli.config import settings_table

    return [s.name for s in settings_table() if s.name.startswith(incomplete)]


KeyArg = Annotated[
    str,
    typer.Argument(
        metavar="KEY",
        help="A setting, as the config file spells it (base_url, provider, max_retries...; `bifrost config show` lists them).",
        autocompletion=_setting_names,
        show_default=False,
    ),
]


@config_app.command("show", short_help="Show every setting, its value and where it came from.", epilog=examples("bifrost config show", "bifrost --profile ci config show --json"))
@handle_errors
def show(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Show every setting, its value (secrets redacted) and where it came from."""
    out = output(json_)
    out.settings(state(ctx).settings())


@config_app.command(
    "set",
    short_help="Set KEY to VALUE in the config file, keeping its comments.",
    epilog=examples(
        "bifrost config set base_url http://localhost:8080",
        "bifrost config set emulator true --profile ci",
        "bifrost config set max_retries 5",
    ),
)
@handle_errors
def set_(
    ctx: typer.Context,
    key: KeyArg,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="Its value, checked as when it is read.", show_default=False)],
    profile: ProfileOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Set KEY to VALUE in the config file, keeping its comments and other keys (nothing is written if VALUE is bad)."""
    from bifrost_cli.service.settings import set_setting

    output(json_).setting_changed(set_setting(key, value, profile=profile, global_profile=state(ctx).profile))


@config_app.command(
    "unset",
    short_help="Remove KEY from the config file, so that its default applies.",
    epilog=examples("bifrost config unset base_url", "bifrost config unset emulator --profile ci")
)
@handle_errors
def unset(ctx: typer.Context, key: KeyArg, profile: ProfileOpt = None, json_: JsonOpt = False) -> None:
    """Remove KEY from the config file (the top level, or a profile), so that its default or the level above applies."""
    from bifrost_cli.service.settings import unset_setting

    output(json_).setting_changed(unset_setting(key, profile=profile, global_profile=state(ctx).profile))


@config_app.command("path", epilog=examples("bifrost config path", "$EDITOR \"$(bifrost config path)\""))
@handle_errors
def path(ctx: typer.Context) -> None:
    """Print the config file's path (it need not exist yet)."""
    from bifrost_cli.config import config_path

    output().path(config_path())
