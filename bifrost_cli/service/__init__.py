"""Operations the commands call: one function per command, no printing, no typer or rich.

Each command parses its options, makes one call here and hands the result to the output layer;
progress and status reach that layer through callbacks. What an outcome means for the exit code is
decided here too (``WaitOutcome.verdict``, ``DeleteReport.raise_first``).

One module per concern: :mod:`.files`, :mod:`.batches`, :mod:`.results`, :mod:`.wait`,
:mod:`.deleting`, :mod:`.emulator`; :mod:`.writing` is the one way anything reaches a local file.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bifrost_cli.service.batches import (
        Created,
        NewBatch,
        batch_options,
        cancel_batch,
        create_and_wait,
        create_batch,
        get_batch,
        list_batches,
        local_entries,
    )
    from bifrost_cli.service.cancelling import CancelReport, cancel_batches
    from bifrost_cli.service.deleting import DeleteReport, delete_batches, delete_files
    from bifrost_cli.service.doctor import DoctorReport, run_doctor
    from bifrost_cli.service.emulator import serve_emulator
    from bifrost_cli.service.filters import (
        STATUS_WORDS,
        Filtered,
        list_batches_filtered,
        list_files_filtered,
        local_entries_filtered,
        parse_since,
        parse_statuses,
    )
    from bifrost_cli.service.prune import Consent, PruneReport, parse_age, prune_batches, prune_files
    from bifrost_cli.service.groups import (
        GroupCreated,
        GroupView,
        cancel_group,
        create_group,
        create_group_and_wait,
        expand_ids,
        get_group,
        is_group_id,
        local_groups,
        split_limits,
        write_group_results,
    )
    from bifrost_cli.service.files import DownloadResult, download_file, get_file, list_files, upload_files
    from bifrost_cli.service.results import ResultsSummary, write_results
    from bifrost_cli.service.validate import Validation, validate_batch
    from bifrost_cli.service.wait import (
        WaitEvent,
        WaitMonitor,
        WaitOutcome,
        complete_counts,
        describe_outcome,
        wait_for_batches,
    )
    from bifrost_cli.service.writing import ProgressFactory, safe_filename, write_atomically

_HOME: dict[str, str] = {  # each name: the module that holds it
    "CancelReport": "cancelling",
    "Consent": "prune",
    "Created": "batches",
    "DeleteReport": "deleting",
    "DoctorReport": "doctor",
    "DownloadResult": "files",
    "Filtered": "filters",
    "GroupCreated": "groups",
    "GroupView": "groups",
    "NewBatch": "batches",
    "ProgressFactory": "writing",
    "PruneReport": "prune",
    "ResultsSummary": "results",
    "STATUS_WORDS": "filters",
    "Validation": "validate",
    "WaitEvent": "wait",
    "WaitMonitor": "wait",
    "WaitOutcome": "wait",
    "batch_options": "batches",
    "cancel_batch": "batches",
    "cancel_batches": "cancelling",
    "cancel_group": "groups",
    "complete_counts": "wait",
    "create_and_wait": "batches",
    "create_batch": "batches",
    "create_group": "groups",
    "create_group_and_wait": "groups",
    "delete_batches": "deleting",
    "delete_files": "deleting",
    "describe_outcome": "wait",
    "download_file": "files",
    "expand_ids": "groups",
    "get_batch": "batches",
    "get_file": "files",
    "get_group": "groups",
    "is_group_id": "groups",
    "list_batches": "batches",
    "list_batches_filtered": "filters",
    "list_files": "files",
    "list_files_filtered": "filters",
    "local_entries": "batches",
    "local_entries_filtered": "filters",
    "local_groups": "groups",
    "parse_age": "prune",
    "parse_since": "filters",
    "parse_statuses": "filters",
    "prune_batches": "prune",
    "prune_files": "prune",
    "run_doctor": "doctor",
    "safe_filename": "writing",
    "serve_emulator": "emulator",
    "split_limits": "groups",
    "upload_files": "files",
    "validate_batch": "validate",
    "wait_for_batches": "wait",
    "write_atomically": "writing",
    "write_group_results": "groups",
    "write_results": "results",
}


def __getattr__(name: str) -> Any:
    """A name's module is imported when the name is first asked for (PEP 562): a command pays
    only for what it uses (``emulator serve`` and ``config`` never load the pydantic models)."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "STATUS_WORDS",
    "CancelReport",
    "Filtered",
    "cancel_batches",
    "list_batches_filtered",
    "list_files_filtered",
    "local_entries_filtered",
    "parse_since",
    "parse_statuses",
    "Consent",
    "Created",
    "DeleteReport",
    "DoctorReport",
    "DownloadResult",
    "GroupCreated",
    "GroupView",
    "NewBatch",
    "ProgressFactory",
    "PruneReport",
    "ResultsSummary",
    "Validation",
    "WaitEvent",
    "WaitMonitor",
    "WaitOutcome",
    "batch_options",
    "cancel_batch",
    "cancel_group",
    "complete_counts",
    "create_and_wait",
    "create_batch",
    "create_group",
    "create_group_and_wait",
    "delete_batches",
    "delete_files",
    "describe_outcome",
    "download_file",
    "expand_ids",
    "get_batch",
    "get_file",
    "get_group",
    "is_group_id",
    "list_batches",
    "list_files",
    "local_entries",
    "parse_age",
    "prune_batches",
    "prune_files",
    "run_doctor",
    "local_groups",
    "safe_filename",
    "serve_emulator",
    "split_limits",
    "upload_files",
    "validate_batch",
    "wait_for_batches",
    "write_atomically",
    "write_group_results",
    "write_results",
]
