"""Google Gemini: files (resumable uploads) and Batch Mode, directly (``api``, ``resumable``) and
through the gateway's ``/genai`` routes (``gateway``); ``format`` translates the provider-neutral input."""

from __future__ import annotations

from collections.abc import Mapping

from bifrost_cli.providers.spec import has_text, EXPIRES_AFTER, METADATA, TIMEOUT_HOURS, NativeInput, ProviderSpec, Setting

NO_EXPIRY = "Gemini files always expire 48 hours after upload: leave out --expires-after"

def refused(headers: Mapping[str, str], body: object) -> bool:
    """Gemini's own refusal. Google's answers carry no request id a client can rely on, so the
    proof is the canonical error alone, and only for the status Google gives before admitting a
    request: ``{"error": {"code": 429, "message", "status": "RESOURCE_EXHAUSTED"}}`` (a quota or
    rate limit). ``UNAVAILABLE`` (503) can also come after the backend acted: not proof."""
    err = body.get("error") if isinstance(body, dict) else None
    return has_text(err, "message", "status") and isinstance(err, dict) and err.get("code") == 429 and err.get("status") == "RESOURCE_EXHAUSTED"


NO_OPTIONS = {
    METADATA: "Gemini batches have no metadata, so --metadata cannot be sent: leave it out",
    TIMEOUT_HOURS: "Gemini batches have no timeout setting (they expire after 48 hours): leave out --timeout-hours",
}


SPEC = ProviderSpec(
    name="gemini",
    title="Gemini",
    id_shapes={"batch": r"batches/[\w-]+", "file": r"files/[\w-]+"},
    settings=(
        Setting("gemini_api_key", ("GEMINI_API_KEY", "GOOGLE_API_KEY"), secret=True),
        Setting("gemini_base_url", ("GEMINI_BASE_URL",), default="https://generativelanguage.googleapis.com"),
        Setting("gemini_api_version", ("GEMINI_API_VERSION",), default="v1beta"),
    ),
    secret_headers=frozenset({"x-goog-api-key"}),
    other_env=("BIFROST_GEMINI_INLINE_LIMIT",),
    native_input=NativeInput(key="request", module="bifrost_cli.providers.gemini.format"),
    direct="bifrost_cli.providers.gemini.api:direct_target",
    gateway="bifrost_cli.providers.gemini.gateway:gateway_target",
    unsupported={
        "direct": {EXPIRES_AFTER: NO_EXPIRY, **NO_OPTIONS},
        "gateway": {
            EXPIRES_AFTER: NO_EXPIRY,
            **NO_OPTIONS,
            "files.download": "files download for gemini through the gateway is not possible: the gateway "
            "does not serve Gemini file contents. Batch results still come with `bifrost batches results BATCH_ID`.",
        },
    },
    batch_checks="bifrost_cli.providers.gemini.checks",
    refusal_proof=refused,
    emulator_surface="Gemini API:      {url}/native/gemini      (GEMINI_BASE_URL)",
)
