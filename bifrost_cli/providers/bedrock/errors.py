"""botocore's errors as bifrost-cli's (exit codes and hints), and what each missing setting is."""

from __future__ import annotations

from collections.abc import Callable

from bifrost_cli.errors import (
    APIError,
    AuthError,
    BifrostError,
    ConflictError,
    NotFoundError,
    RateLimitError,
    ResponseError,
    UnavailableError,
    UsageError,
)

# What each missing setting is and how to set it.
SETTING_HELP = {
    "region": "the AWS region: --region REGION or AWS_REGION",
    "s3_uri": "where batch files live: --s3-uri s3://BUCKET/PREFIX or BIFROST_BEDROCK_S3_URI",
    "role_arn": "the service role Bedrock assumes: --role-arn arn:aws:iam::ACCOUNT:role/NAME or BIFROST_BEDROCK_ROLE_ARN",
    "credentials": "AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or `aws sso login`",
}


# ------------------------------------------------------------------------------------------------
# botocore errors -> our errors

_AUTH_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
    "MissingAuthenticationTokenException",
}
NOT_FOUND_CODES = {"ResourceNotFoundException", "NoSuchKey", "NoSuchBucket", "NotFound", "404"}
_THROTTLE_CODES = {"ThrottlingException", "Throttling", "SlowDown", "TooManyRequestsException", "RequestLimitExceeded"}
_CONFLICT_CODES = {"ConflictException", "ServiceQuotaExceededException"}
AUTH_HINT = "Check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID...) and that they may use Bedrock and the S3 bucket."


def classify(code: str, status: int | None) -> type[APIError]:
    if code in _AUTH_CODES or status in (401, 403):
        return AuthError
    if code in NOT_FOUND_CODES or status == 404:
        return NotFoundError
    if code in _THROTTLE_CODES or status == 429:
        return RateLimitError
    if code in _CONFLICT_CODES or status == 409:
        return ConflictError
    if status is not None and (status >= 500 or status == 408):
        return UnavailableError
    return APIError


def aws_error(exc: Exception, what: str, redact: Callable[[str], str]) -> BifrostError:
    """A botocore/boto3 exception as one of our errors, with secrets redacted."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error") or {}
        meta = exc.response.get("ResponseMetadata") or {}
        code = str(error.get("Code") or "")
        status = meta.get("HTTPStatusCode")
        message = redact(str(error.get("Message") or "") or "no error message in the answer")
        cls = classify(code, status)
        hint = None
        if cls is AuthError:
            hint = AUTH_HINT
        elif cls is RateLimitError:
            hint = "Still throttled after retries; wait and try again, or raise --max-retries."
        elif cls is ConflictError and code == "ServiceQuotaExceededException":
            hint = "A Bedrock quota is reached (e.g. jobs in progress per model); wait for jobs to end or raise the quota."
        return cls(
            f"{what}: AWS answered {status or '?'} {code}: {message}",
            status=status,
            error_type=code or None,
            request_id=meta.get("RequestId"),
            hint=hint,
        )
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.CredentialRetrievalError):
        return AuthError(f"{what}: {redact(str(exc))}", hint="Set " + SETTING_HELP["credentials"] + ".")
    if isinstance(exc, bx.NoRegionError):
        return UsageError(f"{what}: no AWS region", hint="Set " + SETTING_HELP["region"] + ".")
    if isinstance(exc, bx.ParamValidationError):
        return UsageError(f"{what}: {redact(str(exc))}")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ConnectionClosedError):
        return UnavailableError(
            f"{what}: {redact(str(exc))}",
            hint="Is the endpoint reachable? Check AWS_REGION and any AWS_ENDPOINT_URL_* setting.",
        )
    if isinstance(exc, bx.BotoCoreError):
        return UnavailableError(f"{what}: {redact(str(exc))}")
    return ResponseError(f"{what}: {redact(str(exc))}")
