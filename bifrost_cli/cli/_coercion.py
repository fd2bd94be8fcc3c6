"""Startup time: the plain values of plain options without pydantic.

Typer converts every parameter's value through a pydantic ``TypeAdapter`` built for it when the
command runs, even an option left at ``None``: importing pydantic and building a dozen adapters is
about a third of the startup of ``bifrost batches get ID``. :class:`FastGroup` (the class of every
command group of the app) gives each parameter a converter that answers the cases whose result is
known without pydantic (a ``str`` as it is, an ``int``/``float`` written in plain digits within its
``min``/``max``, ``None``, a list of ``str``) and hands anything else (a value out of range, ``1e3``,
a path) to the converter typer would have used, built then: the same value or the same error.

If typer changes how it converts (a private interface), nothing is installed and typer converts as
before.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import typer.core

_MISSING = object()
_INT = re.compile(r"-?[0-9]{1,18}")
_FLOAT = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?")


def plain_value(annotation: Any, parameter_info: Any, value: Any) -> Any:
    """``value`` converted for ``annotation`` when that needs no pydantic, else ``_MISSING``."""
    if getattr(parameter_info, "parser", None) is not None or getattr(parameter_info, "clamp", False):
        return _MISSING
    if annotation is str:
        return value if type(value) is str else _MISSING
    if annotation is bool:
        return value if type(value) is bool else _MISSING
    if annotation is int:
        if type(value) is str and _INT.fullmatch(value):
            value = int(value)
        if type(value) is not int:
            return _MISSING
        return value if _within(value, parameter_info) else _MISSING
    if annotation is float:
        if type(value) is str and _FLOAT.fullmatch(value):
            value = float(value)
        elif type(value) is int:
            value = float(value)
        if type(value) is not float or not math.isfinite(value):
            return _MISSING
        return value if _within(value, parameter_info) else _MISSING
    if annotation == list[str]:
        if isinstance(value, (list, tuple)) and all(type(item) is str for item in value):
            return list(value)
        return _MISSING
    if annotation is Path and type(value) is str and value and not _path_checked(parameter_info):
        return Path(value)
    return _MISSING


def _path_checked(parameter_info: Any) -> bool:
    """Whether typer would check or change a path (exists, kind, access, resolving, ``-``)."""
    checks = {"exists": False, "file_okay": True, "dir_okay": True, "writable": False,
              "resolve_path": False, "allow_dash": False, "path_type": None}
    return any(getattr(parameter_info, name, default) != default for name, default in checks.items())


def _within(value: float, parameter_info: Any) -> bool:
    low, high = getattr(parameter_info, "min", None), getattr(parameter_info, "max", None)
    return (low is None or value >= low) and (high is None or value <= high)


class PlainConverter:
    """A parameter's converter (typer's ``RuntimeParam`` interface: ``coerce``): plain values here,
    the rest by typer's own converter for the parameter, built the first time it is needed."""

    def __init__(self, descriptor: Any) -> None:
        self.descriptor = descriptor
        self.typer_converter: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multiple = param.multiple or param.nargs == -1
        if value is None:
            return () if multiple else None
        if not (multiple and isinstance(value, str)):
            converted = plain_value(self.descriptor.annotation, self.descriptor.parameter_info, value)
            if converted is not _MISSING:
                return converted
        if self.typer_converter is None:
            from typer._coercion import build_runtime_param

            self.typer_converter = build_runtime_param(self.descriptor)
        return self.typer_converter.coerce(value, param=param, ctx=ctx)


def install(params: list[Any]) -> None:
    """Give each typer parameter that has not been converted yet a :class:`PlainConverter`."""
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", _MISSING) is not None:
            continue
        if getattr(descriptor, "file_annotation", None) is not None:
            continue  # typer opens files itself
        param._runtime_param = PlainConverter(descriptor)


class FastGroup(typer.core.TyperGroup):
    """Typer's group, whose own parameters and whose commands' parameters convert plain values
    without pydantic (see the module's text); the root takes its options after a subcommand too
    (:mod:`bifrost_cli.cli._globals`); help as :mod:`bifrost_cli.cli._help` writes it."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if ctx.parent is None:
            from bifrost_cli.cli._globals import hoist

            args = hoist(self, ctx, args)
        if _SUPPORTED:
            install(self.get_params(ctx))
        return super().parse_args(ctx, args)

    def format_options(self, ctx: Any, formatter: Any) -> None:
        from bifrost_cli.cli._help import format_command_options

        format_command_options(self, ctx, formatter)

    def get_short_help_str(self, limit: int = 45) -> str:
        from bifrost_cli.cli._help import summary

        return summary(self)

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if _SUPPORTED and command is not None and not isinstance(command, FastGroup):
            # its parameters and its -h/--help (a group installs its own when it parses)
            install(command.get_params(ctx))
        return name, command, rest


class _NeverRaised(Exception):
    pass


_NO_SUCH_OPTION: type[Exception] = getattr(
    getattr(getattr(typer.core, "_click", None), "exceptions", None), "NoSuchOption", _NeverRaised
)
"""click's "No such option" error, as this typer carries it (if it moves: no global did-you-mean)."""


class FastCommand(typer.core.TyperCommand):
    """The class of every command: help as :mod:`bifrost_cli.cli._help` writes it; in shell
    completion, the global options (names and values) complete after the command too."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        if ctx.resilient_parsing and ctx.parent is not None:
            from bifrost_cli.cli._globals import global_params

            root = ctx.find_root()
            own = {opt for p in params for opt in getattr(p, "opts", ())}
            params += [
                p for p in global_params(root.command, root) if not p.is_eager and not own & set(p.opts)
            ]
        return params

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except _NO_SUCH_OPTION as exc:
            from bifrost_cli.cli._globals import with_global_suggestions

            raise with_global_suggestions(exc, ctx) from None

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        from bifrost_cli.cli._help import usage_piece

        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [usage_piece(p) for p in self.get_params(ctx) if p.param_type_name == "argument"]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        from bifrost_cli.cli._help import format_command_options

        format_command_options(self, ctx, formatter)

    def get_short_help_str(self, limit: int = 45) -> str:
        from bifrost_cli.cli._help import summary

        return summary(self)


class App(typer.Typer):
    """``typer.Typer`` whose commands are :class:`FastCommand` unless told otherwise."""

    def command(self, *args: Any, cls: Any = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or FastCommand, **kwargs)


def _supported() -> bool:
    """Whether this typer converts through ``_TyperParameter._runtime_param`` (0.26 to 0.30 do)."""
    parameter = getattr(typer.core, "_TyperParameter", None)
    return parameter is not None and callable(getattr(parameter, "get_runtime_param", None))


_SUPPORTED = _supported()
