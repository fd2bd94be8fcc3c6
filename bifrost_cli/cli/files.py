"""``bifrost files ...``"""


from typing import Annotated

import typer

from bifrost_cli.cli._common import (
    AllOpt,
    DryRunOpt,
    JsonOpt,
    LimitOpt,
    OlderThanOpt,
    QuietOpt,
    YesOpt,
    check_ids,
    complete_purpose,
    examples,
    handle_errors,
    list_limit,
    make_group,
    output,
    prune_consent,
    state,
)

files_app = make_group("Upload, list, inspect, download and delete files.")


@files_app.command(
    "upload",
    short_help="Upload files, streamed from disk or stdin.",
    epilog=examples(
        "bifrost files upload requests.jsonl",
        "bifrost -p openai files upload a.jsonl b.jsonl --purpose batch --json",
        "gunzip -c big.jsonl.gz | bifrost files upload - --filename big.jsonl",
    ),
)
@handle_errors
def upload(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(metavar="PATH...", help="Files to upload; - reads stdin.", show_default=False)],
    purpose: Annotated[str, typer.Option("--purpose", metavar="PURPOSE", autocompletion=complete_purpose, help="What the file is for (providers that take one).")] = "batch",
    filename: Annotated[
        str | None, typer.Option("--filename", metavar="NAME", help="Name to give the upload (required with -).")
    ] = None,
    expires_after: Annotated[
        int | None,
        typer.Option("--expires-after", min=1, metavar="SECONDS", help="openai: delete the file this many seconds after upload."),
    ] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Upload files, streamed from disk (or stdin) with a progress bar on a terminal."""
    from bifrost_cli import service

    out = output(json_, quiet)
    uploaded = []
    try:
        for item in service.upload_files(
            state(ctx).target(out),
            paths,
            purpose=purpose,
            filename=filename,
            expires_after=expires_after,
            progress=out.transfer,
            ledger=state(ctx).ledger(),
            on_note=out.notice,
        ):
            uploaded.append(item)
    except BaseException:
        if uploaded:  # a later file failed: still show the ids of those that landed
            out.files(uploaded)
        raise
    out.files(uploaded)


@files_app.command(
    "list",
    epilog=examples(
        "bifrost files list --all --json",
        "bifrost files list -q | xargs bifrost files delete",
        "bifrost -p openai files list --purpose batch_output --since 1w",
    ),
)
@handle_errors
def list_(
    ctx: typer.Context,
    limit: LimitOpt = 20,
    all_: AllOpt = False,
    purpose: Annotated[
        str | None,
        typer.Option(
            "--purpose",
            metavar="PURPOSE",
            autocompletion=complete_purpose,
            help="Only files with this purpose (batch, batch_output...; OpenAI and the gateway keep one, "
            "other targets' files have none and never match).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            help="Only files created since then: a duration back from now (30m, 36h, 2d, 1w) or an RFC 3339 "
            "date (2026-11-01, 2026-11-01T08:00:00Z). Paging stops once older files come.",
        ),
    ] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """List files, newest first."""
    from bifrost_cli import service

    out = output(json_, quiet)
    found = service.list_files_filtered(state(ctx).target(out), limit=list_limit(ctx, limit, all_), purpose=purpose, since=since)
    for note in found.notes:
        out.notice(note)
    out.files(found.items)


@files_app.command("get", epilog=examples("bifrost files get file_011CNha8iCJcU1wXNR6q4V8w", "bifrost files get FILE_ID --json"))
@handle_errors
def get(
    ctx: typer.Context,
    file_id: Annotated[str, typer.Argument(metavar="ID", help="The file's id.", callback=check_ids)],
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Show a file's metadata."""
    from bifrost_cli import service

    out = output(json_, quiet)
    out.file(service.get_file(state(ctx).target(out), file_id))


@files_app.command("delete", epilog=examples("bifrost files delete FILE_ID", "bifrost files list -q | xargs bifrost files delete"))
@handle_errors
def delete(
    ctx: typer.Context,
    file_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Files to delete.", callback=check_ids)],
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Delete files. Every id is tried; the exit code is that of the first failure."""
    from bifrost_cli import service

    out = output(json_, quiet)
    report = service.delete_files(state(ctx).target(out), file_ids)
    out.deleted(report.deleted, report)
    report.raise_first()


@files_app.command(
    "download",
    short_help="Download a file's content, checked before it is put in place.",
    epilog=examples(
        "bifrost -p openai files download file-abc123 -o output.jsonl",
        "bifrost -p openai files download file-abc123 -o - | head",
    ),
)
@handle_errors
def download(
    ctx: typer.Context,
    file_id: Annotated[str, typer.Argument(metavar="ID", help="The file's id.", callback=check_ids)],
    output_path: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="PATH", help="Where to write; - for stdout. Default: the file's own name, in this directory."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing file.")] = False,
    allow_partial: Annotated[
        bool,
        typer.Option("--allow-partial", help="If the transfer is cut short, keep what arrived as PATH.partial (still exit 6)."),
    ] = False,
    json_: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the path written (nothing with -o -).")] = False,
) -> None:
    """Download a file's content, streamed to a temporary file renamed to PATH only when complete
    (the file's size, and its checksum where the provider gives one); exit 6 otherwise."""
    from bifrost_cli import service

    out = output(json_, quiet)
    result = service.download_file(
        state(ctx).target(out), file_id, output=output_path, force=force, allow_partial=allow_partial, progress=out.transfer
    )
    out.downloaded(result)


@files_app.command(
    "prune",
    short_help="Delete files created more than AGE ago.",
    epilog=examples(
        "bifrost files prune --older-than 7d --dry-run",
        "bifrost files prune --older-than 7d --purpose batch --yes",
        "bifrost -p openai files prune --older-than 2w --yes --json",
    ),
)
@handle_errors
def prune(
    ctx: typer.Context,
    older_than: OlderThanOpt,
    purpose: Annotated[str | None, typer.Option("--purpose", metavar="PURPOSE", autocompletion=complete_purpose, help="Only files with this purpose (batch, batch_output...).")] = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Delete files created more than AGE ago, with a table of what was (or would be) deleted.

    A file an unfinished batch still reads as its input is kept. Asks first on a terminal; without
    one, needs --yes (or --dry-run). Every delete is tried; if some fail, the exit code is that of
    the first failure (4 not found, 6 unavailable...)."""
    from bifrost_cli import service

    out = output(json_, quiet)
    report = service.prune_files(state(ctx).target(out), older_than=older_than, purpose=purpose, dry_run=dry_run, consent=prune_consent(out, yes))
    out.prune(report)
    report.verdict()
