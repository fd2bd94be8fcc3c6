"""Bedrock batch inference records: translations both ways, limits, and the native input.

- :func:`to_record`: one provider-neutral request (``{custom_id, params}``) as a Bedrock record
  ``{"recordId", "modelInput"}``. Anthropic models get the Messages body with
  ``anthropic_version: "bedrock-2023-05-31"`` and without ``model`` (``InvokeModel``); other models a
  Converse body (``modelInvocationType: Converse``). A field that cannot be expressed is a problem,
  never dropped.
- :func:`to_result`: one line of ``<input>.jsonl.out`` (``modelOutput`` or ``error``) in Anthropic's
  result shape.
- :data:`INPUT_FORMAT`: native ``{"recordId": ..., "modelInput": {...}}`` lines
  (``--input-format bedrock``).
- :class:`Limits`: Bedrock's default record and size quotas, checked before anything is uploaded.

Nothing here does I/O.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from bifrost_cli.inputs import CUSTOM_ID_RE, Checked, InputFormat
from bifrost_cli.providers.content import ContentRules, convert_blocks, convert_messages, extra_keys, sampling_config

ANTHROPIC_VERSION = "bedrock-2023-05-31"
INVOKE_MODEL = "InvokeModel"
CONVERSE = "Converse"
NO_CONVERSE = "has no Converse equivalent; remove it, or use an Anthropic model (nothing is dropped silently)"
NO_BEDROCK = "is not accepted by Bedrock's Anthropic Messages body; remove it (nothing is dropped silently)"

# The Messages body Bedrock's Anthropic models take (InvokeModel), besides anthropic_version.
_ANTHROPIC_FIELDS = {
    "max_tokens",
    "messages",
    "system",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "thinking",
    "anthropic_beta",
}
# neutral params -> Converse inferenceConfig
_INFERENCE = {"max_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP", "stop_sequences": "stopSequences"}
_CONVERSE_HANDLED = {"model", "messages", "system", *_INFERENCE}
_IMAGE_FORMATS = {"image/jpeg": "jpeg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}
_CONVERSE_KEYS = {"inferenceConfig", "additionalModelRequestFields", "toolConfig", "guardrailConfig", "promptVariables"}

# Converse stopReason -> Anthropic stop_reason
_STOP = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "guardrail_intervened": "refusal",
    "content_filtered": "refusal",
    "model_context_window_exceeded": "max_tokens",
}

# Bedrock's job ARN and bare id
JOB_ARN_RE = re.compile(r"^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-invocation-job/([a-z0-9]{12})$")
JOB_ID_RE = re.compile(r"^[a-z0-9]{12}$")
JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}$")
ROLE_ARN_RE = re.compile(r"^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$")
# botocore's patterns for CreateModelInvocationJob's S3 locations and tags: Bedrock refuses a create
# (after the records are uploaded) whose s3Uri or tag does not match them.
S3_URI_RE = re.compile(r"^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?$")
TAG_RE = re.compile(r"^[a-zA-Z0-9\s._:/=+@-]*$")
MAX_TAGS = 200


def tag_problems(metadata: dict[str, str]) -> list[str]:
    """What Bedrock would refuse in ``--metadata`` (its job tags), each as one message."""
    problems = []
    if len(metadata) > MAX_TAGS:
        problems.append(f"--metadata has {len(metadata)} pairs; a Bedrock job takes at most {MAX_TAGS} tags")
    for key, value in metadata.items():
        if not 1 <= len(key) <= 128 or not TAG_RE.match(key):
            problems.append(f"--metadata key {key!r} is not a Bedrock tag key (1-128 letters, digits, spaces and . _ : / = + @ -)")
        if len(value) > 256 or not TAG_RE.match(value):
            problems.append(f"--metadata value {value!r} of {key!r} is not a Bedrock tag value "
                            "(up to 256 letters, digits, spaces and . _ : / = + @ -)")
    return problems
BUCKET_RE = re.compile(r"^[a-z0-9][-.a-z0-9]{1,61}[a-z0-9]$")


def is_anthropic_model(model: str) -> bool:
    """Whether a Bedrock model id (or ARN / inference profile) names an Anthropic model."""
    return "anthropic." in model.lower()


def job_id_of(identifier: str) -> str:
    """The 12-character job id of a job ARN (or of a bare id)."""
    match = JOB_ARN_RE.match(identifier)
    return match.group(2) if match else identifier


def is_job_identifier(identifier: str) -> bool:
    return bool(JOB_ARN_RE.match(identifier) or JOB_ID_RE.match(identifier))


# ------------------------------------------------------------------------------------------------
# limits


@dataclass(frozen=True)
class Limits:
    """Bedrock's default quotas for one job (adjustable in Service Quotas, so overridable here)."""

    min_records: int = 100
    max_records: int = 50_000
    max_file_bytes: int = 1024**3  # one input file
    max_job_bytes: int = 5 * 1024**3

    @classmethod
    def from_env(cls, environ: Any = None) -> Limits:
        env = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for name, var in (("min_records", "BIFROST_BEDROCK_MIN_RECORDS"), ("max_records", "BIFROST_BEDROCK_MAX_RECORDS")):
            raw = (env.get(var) or "").strip()
            if raw:
                if not raw.isdigit():
                    from bifrost_cli.errors import UsageError

                    raise UsageError(f"{var} must be a whole number, got {raw!r}")
                values[name] = int(raw)
        return cls(**values)

    def problems(self, count: int, size: int) -> list[str]:
        """What breaks a quota for a job of ``count`` records in one file of ``size`` bytes."""
        found = []
        if count < self.min_records:
            found.append(
                f"{count} records; a Bedrock batch job needs at least {self.min_records:,} "
                "(the per-model quota 'minimum number of records per batch inference job')"
            )
        if count > self.max_records:
            found.append(f"{count:,} records; a Bedrock batch job holds at most {self.max_records:,}: split the input")
        limit = min(self.max_file_bytes, self.max_job_bytes)
        if size > limit:
            found.append(f"the job's JSONL is {size:,} bytes; Bedrock takes at most {limit:,} per input file: split the input")
        return found


# ------------------------------------------------------------------------------------------------
# neutral request -> Bedrock record


def invocation_type(model: str) -> str:
    return INVOKE_MODEL if is_anthropic_model(model) else CONVERSE


def to_record(request: dict[str, Any], model: str) -> tuple[dict[str, Any], list[str]]:
    """``(record, problems)`` for one ``{custom_id, params}`` request sent to ``model``."""
    params = request["params"]
    if is_anthropic_model(model):
        body, problems = to_anthropic_body(params)
    else:
        body, problems = to_converse_body(params)
    return {"recordId": request["custom_id"], "modelInput": body}, problems


def to_anthropic_body(params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    problems = [f"params.{key} {NO_BEDROCK}" for key in params if key != "model" and key not in _ANTHROPIC_FIELDS]
    body = {"anthropic_version": ANTHROPIC_VERSION}
    body.update((k, v) for k, v in params.items() if k != "model")
    return body, problems


def to_converse_body(params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A Converse request body (without ``modelId``) for ``params``, and what cannot be expressed."""
    problems: list[str] = []
    extra_keys(params, _CONVERSE_HANDLED, "params", problems, NO_CONVERSE)
    messages = convert_messages(params.get("messages"), problems, _CONTENT)
    body: dict[str, Any] = {"messages": [{"role": role, "content": parts} for role, parts in messages]}
    if "system" in params:
        body["system"] = convert_blocks(params["system"], "params.system", problems, _SYSTEM)
    config = sampling_config(
        params, _INFERENCE, problems, wrong_type="params.{key} has the wrong type for Converse's inferenceConfig.{name}"
    )
    if config:
        body["inferenceConfig"] = config
    return body, problems


def _converse_image(media_type: str, data: str) -> dict[str, Any]:
    return {"image": {"format": _IMAGE_FORMATS[media_type], "source": {"bytes": data}}}


_CONTENT = ContentRules(
    NO_CONVERSE,
    image=_converse_image,
    image_types=tuple(_IMAGE_FORMATS),
    source_rule='only base64 images can go in a Converse record ({"type": "base64", ...})',
)
_SYSTEM = _CONTENT.without_images()


def native_invocation_type(model_input: dict[str, Any]) -> str:
    """``Converse`` when a native record's modelInput is a Converse body, else ``InvokeModel``."""
    if "anthropic_version" in model_input:
        return INVOKE_MODEL
    if _CONVERSE_KEYS & model_input.keys():
        return CONVERSE
    for message in model_input.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(isinstance(b, dict) and "type" not in b for b in content):
            return CONVERSE
    return INVOKE_MODEL


# ------------------------------------------------------------------------------------------------
# native input: {"recordId": ..., "modelInput": {...}}

_NATIVE_FIELDS = ("recordId", "modelInput")


def _check_native(item: Any, model: str | None) -> Checked:
    if not isinstance(item, dict):
        return Checked(['expected a JSON object with "recordId" and "modelInput"'])
    problems = [
        f'unknown field "{key}" (a Bedrock record has only "recordId" and "modelInput")'
        for key in item
        if key not in _NATIVE_FIELDS
    ]
    record_id = item.get("recordId")
    custom_id = None
    if "recordId" not in item:
        problems.append("recordId is missing (results are matched to requests by it)")
    elif not isinstance(record_id, str) or not CUSTOM_ID_RE.fullmatch(record_id):
        problems.append(f'recordId {json.dumps(record_id)[:60]} is not valid: use 1-64 letters, digits, "_" or "-"')
    else:
        custom_id = record_id
    model_input = item.get("modelInput")
    if "modelInput" not in item:
        problems.append("modelInput is missing (it holds the model's request body)")
    elif not isinstance(model_input, dict) or not model_input:
        problems.append("modelInput must be a non-empty object")
    elif "model" in model_input:
        problems.append("modelInput.model must not be set: the job's model comes from --model")
    return Checked(problems, custom_id, model)


def _native_request(item: dict[str, Any], model: str | None) -> dict[str, Any]:
    return {"custom_id": item["recordId"], "params": item["modelInput"]}


INPUT_FORMAT = InputFormat(_check_native, _native_request, id_name="recordId")


# ------------------------------------------------------------------------------------------------
# output record -> Anthropic result


def to_result(line: dict[str, Any], record_id: str) -> dict[str, Any]:
    """One ``.jsonl.out`` record as ``{"custom_id", "result"}``."""
    error = line.get("error")
    output = line.get("modelOutput")
    if error is not None or not isinstance(output, dict):
        return {"custom_id": record_id, "result": {"type": "errored", "error": error_envelope(error)}}
    return {"custom_id": record_id, "result": {"type": "succeeded", "message": to_message(record_id, output)}}


def error_envelope(error: Any) -> dict[str, Any]:
    """A record's ``{"errorCode", "errorMessage"}`` as Anthropic's error envelope (the one error
    vocabulary; the code, an HTTP status, kept as ``native_type``)."""
    from bifrost_cli.providers.common import error_envelope as common_error_envelope

    if not isinstance(error, dict):
        message = str(error) if error is not None else "the record has neither modelOutput nor error"
        return common_error_envelope(None, message)
    code = error.get("errorCode")
    return common_error_envelope(code if code not in (None, "") else None, error.get("errorMessage") or "")


def missing_envelope(message: str) -> dict[str, Any]:
    from bifrost_cli.providers.common import error_envelope as common_error_envelope

    return common_error_envelope("missing_result", message)


def to_message(record_id: str, output: dict[str, Any]) -> dict[str, Any]:
    """A modelOutput (an Anthropic message, a Converse response, or another model's body) as an
    Anthropic message."""
    if output.get("type") == "message" or ("content" in output and "role" in output):
        return output
    converse = output.get("output")
    if isinstance(converse, dict) and isinstance(converse.get("message"), dict):
        return _from_converse(record_id, output)
    # another model's own InvokeModel body: keep it whole as the message's text
    return {
        "id": f"msg_{record_id}",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": json.dumps(output, ensure_ascii=False)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }


def _from_converse(record_id: str, output: dict[str, Any]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for block in output["output"]["message"].get("content") or []:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            content.append({"type": "text", "text": block["text"]})
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            content.append({"type": "tool_use", "id": use.get("toolUseId"), "name": use.get("name"), "input": use.get("input")})
        elif isinstance(block.get("reasoningContent"), dict):
            text = (block["reasoningContent"].get("reasoningText") or {}).get("text")
            if isinstance(text, str):
                content.append({"type": "thinking", "thinking": text})
    usage = output.get("usage") or {}
    return {
        "id": f"msg_{record_id}",
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": _STOP.get(str(output.get("stopReason") or "end_turn"), "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": int(usage.get("inputTokens") or 0), "output_tokens": int(usage.get("outputTokens") or 0)},
    }
