"""Global options anywhere: ``bifrost batches list -p openai --emulator`` is ``bifrost -p openai
--emulator batches list``, as with aws and gh.

Before the root command parses its arguments, each of its options found after a subcommand's name
(with its value: ``-p openai``, ``--base-url=URL``, ``-popenai``; ``-v`` out of ``-vq``) is moved in front of the first
subcommand, in the order given; scanning stops at ``--``. A command's own option of the same name
wins (``doctor -p`` and ``batches validate -p`` are their own, with the same meaning); so does the
value of an own option (``--filename -v`` names a file ``-v``). Whatever is not recognised is left
where it is, for click to refuse with its did-you-mean.

No heavy import here: this runs on every start.
"""

from __future__ import annotations

from typing import Any

# The root's options that stay root-only: shown in its help, not hoisted.
NOT_HOISTED = frozenset({"--install-completion", "--show-completion"})


def option_table(params: list[Any]) -> dict[str, Any]:
    """Each option string (``-p``, ``--provider``, ``--no-emulator``) of ``params`` -> its parameter."""
    table: dict[str, Any] = {}
    for param in params:
        if getattr(param, "param_type_name", None) != "option":
            continue
        for opt in [*param.opts, *param.secondary_opts]:
            table[opt] = param
    return table


def global_params(root: Any, ctx: Any) -> list[Any]:
    """The root command's options that may come anywhere (not help, not completion installation)."""
    help_names = set(ctx.help_option_names)
    return [
        p
        for p in root.params
        if getattr(p, "param_type_name", None) == "option"
        and not (set(p.opts) & (help_names | NOT_HOISTED))
    ]


def takes_value(param: Any) -> int:
    """How many arguments follow the option (0 for a flag)."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return 0
    return max(int(param.nargs or 1), 1)


def match(token: str, table: dict[str, Any]) -> tuple[Any, bool] | None:
    """``(param, value_attached)`` when ``token`` is one of ``table``'s options: ``--opt``,
    ``--opt=value``, or a short one with its value attached (``-popenai``); else None."""
    if token in table:
        return table[token], False
    if token.startswith("--") and "=" in token:
        param = table.get(token.split("=", 1)[0])
        return (param, True) if param is not None and takes_value(param) else None
    if not token.startswith("--") and len(token) > 2:
        param = table.get(token[:2])
        return (param, True) if param is not None and takes_value(param) else None
    return None


def own_options(command: Any, ctx: Any) -> dict[str, Any]:
    table = option_table(list(command.params))
    for name in ctx.help_option_names:
        table.setdefault(name, None)
    return table


def hoist(root: Any, ctx: Any, args: list[str]) -> list[str]:
    """``args`` with the root's options given after a subcommand moved before it.

    A global option whose value is missing (the last word) is an error, as before the command; in
    shell completion it stays where it is, for the command to complete its value."""
    hoisted = option_table(global_params(root, ctx))
    if not hoisted:
        return args
    root_table = option_table(list(root.params))
    i, n = 0, len(args)
    # the root's own options, with their values, up to the first subcommand
    while i < n and args[i].startswith("-") and args[i] not in ("-", "--"):
        found = match(args[i], root_table)
        if found is None:
            return args  # click refuses it
        param, attached = found
        i += 1 + (0 if attached else takes_value(param))
    front, rest = args[:i], args[i:]
    moved: list[str] = []
    kept: list[str] = []
    command: Any = root
    j = 0
    while j < len(rest):
        token = rest[j]
        if token == "--":
            kept.extend(rest[j:])
            break
        if not token.startswith("-") or token == "-":
            sub = _subcommand(command, ctx, token)
            if sub is not None:
                command = sub
            kept.append(token)
            j += 1
            continue
        own = match(token, own_options(command, ctx)) if command is not root else None
        if own is not None:
            param, attached = own
            width = 1 + (0 if attached or param is None else takes_value(param))
            kept.extend(rest[j : j + width])
            j += width
            continue
        found = match(token, hoisted)
        if found is None:
            own_flags, global_flags = _split_cluster(token, own_options(command, ctx), hoisted)
            if global_flags:  # -vq: -v is global, -q the command's
                moved.append("-" + global_flags)
                if own_flags:
                    kept.append("-" + own_flags)
            else:
                kept.append(token)
            j += 1
            continue
        param, attached = found
        width = 1 + (0 if attached else takes_value(param))
        if j + width > len(rest):
            if not ctx.resilient_parsing:
                ctx.fail(f"Option {token!r} requires an argument.")
            kept.extend(rest[j:])  # completing its value: the command offers the values
            break
        moved.extend(rest[j : j + width])
        j += width
    return [*front, *moved, *kept] if moved else args


def _split_cluster(token: str, own: dict[str, Any], hoisted: dict[str, Any]) -> tuple[str, str]:
    """``-vq`` (short flags together) as the command's flags and the global ones; ("", "") when
    ``token`` is not such a cluster of known flags."""
    if token.startswith("--") or len(token) < 3:
        return "", ""
    own_flags = global_flags = ""
    for letter in token[1:]:
        opt = "-" + letter
        if opt in own and (own[opt] is None or not takes_value(own[opt])):
            own_flags += letter
        elif opt in hoisted and not takes_value(hoisted[opt]):
            global_flags += letter
        else:
            return "", ""
    return own_flags, global_flags


def _subcommand(command: Any, ctx: Any, name: str) -> Any:
    """The subcommand ``name`` of a group, or None (a command's positional argument)."""
    get = getattr(command, "get_command", None)
    if get is None or not hasattr(command, "commands"):
        return None
    return get(ctx, name)


def with_global_suggestions(exc: Any, ctx: Any) -> Any:
    """A command's "No such option" error, whose did-you-mean also names the close global options
    (``batches list --emulatr``: ``--emulator``)."""
    from difflib import get_close_matches

    name = getattr(exc, "option_name", "") or ""
    root = ctx.find_root()
    if not name.startswith("--") or root is ctx:
        return exc
    names = [opt for opt in option_table(global_params(root.command, root)) if opt.startswith("--")]
    extra = [m for m in get_close_matches(name, names) if m not in (exc.possibilities or ())]
    if extra:
        exc.possibilities = [*(exc.possibilities or ()), *extra]
    return exc
