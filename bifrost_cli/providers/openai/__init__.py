"""OpenAI: Files, Uploads and Batches, directly (``api``, ``uploads``) and through the gateway's
``/openai`` routes (``gateway``); ``format`` translates the provider-neutral input to Chat Completions."""

from __future__ import annotations

from collections.abc import Mapping

from bifrost_cli.providers.spec import has_text, TIMEOUT_HOURS, NativeInput, ProviderSpec, Setting

NO_DELETE = (
    "OpenAI has no way to delete a batch: cancel it with `bifrost batches cancel ID`, "
    "or delete its files with `bifrost files delete FILE_ID` (`bifrost batches get ID` names them)"
)

def refused(headers: Mapping[str, str], body: object) -> bool:
    """OpenAI's own refusal: ``{"error": {"message", "type", ...}}`` with its ``x-request-id``."""
    return isinstance(body, dict) and has_text(body.get("error"), "message", "type") and bool(headers.get("x-request-id"))


NO_TIMEOUT = (
    "OpenAI batches have no timeout setting (their completion window is 24 hours): leave out --timeout-hours"
)


SPEC = ProviderSpec(
    name="openai",
    title="OpenAI",
    id_shapes={"batch": r"batch_\w+", "file": r"file-\w+"},
    settings=(
        Setting("openai_api_key", ("OPENAI_API_KEY",), secret=True),
        Setting("openai_base_url", ("OPENAI_BASE_URL",), default="https://api.openai.com/v1"),
        Setting("openai_organization", ("OPENAI_ORG_ID", "OPENAI_ORGANIZATION"), help="sent as OpenAI-Organization"),
        Setting("openai_project", ("OPENAI_PROJECT_ID",), help="sent as OpenAI-Project"),
    ),
    secret_headers=frozenset({"authorization"}),
    other_env=("BIFROST_OPENAI_UPLOAD_THRESHOLD", "BIFROST_OPENAI_PART_SIZE"),
    native_input=NativeInput(key="body", module="bifrost_cli.providers.openai.format"),
    direct="bifrost_cli.providers.openai.api:direct_target",
    gateway="bifrost_cli.providers.openai.gateway:gateway_target",
    unsupported={
        "direct": {"batches.delete": NO_DELETE, TIMEOUT_HOURS: NO_TIMEOUT},
        "gateway": {"batches.delete": NO_DELETE, TIMEOUT_HOURS: NO_TIMEOUT},
    },
    batch_checks="bifrost_cli.providers.openai.checks",
    refusal_proof=refused,
    emulator_surface="OpenAI API:      {url}/native/openai/v1   (OPENAI_BASE_URL)",
)
