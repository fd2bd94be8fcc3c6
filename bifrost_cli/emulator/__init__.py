"""Offline emulator of the four providers' files and batch APIs (Anthropic, OpenAI, Gemini, Bedrock's
control plane) and of a Bifrost gateway's routes for them (``/anthropic``, ``/openai``, ``/genai``,
``/bedrock``).

It is a WSGI application (:func:`create_app`) that keeps its state on disk (``EmulatorConfig.state_dir``)
so separate processes share files and batches; ``bifrost_cli.emulator.server.make_server`` serves it
over HTTP. Standard library only.

Routes: each provider's own API under ``/native/<provider>``, the gateway's routes under ``/anthropic``
(upstream chosen by the ``x-model-provider`` header), ``/openai``, ``/genai`` and ``/bedrock`` (see
:mod:`.app` for the map), ``GET /_emulator/health`` and the admin route
``POST /_emulator/files?filename=NAME`` (raw body; creates a downloadable file).

Batch timing: a batch created at ``c`` ends at ``c + batch_seconds``; request ``i`` of ``n`` finishes
at ``c + batch_seconds*(i+1)/(n+1)``; a cancel ends the batch about one second later (or at its
natural end if sooner) with unfinished requests ``canceled``. Successful replies are deterministic:
``"Emulated reply to: "`` followed by the first 200 characters of the last user message.

Failure markers (put them in a user message's text; a string or ``text`` content blocks):

``[emulator:error]``
    the request ends ``errored`` with ``invalid_request_error`` / ``"emulated failure"``.
``[emulator:error:TYPE]``
    the same with error type ``TYPE`` (e.g. ``overloaded_error``, ``rate_limit_error``, ``api_error``).
``[emulator:expire]``
    the request ends ``expired``.
``[emulator:batch-fail]`` (gateway, provider ``openai``, in the FIRST request)
    the whole batch fails validation: ``processing_status`` ``failed`` shortly after creation, no results.
``[emulator:batch-expire]`` (gateway, provider ``gemini``, in the FIRST request)
    the whole batch ends with ``processing_status`` ``expired`` and no results.

Params missing ``model``, ``max_tokens`` or ``messages`` are not refused at creation: like the real API
they end as ``errored`` results. ``EmulatorConfig.flaky_every = N`` makes every Nth request (counted
per application instance) answer 503 ``overloaded_error`` with ``retry-after: 0`` before doing anything.
"""

from .app import create_app
from .config import EmulatorConfig, default_state_dir

__all__ = ["EmulatorConfig", "create_app", "default_state_dir"]
