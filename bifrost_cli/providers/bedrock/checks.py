"""What ``batches create`` checks of a Bedrock job before sending it, with no I/O and no AWS
credentials (also run by ``batches validate``, so the two never disagree)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bifrost_cli.errors import UnsupportedError
from bifrost_cli.providers.bedrock import format as fmt
from bifrost_cli.providers.bedrock.jobs import (
    DIRECT_HINT,
    check_job_options,
    check_records,
    check_settings,
    check_timeout,
    job_invocation,
    job_model,
)

if TYPE_CHECKING:
    from bifrost_cli.config import Settings
    from bifrost_cli.inputs import RequestSet
    from bifrost_cli.providers.base import BatchOptions
    from bifrost_cli.providers.spec import Mode


def check_options(options: BatchOptions, settings: Settings, mode: Mode) -> None:
    """Tags (--metadata), the S3 locations under --s3-uri and --role-arn, where set (a missing
    one is configuration, asked for when the job is created)."""
    given = tuple(name for name in ("s3_uri", "role_arn") if settings.text(name))
    if given:
        check_settings(settings, given)
    check_job_options(options, settings)
    check_timeout(options.timeout_hours)


def refuse_gateway_converse(model: str, invocation: str) -> None:
    """The gateway's /bedrock job route passes no modelInvocationType: Converse records would fail."""
    if invocation == fmt.CONVERSE:
        raise UnsupportedError(
            f"{model} takes Converse records (modelInvocationType: Converse), which the gateway's /bedrock job "
            "route does not pass on: the job would run them as InvokeModel bodies and every record would fail",
            hint=f"Use an Anthropic model, or native InvokeModel records (--input-format bedrock), or {DIRECT_HINT}.",
        )


def check_set(requests: RequestSet, provider: str, mode: Mode) -> None:
    """One model, the job's kind (Converse refused through the gateway) and the record count's
    quotas: cheap, run by ``create`` before it looks for an earlier job."""
    from bifrost_cli.inputs import FIX_HINT, Problems
    from bifrost_cli.providers.base import SPLIT_HINT

    model = job_model(requests)
    invocation = job_invocation(requests, model)
    if mode != "direct":
        refuse_gateway_converse(model, invocation)
    limits = fmt.Limits.from_env()
    problems = Problems(requests.display_name)
    for problem in limits.problems(requests.count, 0):
        problems.add(None, problem)
    if requests.count < limits.min_records:
        hint = FIX_HINT + " (If your account's quota is lower, set BIFROST_BEDROCK_MIN_RECORDS.)"
    else:
        hint = FIX_HINT + " " + SPLIT_HINT.removesuffix("; nothing was sent.") + "."
    problems.raise_any(hint)


def check_requests(requests: RequestSet, options: BatchOptions, settings: Settings, mode: Mode) -> list[str]:
    """One model, the records (each translated), and Bedrock's quotas (records and bytes per job,
    ``BIFROST_BEDROCK_MIN_RECORDS`` / ``BIFROST_BEDROCK_MAX_RECORDS``)."""
    model = job_model(requests)
    invocation = job_invocation(requests, model)
    if mode != "direct":
        refuse_gateway_converse(model, invocation)
    size, _ = check_records(requests, model, invocation)
    return [f"a {invocation} job of {requests.count:,} records, {size:,} bytes of JSONL"]
