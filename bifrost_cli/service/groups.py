"""Batch groups: ``batches create --split`` and the commands that take a group id.

An input over the provider's per-batch limits (requests and bytes in one batch) is split into as
many batches as needed: on request boundaries, in input order, each part a valid input on its own
(the checked requests, as ``batches create`` sends them). The parts are recorded as one **batch
group** in the local ledger, with an id of its own (``grp-<12 hex>``), *before* any is sent; each
part is then created exactly as a single ``batches create`` is (ledger claim, client token,
reconciliation of a create whose answer was lost), and its batch id is recorded as it is known.

The group's id comes from the target, the whole input and the options (and the limits the split
used), so running the same ``--split`` create again finds the same group, and creates only the parts
that are missing; ``--new`` makes a new group.

``batches get``, ``wait``, ``cancel`` and ``results`` take a group id (:func:`expand_ids`): the
group is read from the ledger, so it must be the same ledger and target that created it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bifrost_cli.hints import suggest
from bifrost_cli.errors import BifrostError, ConflictError, ExitCode, InputError, NotFoundError, TransferIncomplete, UnavailableError, UsageError
from bifrost_cli.models import Batch
from bifrost_cli.providers.base import CheckedTarget
from bifrost_cli.service.results import ResultsSummary

if TYPE_CHECKING:
    from bifrost_cli.inputs import RequestSet
    from bifrost_cli.ledger import Group, Ledger
    from bifrost_cli.service.batches import NewBatch
    from bifrost_cli.service.wait import WaitMonitor, WaitOutcome

GROUP_PREFIX = "grp-"
SPLIT_HEADROOM = 0.9
"""The share of a provider's byte limit a part may fill when the provider's limit applies: the
lines are measured as checked (compact JSON), and the provider's own lines (a translation, an
envelope) are somewhat bigger."""

ANTHROPIC_MAX_BYTES = 256_000_000  # Anthropic: 256 MB a batch create request
GEMINI_MAX_BYTES = 2_000_000_000  # Gemini: 2 GB an input file (Files API)

_HINT_LEDGER = "Batch groups are kept in the local ledger: use the BIFROST_LEDGER that `batches create --split` used."


def is_group_id(identifier: str) -> bool:
    return identifier.startswith(GROUP_PREFIX)


# ------------------------------------------------------------------------------------------------
# limits and the split


@dataclass(frozen=True)
class SplitLimits:
    """The most one part may hold: requests and bytes (as checked: compact JSON lines); ``None``: no limit."""

    max_requests: int | None
    max_bytes: int | None

    def describe(self) -> str:
        parts = []
        if self.max_requests is not None:
            parts.append(f"{self.max_requests:,} requests")
        if self.max_bytes is not None:
            parts.append(f"{self.max_bytes:,} bytes")
        return " and ".join(parts) or "no limit"


def provider_limits(provider: str) -> SplitLimits:
    """The provider's limits on one batch (Bedrock's are its quotas, ``BIFROST_BEDROCK_MAX_RECORDS``)."""
    from bifrost_cli.inputs import MAX_REQUESTS

    if provider == "openai":
        from bifrost_cli.providers.openai.api import MAX_BATCH_INPUT_BYTES, MAX_BATCH_REQUESTS

        return SplitLimits(MAX_BATCH_REQUESTS, int(MAX_BATCH_INPUT_BYTES * SPLIT_HEADROOM))
    if provider == "gemini":
        return SplitLimits(None, int(GEMINI_MAX_BYTES * SPLIT_HEADROOM))
    if provider == "bedrock":
        from bifrost_cli.providers.bedrock.format import Limits

        quotas = Limits.from_env()
        return SplitLimits(quotas.max_records, int(min(quotas.max_file_bytes, quotas.max_job_bytes) * SPLIT_HEADROOM))
    return SplitLimits(MAX_REQUESTS, int(ANTHROPIC_MAX_BYTES * SPLIT_HEADROOM))


def split_limits(provider: str, *, max_requests: int | None = None, max_bytes: int | None = None) -> SplitLimits:
    """The provider's limits, lowered by the ``split_max_requests`` / ``split_max_bytes`` settings
    (``BIFROST_SPLIT_MAX_REQUESTS``, ``BIFROST_SPLIT_MAX_BYTES``), which apply exactly."""
    for name, value in (("BIFROST_SPLIT_MAX_REQUESTS", max_requests), ("BIFROST_SPLIT_MAX_BYTES", max_bytes)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be 1 or more, got {value}")
    base = provider_limits(provider)

    def lowest(a: int | None, b: int | None) -> int | None:
        return b if a is None else a if b is None else min(a, b)

    return SplitLimits(lowest(base.max_requests, max_requests), lowest(base.max_bytes, max_bytes))


@dataclass(frozen=True)
class PlannedPart:
    """``count`` requests from the ``start``-th (0-based), ``size`` bytes in all."""

    start: int
    count: int
    size: int


class LineTooBig(Exception):
    def __init__(self, index: int, size: int):
        super().__init__(index, size)
        self.index, self.size = index, size


def plan_parts(sizes: Sequence[int], limits: SplitLimits) -> list[PlannedPart]:
    """Parts for requests of these sizes (bytes each, in input order): as few as the request limit
    needs, of even counts (so that no part is a small remainder: Bedrock has a minimum), each then
    cut further where the byte limit needs. Raises :class:`LineTooBig` for a request bigger than
    the byte limit alone."""
    total = len(sizes)
    per = total
    if limits.max_requests is not None and total > limits.max_requests:
        batches = -(-total // limits.max_requests)
        per = -(-total // batches)
    parts: list[PlannedPart] = []
    start, count, size = 0, 0, 0
    for index, line in enumerate(sizes):
        if limits.max_bytes is not None and line > limits.max_bytes:
            raise LineTooBig(index, line)
        if count and (count >= per or (limits.max_bytes is not None and size + line > limits.max_bytes)):
            parts.append(PlannedPart(start, count, size))
            start, count, size = index, 0, 0
        count += 1
        size += line
    if count:
        parts.append(PlannedPart(start, count, size))
    return parts


def _line_sizes(requests: RequestSet) -> list[int]:
    sizes: list[int] = []
    rest = 0
    for chunk in requests.iter_encoded():
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            sizes.append(rest + end + 1 - start)
            rest, start = 0, end + 1
        rest += len(chunk) - start
    return sizes


class _PartRequests:
    """One part of a checked input, as a request set of its own (the adapters' view of
    :class:`~bifrost_cli.inputs.RequestSet`): its lines are the checked requests, written to an
    unnamed temporary file, never checked again."""

    def __init__(self, whole: RequestSet, display_name: str, ids: list[str], file: IO[bytes], sha256: str, size: int):
        self.display_name = display_name
        self.path = whole.path
        self.layout = "jsonl"
        self.input_format = whole.input_format
        self.count = len(ids)
        self.custom_ids = ids
        self.models = whole.models
        self.input_bytes = size
        self.sha256: str | None = sha256
        self.encoded_bytes: int | None = size
        self._whole = whole
        self._file = file

    def line_of(self, custom_id: str) -> int | None:
        return self._whole.line_of(custom_id)  # the line in the whole input

    def iter_encoded(self, chunk: int = 256 << 10) -> Iterator[bytes]:
        fd = self._file.fileno()

        def read() -> Iterator[bytes]:
            offset = 0
            while data := os.pread(fd, chunk, offset):
                offset += len(data)
                yield data

        return read()

    def iter_checked(self) -> Iterator[dict[str, Any]]:
        def parse() -> Iterator[dict[str, Any]]:
            rest = b""
            for data in self.iter_encoded():
                lines = (rest + data).split(b"\n")
                rest = lines.pop()
                for raw in lines:
                    yield json.loads(raw)

        return parse()

    iter_requests = iter_checked

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> _PartRequests:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _part_name(display_name: str, number: int, parts: int) -> str:
    from bifrost_cli.inputs import STDIN_NAME

    if display_name == STDIN_NAME:
        return f"stdin.part{number}-of-{parts}.jsonl"
    head, tail = os.path.split(display_name)
    stem, dot, ext = tail.rpartition(".")
    name = f"{stem}.part{number}-of-{parts}.{ext}" if dot and stem else f"{tail}.part{number}-of-{parts}"
    return os.path.join(head, name)


def _write_parts(requests: RequestSet, plan: list[PlannedPart]) -> list[tuple[IO[bytes], str]]:
    """Each part's lines (from the checked copy, read once) in an unnamed temporary file of its
    own, with their sha256."""
    files: list[tuple[IO[bytes], Any]] = []
    try:
        ends = [p.start + p.count for p in plan]
        fp: IO[bytes] | None = None
        digest = hashlib.sha256()
        index, rest = 0, b""
        for chunk in requests.iter_encoded():
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for raw in lines:
                if fp is None or index >= ends[len(files) - 1]:
                    fp, digest = tempfile.TemporaryFile(prefix="bifrost-part-"), hashlib.sha256()
                    files.append((fp, digest))
                data = raw + b"\n"
                digest.update(data)
                fp.write(data)
                index += 1
        for part_fp, _ in files:
            part_fp.flush()
    except OSError as err:
        for part_fp, _ in files:
            part_fp.close()
        raise UsageError(
            f"{requests.display_name}: could not write a part to a temporary file ({err.strerror or err}); nothing was sent",
            hint="Check that the temporary directory (TMPDIR) has room.",
        ) from err
    except BaseException:
        for part_fp, _ in files:
            part_fp.close()
        raise
    return [(part_fp, d.hexdigest()) for part_fp, d in files]


# ------------------------------------------------------------------------------------------------
# create --split


def _check_translation(target: CheckedTarget, requests: RequestSet) -> None:
    """The checks each part's create makes of its lines in the provider's own form, made once on
    the whole input before any part is sent (so that a bad line of a late part cannot leave the
    first parts sent): OpenAI's translation of every line. Other providers' creates check what
    the whole input shares (one model...), which every part shares too."""
    if target.provider == "openai" and requests.input_format in ("anthropic", "openai"):
        from bifrost_cli.providers.openai import format as openai_format

        openai_format.check_input(requests)


@dataclass
class GroupCreated:
    """What ``batches create --split`` did: the group, each part's batch (in part order), whether
    any was created by this run, and notes for stderr."""

    group: Group
    batches: list[Batch]
    new: bool = True
    notes: list[str] = field(default_factory=list)


def group_id_for(identity: str, sha256: str, options: str, limits: SplitLimits, nonce: str | None = None) -> str:
    seed = "\x00".join((identity, sha256, options, repr((limits.max_requests, limits.max_bytes)), nonce or ""))
    return GROUP_PREFIX + hashlib.sha256(seed.encode()).hexdigest()[:12]


def create_group(target: CheckedTarget, new: NewBatch, ledger: Ledger | None, limits: SplitLimits) -> GroupCreated:
    """Check the whole input, split it over ``limits``, record the group, then create each part
    that has no batch yet, in order, as ``batches create`` creates one batch. Nothing is sent when
    a line is bad, when one request alone is over the byte limit, or without a ledger."""
    import secrets

    from bifrost_cli.inputs import load_requests
    from bifrost_cli.service.batches import _Submission, batch_options, canonical_options, requests_sha256

    if ledger is None:
        raise UsageError(
            "--split needs the local ledger, which is off (BIFROST_LEDGER=off): a batch group is kept there",
            hint="Set BIFROST_LEDGER to a writable file (or unset it for the default), or split the input yourself.",
        )
    options = batch_options(metadata=new.metadata, timeout_hours=new.timeout_hours)
    creator = target.check("batches.create")
    target.preflight(options)
    with load_requests(
        new.input_path, model=new.model, stdin=new.stdin, input_format=new.input_format, max_requests=None
    ) as requests:
        sizes = _line_sizes(requests)
        try:
            plan = plan_parts(sizes, limits)
        except LineTooBig as big:
            custom_id = requests.custom_ids[big.index]
            line = requests.line_of(custom_id)
            raise InputError(
                [
                    f"{requests.display_name}:{line}: request {custom_id!r} is {big.size:,} bytes as sent; "
                    f"one batch takes at most {limits.max_bytes:,}: it cannot be split"
                ],
                total=1,
                hint="Make that request smaller (or send it on its own); nothing was sent.",
            ) from None
        _check_translation(target, requests)
        sha256 = requests_sha256(requests)
        canonical = canonical_options(options, requests)
        group_id = group_id_for(target.identity, sha256, canonical, limits, secrets.token_hex(8) if new.fresh else None)
        files = _write_parts(requests, plan)
        try:
            recorded = ledger.add_group(
                group_id=group_id,
                target=target.identity,
                provider=target.provider,
                input_name=requests.display_name,
                sha256=sha256,
                options=canonical,
                parts=[(requests.line_of(requests.custom_ids[p.start]) or 0, p.count, p.size, digest) for p, (_, digest) in zip(plan, files, strict=True)],
            )
            notes: list[str] = []
            batches: list[Batch] = []
            made = False
            for number, (p, (fp, digest)) in enumerate(zip(plan, files, strict=True), 1):
                name = _part_name(requests.display_name, number, len(plan))
                part = _PartRequests(requests, name, requests.custom_ids[p.start : p.start + p.count], fp, digest, p.size)
                known = recorded.parts[number - 1].batch_id
                if known is not None:
                    try:
                        batches.append(target.get_batch(known))
                        continue
                    except NotFoundError:
                        notes.append(f"Part {number} ({known}) no longer exists; submitting it again.")
                part_options = batch_options(metadata=new.metadata, timeout_hours=new.timeout_hours)
                created = _Submission(target, creator, part, part_options, ledger, new.fresh).run()  # type: ignore[arg-type]
                ledger.set_part_batch(group_id, number, created.batch.id)
                made = made or created.new
                notes += [f"Part {number}: {note}" for note in created.notes if created.new]
                batches.append(created.batch)
        finally:
            for fp, _ in files:
                fp.close()
    group = ledger.group(group_id) or recorded
    if not made:
        notes.insert(0, f"Already submitted as {group_id} ({len(plan)} batches); --new submits again.")
    return GroupCreated(group, batches, new=made, notes=notes)


# ------------------------------------------------------------------------------------------------
# commands on a group id


def load_group(ledger: Ledger | None, target: CheckedTarget, group_id: str) -> Group:
    """The group from the ledger: it must exist there, and belong to this target."""
    if ledger is None:
        raise UsageError(f"{group_id} is a batch group, and the local ledger is off (BIFROST_LEDGER=off)", hint=_HINT_LEDGER)
    group = ledger.group(group_id)
    if group is None:
        raise BifrostError(
            f"no batch group {group_id} in the local ledger {ledger.path}",
            hint=_HINT_LEDGER + f" `{suggest('batches list --local')}` lists the groups.",
            exit_code=ExitCode.NOT_FOUND,
        )
    if group.target != target.identity:
        raise UsageError(
            f"the batch group {group_id} was submitted to {group.target}, not {target.identity}",
            hint="Run the command with the provider and target options that created it.",
        )
    return group


def group_batch_ids(group: Group) -> list[str]:
    """The group's batch ids, in part order; a part without one is an error (its create was cut short)."""
    missing = [p.part for p in group.parts if p.batch_id is None]
    if missing:
        raise BifrostError(
            f"the batch group {group.id} is incomplete: part(s) {', '.join(map(str, missing))} of {len(group.parts)} "
            "were never created",
            hint=f"Run the same `{suggest('batches create', group.input_name)} --split` again: "
            "it creates only the missing parts.",
            exit_code=ExitCode.CONFLICT,
        )
    return [str(p.batch_id) for p in group.parts]


def expand_ids(ledger: Ledger | None, target: CheckedTarget, ids: Iterable[str]) -> list[str]:
    """Batch ids, each group id replaced by its batches' ids (in part order)."""
    out: list[str] = []
    for identifier in ids:
        out += group_batch_ids(load_group(ledger, target, identifier)) if is_group_id(identifier) else [identifier]
    return out


@dataclass
class GroupView:
    """A group as it stands: the record, and each part's batch (``None`` where it was never created)."""

    group: Group
    batches: list[Batch | None]


def get_group(target: CheckedTarget, ledger: Ledger | None, group_id: str) -> GroupView:
    from bifrost_cli.service.batches import get_batch

    group = load_group(ledger, target, group_id)
    return GroupView(group, [get_batch(target, p.batch_id) if p.batch_id else None for p in group.parts])


def cancel_group(target: CheckedTarget, ledger: Ledger | None, group_id: str) -> GroupView:
    """Cancel every batch of the group that has not ended (those that have are left as they are)."""
    from bifrost_cli.service.batches import cancel_batch

    group = load_group(ledger, target, group_id)
    batches: list[Batch | None] = []
    for p in group.parts:
        if p.batch_id is None:
            batches.append(None)
            continue
        try:
            batches.append(cancel_batch(target, p.batch_id))
        except ConflictError:  # already ended: nothing to cancel there
            batches.append(target.get_batch(p.batch_id))
    return GroupView(group, batches)


# ------------------------------------------------------------------------------------------------
# results of a group


@dataclass
class GroupResultsSummary(ResultsSummary):
    """What ``batches results GROUP`` wrote: counts over all parts (``expected``: the parts' requests)."""


def write_group_results(
    target: CheckedTarget,
    ledger: Ledger | None,
    group_id: str,
    *,
    output: str | None,
    raw: bool = False,
    force: bool = False,
    allow_partial: bool = False,
    stdout: IO[bytes] | None = None,
) -> GroupResultsSummary:
    """Every part's results, part after part (each in the order its batch gives them), to one
    output: stdout, or ``output`` written atomically. Each part is checked for completeness as
    ``batches results`` checks one batch; a part short of results is exit 6 and ``output`` is not
    put in place."""
    from bifrost_cli.service.results import _request_total, result_chunks, results_to_stdout
    from bifrost_cli.service.writing import check_destination, write_atomically

    ids = group_batch_ids(load_group(ledger, target, group_id))
    reader = target.check("batches.results")
    summary = GroupResultsSummary(path=output or "-")
    expected: list[int | None] = []

    def part_lines(number: int, batch_id: str) -> Iterator[bytes]:
        before = summary.total
        try:
            yield from result_chunks(reader, batch_id, raw=raw, counts=summary.counts)
        except TransferIncomplete as exc:  # the target's own check of what arrived
            exc.message = f"part {number} of {group_id} ({batch_id}): {exc.message}"
            raise
        except UnavailableError as exc:
            raise TransferIncomplete(
                f"the results of {batch_id} (part {number} of {group_id}) broke off after {summary.total - before} lines: "
                f"{exc.message}; nothing was saved",
                hint=exc.hint or "Run the command again.",
            ) from None
        if raw:
            return  # the provider's own lines: not counted against the batch's requests
        got = summary.total - before
        want = _request_total(reader, batch_id)
        expected.append(want)
        if want is not None and got < want:
            raise TransferIncomplete(
                f"only {got} result lines of {batch_id} (part {number} of {group_id}) arrived, but the batch has {want} "
                f"requests: {want - got} are missing; nothing was saved",
                hint="Run the command again; --allow-partial keeps what arrives.",
            )

    def lines() -> Iterator[bytes]:
        expected.clear()
        summary.counts.clear()
        for number, batch_id in enumerate(ids, 1):
            yield from part_lines(number, batch_id)
        summary.expected = None if raw or None in expected else sum(e or 0 for e in expected)

    if output and output != "-":
        dest = Path(output)
        check_destination(dest, force)
        partial = dest.with_name(dest.name + ".partial") if allow_partial else None
        write_atomically(dest, lines(), partial=partial)
    else:
        results_to_stdout(lines(), stdout, lambda: summary.total)
    return summary


def local_groups(ledger: Ledger | None, *, limit: int | None) -> list[Group]:
    """The ledger's batch groups, newest first (no network)."""
    return ledger.groups(limit=limit) if ledger is not None else []


def create_group_and_wait(
    target: CheckedTarget,
    new: NewBatch,
    ledger: Ledger | None,
    limits: SplitLimits,
    *,
    poll: float = 5.0,
    timeout: float | None = None,
    max_poll_errors: int = 10,
    on_created: Callable[[GroupCreated], None] | None = None,
    monitor: WaitMonitor | None = None,
) -> WaitOutcome:
    """:func:`create_group`, then wait for all its batches (a bar per batch and a total)."""
    from bifrost_cli.service.wait import NOT_FOUND_GRACE_AFTER_CREATE, wait_for_batches

    created = create_group(target, new, ledger, limits)
    if on_created is not None:
        on_created(created)
    return wait_for_batches(
        target,
        [b.id for b in created.batches],
        poll=poll,
        timeout=timeout,
        max_poll_errors=max_poll_errors,
        not_found_grace=NOT_FOUND_GRACE_AFTER_CREATE,
        monitor=monitor,
    )
