"""batches results --join INPUT / --retry-file PATH / --format table: results read against the input.

Results arrive in the provider's order, not the input's, and a batch holds up to 100,000 requests,
so nothing here keeps the results in memory:

1. the input is read once, keeping only each request's id -> its line's number, and each line's
   byte offset and length (two arrays of machine integers: a few MB for 100,000 lines);
2. each result, as it arrives, becomes its joined record (:func:`joined_record`), written to an
   anonymous temporary file; its offset there is kept in a third array, at its input line's index;
3. once every result arrived (and the batch's counts say none is missing), the joined lines are
   written in input order (read back from the temporary file, or ``missing``), and the retry file
   from the input's own bytes (seek and read of each line that did not succeed).

Files are written by :func:`~bifrost_cli.service.writing.write_atomically` (complete or nothing);
nothing reaches stdout or a file before the results are complete.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bifrost_cli.errors import InputError, TransferIncomplete, UnavailableError, UsageError
from bifrost_cli.providers.base import CheckedTarget, Target

STATUSES = ("succeeded", "errored", "canceled", "expired", "missing")
_CODES = {name: code for code, name in enumerate(STATUSES)}
_MISSING = _CODES["missing"]
_ID_KEYS = ("custom_id", "key", "recordId")  # neutral and OpenAI; Gemini's native; Bedrock's native
_EXTRA_SHOWN = 5  # ids in the results but not in the input: how many are named
_BATCH = 512  # output lines per write
_BOM = b"\xef\xbb\xbf"

Rows = Callable[[Iterable[dict[str, Any]]], None]
"""Takes the joined records, in order (the table printer)."""


@dataclass
class JoinSummary:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    lines: int = 0  # requests in the input
    path: str = "-"  # where the joined lines went ("-": stdout; None: not written)
    retry_path: str | None = None
    retry_lines: int = 0
    extra: int = 0  # results whose id is not in the input
    extra_ids: list[str] = field(default_factory=list)  # the first few of them
    duplicates: int = 0  # results for an id that already had one (the first is kept)
    restarts: int = 0
    expected: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "input_lines": self.lines,
            "counts": dict(self.counts),
            "output": self.path,
            "retry_file": self.retry_path,
            "retry_lines": self.retry_lines,
            "extra_results": self.extra,
            "extra_ids": list(self.extra_ids),
            "duplicate_results": self.duplicates,
        }


# --- one result as a joined record -----------------------------------------------------------


def joined_record(data: dict[str, Any]) -> dict[str, Any]:
    """A result line in Anthropic's shape (as ``batches results`` writes it) as the joined record:
    ``custom_id``, ``status``, ``output`` (the text blocks of the message, joined; ``null`` when
    there is no message), ``usage`` (``input_tokens``/``output_tokens`` where the result has them)
    and ``error`` (``{type, message}`` or ``null``)."""
    result = data.get("result")
    result = result if isinstance(result, dict) else {}
    output: str | None = None
    usage: dict[str, int] | None = None
    error: dict[str, str] | None = None
    message = result.get("message")
    if isinstance(message, dict):
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        output = "".join(
            b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        )
        tokens = message.get("usage")
        if isinstance(tokens, dict):
            usage = {k: tokens[k] for k in ("input_tokens", "output_tokens") if type(tokens.get(k)) is int}
    envelope = result.get("error")
    if isinstance(envelope, dict):
        nested = envelope.get("error")
        inner: dict[str, Any] = nested if isinstance(nested, dict) else envelope
        error = {"type": str(inner.get("type") or "error"), "message": str(inner.get("message") or "")}
    return {
        "custom_id": data.get("custom_id"),
        "status": str(result.get("type") or "errored"),
        "output": output,
        "usage": usage or None,
        "error": error,
    }


def missing_record(custom_id: str) -> dict[str, Any]:
    return {"custom_id": custom_id, "status": "missing", "output": None, "usage": None, "error": None}


def _result_data(reader: Target, batch_id: str) -> Iterator[dict[str, Any]]:
    """Each result in Anthropic's shape, as a plain dict (through the fast path where the target has it)."""
    texts = getattr(reader, "iter_result_texts", None)
    if texts is not None:
        from pydantic_core import from_json

        for _rtype, text in texts(batch_id):
            yield from_json(text)
        return
    for result in reader.iter_results(batch_id):
        yield result.to_json_dict()


# --- the input, indexed ----------------------------------------------------------------------


class InputIndex:
    """One pass over a JSONL input: each request's id -> its index, and each line's bytes' place."""

    def __init__(self, path: str):
        self.path = path
        self.ids: dict[str, int] = {}
        self.offsets = array("q")
        self.lengths = array("q")
        self._read()

    def __len__(self) -> int:
        return len(self.offsets)

    def _read(self) -> None:
        from pydantic_core import from_json

        name = self.path
        problems: list[str] = []
        total = 0
        try:
            fh = open(name, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise UsageError(f"cannot read {name}: {exc.strerror or exc}", hint="Give the input the batch was created from.") from None
        with fh:
            offset = 0
            for number, raw in enumerate(fh, 1):
                start, size = offset, len(raw)
                offset += size
                line = raw[3:] if number == 1 and raw.startswith(_BOM) else raw
                if not line.strip():
                    continue
                if number == 1 and line.lstrip().startswith(b"["):
                    raise UsageError(
                        f"{name}: --join and --retry-file read JSONL input (one request a line), not a JSON array",
                        hint="Write the requests one JSON object a line.",
                    )
                custom_id = None
                try:
                    item = from_json(line)
                except ValueError:
                    item = None
                    problem = "not valid JSON"
                else:
                    problem = "no custom_id"
                if isinstance(item, dict):
                    custom_id = next((item[k] for k in _ID_KEYS if isinstance(item.get(k), str)), None)
                if custom_id is not None and custom_id in self.ids:
                    problem, custom_id = f"custom_id {custom_id!r} is also on an earlier line", None
                if custom_id is None:
                    total += 1
                    if len(problems) < 50:
                        problems.append(f"{name}:{number}: {problem}")
                    continue
                if raw.startswith(_BOM) and number == 1:
                    start, size = 3, size - 3
                self.ids[custom_id] = len(self.offsets)
                self.offsets.append(start)
                self.lengths.append(size)
        if problems:
            raise InputError(problems, total=total, hint="Give the JSONL input the batch was created from; nothing was written.")
        if not self.offsets:
            raise UsageError(f"{name}: no requests in the input", hint="Give the input the batch was created from.")

    def line_bytes(self, fh: IO[bytes], index: int) -> bytes:
        fh.seek(self.offsets[index])
        data = fh.read(self.lengths[index])
        return data if data.endswith(b"\n") else data + b"\n"


# --- the join ----------------------------------------------------------------------------------


def _check_paths(input_path: str, output: str | None, retry_file: str | None, force: bool) -> None:
    from bifrost_cli.service.writing import check_destination

    if input_path == "-":
        raise UsageError("--join and --input need a file, not stdin (-): it is read twice", hint="Save the input to a file first.")
    source = Path(input_path)
    if not source.is_file():
        raise UsageError(f"{input_path}: no such file", hint="Give the input the batch was created from.")
    named = [("-o", output), ("--retry-file", retry_file)]
    seen: dict[str, str] = {}
    for option, value in named:
        if not value or value == "-":
            continue
        dest = Path(value)
        if dest.exists() and os.path.samefile(dest, source):
            raise UsageError(f"{option} {value} is the input itself", hint="Write to another file; the input is left as it is.")
        key = os.path.abspath(value)
        if key in seen:
            raise UsageError(f"{option} and {seen[key]} name the same file {value}", hint="Give each its own file.")
        seen[key] = option
        check_destination(dest, force)
    if retry_file == "-":
        raise UsageError("--retry-file needs a file, not stdout (-)", hint="Give it a path, e.g. --retry-file retry.jsonl.")


def join_results(
    target: CheckedTarget,
    batch_id: str,
    *,
    input_path: str,
    output: str | None = None,
    retry_file: str | None = None,
    write_join: bool = True,
    force: bool = False,
    allow_partial: bool = False,
    restarts: int = 2,
    rows: Rows | None = None,
    stdout: IO[bytes] | None = None,
) -> JoinSummary:
    """Join the batch's results to ``input_path``: one record per input line, in input order
    (to ``rows``, to ``output``, or to stdout as JSONL; not at all unless ``write_join``), and the
    input lines whose request did not succeed to ``retry_file``.

    Results that do not account for every request the batch counts, or that broke off (after
    ``restarts`` fresh attempts), are :class:`~bifrost_cli.errors.TransferIncomplete` and nothing is
    written; with ``allow_partial`` what can be told is written to ``FILE.partial`` (the requests
    with no result as ``missing``), still exit 6."""
    import tempfile

    from pydantic_core import from_json, to_json

    from bifrost_cli.service.results import _request_total

    _check_paths(input_path, output if write_join else None, retry_file, force)
    index = InputIndex(input_path)
    reader = target.check("batches.results")
    n = len(index)
    summary = JoinSummary(lines=n, path=(output or "-") if write_join else "", retry_path=retry_file)
    with tempfile.TemporaryFile(prefix="bifrost-join-") as spool:
        for attempt in range(max(restarts, 0) + 1):
            places = array("q", [-1]) * n
            status = bytearray([_MISSING]) * n
            summary.extra, summary.extra_ids, summary.duplicates = 0, [], 0
            spool.seek(0)
            spool.truncate()
            arrived = 0
            try:
                position = 0
                ids, codes, write = index.ids, _CODES, spool.write
                for data in _result_data(reader, batch_id):
                    arrived += 1
                    custom_id = data.get("custom_id")
                    at = ids.get(custom_id) if isinstance(custom_id, str) else None
                    if at is None:
                        summary.extra += 1
                        if len(summary.extra_ids) < _EXTRA_SHOWN:
                            summary.extra_ids.append(str(custom_id))
                        continue
                    if places[at] >= 0:
                        summary.duplicates += 1
                        continue
                    record = joined_record(data)
                    text = to_json(record) + b"\n"
                    places[at] = position
                    status[at] = codes.get(record["status"], _CODES["errored"])
                    write(text)
                    position += len(text)
                break
            except UnavailableError as exc:
                if attempt >= restarts:
                    raise TransferIncomplete(
                        f"the results of {batch_id} broke off after {arrived} lines: {exc.message}; nothing was saved",
                        hint=exc.hint or "Run the command again.",
                    ) from None
                summary.restarts += 1
        spool.flush()

        summary.counts = dict.fromkeys(STATUSES, 0)
        for code in status:
            summary.counts[STATUSES[code]] += 1
        summary.retry_lines = n - summary.counts["succeeded"]
        incomplete = None
        summary.expected = _request_total(reader, batch_id)
        got = arrived - summary.duplicates
        if summary.expected is not None and got < summary.expected:
            incomplete = TransferIncomplete(
                f"only {got} results of {batch_id} arrived, but the batch has {summary.expected} requests: "
                f"{summary.expected - got} are missing; nothing was saved",
                hint="Run the command again; --allow-partial writes what can be told to FILE.partial.",
            )
            if not allow_partial:
                raise incomplete

        def records() -> Iterator[dict[str, Any]]:
            for custom_id, i in index.ids.items():  # inserted in input order
                if places[i] < 0:
                    yield missing_record(custom_id)
                else:
                    spool.seek(places[i])
                    yield from_json(spool.readline())

        def joined_lines() -> Iterator[bytes]:
            pending: list[bytes] = []
            for custom_id, i in index.ids.items():  # inserted in input order
                if places[i] < 0:
                    pending.append(to_json(missing_record(custom_id)) + b"\n")
                else:
                    spool.seek(places[i])
                    pending.append(spool.readline())
                if len(pending) >= _BATCH:
                    yield b"".join(pending)
                    pending.clear()
            if pending:
                yield b"".join(pending)

        def retry_lines() -> Iterator[bytes]:
            with open(input_path, "rb") as source:
                pending: list[bytes] = []
                for i in range(n):
                    if status[i] != 0:
                        pending.append(index.line_bytes(source, i))
                        if len(pending) >= _BATCH:
                            yield b"".join(pending)
                            pending.clear()
                if pending:
                    yield b"".join(pending)

        written = _write_all(
            joined_lines if write_join else None, records, retry_lines, summary,
            output=output, retry_file=retry_file, partial=incomplete is not None, rows=rows, stdout=stdout,
        )
    if incomplete is not None:
        incomplete.message = incomplete.message.removesuffix("; nothing was saved") + (
            "; what can be told is in " + " and ".join(written) if written else ""
        )
        raise incomplete
    return summary


def _write_all(
    joined: Callable[[], Iterator[bytes]] | None,
    records: Callable[[], Iterator[dict[str, Any]]],
    retry: Callable[[], Iterator[bytes]],
    summary: JoinSummary,
    *,
    output: str | None,
    retry_file: str | None,
    partial: bool,
    rows: Rows | None,
    stdout: IO[bytes] | None,
) -> list[str]:
    """Write the retry file, then the joined lines; returns the files written (``.partial`` names
    when ``partial``)."""
    from bifrost_cli.service.writing import write_atomically

    written: list[str] = []

    def place(path: str) -> Path:
        dest = Path(path)
        return dest.with_name(dest.name + ".partial") if partial else dest

    if retry_file:
        dest = place(retry_file)
        write_atomically(dest, retry())
        summary.retry_path = str(dest)
        written.append(str(dest))
    if joined is None:
        return written
    if output and output != "-":
        dest = place(output)
        write_atomically(dest, joined())
        summary.path = str(dest)
        written.append(str(dest))
    elif rows is not None:
        rows(records())
    else:
        import sys

        sink = stdout or sys.stdout.buffer
        for chunk in joined():
            sink.write(chunk)
        sink.flush()
        if partial:
            written.append("stdout")
    return written


# --- the table without --join ------------------------------------------------------------------


def result_rows(target: CheckedTarget, batch_id: str, rows: Rows) -> dict[str, int]:
    """Each result as a joined record, in the provider's order, to ``rows`` (the table without
    ``--join``); returns the count of each status. Fewer results than the batch's requests is
    :class:`~bifrost_cli.errors.TransferIncomplete` once they are shown."""
    from bifrost_cli.service.results import _request_total

    reader = target.check("batches.results")
    counts = dict.fromkeys(STATUSES, 0)
    counts.pop("missing")
    total = 0

    def records() -> Iterator[dict[str, Any]]:
        nonlocal total
        for data in _result_data(reader, batch_id):
            record = joined_record(data)
            counts[record["status"]] = counts.get(record["status"], 0) + 1
            total += 1
            yield record

    try:
        rows(records())
    except UnavailableError as exc:
        raise TransferIncomplete(
            f"the results of {batch_id} broke off after {total} lines: {exc.message}; the rows shown are what arrived",
            hint=exc.hint or "Run the command again.",
        ) from None
    expected = _request_total(reader, batch_id)
    if expected is not None and total < expected:
        raise TransferIncomplete(
            f"only {total} results of {batch_id} arrived, but the batch has {expected} requests: "
            f"{expected - total} are missing; the rows shown are what arrived",
            hint="Run the command again.",
        )
    return counts


# --- which of these a results command asked for ---------------------------------------------------


@dataclass
class Plan:
    mode: str  # "jsonl" (plain results, service.results), "table" (results as rows), "join"
    input_path: str | None = None
    write_join: bool = False
    table: bool = False


FORMATS = ("auto", "jsonl", "table")


def plan_results(
    *,
    join: str | None,
    retry_file: str | None,
    input_path: str | None,
    result_format: str,
    output: str | None,
    raw: bool,
    stdout_tty: bool,
) -> Plan:
    """What ``batches results`` does with these options, or a usage error before anything is sent.
    ``--format auto`` is a table on a terminal when the results go to stdout, JSONL otherwise."""
    fmt = (result_format or "auto").lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {result_format!r}", hint="Use auto, jsonl or table.")
    to_file = bool(output and output != "-")
    if fmt == "table" and to_file:
        raise UsageError("--format table prints to stdout; -o FILE is always JSONL", hint="Drop --format table or -o.")
    if join and input_path:
        raise UsageError("give the input once: --join INPUT or --input INPUT", hint="--input is for --retry-file without joined lines.")
    if input_path and not retry_file:
        raise UsageError("--input INPUT is only for --retry-file", hint="Add --retry-file PATH, or use --join INPUT.")
    if input_path and to_file:
        raise UsageError("-o FILE takes the joined lines: with --input only the retry file is written", hint="Use --join INPUT -o FILE.")
    if retry_file and not (join or input_path):
        raise UsageError("--retry-file needs the input the batch was created from", hint="Add --join INPUT (or --input INPUT for the retry file alone).")
    if raw and (join or input_path or fmt == "table"):
        raise UsageError("--raw passes the target's own lines through; it does not go with --join, --retry-file or --format table")
    table = fmt == "table" or (fmt == "auto" and stdout_tty and not to_file and not raw)
    if join or input_path:
        if input_path and fmt == "table":
            raise UsageError("--format table shows joined lines: use --join INPUT instead of --input")
        return Plan("join", input_path=join or input_path, write_join=bool(join), table=table and bool(join))
    return Plan("table" if table else "jsonl")
