"""``bifrost config ...``"""


import typer

from bifrost_cli.cli._common import JsonOpt, examples, handle_errors, make_group, output, state

config_app = make_group("Show the resolved settings and where the config file lives.")


@config_app.command("show", short_help="Show every setting, its value and where it came from.", epilog=examples("bifrost config show", "bifrost --profile ci config show --json"))
@handle_errors
def show(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Show every setting, its value (secrets redacted) and where it came from."""
    out = output(json_)
    out.settings(state(ctx).settings())


@config_app.command("path", epilog=examples("bifrost config path", "$EDITOR \"$(bifrost config path)\""))
@handle_errors
def path(ctx: typer.Context) -> None:
    """Print the config file's path (it need not exist yet)."""
    from bifrost_cli.config import config_path

    output().path(config_path())
