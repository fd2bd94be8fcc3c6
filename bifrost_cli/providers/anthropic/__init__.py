"""Anthropic: the Files and Message Batches APIs (``api``) and the gateway's ``/anthropic`` routes
(``gateway``), which also carry any provider that has no gateway route of its own."""

from __future__ import annotations

from collections.abc import Mapping

from bifrost_cli.providers.spec import has_text, EXPIRES_AFTER, METADATA, TIMEOUT_HOURS, ProviderSpec, Setting

NO_EXPIRY = (
    "Anthropic takes no expiry for uploads: leave out --expires-after "
    "(delete a file when done with `bifrost files delete ID`)"
)
NO_OPTIONS = {
    METADATA: "Anthropic batches carry no metadata, so --metadata would be dropped: leave it out "
    "(keep what you need to know about a batch beside its id)",
    TIMEOUT_HOURS: "Anthropic batches have no timeout setting (they expire 24 hours after creation): "
    "leave out --timeout-hours",
}
# What the gateway's Anthropic-compatible route cannot do, for whichever provider it carries.
GATEWAY_UNSUPPORTED = {
    EXPIRES_AFTER: NO_EXPIRY,
    **NO_OPTIONS,
    "batches.delete": "the gateway has no route to delete a batch: delete it at the provider "
    "directly (without --base-url, with the provider's own key)",
}

def refused(headers: Mapping[str, str], body: object) -> bool:
    """Anthropic's own refusal: ``{"type": "error", "error": {"type", "message"}}`` with its
    ``request-id`` header."""
    return (
        isinstance(body, dict)
        and body.get("type") == "error"
        and has_text(body.get("error"), "type", "message")
        and bool(headers.get("request-id"))
    )


SPEC = ProviderSpec(
    name="anthropic",
    title="Anthropic",
    id_shapes={"batch": r"msgbatch_\w+", "file": r"file_\w+"},
    settings=(
        Setting("anthropic_api_key", ("ANTHROPIC_API_KEY",), secret=True),
        Setting("anthropic_base_url", ("ANTHROPIC_BASE_URL",), default="https://api.anthropic.com"),
    ),
    secret_headers=frozenset({"x-api-key"}),
    direct="bifrost_cli.providers.anthropic.api:direct_target",
    gateway="bifrost_cli.providers.anthropic.gateway:gateway_target",
    unsupported={"direct": {EXPIRES_AFTER: NO_EXPIRY, **NO_OPTIONS}, "gateway": GATEWAY_UNSUPPORTED},
    batch_checks="bifrost_cli.providers.anthropic.checks",
    refusal_proof=refused,
    emulator_surface="Anthropic API:   {url}/native/anthropic   (ANTHROPIC_BASE_URL)",
)
