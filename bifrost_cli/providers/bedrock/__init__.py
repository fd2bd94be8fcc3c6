"""AWS Bedrock batch inference: S3 objects as files and model invocation jobs as batches, directly
with boto3 (``api``) and through the gateway's ``/bedrock`` routes (``gateway``); ``format`` turns the
provider-neutral input into Bedrock records."""

from __future__ import annotations

from collections.abc import Mapping

from bifrost_cli.providers.spec import has_text, EXPIRES_AFTER, METADATA, OPERATIONS, NativeInput, ProviderSpec, Setting

DIRECT_HINT = "use direct Bedrock access with AWS credentials: drop --base-url (and set --region, --s3-uri)"
NO_EXPIRY = "--expires-after does not apply to S3 objects: expire them with an S3 lifecycle rule on the bucket"
NO_DELETE = (
    "Bedrock keeps its model invocation jobs: there is no delete. Stop a running job with "
    "`bifrost batches cancel ID`; its data in S3 goes with `bifrost files delete s3://...`"
)
_EMULATOR = (
    "the in-process emulator (--emulator) does not serve Bedrock: Bedrock jobs read and write S3. "
    "Serve the emulator (`bifrost emulator serve`), run an S3 server, and point "
    "AWS_ENDPOINT_URL_BEDROCK=<emulator URL>/native/bedrock and AWS_ENDPOINT_URL_S3 at them, without --emulator"
)

def refused(headers: Mapping[str, str], body: object) -> bool:
    """Bedrock's own refusal: ``{"message": ...}`` with ``x-amzn-ErrorType`` and ``x-amzn-RequestId``
    (boto3 reads the same; its own retries of a create are safe anyway: the job's
    ``clientRequestToken`` makes Bedrock answer a repeated create with the same job)."""
    return (
        isinstance(body, dict)
        and has_text(body, "message")
        and bool(headers.get("x-amzn-errortype"))
        and bool(headers.get("x-amzn-requestid"))
    )


SPEC = ProviderSpec(
    name="bedrock",
    title="Bedrock",
    id_shapes={"batch": r"arn:aws[\w-]*:bedrock:[\w-]+:\d{12}:model-invocation-job/\w+", "file": r"s3://\S+"},
    settings=(
        Setting("region", ("AWS_REGION", "AWS_DEFAULT_REGION"), help="bedrock: the AWS region", flag="--region"),
        Setting(
            "s3_uri",
            ("BIFROST_BEDROCK_S3_URI",),
            help="bedrock: s3://bucket/prefix for files and batch data",
            flag="--s3-uri",
        ),
        Setting(
            "role_arn",
            ("BIFROST_BEDROCK_ROLE_ARN",),
            help="bedrock: the IAM role the batch job assumes",
            flag="--role-arn",
        ),
    ),
    secret_env=("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
    other_env=(
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_BEDROCK",
    ),
    native_input=NativeInput(key="modelInput", module="bifrost_cli.providers.bedrock.format"),
    direct="bifrost_cli.providers.bedrock.api:direct_target",
    gateway="bifrost_cli.providers.bedrock.gateway:gateway_target",
    unsupported={
        "direct": {"batches.delete": NO_DELETE, EXPIRES_AFTER: NO_EXPIRY},
        "gateway": {
            "batches.delete": NO_DELETE,
            EXPIRES_AFTER: NO_EXPIRY,
            METADATA: "--metadata: the gateway's /bedrock job route does not pass tags on to Bedrock, so they "
            f"would be lost; drop --metadata, or {DIRECT_HINT}",
        },
        "emulator": dict.fromkeys(OPERATIONS, _EMULATOR),
    },
    batch_checks="bifrost_cli.providers.bedrock.checks",
    refusal_proof=refused,
    emulator_surface="Bedrock API:     {url}/native/bedrock     (AWS_ENDPOINT_URL_BEDROCK, with an S3 server)",
)
