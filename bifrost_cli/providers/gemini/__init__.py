"""Google Gemini: files (resumable uploads) and Batch Mode, directly (``api``, ``resumable``) and
through the gateway's ``/genai`` routes (``gateway``); ``format`` translates the provider-neutral input."""

from __future__ import annotations

from bifrost_cli.providers.spec import EXPIRES_AFTER, NativeInput, ProviderSpec, Setting

NO_EXPIRY = "Gemini files always expire 48 hours after upload: leave out --expires-after"

SPEC = ProviderSpec(
    name="gemini",
    title="Gemini",
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
        "direct": {EXPIRES_AFTER: NO_EXPIRY},
        "gateway": {
            EXPIRES_AFTER: NO_EXPIRY,
            "files.download": "files download for gemini through the gateway is not possible: the gateway "
            "does not serve Gemini file contents. Batch results still come with `bifrost batches results`.",
        },
    },
    emulator_surface="Gemini API:      {url}/native/gemini      (GEMINI_BASE_URL)",
)
