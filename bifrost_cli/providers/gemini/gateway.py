"""Gemini's files and batches through a Bifrost gateway's ``/genai`` routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from bifrost_cli.http import HttpClient
from bifrost_cli.models import Batch, BatchResult
from bifrost_cli.providers.base import (
    Progress,
    UploadSource,
)
from bifrost_cli.providers.gemini.api import GeminiAPI, _no_results, _require_ended, batch_name, gemini_error_hook
from bifrost_cli.providers.gemini.format import error_result, model_name
from bifrost_cli.providers.common import reading

if TYPE_CHECKING:
    from bifrost_cli.config import Settings


class GeminiGateway(GeminiAPI):
    """A Bifrost gateway's ``/genai`` routes (Gemini's own wire format) for Gemini."""

    route = "/genai"
    carries_token = False  # the display name is sent, but the gateway's batch objects leave it out

    def __init__(self, http: HttpClient, provider: str = "gemini"):
        super().__init__(http, version="v1beta", provider=provider, root=self.route)

    def describe(self) -> str:
        return f"Bifrost gateway at {self.http.base_url} (provider {self.provider}, /genai)"

    def _batch_fields(self, display_name: str) -> tuple[str, str, str, str]:
        return "display_name", "input_config", "requests", "file_name"

    def _send_upload(self, url: str, source: UploadSource, progress: Progress | None) -> Any:
        """The gateway's second step: the whole file in one streamed ``upload, finalize``."""
        from bifrost_cli.http import Body

        body = Body(
            lambda: source.chunks(progress),
            length=source.size,
            content_type=source.mime_type or "application/octet-stream",
            replayable=source.replayable,
        )
        response = self.http.request(
            "POST", url, body=body, headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
            retry="unsent",
        )
        return self._json(response, "POST", url)

    def _results_target(self) -> Any:
        from bifrost_cli.providers.anthropic.gateway import GatewayTarget

        return GatewayTarget(self.http, self.provider, ended_known=True)

    @staticmethod
    def _anthropic_id(batch_id: str) -> str:
        return "batches-" + batch_name(batch_id)[len("batches/") :]

    def _ended(self, batch_id: str) -> Batch:
        """The batch, once it has ended with results (a failed or expired Gemini batch has none)."""
        batch = self.get_batch(batch_id)
        _require_ended(batch)
        if batch.native_status in ("failed", "expired"):
            raise _no_results(batch)
        return batch

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        batch = self._ended(batch_id)
        yield from self._results_target().iter_raw_results(self._anthropic_id(batch.id))

    def _batch_model(self, batch: Batch) -> str | None:
        """The batch's model. The gateway's ``/genai`` batch objects leave it out; its ``/openai``
        route names it for the same batch (``batches-<id>``, provider gemini): one request, made
        once per read of the results, and only when the model is missing (``None`` if that fails too)."""
        model = batch.details.get("model")
        if isinstance(model, str) and model:
            return model
        from bifrost_cli.errors import BifrostError
        from bifrost_cli.providers.openai.gateway import OpenAIGateway

        try:
            found = OpenAIGateway(self.http, self.provider).get_batch(self._anthropic_id(batch.id)).details.get("model")
        except BifrostError:
            return None
        return found if isinstance(found, str) and found else None

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]:
        """The gateway's results (``{custom_id, response | error}``) in Anthropic's shape: a Gemini
        error is read as directly (CANCELLED is ``canceled``, DEADLINE_EXCEEDED ``expired``, its
        code named), and the message names the batch's model when the gateway leaves it out."""
        from bifrost_cli.providers.results import normalize_result

        batch = self._ended(batch_id)
        model = self._batch_model(batch)
        gateway_id = self._anthropic_id(batch.id)
        for n, item in enumerate(self._results_target().iter_raw_results(gateway_id), 1):
            where = f"results of {batch.id}, item {n}"
            if isinstance(item, dict) and isinstance(item.get("error"), dict) and isinstance(item.get("custom_id"), str):
                line = {"custom_id": item["custom_id"], "result": error_result(item["error"])}
                with reading(where):
                    parsed = BatchResult.model_validate(line)
                yield parsed
                continue
            result = normalize_result(item, where=where)
            message = result.result.message
            if message is not None and not message.get("model") and model:
                message["model"] = model_name(model)
            yield result


def gateway_target(
    base_url: str, provider: str, key: str | None, *, trusted: bool = False, settings: Settings, **http_kwargs: Any
) -> GeminiGateway:
    """A gateway, through its ``/genai`` routes, for Gemini."""
    from bifrost_cli.providers.gateway import gateway_http

    headers = {"x-model-provider": provider}
    http = gateway_http(base_url, key, trusted=trusted, headers=headers, error_hook=gemini_error_hook, **http_kwargs)
    return GeminiGateway(http, provider)
