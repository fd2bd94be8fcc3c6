"""The only place that prints.

Data goes to stdout: Rich tables for people, JSON (``--json``) for scripts, bare ids (``-q``).
Everything else (progress, status, warnings, errors) goes to stderr. Rich is imported only when a
table or a progress display is drawn, so ``--json`` and ``-q`` never pay for it.

Server-provided strings never reach Rich as markup (cells are ``Text`` objects) and pass through
:func:`clean` on every human path (tables, records, notes, errors and hints, ``-q`` ids): a line
break or tab is shown escaped (``\\n``), any other control character as ``?`` (no terminal escape
sequence gets through, no fake ``Hint:`` line), and invisible format characters (bidi overrides and
isolates, zero-width characters) are removed. JSON stays faithful: ``json.dumps`` escapes control
characters, and format characters are written as ``\\uXXXX`` escapes (the same string once parsed).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

from bifrost_cli.layout import Col
from bifrost_cli.timestamps import rfc3339

if TYPE_CHECKING:
    from types import TracebackType

    from rich.console import Console
    from rich.text import Text

    from bifrost_cli.layout import Layout

    from bifrost_cli.config import Settings
    from bifrost_cli.ledger import Entry, Group
    from bifrost_cli.models import Batch, DeletedBatch, DeletedFile, File
    from bifrost_cli.providers.base import Progress
    from bifrost_cli.service import CancelReport, DownloadResult, ResultsSummary, WaitEvent, WaitOutcome
    from bifrost_cli.service.deleting import DeleteReport
    from bifrost_cli.service.doctor import DoctorReport
    from bifrost_cli.service.groups import GroupResultsSummary
    from bifrost_cli.service.join import JoinSummary
    from bifrost_cli.service.prune import PruneItem, PruneReport
    from bifrost_cli.service.settings import SettingChange
    from bifrost_cli.service.usage import Costs, UsageSummary
    from bifrost_cli.service.validate import Validation

    class HasId(Protocol):
        @property
        def id(self) -> str: ...

Mode = Literal["human", "json", "quiet"]
COUNT_FIELDS = ("processing", "succeeded", "errored", "canceled", "expired")
_ESCAPED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_INVISIBLE = frozenset({"Cf", "Zl", "Zp", "Cs"})  # format characters (bidi, zero-width), separators, surrogates


def _clean_char(ch: str) -> str:
    import unicodedata

    if ch in _ESCAPED:
        return _ESCAPED[ch]
    category = unicodedata.category(ch)
    if category == "Cc":
        return "?"
    if category in _INVISIBLE:
        return ""
    return ch


def clean(value: Any) -> str:
    """Text safe to show, on one line: line breaks and tabs escaped (``\\n``), other control
    characters (ESC included) shown as ``?``, format characters (U+202E, U+2066, U+200B...)
    removed. The one sanitiser of every human output path."""
    text = "" if value is None else str(value)
    if text.isprintable():  # the common case: nothing to do (isprintable is False for Cc, Cf, Z*)
        return text
    return "".join(ch if ch.isprintable() else _clean_char(ch) for ch in text)


one_line = clean  # ids printed for ``xargs``: clean text is always one line


def _plain(value: Any) -> str:
    """:func:`clean` text for a Rich column format, which reads ``[...]`` as markup."""
    from rich.markup import escape

    return escape(clean(value))


def _json_escape_invisible(text: str) -> str:
    """JSON text with format characters as ``\\uXXXX`` escapes (faithful once parsed; never
    reorders or hides text on a terminal). Outside strings JSON is ASCII, so only strings change."""
    import unicodedata

    def escape(match: re.Match[str]) -> str:
        ch = match.group()
        if unicodedata.category(ch) not in _INVISIBLE:
            return ch
        code = ord(ch)
        if code <= 0xFFFF:
            return f"\\u{code:04x}"
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"

    return text if text.isascii() else re.sub(r"[^\x00-\x7f]", escape, text)


def _no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def _force_color() -> bool:
    """FORCE_COLOR set to anything but the empty string (https://force-color.org)."""
    return bool(os.environ.get("FORCE_COLOR"))


def _isatty(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def human_time(value: datetime | float | None) -> str:
    """A time as every output shows it (RFC 3339 UTC, seconds: :func:`~bifrost_cli.timestamps.rfc3339`), or ``-``."""
    return rfc3339(value) or "-"


def to_jsonable(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        data = obj.model_dump(mode="json")
        if hasattr(obj, "request_counts") and obj.request_counts is not None:
            data["request_counts"]["total"] = obj.request_counts.total
        return data
    return obj


def outcome_style(b: Batch) -> str:
    """The colour of a batch's outcome: ``dim`` while it runs; once ended ``green`` when every
    request succeeded, ``red`` when the batch failed or (not canceled) none succeeded, ``yellow``
    when some did not succeed (errored, canceled, expired); no colour when the counts cannot tell."""
    if not b.ended:
        return "dim"
    native = (b.native_status or "").lower()
    c = b.request_counts
    if native == "failed" or (c is not None and c.total and not c.succeeded and native not in _CANCELED):
        return "red"
    if native in _WHOLE_FAILURE and (c is None or not c.total):
        return "red"
    ok = b.fully_succeeded
    return "green" if ok else ("" if ok is None else "yellow")


_CANCELED = frozenset({"canceled", "cancelled", "stopped"})
_WHOLE_FAILURE = frozenset({"failed", "expired"})


def _cell(value: Any) -> tuple[str, str]:
    """A table cell as (clean text, style): ``value`` or ``(value, style)``."""
    if isinstance(value, tuple):
        return clean(value[0]), value[1] or ""
    return clean(value), ""


def _painter(console: Console) -> Callable[[str, str], str]:
    """Text in a style as ANSI codes, for lines written without Rich (tab-separated data)."""
    from rich.style import Style

    system = console._color_system  # None when colour is off

    def paint(text: str, style: str) -> str:
        return Style.parse(style).render(text, color_system=system) if system else text

    return paint


def _drawn(
    columns: Sequence[Col],
    layout: Layout,
    rows: Sequence[Sequence[tuple[str, str]] | None],
    width: int,
    *,
    title: str | None = None,
    header: bool = True,
) -> Text:
    """The lines of a fitted table (no wrapping: an id wider than the terminal stays one string)."""
    from rich.text import Text

    from bifrost_cli.layout import GAP, INDENT, cell

    lines: list[Text] = []
    pad = " " * INDENT if layout.stacked is not None else ""
    if title:
        lines.append(Text(clean(title), style="italic"))
    if header:
        if layout.stacked is not None:
            lines.append(Text(columns[layout.stacked].name, style="bold"))
        heads = Text(pad, style="bold")
        for n, (i, w, name) in enumerate(zip(layout.shown, layout.widths, layout.headers, strict=True)):
            last = n == len(layout.shown) - 1
            heads.append(("" if n == 0 else " " * GAP) + cell(name, w, Col(name, right=columns[i].right), last=last))
        lines.append(heads)
        lines.append(Text("\u2500" * min(width, layout.width), style="dim"))
    for row in rows:
        if row is None:
            lines.append(Text("\u2500" * min(width, layout.width), style="dim"))
            continue
        if layout.stacked is not None:
            text, style = row[layout.stacked]
            lines.append(Text(text, style=style))
        line = Text(pad)
        for n, (i, w) in enumerate(zip(layout.shown, layout.widths, strict=True)):
            text, style = row[i]
            line.append("" if n == 0 else " " * GAP)
            line.append(cell(text, w, columns[i], last=n == len(layout.shown) - 1), style=style)
        line.rstrip()
        lines.append(line)
    return Text("\n").join(lines)


def _reader_gone() -> None:
    """A closed pipe on stdout (``bifrost ... | head -1``) ends the command as any write to it does
    (the entry point exits 0 quietly), not with rich's own exit 1."""
    raise BrokenPipeError(32, "the reader of stdout went away")


class Output:
    def __init__(self, mode: Mode = "human", *, stdout: IO[str] | None = None, stderr: IO[str] | None = None):
        self.mode = mode
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._out_console: Console | None = None
        self._err_console: Console | None = None

    # -- consoles (lazy) ----------------------------------------------------------------------

    @property
    def stderr_tty(self) -> bool:
        return _isatty(self.stderr)

    @property
    def stdout_tty(self) -> bool:
        return _isatty(self.stdout)

    def _console(self, stream: IO[str]) -> Console:
        from rich.console import Console

        tty = _isatty(stream)
        console = Console(
            file=stream,
            highlight=False,
            soft_wrap=False,
            width=None if tty else max(int(os.environ.get("COLUMNS", "0") or 0), 160),
            # explicit, whatever Rich's own reading of the environment: colour on a terminal or
            # with FORCE_COLOR (https://force-color.org), never with NO_COLOR (which wins)
            force_terminal=tty or _force_color(),
            no_color=True if _no_color() else None,
        )
        console.on_broken_pipe = _reader_gone  # type: ignore[method-assign]
        return console

    def _coloured(self, stream: IO[str]) -> bool:
        """Whether styled text goes to ``stream``: a terminal, or FORCE_COLOR (not with NO_COLOR)."""
        return not _no_color() and (_isatty(stream) or _force_color())

    @property
    def out(self) -> Console:
        if self._out_console is None:
            self._out_console = self._console(self.stdout)
        return self._out_console

    @property
    def err(self) -> Console:
        if self._err_console is None:
            self._err_console = self._console(self.stderr)
        return self._err_console

    # -- plain writers --------------------------------------------------------------------------

    def _json(self, data: Any) -> None:
        self.stdout.write(_json_escape_invisible(json.dumps(data, indent=2, ensure_ascii=False, default=str)) + "\n")
        self.stdout.flush()

    def _ids(self, items: Iterable[HasId]) -> None:
        """One id a line. An id holding control or format characters is printed cleaned (one line,
        nothing invisible), with a warning on stderr: as printed, it names nothing on the server."""
        for item in items:
            shown = clean(item.id)
            if shown != item.id:
                self.warning("an id holds control or format characters, escaped or removed here; it will not work as printed")
            self.stdout.write(shown + "\n")
        self.stdout.flush()

    def _note(self, text: str, style: str | None = None) -> None:
        """A line on stderr (styled on a terminal): always one line, whatever ``text`` holds."""
        shown = clean(text)
        if self.stderr_tty or (style and self._coloured(self.stderr)):
            from rich.text import Text

            self.err.print(Text(shown, style=style or ""))
        else:
            self.stderr.write(shown + "\n")
            self.stderr.flush()

    def info(self, text: str) -> None:
        if self.mode != "quiet":
            self._note(text)

    def success(self, text: str) -> None:
        if self.mode != "quiet":
            self._note(text, "green")

    def notice(self, text: str) -> None:
        """A line on stderr in every mode (also ``-q``): what the command did that the user must
        know of, beside its normal output (a batch found, not created)."""
        self._note(text)

    def warning(self, text: str) -> None:
        self._note("Warning: " + text, "yellow")

    def error(self, message: str, *, hint: str | None = None, problems: Sequence[str] = ()) -> None:
        self._note("Error: " + message, "bold red")
        for problem in problems:
            self._note("  " + problem)
        if hint:
            self._note("Hint: " + hint, "dim")

    def log(self, text: str) -> None:
        self._note(text, "dim")

    # -- tables ---------------------------------------------------------------------------------

    def _table(
        self,
        columns: Sequence[Col],
        rows: Iterable[Sequence[Any] | None],
        *,
        title: str | None = None,
        to_stderr: bool = False,
    ) -> None:
        """A table: on a terminal, fitted to its width (:func:`bifrost_cli.layout.fit`: ids never
        cut, columns dropped by priority), with ``title`` above; otherwise tab-separated lines
        with a header line (every column, no title). A cell is a value or ``(value, style)``; a
        row that is ``None`` draws a rule between sections (terminal only)."""
        stream = self.stderr if to_stderr else self.stdout
        cells = [None if row is None else [_cell(value) for value in row] for row in rows]
        if not _isatty(stream):
            if title:  # what the data is, beside it: stdout keeps only the data
                self._note(title)
            return self._tsv(stream, columns, cells)
        console = self.err if to_stderr else self.out
        from bifrost_cli.layout import fit

        layout = fit(columns, [[text for text, _ in row] for row in cells if row is not None], console.width)
        console.print(_drawn(columns, layout, cells, console.width, title=title), soft_wrap=True)

    def _tsv(
        self, stream: IO[str], columns: Sequence[Col], rows: Iterable[Sequence[tuple[str, str]] | None]
    ) -> None:
        """Rows as data: a header line, then tab-separated cleaned values (styled only with FORCE_COLOR)."""
        from bifrost_cli.layout import tsv

        paint = _painter(self.err if stream is self.stderr else self.out) if self._coloured(stream) else None
        write = stream.write
        write(tsv([c.name for c in columns]) + "\n")
        for row in rows:
            if row is not None:
                write(tsv([paint(text, style) if paint and style else text for text, style in row]) + "\n")
        stream.flush()

    def _record(self, pairs: Sequence[tuple[str, Any]]) -> None:
        """Fields, a line each: ``key  value`` on a terminal (values never wrapped: an id stays one
        string), ``key<TAB>value`` otherwise."""
        shown = [(clean(key), *_cell(value)) for key, value in pairs]
        if not self.stdout_tty:
            from bifrost_cli.layout import tsv

            self.stdout.write("".join(tsv((key, value)) + "\n" for key, value, _ in shown))
            self.stdout.flush()
            return
        from rich.text import Text

        width = max((len(key) for key, _, _ in shown), default=0)
        text = Text()
        for i, (key, value, style) in enumerate(shown):
            text.append(("\n" if i else "") + key.ljust(width) + "  ", style="bold")
            text.append(value, style=style)
        self.out.print(text, soft_wrap=True)

    # -- files ----------------------------------------------------------------------------------

    def files(self, files: Sequence[File]) -> None:
        if self.mode == "json":
            return self._json([to_jsonable(f) for f in files])
        if self.mode == "quiet":
            return self._ids(files)
        if not files:
            return self._note("No files.")
        self._table(
            _FILE_COLUMNS,
            ((f.id, f.filename or "-", human_size(f.size_bytes), human_time(f.created_at), f.purpose or "-") for f in files),
        )

    def file(self, f: File) -> None:
        if self.mode == "json":
            return self._json(to_jsonable(f))
        if self.mode == "quiet":
            return self._ids([f])
        self._record(
            [
                ("id", f.id),
                ("filename", f.filename or "-"),
                ("size", f"{human_size(f.size_bytes)} ({f.size_bytes} bytes)" if f.size_bytes is not None else "-"),
                ("mime type", f.mime_type or "-"),
                ("purpose", f.purpose or "-"),
                ("created", human_time(f.created_at)),
                ("expires", human_time(f.expires_at)),
                ("downloadable", "-" if f.downloadable is None else ("yes" if f.downloadable else "no")),
                *([("status", f.status)] if f.status else []),
                *([("error", f.error)] if f.error else []),
                ("provider", f.provider or "-"),
            ]
        )
        if f.failed:
            self.warning(f"{f.provider or 'the provider'} could not process {f.id}: {f.error or f.status}")

    def deleted(self, items: Sequence[DeletedFile | DeletedBatch], report: DeleteReport | None = None) -> None:
        """What was deleted; ``--json`` with the ``report``: every id, failures included (the
        errors themselves are raised by the report)."""
        if self.mode == "json":
            return self._json(report.to_json() if report is not None else [to_jsonable(d) for d in items])
        if self.mode == "quiet":
            return self._ids(items)
        for d in items:
            self.success(f"Deleted {d.id}" if d.deleted else f"{d.id} was not deleted")

    # -- prune and doctor -----------------------------------------------------------------------

    def prune_plan(self, report: PruneReport) -> None:
        """What a prune is about to delete (shown on stderr before asking)."""
        noun = _plural(report.kind, len(report.items))
        self._note(f"{len(report.items)} {noun} created before {human_time(report.cutoff)} (older than {report.older_than}):")
        self._prune_table(report.items, report.kind, to_stderr=True)

    def confirm(self, question: str) -> bool:
        """Ask on the terminal (stderr); anything but y/yes is no."""
        self.stderr.write(clean(question) + " [y/N] ")
        self.stderr.flush()
        try:
            answer = sys.stdin.readline()
        except (OSError, ValueError):
            return False
        return answer.strip().lower() in ("y", "yes")

    def secret(self, prompt: str) -> str:
        """A secret: typed on a terminal without echo (the prompt on the terminal), else all of stdin."""
        if _isatty(sys.stdin):
            import getpass

            return getpass.getpass(prompt)
        return sys.stdin.read()

    def prune(self, report: PruneReport) -> None:
        for note in report.notes:
            self.warning(note)
        if self.mode == "json":
            return self._json(_prune_json(report))
        if self.mode == "quiet":
            return self._ids([i for i in report.items if i.outcome in ("deleted", "selected")])
        noun = _plural(report.kind, len(report.items))
        if report.items:
            self._prune_table([*report.items, *report.kept], report.kind)
        elif report.kept:
            self._prune_table(report.kept, report.kind)
        what = f"older than {report.older_than}" + (f" with purpose {report.purpose}" if report.purpose else "")
        if report.dry_run:
            self._note(f"Dry run: would delete {len(report.items)} {noun} {what} (of {report.considered} listed); nothing deleted.")
        elif not report.items:
            self._note(f"Nothing to delete: no {report.kind} {what} (of {report.considered} listed).")
        else:
            done = len(report.deleted)
            line = f"Deleted {done} of {len(report.items)} {noun} {what}."
            self.success(line) if done == len(report.items) else self._note(line)
        if report.kept:
            self._note(f"Kept {len(report.kept)} old {_plural(report.kind, len(report.kept))}: see the table for why.")

    def _prune_table(self, items: Sequence[PruneItem], kind: str, *, to_stderr: bool = False) -> None:
        shown = {"selected": "would delete", "deleted": "deleted", "failed": "FAILED", "kept": "kept"}
        style = {"deleted": "green", "failed": "red", "kept": "yellow"}

        def result(i: PruneItem) -> tuple[str, str]:
            return shown[i.outcome] + (f": {i.reason}" if i.reason else ""), style.get(i.outcome, "")

        if kind == "file":
            self._table(
                _PRUNE_FILE_COLUMNS,
                ((i.id, i.name or "-", human_size(i.size_bytes), human_time(i.created_at), i.purpose or "-", result(i))
                 for i in items),
                to_stderr=to_stderr,
            )
        else:
            self._table(
                _PRUNE_BATCH_COLUMNS,
                ((i.id, i.name or "-", human_time(i.created_at), result(i)) for i in items),
                to_stderr=to_stderr,
            )

    def doctor(self, report: DoctorReport) -> None:
        if self.mode == "json":
            return self._json(report.to_json())
        if self.mode == "quiet":
            for check in report.checks:
                if check.status == "fail":
                    self.stdout.write(clean(check.name) + "\n")
            self.stdout.flush()
            return
        if report.settings:
            self._table(_SETTING_COLUMNS, report.settings, title="settings in effect")
        self._table(
            _CHECK_COLUMNS, ((c.name, (c.status, _CHECK_STYLE.get(c.status, "")), c.detail) for c in report.checks), title="checks"
        )
        if report.operations:
            self._table(
                _OPERATION_COLUMNS,
                ((op, "yes" if why is None else "no", (why or "") if why is None or i == 0 or report.operations[i - 1][1] != why
                  else "(as above)") for i, (op, why) in enumerate(report.operations)),
                title=f"operations of {report.target or 'the target'}",
            )
        if report.ok:
            self.success("Ready: this target can run a batch end to end (create, wait, results).")

    def downloaded(self, result: DownloadResult) -> None:
        if self.mode == "json" and result.path != "-":
            return self._json({"id": result.file_id, "path": result.path, "size_bytes": result.bytes})
        if self.mode == "quiet" and result.path != "-":
            self.stdout.write(one_line(result.path) + "\n")
            return
        where = "stdout" if result.path == "-" else result.path
        self.success(f"Downloaded {result.file_id} ({human_size(result.bytes)}) to {where}")

    # -- batches --------------------------------------------------------------------------------

    @staticmethod
    def _status(b: Batch) -> str:
        native = b.native_status
        return b.status if not native or native == b.status else f"{b.status} ({native})"

    @staticmethod
    def _counts(b: Batch) -> list[str]:
        c = b.request_counts
        if c is None:
            return ["-"] * (len(COUNT_FIELDS) + 1)
        return [str(getattr(c, name)) for name in COUNT_FIELDS] + [str(c.total)]

    def batches(self, batches: Sequence[Batch], *, title: str | None = None) -> None:
        if self.mode == "json":
            return self._json([to_jsonable(b) for b in batches])
        if self.mode == "quiet":
            return self._ids(batches)
        if not batches:
            return self._note("No batches.")
        self._table(
            _BATCH_COLUMNS,
            ((b.id, (self._status(b), outcome_style(b)), *self._counts(b), human_time(b.created_at)) for b in batches),
            title=title,
        )

    def ledger_entries(self, entries: Sequence[Entry], path: str | None, groups: Sequence[Group] = ()) -> None:
        """The local ledger (``batches list --local``), newest first; then its batch groups (in
        JSON, as more items of the one list, with ``"kind": "group"``)."""
        if groups and self.mode != "json":
            self._ledger_entries(entries, path)
            return self.ledger_groups(groups)
        if self.mode == "json" and groups:
            return self._json([*self._entries_jsonable(entries), *({"kind": "group", **self.group_jsonable(g)} for g in groups)])
        return self._ledger_entries(entries, path)

    def _entries_jsonable(self, entries: Sequence[Entry]) -> list[dict[str, Any]]:
        return [
            {
                "kind": e.kind, "id": e.resource_id, "state": e.state, "provider": e.provider, "target": e.target,
                "created_at": rfc3339(e.created_at), "input": e.input_name,
                "sha256": e.sha256, "options": json.loads(e.options or "{}"), "client_token": e.token or None,
                "note": e.note,
            }
            for e in entries
        ]

    def _ledger_entries(self, entries: Sequence[Entry], path: str | None) -> None:
        if self.mode == "json":
            return self._json([
                {
                    "kind": e.kind, "id": e.resource_id, "state": e.state, "provider": e.provider, "target": e.target,
                    "created_at": rfc3339(e.created_at), "input": e.input_name,
                    "sha256": e.sha256, "options": json.loads(e.options or "{}"), "client_token": e.token or None,
                    "note": e.note,
                }
                for e in entries
            ])
        if self.mode == "quiet":
            for e in entries:
                if e.resource_id:
                    self.stdout.write(one_line(e.resource_id) + "\n")
            self.stdout.flush()
            return None
        if not entries:
            where = f" in {path}" if path else " (the ledger is off: BIFROST_LEDGER=off)"
            return self._note(f"Nothing recorded{where}.")
        self._table(
            _LEDGER_COLUMNS,
            (
                (e.resource_id or "-", e.kind, e.state, e.provider, e.target,
                 human_time(e.created_at), e.input_name, e.sha256[:12] or "-")
                for e in entries
            ),
            title=f"Local ledger: {path}" if path else None,
        )
        return None

    def batch(self, b: Batch) -> None:
        if self.mode == "json":
            return self._json(to_jsonable(b))
        if self.mode == "quiet":
            return self._ids([b])
        counts = self._counts(b)
        pairs: list[tuple[str, Any]] = [("id", b.id), ("status", (self._status(b), outcome_style(b)))]
        if b.request_counts is None:
            pairs.append(("requests", "counts not reported"))
        else:
            pairs += [(name, value) for name, value in zip((*COUNT_FIELDS, "total"), counts, strict=True)]
        pairs += [
            ("created", human_time(b.created_at)),
            ("ended", human_time(b.ended_at)),
            ("expires", human_time(b.expires_at)),
        ]
        if b.cancel_initiated_at:
            pairs.append(("cancel requested", human_time(b.cancel_initiated_at)))
        if b.message:
            pairs.append(("message", b.message))
        if b.usage is not None:
            u = b.usage
            cached = f" ({u.cached_tokens:,} cached)" if u.cached_tokens else ""
            reasoning = f" ({u.reasoning_tokens:,} reasoning)" if u.reasoning_tokens else ""
            pairs.append(("tokens", f"{u.input_tokens:,} in{cached}, {u.output_tokens:,} out{reasoning}"))
        for key, value in b.details.items():
            if value not in (None, "", [], {}):
                pairs.append((key.replace("_", " "), value if isinstance(value, str) else json.dumps(value)))
        if b.provider:
            pairs.append(("provider", b.provider))
        self._record(pairs)

    # -- batch groups (batches create --split) ---------------------------------------------------

    @staticmethod
    def group_jsonable(group: Group, batches: Sequence[Batch | None] | None = None) -> dict[str, Any]:
        """A batch group as JSON: its record, and each part with its batch (when given) or batch id."""
        parts = []
        for index, p in enumerate(group.parts):
            item: dict[str, Any] = {
                "part": p.part, "first_line": p.first_line, "requests": p.requests, "bytes": p.bytes, "batch_id": p.batch_id,
            }
            if batches is not None:
                batch = batches[index] if index < len(batches) else None
                item["batch"] = to_jsonable(batch) if batch is not None else None
            parts.append(item)
        return {
            "id": group.id, "object": "batch_group", "provider": group.provider, "target": group.target,
            "input": group.input_name, "sha256": group.sha256, "requests": group.requests,
            "created_at": rfc3339(group.created_at),
            "complete": all(p.batch_id for p in group.parts), "parts": parts,
        }

    def group(self, group: Group, batches: Sequence[Batch | None]) -> None:
        """A batch group: a summary (counts summed over its batches), then a row per batch."""
        if self.mode == "json":
            return self._json(self.group_jsonable(group, batches))
        if self.mode == "quiet":
            self.stdout.write(one_line(group.id) + "\n")
            self.stdout.flush()
            return None
        totals = {name: 0 for name in (*COUNT_FIELDS, "total")}
        counted = True
        for b in batches:
            if b is None or b.request_counts is None:
                counted = False
                continue
            for name in COUNT_FIELDS:
                totals[name] += getattr(b.request_counts, name)
            totals["total"] += b.request_counts.total
        statuses = sorted({b.status for b in batches if b is not None})
        pairs: list[tuple[str, Any]] = [
            ("group", group.id),
            ("input", group.input_name),
            ("requests", f"{group.requests:,} in {len(group.parts)} batches"),
            ("status", ", ".join(statuses) + ("" if all(batches) else ", not created") if statuses else "not created"),
        ]
        pairs += [(name, str(value) + ("" if counted else " (some not reported)")) for name, value in totals.items()]
        pairs += [("created", human_time(group.created_at)), ("provider", group.provider)]
        self._record(pairs)
        self._table(
            _PART_COLUMNS,
            (
                (str(p.part), p.batch_id or "-", (self._status(b), outcome_style(b)) if b is not None else "not created",
                 *(self._counts(b) if b is not None else ["-"] * (len(COUNT_FIELDS) + 1)), str(p.first_line))
                for p, b in zip(group.parts, [*batches, *[None] * len(group.parts)], strict=False)
            ),
        )
        return None

    def ledger_groups(self, groups: Sequence[Group]) -> None:
        """The batch groups in the local ledger (``batches list --local``), newest first."""
        if not groups:
            return None
        if self.mode == "json":
            return self._json([self.group_jsonable(g) for g in groups])
        if self.mode == "quiet":
            for g in groups:
                self.stdout.write(one_line(g.id) + "\n")
            self.stdout.flush()
            return None
        self._table(
            _GROUP_COLUMNS,
            (
                (g.id, f"{sum(1 for p in g.parts if p.batch_id)}/{len(g.parts)}", f"{g.requests:,}", g.provider, g.target,
                 human_time(g.created_at), g.input_name)
                for g in groups
            ),
            title="Batch groups",
        )
        return None

    def group_results_summary(self, summary: GroupResultsSummary, group: str, raw: bool) -> None:
        if self.mode == "quiet":
            return
        if raw:
            text = f"{summary.total} raw result lines of the batch group {group}"
        else:
            parts = ", ".join(f"{summary.counts[t]} {t}" for t in ("succeeded", "errored", "canceled", "expired") if summary.counts[t])
            text = f"{summary.total} results of the batch group {group}" + (f": {parts}" if parts else "")
        if summary.path != "-":
            text += f", written to {summary.path}"
        self._note(text)
    def validation(self, report: Validation) -> None:
        """``batches validate`` / ``create --dry-run``: the report (``--json``), or a summary on
        stdout; the problems themselves are the error that follows (stderr, exit 2)."""
        if self.mode == "json":
            return self._json(report.to_json())
        if self.mode == "quiet":
            return
        via = {"direct": "direct", "gateway": "through the gateway", "emulator": "on the emulator"}.get(report.mode, report.mode)
        pairs: list[tuple[str, Any]] = [
            ("input", report.input),
            ("provider", f"{report.provider} ({via})"),
            ("requests", f"{report.requests:,}"),
            ("bytes", f"{report.bytes:,} ({human_size(report.bytes)})"),
            ("models", ", ".join(report.models) or "-"),
            ("input tokens", f"~{report.estimated_input_tokens:,} (estimate: characters / 4)"),
        ]
        pairs.extend(("sending", note) for note in report.notes)
        if report.ok:
            pairs.append(("result", "would be accepted; nothing was sent"))
        else:
            noun = "problem" if report.total_problems == 1 else "problems"
            pairs.append(("result", f"{report.total_problems} {noun}; nothing was sent"))
        self._record(pairs)

    def results_summary(self, summary: ResultsSummary, batch_id: str, raw: bool) -> None:
        if self.mode == "quiet":
            return
        if raw:
            text = f"{summary.total} raw result lines of {batch_id}"
        else:
            parts = ", ".join(f"{summary.counts[t]} {t}" for t in ("succeeded", "errored", "canceled", "expired") if summary.counts[t])
            text = f"{summary.total} results of {batch_id}" + (f": {parts}" if parts else "")
        if summary.path != "-":
            text += f", written to {summary.path}"
        if summary.restarts:
            text += f" (fetched again from the start {summary.restarts}x: the transfer broke off)"
        self._note(text)
        if summary.missing:
            self.warning(
                f"{summary.missing} of the batch's {summary.expected} requests have no result line; "
                "the target did not return them"
            )

    def results_table(self, records: Iterable[dict[str, Any]]) -> None:
        """Results as a table, one row per request: id, status, input and output tokens, and the
        first line of its output or error. On a terminal, fitted to its width (the first chunk
        of rows sets the columns; drawn a chunk at a time, so any number of rows costs flat
        memory); otherwise a header line and tab-separated lines. Server text is cleaned."""
        if not _isatty(self.stdout):
            return self._tsv(self.stdout, _RESULT_COLUMNS, (_result_cells(record) for record in records))
        chunk: list[list[tuple[str, str]]] = []
        layout: Layout | None = None
        for record in records:
            chunk.append(_result_cells(record))
            if len(chunk) >= _TABLE_CHUNK:
                layout = self._result_chunk(chunk, layout)
                chunk = []
        if chunk or layout is None:
            self._result_chunk(chunk, layout)

    def _result_chunk(self, rows: Sequence[Sequence[tuple[str, str]]], layout: Layout | None) -> Layout:
        from bifrost_cli.layout import fit

        width = self.out.width
        first = layout is None
        if layout is None:
            layout = fit(_RESULT_COLUMNS, [[text for text, _ in row] for row in rows], width)
        if rows or first:
            self.out.print(_drawn(_RESULT_COLUMNS, layout, rows, width, header=first), soft_wrap=True)
        return layout

    def results_counts(self, counts: dict[str, int], batch_id: str) -> None:
        """The line after a results table: how many results, of which status."""
        if self.mode != "human":
            return
        parts = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        self._note(f"{sum(counts.values())} results of {batch_id}" + (f": {parts}" if parts else ""))

    def join_summary(self, summary: JoinSummary, batch_id: str, *, data_on_stdout: bool) -> None:
        """What ``results --join/--retry-file`` did: counts, files, and the results whose id is not
        in the input (a warning). ``--json``: one JSON object, on stdout unless the joined lines are there."""
        if self.mode == "json":
            data = {"batch_id": batch_id, **summary.to_json()}
            if data_on_stdout:
                self.stderr.write(json.dumps(data, ensure_ascii=True) + "\n")
                self.stderr.flush()
            else:
                self._json(data)
            return
        if summary.extra:
            shown = ", ".join(summary.extra_ids) + (", ..." if summary.extra > len(summary.extra_ids) else "")
            self.warning(f"{summary.extra} results of {batch_id} have an id that is not in the input: {shown}")
        if summary.duplicates:
            self.warning(f"{summary.duplicates} results of {batch_id} repeat an id that already had one; the first was kept")
        if self.mode == "quiet":
            return
        parts = ", ".join(f"{n} {status}" for status, n in summary.counts.items() if n)
        text = f"{summary.lines} input requests joined to the results of {batch_id}: {parts}"
        if summary.path and summary.path != "-":
            text += f"; written to {summary.path}"
        self._note(text)
        if summary.retry_path:
            self._note(f"{summary.retry_lines} requests to retry written to {summary.retry_path}")

    # -- tokens and cost ------------------------------------------------------------------------

    def usage(self, summary: UsageSummary, costs: Costs, batch: Batch | None = None) -> None:
        """Tokens per model (and per batch, for several) with the estimated cost: a table, or with
        --json one object (with ``batch``: the batch's object, the summary under ``tokens``)."""
        if self.mode == "json":
            data = usage_json(summary, costs)
            if batch is not None:
                return self._json({**to_jsonable(batch), "tokens": data})
            return self._json(data)
        if batch is not None:
            self.batch(batch)
        if self.mode == "quiet":
            self.stdout.write(f"{summary.total.total_tokens}\n")
            self.stdout.flush()
            return
        from bifrost_cli.service.usage import PRICES_HINT, Tokens

        def row(label: str, t: Tokens, cost: str) -> list[str]:
            return [label, f"{t.requests:,}", f"{t.input_tokens:,}", f"{t.cache_read_tokens:,}",
                    f"{t.cache_write_tokens:,}", f"{t.output_tokens:,}", f"{t.reasoning_tokens:,}", cost]

        title = "tokens of " + (summary.batch_ids[0] if len(summary.batch_ids) == 1 else f"{len(summary.batch_ids)} batches")
        if summary.group_id:
            title = f"tokens of group {summary.group_id} ({len(summary.batch_ids)} batches)"
        if summary.source == "batch":
            title += " (as the batch reports them)"
        rows: list[list[str] | None] = [
            row(name, model_usage.tokens, _cost_text(costs, name)) for name, model_usage in summary.models.items()
        ]
        if len(summary.batch_ids) > 1:
            rows.append(None)
            rows += [row(bid, summary.per_batch.get(bid) or Tokens(), "") for bid in summary.batch_ids]
        if len(summary.models) != 1 or len(summary.batch_ids) > 1:
            rows.append(None)
            total = costs.total
            rows.append(row("total", summary.total, _usd(total) if total is not None else ("unknown" if costs.available else "-")))
        self._table(_USAGE_COLUMNS, rows, title=title)
        if not costs.available:
            self._note(f"cost: {PRICES_HINT} for an estimate")
        else:
            rates = sorted({c.rate for c in costs.models.values() if c.rate})
            self._note("cost: an estimate from genai-prices" + (f", at {' and '.join(rates)} rates" if rates else ""))
            for cost in costs.models.values():
                if cost.note:
                    self._note(f"{cost.model}: {'unknown, ' if cost.amount is None else ''}{cost.note}")
        if summary.source == "results":
            parts = ", ".join(f"{summary.counts[t]} {t}" for t in ("succeeded", "errored", "canceled", "expired") if summary.counts[t])
            self._note(f"summed over {summary.results} result lines" + (f" ({parts})" if parts else ""))
        if summary.missing:
            self.warning(f"{summary.missing} of the {summary.expected} requests have no result line: their tokens are not counted")

    # -- config and emulator --------------------------------------------------------------------

    def settings(self, settings: Settings) -> None:
        data = settings.redacted()
        if self.mode == "json":
            return self._json({"config_file": str(settings.path), "profile": settings.profile, "settings": data})
        self._record(
            [("config file", str(settings.path) + ("" if settings.path.exists() else " (not created)")),
             ("profile", settings.profile or "-")]
        )
        self._table(
            _SETTING_COLUMNS,
            ((name, "-" if v["value"] is None else v["value"], v["source"]) for name, v in data.items()),
        )

    def setting_changed(self, change: SettingChange) -> None:
        """What ``config set``/``unset`` or ``auth set`` did (a secret only ever redacted)."""
        if change.made_private:
            self.notice(f"{change.path} holds a secret now: made it private (mode 0600)")
        if change.shadowed_by:
            self.warning(f"{change.shadowed_by} is set in this environment and wins over the config file")
        if self.mode == "json":
            return self._json({
                "config_file": str(change.path), "profile": change.profile, "setting": change.name,
                "action": change.action, "value": change.shown_value, "provider": change.provider,
                "created": change.created,
            })
        where = f"{change.path}" + (f" (profile {change.profile})" if change.profile else "")
        what = "the gateway's virtual key" if change.name == "api_key" else f"the {change.provider} key"
        if change.provider and change.action == "set":
            self.success(f"Saved {what} to {where}")
        elif change.provider and change.action == "unset":
            self.success(f"Removed {what} from {where}")
        elif change.action == "set":
            shown = str(change.shown_value).lower() if isinstance(change.shown_value, bool) else change.shown_value
            self.success(f"Set {change.name} = {shown} in {where}")
        elif change.action == "unset":
            self.success(f"Removed {change.name} from {where}")
        else:
            self.info(f"{change.name} was not set in {where}; nothing changed")

    def path(self, path: str | os.PathLike[str]) -> None:
        self.stdout.write(str(path) + "\n")
        self.stdout.flush()

    def emulator_banner(self, url: str, state_dir: str | os.PathLike[str]) -> None:
        self._note(f"Bifrost emulator listening on {url}  (state: {state_dir}; Ctrl-C stops it)", "bold")
        self._note(f"  gateway routes:  {url}/anthropic  /openai  /genai  /bedrock   (bifrost --base-url {url})")
        from bifrost_cli.providers import registry

        for spec in registry.specs():
            if spec.emulator_surface:
                self._note("  " + spec.emulator_surface.format(url=url))

    # -- progress -------------------------------------------------------------------------------

    @contextmanager
    def transfer(self, description: str, total: int | None) -> Iterator[Progress | None]:
        """A byte progress bar (size, rate, ETA) on a terminal's stderr; nothing otherwise."""
        if not self.stderr_tty or self.mode == "quiet":
            yield None
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            transient=False,
        ) as progress:
            task = progress.add_task(_plain(description), total=total)
            yield lambda n: progress.advance(task, n)

    @contextmanager
    def wait_monitor(self, batch_ids: Sequence[str]) -> Iterator[Callable[[WaitEvent], None]]:
        """Shows ``wait`` progress: live bars on a terminal, one line per change otherwise
        (with ``-q``, only the polls that failed)."""
        if self.stderr_tty and self.mode != "quiet":
            with _LiveWait(self, batch_ids) as monitor:
                yield monitor
        else:
            yield _LineWait(self)

    def batch_created(self, batch: Batch) -> None:
        """A batch exists and is about to be waited on: with ``-q`` its id on stdout at once
        (flushed, never printed again, so ``ID=$(bifrost batches create X --wait -q)`` keeps it
        whatever ends the wait); otherwise a line on stderr (``--json`` prints the batch at the end)."""
        if self.mode == "quiet":
            self._ids([batch])
        else:
            self._note(
                f"Created batch {batch.id}; waiting for it to end (Ctrl-C stops waiting, the batch keeps running)."
            )

    def wait_events(self) -> WaitEvents:
        """``wait --json``: one JSON object a line on stdout per change, flushed (see :class:`WaitEvents`)."""
        return WaitEvents(self)

    def canceled(self, report: CancelReport) -> None:
        """``batches cancel ID...`` of several ids: the batches as they stand after the ask (errors
        are raised by the report); ``--json``: one entry per id, in order, each with ``ok``."""
        if self.mode == "json":
            done = {b.id: b for b in report.canceled}
            failed = dict(report.failures)
            entries: list[dict[str, Any]] = []
            for bid in report.order:
                if bid in failed:
                    from bifrost_cli.service.deleting import error_json

                    err = failed[bid]
                    entries.append({"id": bid, "ok": False, "error": error_json(err), "exit_code": int(err.exit_code)})
                elif bid in done:
                    entries.append({"id": bid, "ok": True, "batch": to_jsonable(done[bid])})
            return self._json(entries)
        if report.canceled or self.mode == "quiet":
            self.batches(report.canceled)
        return None

    def wait_final(self, outcome: WaitOutcome) -> None:
        if self.mode == "human":
            self.batches(outcome.batches, title="Final state" if self.stderr_tty else None)
        else:
            self.batches(outcome.batches)


def _counts_dict(batch: Batch) -> dict[str, int] | None:
    c = batch.request_counts
    return None if c is None else {name: getattr(c, name) for name in COUNT_FIELDS} | {"total": c.total}


class WaitEvents:
    """``batches wait --json``: one compact JSON object a line on stdout, flushed, nothing else there.

    ``{"event": "status", "id", "status", "native_status", "counts", "elapsed"}`` when a batch's
    status or counts change (and at its first answer); ``"poll_error"`` (``error``, ``failures``)
    for a status check that failed and will be retried; ``"stuck"`` (``stuck_for``) for
    ``--stuck-after``; and last, ``{"event": "end", "outcome", "exit_code", "elapsed", "batches",
    "message", "hint"}`` however the wait ended. ``elapsed``: seconds since the wait began.
    """

    def __init__(self, out: Output):
        self.out = out
        self.started = time.monotonic()
        self.last: dict[str, Any] = {}

    def _emit(self, data: dict[str, Any]) -> None:
        line = _json_escape_invisible(json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":")))
        self.out.stdout.write(line + "\n")
        self.out.stdout.flush()

    @contextmanager
    def monitor(self, batch_ids: Sequence[str]) -> Iterator[Callable[[WaitEvent], None]]:
        """A ``WaitMonitor``: events as lines on stdout; a stuck batch is also a warning on stderr."""
        yield self

    def __call__(self, event: WaitEvent) -> None:
        elapsed = round(event.elapsed, 1)
        b = event.batch
        if event.error is not None or b is None:
            self._emit({
                "event": "poll_error", "id": event.batch_id, "error": str(event.error),
                "failures": event.failures, "not_found_yet": event.not_found_yet, "elapsed": elapsed,
            })
            return
        state = {"id": b.id, "status": b.status, "native_status": b.native_status, "counts": _counts_dict(b)}
        if event.stuck_for is not None:
            from bifrost_cli.service.wait import stuck_text

            self.out.warning(f"{b.id} looks stuck: {stuck_text(b, event.stuck_for)}")
            self._emit({"event": "stuck", **state, "stuck_for": round(event.stuck_for, 1), "elapsed": elapsed})
            return
        if self.last.get(b.id) != state:
            self.last[b.id] = state
            self._emit({"event": "status", **state, "elapsed": elapsed})

    def end(self, outcome: WaitOutcome | None, error: BaseException | None, allow_errors: bool = False) -> None:
        """The final event: ``outcome`` is ``succeeded`` (exit 0), ``allowed_errors`` (0 with
        ``--allow-errors``), ``incomplete`` (7), ``timeout`` (6), ``stuck`` (6), ``interrupted``
        (130, 143, 129) or ``error`` (the error's own code)."""
        from bifrost_cli.errors import BatchIncomplete, BatchStuck, BifrostError, Interrupted, WaitTimeout

        code = int(error.exit_code) if isinstance(error, BifrostError) else (1 if error is not None else 0)
        if error is None:
            kind = "allowed_errors" if outcome is not None and outcome.not_fully_succeeded and allow_errors else "succeeded"
        elif isinstance(error, BatchStuck):
            kind = "stuck"
        elif isinstance(error, WaitTimeout):
            kind = "timeout"
        elif isinstance(error, BatchIncomplete):
            kind = "incomplete"
        elif isinstance(error, Interrupted):
            kind = "interrupted"
        else:
            kind = "error"
        data: dict[str, Any] = {
            "event": "end",
            "outcome": kind,
            "exit_code": code,
            "elapsed": round(time.monotonic() - self.started, 1),
            "batches": [to_jsonable(b) for b in outcome.batches] if outcome is not None else [],
        }
        if isinstance(error, BifrostError):
            data["message"] = error.message
            if error.hint:
                data["hint"] = error.hint
        self._emit(data)
def _plural(kind: str, n: int) -> str:
    return kind if n == 1 else ("batches" if kind == "batch" else kind + "s")


def _prune_json(report: PruneReport) -> dict[str, Any]:
    def item(i: PruneItem) -> dict[str, Any]:
        data: dict[str, Any] = {"id": i.id, "created_at": rfc3339(i.created_at),
                                "result": "would_delete" if i.outcome == "selected" else i.outcome}
        if report.kind == "file":
            data.update(filename=i.name, size_bytes=i.size_bytes, purpose=i.purpose)
        else:
            data["status"] = i.name
        if i.reason:
            data["reason"] = i.reason
        return data

    return {
        "kind": report.kind,
        "dry_run": report.dry_run,
        "older_than": report.older_than,
        "cutoff": rfc3339(report.cutoff),
        "purpose": report.purpose,
        "listed": report.considered,
        "deleted": [item(i) for i in report.items if i.outcome == "deleted"],
        "would_delete": [item(i) for i in report.items if i.outcome == "selected"],
        "failed": [item(i) for i in report.items if i.outcome == "failed"],
        "kept": [item(i) for i in report.kept],
    }


def _cost_text(costs: Costs, model: str) -> str:
    cost = costs.models.get(model)
    if cost is None or not costs.available:
        return "-"
    if cost.amount is None:
        return "unknown"
    return _usd(cost.amount) + ("" if cost.rate == "batch" else " (standard)")


def _usd(amount: Any) -> str:
    """Dollars to the cent, or to six places below a cent (a small batch costs fractions of one)."""
    return f"{amount:,.2f}" if amount >= 1 else f"{amount:.6f}"


def usage_json(summary: UsageSummary, costs: Costs) -> dict[str, Any]:
    """The summary as ``--json`` gives it (``batches results --summary``, ``get --usage``'s ``tokens``)."""
    cost_of = {c.model: c.to_json() for c in costs.models.values()}
    return {
        "batch_ids": list(summary.batch_ids),
        "group_id": summary.group_id,
        "source": summary.source,
        "results": dict(summary.counts),
        "expected": summary.expected,
        "missing": summary.missing,
        "models": [
            {"model": name, **u.tokens.to_json(), "cost": cost_of.get(name)} for name, u in summary.models.items()
        ],
        "batches": [{"id": bid, **t.to_json()} for bid, t in summary.per_batch.items()],
        "total": summary.total.to_json(),
        "cost": costs.to_json(),
    }


def _counts_text(batch: Batch) -> str:
    c = batch.request_counts
    if c is None:
        return "counts not reported"
    return " ".join(f"{name}={getattr(c, name)}" for name in COUNT_FIELDS)


def _poll_failure(event: WaitEvent) -> str:
    if event.not_found_yet:
        return f"not found yet ({event.elapsed:.0f}s; a new batch may take a moment to appear); retrying"
    times = "once" if event.failures <= 1 else f"{event.failures} times in a row"
    return f"poll failed {times} ({one_line(str(event.error))}); retrying"


class _LineWait:
    """Non-terminal wait output: a line on stderr whenever a batch's status or counts change."""

    def __init__(self, out: Output):
        self.out = out
        self.last: dict[str, str] = {}

    def __call__(self, event: WaitEvent) -> None:
        stamp = time.strftime("%H:%M:%S")
        b = event.batch
        if event.error is not None or b is None:
            self.out._note(f"{stamp} {event.batch_id}: {_poll_failure(event)}")
            return
        if event.stuck_for is not None:
            from bifrost_cli.service.wait import stuck_text

            self.out.warning(f"{stamp} {b.id} looks stuck: {stuck_text(b, event.stuck_for)}")
            return
        state = f"{Output._status(b)} {_counts_text(b)}"
        if self.last.get(b.id) != state:
            self.last[b.id] = state
            if self.out.mode != "quiet":
                self.out._note(f"{stamp} {b.id} {state} ({event.elapsed:.0f}s)", outcome_style(b) if b.ended else None)


def _counts_forms(batch: Batch) -> tuple[str, str, str]:
    """A batch's counts for the wait line, longest first: every bucket; the buckets not zero;
    the requests that did not succeed, abbreviated (``done/total`` beside them says the rest)."""
    c = batch.request_counts
    if c is None:
        return "counts not reported", "no counts", ""
    nonzero = " ".join(f"{name}={getattr(c, name)}" for name in COUNT_FIELDS if getattr(c, name))
    short = " ".join(f"{name}={n}" for name, n in (("err", c.errored), ("canc", c.canceled), ("exp", c.expired)) if n)
    return _counts_text(batch), nonzero, short


def _elapsed(seconds: float) -> str:
    n = int(seconds)
    return f"{n // 3600}:{n // 60 % 60:02d}:{n % 60:02d}"


class _LiveWait:
    """Terminal wait output: one line per batch (id, status, a bar, done/total, counts, elapsed
    time), redrawn once a second (the elapsed clock; a poll's news shows at the next tick).

    The line fits the terminal: the bar shrinks (to ``MIN_BAR``; none below ``BAR_FROM`` columns)
    and the counts take a shorter form or go before the status, done/total or elapsed time do. An
    id too wide for the line gets a line of its own (folded only when wider than the terminal).
    Colour tells the outcome (:func:`outcome_style`): dim while running.

    The lines are plain Rich text, not a ``rich.progress`` table: laying out that table costs ~2 ms
    a frame, most of what ``wait`` spends between polls; this costs a fraction of it."""

    BAR_WIDTH = 40
    MIN_BAR = 10
    BAR_FROM = 50

    def __init__(self, out: Output, batch_ids: Sequence[str]):
        from rich.live import Live

        self.out = out
        now = time.monotonic()
        self.rows = {bid: _WaitRow(clean(bid), started=now) for bid in batch_ids}
        self.live = Live(
            get_renderable=self._render,
            console=out.err,
            transient=False,
            # polls come at most once a second and the elapsed time counts whole seconds
            refresh_per_second=1,
        )

    def __enter__(self) -> _LiveWait:
        self.live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.live.__exit__(exc_type, exc, tb)

    def __call__(self, event: WaitEvent) -> None:
        row = self.rows.get(event.batch_id)
        if row is None:
            return
        b = event.batch
        if event.error is not None or b is None:
            failure = clean(_poll_failure(event))
            row.forms = (failure[:100], "poll failed; retrying" if not event.not_found_yet else "not found yet", "retrying")
            return
        if event.stuck_for is not None:
            from bifrost_cli.service.wait import stuck_text

            self.out.warning(f"{b.id} looks stuck: {stuck_text(b, event.stuck_for)}")
            return
        c = b.request_counts
        total = c.total if c is not None and c.total else None
        done = (c.total - c.processing) if c is not None else 0
        if b.ended and total is None:
            total, done = 1, 1
        row.total, row.done = total, done
        row.status = clean(Output._status(b))
        row.style = outcome_style(b)
        row.forms = tuple(clean(form) for form in _counts_forms(b))  # type: ignore[assignment]
        if b.ended and row.stopped is None:
            row.stopped = time.monotonic()

    def _plan(self, rows: Sequence[_WaitRow], room: int, width: int) -> tuple[int, bool, int, int]:
        """In ``room`` cells beside status, done/total and elapsed time: whether a bar fits, and the
        longest form of the counts that fits beside it (its width and index; width 0: none)."""
        with_bar = width >= self.BAR_FROM and room >= self.MIN_BAR + 1
        for form in range(3):
            need = max(len(r.forms[form]) for r in rows)
            if need and need + 1 + (self.MIN_BAR + 1 if with_bar else 0) <= room:
                return room, with_bar, need, form
        return room, with_bar, 0, 0

    def _render(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        width = self.out.err.width
        rows = list(self.rows.values())
        id_width = max(len(r.id) for r in rows)
        status_width = max(len(r.status) for r in rows)
        count_texts = [f"{r.done}/{r.total if r.total is not None else '?'}" for r in rows]
        several = len(rows) > 1
        done, total = sum(r.done for r in rows), sum(r.total or 0 for r in rows)
        known = all(r.total is not None for r in rows)
        total_text = f"{done}/{total if known else '?'}"
        count_width = max(len(t) for t in [*count_texts, *([total_text] if several else [])])
        now = time.monotonic()
        clocks = [_elapsed((r.stopped if r.stopped is not None else now) - r.started) for r in rows]
        clock_width = max(len(t) for t in clocks)
        fixed = status_width + 1 + count_width + 1 + clock_width
        # the id on a line of its own when the rest (with the shortest bar) would not fit beside it,
        # or when that leaves no room for the counts that did not succeed
        stacked = id_width + 1 + fixed + (self.MIN_BAR + 1 if width >= self.BAR_FROM else 0) > width
        room, with_bar, counts_width, chosen = self._plan(rows, width - (2 if stacked else id_width + 1) - fixed, width)
        if not stacked and not counts_width and any(r.forms[2] for r in rows):
            plan = self._plan(rows, width - 2 - fixed, width)
            if plan[2]:
                stacked, (room, with_bar, counts_width, chosen) = True, plan
        bar_width = min(self.BAR_WIDTH, room - (counts_width + 1 if counts_width else 0) - 1) if with_bar else 0

        def bar(line: Text, done: int, total: int | None, style: str, width: int = bar_width) -> None:
            if width:
                filled = min(width, round(width * done / total)) if total else 0
                line.append(" ")
                line.append("\u2501" * filled, style=style or "none")
                line.append("\u2501" * (width - filled), style="bar.back")

        lines: list[Text] = []
        for row, count_text, clock in zip(rows, count_texts, clocks, strict=True):
            if stacked:
                lines.append(Text(row.id, overflow="fold", style=row.style if row.stopped is not None else ""))
                line = Text("  ", no_wrap=True, overflow="ellipsis")
            else:
                line = Text(row.id.ljust(id_width) + " ", no_wrap=True, overflow="ellipsis")
            line.append(row.status.ljust(status_width), style=row.style)
            bar(line, row.done, row.total, row.style)
            line.append(" ")
            line.append(count_text.rjust(count_width), style=row.style)
            if counts_width:
                shown = row.forms[chosen]
                if len(shown) > counts_width:
                    shown = shown[: counts_width - 1] + "\u2026"
                line.append(" ")
                line.append(shown.ljust(counts_width), style="dim" if row.stopped is None else row.style)
            line.append(" " + clock.rjust(clock_width))
            lines.append(line)
        if several:  # a batch group: their total last
            ended = sum(1 for r in rows if r.stopped is not None)
            styles = {r.style for r in rows}
            style = "dim" if ended < len(rows) else (styles.pop() if len(styles) == 1 else "yellow")
            line = Text(("  " if stacked else "total".ljust(id_width) + " ") + ("total" if stacked else "").ljust(status_width),
                        no_wrap=True, overflow="ellipsis")
            tail = f" {ended}/{len(rows)} batches ended"
            room = (counts_width + 1 if counts_width else 0) + 1 + clock_width
            if len(tail) > room:
                tail = f" {ended}/{len(rows)} ended"
            # the bar gives way to the tail, if it must (but never below MIN_BAR)
            width_of_bar = max(min(bar_width, self.MIN_BAR), bar_width - max(0, len(tail) - room)) if bar_width else 0
            bar(line, done if known else 0, total if known else None, style, width_of_bar)
            line.append(" ")
            line.append(total_text.rjust(count_width), style=style)
            line.append(tail)
            lines.append(line)
        return Group(*lines)


class _WaitRow:
    """What :class:`_LiveWait` shows of one batch."""

    __slots__ = ("id", "status", "style", "started", "stopped", "total", "done", "forms")

    def __init__(self, batch_id: str, started: float):
        self.id = batch_id
        self.status = "waiting"
        self.style = "dim"
        self.started = started
        self.stopped: float | None = None
        self.total: int | None = None
        self.done = 0
        self.forms: tuple[str, str, str] = ("", "", "")


_TABLE_CHUNK = 200
# Each table's columns; when the terminal is narrow the highest priority numbers go first.
_COUNT_COLUMNS = (
    Col("processing", 3, short="proc", right=True),
    Col("succeeded", 2, short="ok", right=True),
    Col("errored", 2, short="err", right=True),
    Col("canceled", 4, short="canc", right=True),
    Col("expired", 4, short="exp", right=True),
    Col("total", 2, right=True),
)
_BATCH_COLUMNS = (Col("id", 0), Col("status", 1), *_COUNT_COLUMNS, Col("created", 5))
_PART_COLUMNS = (Col("part", 1), Col("id", 0), Col("status", 1), *_COUNT_COLUMNS, Col("first line", 5, short="line", right=True))
_FILE_COLUMNS = (Col("id", 0), Col("filename", 1, flex=True, min_width=30), Col("size", 2, right=True), Col("created", 3), Col("purpose", 4))
_PRUNE_FILE_COLUMNS = (
    Col("id", 0), Col("filename", 2, flex=True, min_width=30), Col("size", 4, right=True), Col("created", 3), Col("purpose", 5),
    Col("result", 1, flex=True),
)
_PRUNE_BATCH_COLUMNS = (Col("id", 0), Col("status", 2), Col("created", 3), Col("result", 1, flex=True))
_LEDGER_COLUMNS = (
    Col("id", 0), Col("kind", 5), Col("state", 1), Col("provider", 2), Col("target", 6, flex=True), Col("created", 3),
    Col("input", 4, flex=True), Col("sha256", 7),
)
_GROUP_COLUMNS = (
    Col("group", 0), Col("batches", 1, right=True), Col("requests", 2, right=True), Col("provider", 3),
    Col("target", 6, flex=True), Col("created", 4), Col("input", 5, flex=True),
)
_SETTING_COLUMNS = (Col("setting", 0), Col("value", 1, flex=True, min_width=20), Col("source", 2))
_CHECK_COLUMNS = (Col("check", 0), Col("status", 1), Col("detail", 2, flex=True, min_width=20))
_CHECK_STYLE = {"ok": "green", "warn": "yellow", "fail": "red"}
_OPERATION_COLUMNS = (Col("operation", 0), Col("supported", 1), Col("instead", 2, flex=True, min_width=20))
_USAGE_COLUMNS = (
    Col("model", 0), Col("requests", 2, short="reqs", right=True), Col("input", 1, right=True),
    Col("cache read", 4, short="cache r", right=True), Col("cache write", 4, short="cache w", right=True),
    Col("output", 1, right=True), Col("reasoning", 5, short="reason", right=True),
    Col("est. cost (USD)", 1, short="USD", right=True),
)
_RESULT_COLUMNS = (
    Col("custom_id", 0), Col("status", 1), Col("in", 3, right=True), Col("out", 3, right=True),
    Col("output or error", 2, flex=True, min_width=10),
)
_STATUS_STYLE = {"succeeded": "green", "errored": "red", "expired": "yellow", "canceled": "yellow", "missing": "magenta"}


def _result_cells(record: dict[str, Any]) -> list[tuple[str, str]]:
    """A joined record (service.join.joined_record) as the table's cells, cleaned and styled."""
    cells = [_cell(value) for value in _result_row(record)]
    cells[1] = (cells[1][0], _STATUS_STYLE.get(cells[1][0], ""))
    return cells


def _result_row(record: dict[str, Any]) -> tuple[str, ...]:
    """A joined record (service.join.joined_record) as the table's cells, not yet cleaned."""
    usage = record.get("usage") or {}
    error = record.get("error")
    if error:
        text = f"{error.get('type')}: {error.get('message')}"
    else:
        text = record.get("output") or ""
    first = text.strip().split("\n", 1)[0]
    return (
        str(record.get("custom_id")),
        str(record.get("status")),
        str(usage.get("input_tokens", "-")),
        str(usage.get("output_tokens", "-")),
        first,
    )
