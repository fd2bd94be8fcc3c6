"""Help that reads like a manual: the text of every ``--help``, built from the commands' parameters.

- Values are named for what they are (``URL``, ``PATH...``, ``ID...``, ``SECONDS``, ``N``), never by
  a Python type (``<str>``, ``<list[str]>``); ranges in words (``at least 1``, ``24 to 168``).
- Every command lists its own options, then the **Global options** (the root's, which may come
  before or after the command, see :mod:`bifrost_cli.cli._globals`), then the **Environment** it
  reads, derived from the settings (:data:`bifrost_cli.config.CORE_SETTINGS`...) and the providers'
  specs, never kept by hand.
- A command's one-line summary (in its group's command list, and in shell completion) is its
  ``short_help`` or its help's first sentence, never cut with "...".

Imported only to show help (or complete a command's name): nothing here runs on a plain command.
"""

from __future__ import annotations

import re
from typing import Any

# Environment variables the program reads that are not settings (``bifrost config show`` lists those).
PROFILE_ENV = ("BIFROST_PROFILE", "BIFROST_CONFIG_DIR")
OUTPUT_ENV = ("NO_COLOR", "FORCE_COLOR", "BIFROST_DEBUG")  # FORCE_COLOR: read by Rich
TLS_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR", "SSLKEYLOGFILE")


def summary(command: Any) -> str:
    """The one-line summary of a command or group: its ``short_help``, else its help's first
    sentence; never truncated."""
    if command.short_help:
        return str(command.short_help).strip()
    text = (command.help or "").strip()
    paragraph = text.split("\n\n", 1)[0]
    paragraph = " ".join(paragraph.split())
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z`])", paragraph, maxsplit=1)[0]
    return first


def _number(value: float) -> str:
    return f"{value:g}"


def range_words(param: Any) -> str | None:
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None and high is not None:
        return f"{_number(low)} to {_number(high)}"
    if low is not None:
        return f"at least {_number(low)}" if low else None  # not negative: a count or a duration
    if high is not None:
        return f"at most {_number(high)}"
    return None


_TYPE_NAMES = {int: "N", float: "NUMBER"}


def value_name(param: Any) -> str:
    """What an option's value or an argument is called (``ID``, ``PATH``), without ``...``."""
    metavar = getattr(param, "metavar", None)
    if metavar:
        return str(metavar).removesuffix("...")
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if getattr(descriptor, "is_path", False):
        return "PATH"
    if annotation in _TYPE_NAMES:
        return _TYPE_NAMES[annotation]
    return str(param.name or "value").upper()


def _many(param: Any) -> bool:
    return bool(param.nargs != 1 and param.param_type_name == "argument")


def usage_piece(param: Any) -> str:
    """An argument in the usage line: ``ID``, ``ID...``, ``[PATH]...``."""
    name = value_name(param)
    if not param.required:
        name = f"[{name}]"
    return name + ("..." if _many(param) else "")


def _takes_value(param: Any) -> bool:
    return not (getattr(param, "is_flag", False) or getattr(param, "count", False))


def _default(param: Any, ctx: Any) -> str | None:
    show = getattr(param, "show_default", False)
    if isinstance(show, str):
        return show
    if not show or not _takes_value(param) or param.param_type_name == "argument":
        return None
    default = param.default
    if callable(default) or default is None or default in ((), []):
        return None
    if isinstance(default, (list, tuple)):
        return ", ".join(str(d) for d in default)
    return _number(default) if isinstance(default, float) else str(default)


def record(param: Any, ctx: Any) -> tuple[str, str] | None:
    """A parameter's line in the help: (``-p, --provider NAME``, its help with default, range...)."""
    if getattr(param, "hidden", False):
        return None
    if param.param_type_name == "argument":
        name = value_name(param) + ("..." if _many(param) else "")
    else:
        names = sorted(param.opts, key=lambda o: o.startswith("--"))
        name = ", ".join(names)
        if param.secondary_opts:
            name += " / " + ", ".join(param.secondary_opts)
        if _takes_value(param):
            name += " " + value_name(param)
    extra = [
        e
        for e in (
            f"default: {_default(param, ctx)}" if _default(param, ctx) else None,
            range_words(param),
            "required" if param.required and param.param_type_name == "argument" else None,
        )
        if e
    ]
    text = (getattr(param, "help", None) or "").strip()
    if extra:
        text = f"{text}  [{'; '.join(extra)}]" if text else f"[{'; '.join(extra)}]"
    return name, text


def write_params(formatter: Any, title: str, params: list[Any], ctx: Any) -> None:
    rows = [r for r in (record(p, ctx) for p in params) if r is not None]
    if rows:
        with formatter.section(title):
            formatter.write_dl(rows)


def environment_rows() -> list[tuple[str, str]]:
    """The environment variables the program reads, by who reads them: the program's settings and
    the variables around them, then each registered provider's (from its spec)."""
    from bifrost_cli.config import CORE_SETTINGS, TAIL_SETTINGS
    from bifrost_cli.providers import registry

    own = [env for s in (*CORE_SETTINGS, *TAIL_SETTINGS) for env in s.env]
    rows = [("bifrost", ", ".join(dict.fromkeys([*own, *PROFILE_ENV])))]
    rows += [(spec.name, ", ".join(spec.env_names)) for spec in registry.specs() if spec.env_names]
    rows += [("emulator", "BIFROST_EMULATOR_* (README: The built-in emulator)")]
    rows += [("output", ", ".join(OUTPUT_ENV)), ("TLS", ", ".join(TLS_ENV))]
    return rows


def write_environment(formatter: Any) -> None:
    with formatter.section("Environment (`bifrost config show`: the settings' values and sources)"):
        formatter.write_dl(environment_rows())


def format_command_options(command: Any, ctx: Any, formatter: Any) -> None:
    """A command's (or group's) Arguments, Options, Commands, Global options and Environment."""
    from bifrost_cli.cli._globals import global_params

    params = command.get_params(ctx)
    root_ctx = ctx.find_root()
    is_root = root_ctx is ctx
    write_params(formatter, "Arguments", [p for p in params if p.param_type_name == "argument"], ctx)
    options = [p for p in params if p.param_type_name == "option"]
    write_params(formatter, "Global options" if is_root else "Options", options, ctx)
    if hasattr(command, "format_commands"):
        command.format_commands(ctx, formatter)
    if not is_root:
        write_params(formatter, "Global options", global_params(root_ctx.command, root_ctx), root_ctx)
    write_environment(formatter)
