"""``bifrost batches ...``"""


from typing import Annotated, Any

import typer

from bifrost_cli.providers import registry

from bifrost_cli.cli._common import (
    AllOpt,
    AllowErrorsOpt,
    DryRunOpt,
    JsonOpt,
    LimitOpt,
    MaxPollErrorsOpt,
    OlderThanOpt,
    PollOpt,
    QuietOpt,
    YesOpt,
    TimeoutOpt,
    check_ids,
    complete_input_format,
    complete_provider,
    complete_result_format,
    complete_status,
    examples,
    handle_errors,
    list_limit,
    make_group,
    output,
    prune_consent,
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
    model: Annotated[str | None, typer.Option("--model", "-m", metavar="MODEL", help="Fills params.model where a line lacks it.")] = None,
    input_format: Annotated[
        str,
        typer.Option(
            "--input-format",
            metavar="FORMAT",
            autocompletion=complete_input_format,
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
        int | None, typer.Option("--timeout-hours", min=24, max=168, metavar="HOURS", help="bedrock: the job's timeout (24-168 hours).")
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
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check everything create checks, as `batches validate` does, and stop: nothing is sent "
            "or recorded, no credentials needed (exit 0: it would be accepted; 2: it would not).",
        ),
    ] = False,
) -> None:
    """Validate every request line, then create one batch. Nothing is sent if any line is bad."""
    from bifrost_cli import service

    out = output(json_, quiet)
    if dry_run:
        report = service.validate_batch(
            state(ctx).settings(), input_path, model=model, input_format=input_format, metadata=metadata or (), timeout_hours=timeout_hours
        )
        out.validation(report)
        report.verdict()
        return
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


@batches_app.command(
    "list",
    epilog=examples(
        "bifrost batches list --all --json",
        "bifrost batches list --status running,canceling --since 2d",
        "bifrost batches list --local",
    ),
)
@handle_errors
def list_(
    ctx: typer.Context,
    limit: LimitOpt = 20,
    all_: AllOpt = False,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="WORD",
            autocompletion=complete_status,
            help="Only batches in this state (repeatable, or comma-separated): running, canceling, ended, "
            "succeeded, partial, failed, canceled, expired. Filtered here, for every target.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="Only batches created since then: a duration back from now (30m, 36h, 2d, 1w) or an RFC 3339 "
            "date (2026-11-01, 2026-11-01T08:00:00Z). Paging stops once older batches come.",
        ),
    ] = None,
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
    count = list_limit(ctx, limit, all_)
    if local:
        if status:
            raise typer.BadParameter("--status filters the target's batches; --local lists the ledger (--since works with both)")
        ledger = state(ctx).ledger()
        out.ledger_entries(
            service.local_entries_filtered(ledger, limit=count, since=since),
            str(ledger.path) if ledger else None,
            service.local_groups(ledger, limit=count),
        )
        return
    out.batches(
        service.list_batches_filtered(
            state(ctx).target(out), limit=count, status=status, since=since, on_note=out.notice
        )
    )


@batches_app.command("get", short_help="Show a batch's (or batch group's) status and request counts.", epilog=examples("bifrost batches get msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d", "bifrost batches get ID --json | jq .request_counts"))
@handle_errors
def get(
    ctx: typer.Context,
    batch_id: BatchId,
    usage: Annotated[
        bool,
        typer.Option(
            "--usage",
            help="Also show the tokens used per model, with an estimated cost (the batch's own figure "
            "where the target reports one, else summed over its results; a group: summed over its batches).",
        ),
    ] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Show a batch's status and request counts (a group id: the group's summary and each batch)."""
    from bifrost_cli import service

    out = output(json_, quiet)
    if usage:
        from bifrost_cli.service import usage as tokens

        if service.is_group_id(batch_id):
            summary = tokens.group_usage(state(ctx).target(out), state(ctx).ledger(), batch_id, batch_figures=True)
            return out.usage(summary, tokens.estimate_cost(summary))
        batch, summary = tokens.batch_with_usage(state(ctx).target(out), batch_id)
        out.usage(summary, tokens.estimate_cost(summary), batch)
        return
    if service.is_group_id(batch_id):
        view = service.get_group(state(ctx).target(out), state(ctx).ledger(), batch_id)
        return out.group(view.group, view.batches)
    out.batch(service.get_batch(state(ctx).target(out), batch_id))


@batches_app.command(
    "cancel",
    short_help="Ask the provider to cancel batches.",
    epilog=examples(
        "bifrost batches cancel ID",
        "bifrost batches cancel ID && bifrost batches wait ID --allow-errors",
        "bifrost batches list --status running -q | xargs bifrost batches cancel --json",
    ),
)
@handle_errors
def cancel(
    ctx: typer.Context,
    batch_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Batches to cancel.", callback=check_ids)],
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Ask the provider to cancel batches; requests already running may still finish. A group id
    cancels each of its batches that has not ended.

    Several ids: each is asked for, a failure does not stop the others, and the exit code is the
    worst (highest) of the failures'; --json prints a list, one {"id", "ok", "batch" | "error",
    "exit_code"} per id. One id: the batch, as `batches get` shows it.
    """
    from bifrost_cli import service

    out = output(json_, quiet)
    if len(batch_ids) == 1 and service.is_group_id(batch_ids[0]):  # a group: each of its batches not ended
        view = service.cancel_group(state(ctx).target(out), state(ctx).ledger(), batch_ids[0])
        return out.group(view.group, view.batches)
    if any(service.is_group_id(i) for i in batch_ids):
        batch_ids = service.expand_ids(state(ctx).ledger(), state(ctx).target(out), batch_ids)
    if len(dict.fromkeys(batch_ids)) == 1:
        out.batch(service.cancel_batch(state(ctx).target(out), batch_ids[0]))
        return
    report = service.cancel_batches(state(ctx).target(out), batch_ids)
    out.canceled(report)
    report.raise_worst()


@batches_app.command(
    "delete",
    short_help="Delete ended batches (Anthropic, Gemini).",
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
    out.deleted(report.deleted, report)
    report.raise_first()


@batches_app.command(
    "results",
    short_help="Stream a batch's results as JSONL, in one shape for every target.",
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
    output_path: Annotated[str | None, typer.Option("--output", "-o", metavar="PATH", help="Write to this file (atomically) instead of stdout.")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Pass the target's own result lines through unchanged.")] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing -o file.")] = False,
    allow_partial: Annotated[
        bool,
        typer.Option("--allow-partial", help="If results are missing or cut short, keep what arrived as FILE.partial (still exit 6)."),
    ] = False,
    join: Annotated[
        str | None,
        typer.Option(
            "--join", metavar="INPUT",
            help="Write one line per INPUT line, in input order: custom_id, status (succeeded, errored, "
            "canceled, expired or missing), output text, usage, error.",
        ),
    ] = None,
    retry_file: Annotated[
        str | None,
        typer.Option(
            "--retry-file", metavar="PATH",
            help="Write the input lines (byte for byte) whose request did not succeed, for batches create PATH. "
            "Needs --join INPUT or --input INPUT.",
        ),
    ] = None,
    input_path: Annotated[
        str | None,
        typer.Option("--input", metavar="INPUT", help="The input the batch was created from, for --retry-file alone (no joined lines)."),
    ] = None,
    result_format: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="FORMAT",
            autocompletion=complete_result_format,
            help="jsonl, table (id, status, tokens, first line of output or error; tab-separated when piped), "
            "or auto: table on a terminal, jsonl otherwise.",
        ),
    ] = "auto",
    json_summary: Annotated[
        bool, typer.Option(
            "--json",
            help="With --join/--retry-file: the summary (counts, files, ids not in the input) as JSON; "
            "with --summary: the tokens and cost as JSON.",
        )
    ] = False,
    summary_: Annotated[
        bool,
        typer.Option(
            "--summary",
            help="Instead of the results, show the tokens they used per model, with an estimated cost "
            "(--json: as JSON).",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No summary line on stderr (the results are printed as without it).")
    ] = False,
) -> None:
    """Stream results as JSONL, one line per request, in Anthropic's result shape whatever the target.
    Fewer results than the batch's requests (or a transfer cut short) is exit 6, and -o FILE is not written."""
    from bifrost_cli import service

    if summary_:
        from bifrost_cli.service import usage as tokens

        tokens.check_summary_options(
            output=output_path, raw=raw, join=join, retry_file=retry_file, input_path=input_path, result_format=result_format
        )
        out = output(json_summary, quiet)
        if service.is_group_id(batch_id):
            used = tokens.group_usage(state(ctx).target(out), state(ctx).ledger(), batch_id)
        else:
            used = tokens.summarise_results(state(ctx).target(out), batch_id)
        out.usage(used, tokens.estimate_cost(used))
        return
    out = output(json_summary, quiet)
    target = state(ctx).target(out)
    if service.is_group_id(batch_id):
        group_summary = service.write_group_results(
            target, state(ctx).ledger(), batch_id, output=output_path, raw=raw, force=force, allow_partial=allow_partial
        )
        return out.group_results_summary(group_summary, batch_id, raw)
    from bifrost_cli.service import join as joining

    plan = joining.plan_results(
        join=join, retry_file=retry_file, input_path=input_path, result_format=result_format,
        output=output_path, raw=raw, stdout_tty=out.stdout_tty,
    )
    if plan.mode == "table":
        out.results_counts(joining.result_rows(target, batch_id, out.results_table), batch_id)
        return
    if plan.mode == "join":
        assert plan.input_path is not None
        joined = joining.join_results(
            target,
            batch_id,
            input_path=plan.input_path,
            output=output_path,
            retry_file=retry_file,
            write_join=plan.write_join,
            force=force,
            allow_partial=allow_partial,
            restarts=state(ctx).settings().max_retries,
            rows=out.results_table if plan.table else None,
        )
        out.join_summary(joined, batch_id, data_on_stdout=plan.write_join and not output_path)
        return
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
    short_help="Wait until batches end, showing progress; Ctrl-C never cancels.",
    epilog=examples(
        "bifrost batches wait ID --poll 5 --timeout 3600",
        "bifrost batches wait ID && bifrost batches results ID -o results.jsonl",
        "bifrost batches wait ID --json --stuck-after 900 --fail-if-stuck | tee wait.jsonl",
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
    stuck_after: Annotated[
        float | None,
        typer.Option(
            "--stuck-after",
            metavar="SECONDS",
            min=0.1,
            help="Warn (stderr; a stuck event with --json) when a batch that has not ended shows no change "
            "in its counts for this many seconds (e.g. stuck in finalizing).",
        ),
    ] = None,
    fail_if_stuck: Annotated[
        bool,
        typer.Option("--fail-if-stuck", help="With --stuck-after: end the wait then, exit 6 (nothing is canceled)."),
    ] = False,
    json_: Annotated[
        bool,
        typer.Option(
            "--json",
            help="One JSON event a line on stdout (status changes, retried poll errors, stuck, and a final "
            "end event with the outcome and exit code), flushed; nothing else on stdout.",
        ),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Wait until every batch has ended, showing progress; Ctrl-C stops waiting, never cancels.

    Exit 0 when every request succeeded, 7 when a batch ended otherwise, 6 on --timeout, on
    --fail-if-stuck, or when status checks kept failing (--max-poll-errors); an error that cannot
    pass (refused key, unknown batch, no such route) ends the wait at once with its own exit code.
    """
    from bifrost_cli import service

    out = output(json_, quiet)
    if any(service.is_group_id(i) for i in batch_ids):  # a group: its batches, in part order
        batch_ids = service.expand_ids(state(ctx).ledger(), state(ctx).target(out), batch_ids)
    events = out.wait_events() if json_ else None
    outcome = None
    try:
        outcome = service.wait_for_batches(
            state(ctx).target(out),
            batch_ids,
            poll=poll,
            timeout=timeout,
            max_poll_errors=max_poll_errors,
            monitor=events.monitor if events is not None else out.wait_monitor,
            stuck_after=stuck_after,
            fail_if_stuck=fail_if_stuck,
        )
        if events is None:
            out.wait_final(outcome)
        outcome.verdict(allow_errors)
    except BaseException as exc:
        if events is not None:
            events.end(outcome, exc)
        raise
    if events is not None:
        events.end(outcome, None, allow_errors)


@batches_app.command(
    "prune",
    short_help="Delete ended batches created more than AGE ago.",
    epilog=examples(
        "bifrost batches prune --older-than 30d --dry-run",
        "bifrost -p gemini batches prune --older-than 7d --yes",
    ),
)
@handle_errors
def prune(
    ctx: typer.Context,
    older_than: OlderThanOpt,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Delete ended batches created more than AGE ago (Anthropic, Gemini; OpenAI and Bedrock keep
    theirs), with a table of what was (or would be) deleted. Running batches are kept.

    Asks first on a terminal; without one, needs --yes (or --dry-run). Every delete is tried; if
    some fail, the exit code is that of the first failure."""
    from bifrost_cli import service

    out = output(json_, quiet)
    report = service.prune_batches(state(ctx).target(out), older_than=older_than, dry_run=dry_run, consent=prune_consent(out, yes))
    out.prune(report)


@batches_app.command(
    "validate",
    short_help="Check an input as `batches create` would, sending nothing.",
    epilog=examples(
        "bifrost batches validate requests.jsonl",
        "bifrost batches validate requests.jsonl -p openai --model gpt-4o-mini --json",
        "bifrost --base-url http://localhost:8080 batches validate requests.jsonl -p bedrock --model anthropic.claude-3-5-haiku-20241022-v1:0",
    ),
)
@handle_errors
def validate(
    ctx: typer.Context,
    input_path: Annotated[
        str,
        typer.Argument(metavar="INPUT", help="The input `batches create` would send; - reads stdin."),
    ],
    provider: Annotated[
        str | None,
        typer.Option("--provider", "-p", metavar="NAME", autocompletion=complete_provider, help="Check for this provider (as the global -p does).", show_default=False),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", metavar="MODEL", help="Fills params.model where a line lacks it.")] = None,
    input_format: Annotated[
        str,
        typer.Option("--input-format", metavar="FORMAT", autocompletion=complete_input_format, help="auto, anthropic, or a provider's native lines (as for create)."),
    ] = "auto",
    metadata: Annotated[
        list[str] | None,
        typer.Option("--metadata", metavar="KEY=VALUE", help="Check these create options too (as for create)."),
    ] = None,
    timeout_hours: Annotated[int | None, typer.Option("--timeout-hours", metavar="HOURS", help="Check this create option too.")] = None,
    json_: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no summary: the exit code (and the problems on stderr) say it.")] = False,
) -> None:
    """Check an input as `batches create` would, for the provider and target chosen (directly or
    through --base-url), without sending anything or needing credentials: every problem as
    FILE:LINE: message, a summary with an estimate of the input tokens. Exit 0 when create would
    accept it, 2 when not."""
    from bifrost_cli import service

    out = output(json_, quiet)
    if provider is not None:
        state(ctx).flags["provider"] = provider
    report = service.validate_batch(
        state(ctx).settings(), input_path, model=model, input_format=input_format, metadata=metadata or (), timeout_hours=timeout_hours
    )
    out.validation(report)
    report.verdict()
