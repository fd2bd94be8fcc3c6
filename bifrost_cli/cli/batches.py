"""``bifrost batches ...``"""


from typing import Annotated, Any

import typer

from bifrost_cli.providers import registry

from bifrost_cli.cli._common import (
    AllOpt,
    AllowErrorsOpt,
    JsonOpt,
    LimitOpt,
    MaxPollErrorsOpt,
    PollOpt,
    QuietOpt,
    TimeoutOpt,
    check_ids,
    examples,
    handle_errors,
    make_group,
    output,
    state,
)

batches_app = make_group("Create, list, inspect, cancel and wait for batch jobs, and fetch their results.")

BatchId = Annotated[str, typer.Argument(metavar="ID", help="The batch's id, or a batch group's (grp-..., from create --split).", callback=check_ids)]


@batches_app.command(
    "create",
    epilog=examples(
        "bifrost batches create requests.jsonl",
        "bifrost batches create requests.jsonl --model claude-sonnet-4-5 --wait --poll 5",
        "cat requests.jsonl | bifrost --base-url http://localhost:8080 -p gemini batches create - -q",
    ),
)
@handle_errors
def create(
    ctx: typer.Context,
    input_path: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help='JSONL of {"custom_id": ..., "params": {...Messages body...}} lines (or a JSON array); - reads stdin.',
        ),
    ],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Fills params.model where a line lacks it.")] = None,
    input_format: Annotated[
        str,
        typer.Option(
            "--input-format",
            help="auto, anthropic (provider-neutral {custom_id, params}), or a provider's native lines: "
            + ", ".join(spec.name for spec in registry.specs() if spec.native_input is not None)
            + ".",
        ),
    ] = "auto",
    metadata: Annotated[
        list[str] | None,
        typer.Option("--metadata", metavar="KEY=VALUE", help="openai: the batch's metadata; bedrock: the job's tags (repeatable). Refused where the provider keeps none."),
    ] = None,
    timeout_hours: Annotated[
        int | None, typer.Option("--timeout-hours", min=24, max=168, help="bedrock: the job's timeout (24-168 hours).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Wait until the batch ends (exit codes as for wait).")] = False,
    fresh: Annotated[
        bool,
        typer.Option(
            "--new",
            help="Submit again on purpose: without it, an input already submitted to this target with "
            "these options gives the earlier batch (from the local ledger, or found by its client token).",
        ),
    ] = False,
    poll: PollOpt = 5.0,
    timeout: TimeoutOpt = None,
    max_poll_errors: MaxPollErrorsOpt = 10,
    allow_errors: AllowErrorsOpt = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    split: Annotated[
        bool,
        typer.Option(
            "--split",
            help="Split an input over the provider's per-batch limits (requests, bytes) into as many batches as "
            "needed, recorded as one batch group (grp-...) that get, wait, cancel and results accept.",
        ),
    ] = False,
) -> None:
    """Validate every request line, then create one batch. Nothing is sent if any line is bad."""
    from bifrost_cli import service

    out = output(json_, quiet)
    target = state(ctx).target(out)
    new = service.NewBatch(
        input_path, model=model, input_format=input_format, metadata=metadata or (), timeout_hours=timeout_hours, fresh=fresh
    )
    ledger = state(ctx).ledger()
    if split:
        return _create_group(ctx, out, target, new, ledger, wait=wait, poll=poll, timeout=timeout,
                             max_poll_errors=max_poll_errors, allow_errors=allow_errors)
    if not wait:
        created = service.create_batch(target, new, ledger)
        for note in created.notes:
            out.notice(note)
        out.batch(created.batch)
        return
    outcome = service.create_and_wait(
        target,
        new,
        poll=poll,
        timeout=timeout,
        max_poll_errors=max_poll_errors,
        on_created=out.batch_created,
        monitor=out.wait_monitor,
        ledger=ledger,
        on_note=out.notice,
    )
    if out.mode == "json" and outcome.batches:
        out.batch(outcome.batches[0])
    elif out.mode == "human":
        out.wait_final(outcome)
    outcome.verdict(allow_errors)


def _create_group(ctx: typer.Context, out: Any, target: Any, new: Any, ledger: Any, *, wait: bool, poll: float,
                  timeout: float | None, max_poll_errors: int, allow_errors: bool) -> None:
    """``batches create --split``: a batch group, then (``--wait``) a wait on all its batches."""
    from bifrost_cli import service

    settings = state(ctx).settings()
    limits = service.split_limits(
        target.provider, max_requests=settings.get("split_max_requests"), max_bytes=settings.get("split_max_bytes")
    )

    made: list[Any] = []

    def show(created: Any) -> None:
        made.append(created)
        for note in created.notes:
            out.notice(note)
        if not wait or out.mode == "quiet":
            out.group(created.group, created.batches)
        elif out.mode == "human":
            out.notice(f"Batch group {created.group.id}: {len(created.batches)} batches")

    if not wait:
        show(service.create_group(target, new, ledger, limits))
        return
    outcome = service.create_group_and_wait(
        target, new, ledger, limits, poll=poll, timeout=timeout, max_poll_errors=max_poll_errors,
        on_created=show, monitor=out.wait_monitor,
    )
    if out.mode == "json" and made:
        ended = {b.id: b for b in outcome.batches}
        out.group(made[0].group, [ended.get(b.id, b) for b in made[0].batches])
    elif out.mode == "human":
        out.wait_final(outcome)
    outcome.verdict(allow_errors)


@batches_app.command("list", epilog=examples("bifrost batches list --all --json", "bifrost batches list -q | xargs -n1 bifrost batches get", "bifrost batches list --local"))
@handle_errors
def list_(
    ctx: typer.Context,
    limit: LimitOpt = 20,
    all_: AllOpt = False,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Show the local ledger instead (every create and upload sent from here: id, target, "
            "input, state); no network.",
        ),
    ] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """List batches, newest first."""
    from bifrost_cli import service

    out = output(json_, quiet)
    if local:
        ledger = state(ctx).ledger()
        out.ledger_entries(
            service.local_entries(ledger, limit=None if all_ else limit), str(ledger.path) if ledger else None,
            service.local_groups(ledger, limit=None if all_ else limit),
        )
        return
    out.batches(service.list_batches(state(ctx).target(out), limit=None if all_ else limit))


@batches_app.command("get", epilog=examples("bifrost batches get msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d", "bifrost batches get ID --json | jq .request_counts"))
@handle_errors
def get(ctx: typer.Context, batch_id: BatchId, json_: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Show a batch's status and request counts (a group id: the group's summary and each batch)."""
    from bifrost_cli import service

    out = output(json_, quiet)
    if service.is_group_id(batch_id):
        view = service.get_group(state(ctx).target(out), state(ctx).ledger(), batch_id)
        return out.group(view.group, view.batches)
    out.batch(service.get_batch(state(ctx).target(out), batch_id))


@batches_app.command("cancel", epilog=examples("bifrost batches cancel ID", "bifrost batches cancel ID && bifrost batches wait ID --allow-errors"))
@handle_errors
def cancel(ctx: typer.Context, batch_id: BatchId, json_: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Ask the provider to cancel a batch; requests already running may still finish. A group id
    cancels each of its batches that has not ended."""
    from bifrost_cli import service

    out = output(json_, quiet)
    if service.is_group_id(batch_id):
        view = service.cancel_group(state(ctx).target(out), state(ctx).ledger(), batch_id)
        return out.group(view.group, view.batches)
    out.batch(service.cancel_batch(state(ctx).target(out), batch_id))


@batches_app.command(
    "delete",
    epilog=examples(
        "bifrost batches delete msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d",
        "bifrost -p gemini batches list -q | xargs bifrost -p gemini batches delete",
    ),
)
@handle_errors
def delete(
    ctx: typer.Context,
    batch_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Batches to delete.", callback=check_ids)],
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Delete ended batches (Anthropic, Gemini; OpenAI and Bedrock keep theirs). Every id is tried;
    the exit code is that of the first failure."""
    from bifrost_cli import service

    out = output(json_, quiet)
    report = service.delete_batches(state(ctx).target(out), batch_ids)
    out.deleted(report.deleted)
    report.raise_first()


@batches_app.command(
    "results",
    epilog=examples(
        "bifrost batches results ID > results.jsonl",
        "bifrost batches results ID -o results.jsonl",
        "bifrost batches results ID | jq -r 'select(.result.type==\"errored\") | .custom_id'",
    ),
)
@handle_errors
def results(
    ctx: typer.Context,
    batch_id: BatchId,
    output_path: Annotated[str | None, typer.Option("--output", "-o", help="Write to this file (atomically) instead of stdout.")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Pass the target's own result lines through unchanged.")] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing -o file.")] = False,
    allow_partial: Annotated[
        bool,
        typer.Option("--allow-partial", help="If results are missing or cut short, keep what arrived as FILE.partial (still exit 6)."),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Stream results as JSONL, one line per request, in Anthropic's result shape whatever the target.
    Fewer results than the batch's requests (or a transfer cut short) is exit 6, and -o FILE is not written."""
    from bifrost_cli import service

    out = output(False, quiet)
    target = state(ctx).target(out)
    if service.is_group_id(batch_id):
        group_summary = service.write_group_results(
            target, state(ctx).ledger(), batch_id, output=output_path, raw=raw, force=force, allow_partial=allow_partial
        )
        return out.group_results_summary(group_summary, batch_id, raw)
    summary = service.write_results(
        target,
        batch_id,
        output=output_path,
        raw=raw,
        force=force,
        allow_partial=allow_partial,
        restarts=state(ctx).settings().max_retries,
    )
    out.results_summary(summary, batch_id, raw)


@batches_app.command(
    "wait",
    epilog=examples(
        "bifrost batches wait ID --poll 5 --timeout 3600",
        "bifrost batches list -q | xargs bifrost batches wait --allow-errors",
        "bifrost batches wait ID && bifrost batches results ID -o results.jsonl",
    ),
)
@handle_errors
def wait(
    ctx: typer.Context,
    batch_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Batches (or batch groups: grp-...) to wait for.", callback=check_ids)],
    poll: PollOpt = 5.0,
    timeout: TimeoutOpt = None,
    max_poll_errors: MaxPollErrorsOpt = 10,
    allow_errors: AllowErrorsOpt = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Wait until every batch has ended, showing progress; Ctrl-C stops waiting, never cancels.

    Exit 0 when every request succeeded, 7 when a batch ended otherwise, 6 on --timeout or when
    status checks kept failing (--max-poll-errors); an error that cannot pass (refused key, unknown
    batch, no such route) ends the wait at once with its own exit code.
    """
    from bifrost_cli import service

    out = output(json_, quiet)
    if any(service.is_group_id(i) for i in batch_ids):  # a group: its batches, in part order
        batch_ids = service.expand_ids(state(ctx).ledger(), state(ctx).target(out), batch_ids)
    outcome = service.wait_for_batches(
        state(ctx).target(out),
        batch_ids,
        poll=poll,
        timeout=timeout,
        max_poll_errors=max_poll_errors,
        monitor=out.wait_monitor,
    )
    out.wait_final(outcome)
    outcome.verdict(allow_errors)
