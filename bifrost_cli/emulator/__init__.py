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
per application instance) answer 503 with ``retry-after: 0`` before doing anything, in the error shape
of the surface asked (see below).

Fault injection (:mod:`.faults`; off by default)
    Rules ``OP:KIND[=VALUE][,retry-after=S][,shape=provider|bare][xN]`` are armed by
    ``EmulatorConfig.faults`` (from ``BIFROST_EMULATOR_FAULTS``, ``;``-separated, or ``emulator serve
    --fault RULE``, which replaces the environment's) and at run time by the admin routes
    ``POST /_emulator/faults`` (``{"rules": [...]}``; replaces the armed rules, answers them),
    ``GET /_emulator/faults`` (``{"rules": [{"rule", "remaining"}]}``, remaining ``"*"`` for ``x*``, 0
    once spent) and ``DELETE /_emulator/faults``. They live in the application's memory. A bad rule
    raises ``ValueError`` naming it (serve exits 2; the admin route answers 400, keeping the armed rules).

    OP is ``batches.create|get|list|cancel|delete|results``, ``files.upload|get|list|download|delete``
    or ``any``; every API route of every surface is classified in ONE table, ``faults.ROUTES``:
    Gemini resumable starts and chunks, OpenAI Uploads create/parts/complete/cancel and the gateway's
    ``PUT /bedrock/files/...`` are ``files.upload``; every file content route is ``files.download``
    (OpenAI output/error files and Gemini responses files included); ``batches.results`` is a results
    route (Anthropic's results JSONL, the gateway's ``/anthropic`` results); Bedrock's ``stop`` is
    ``batches.cancel``. Health, admin and the web page are never faulted. ``xN``: the next N matching
    requests (default 1); ``x*`` every one; rules are checked in order, the first armed match fires.

    KIND: ``status=CODE`` answers CODE before anything is done, in the surface's own error shape and
    request-id header (``shape=provider``: Anthropic ``request-id``, OpenAI ``x-request-id``, Gemini's
    ``{"error":{"code","message","status"}}``, Bedrock ``{"message"}`` + ``x-amzn-ErrorType`` +
    ``x-amzn-RequestId``, the gateway routes a Bifrost error ``{"is_bifrost_error":true,...}``) or as
    a proxy's HTML page without request id (``shape=bare``); ``retry-after=S`` adds the header.
    ``after=CODE`` does the request (its effect persists), then answers a bare CODE.
    ``cut=N|P%`` ends the body cleanly after N bytes (P percent; down to a line boundary for JSONL)
    without ``Content-Length``, closing the connection; ``cut-length=N|P%`` the same with a matching
    ``Content-Length``; ``reset=N|P%`` sends the true ``Content-Length`` and closes after N bytes (at
    most size - 1); ``stall=S`` sends the headers then waits S seconds; ``drip=S`` sends the body a
    byte every S seconds. Body-level kinds need ``server.py`` (it honours ``faults.WIRE_KEY`` in the
    environ); through another WSGI caller the body is still shortened or delayed, nothing is closed.

Byte ranges
    Every byte stream (file contents on every surface, Anthropic's native results JSONL) answers
    ``Accept-Ranges: bytes`` and a strong ``ETag`` (the content's SHA-256; files also carry it as
    ``sha256`` and Gemini's ``sha256Hash``); ``Range: bytes=START-``, ``START-END`` or ``-N`` answers
    206 with ``Content-Range``, past the end 416 with ``Content-Range: bytes */SIZE``; ``If-Range``
    with another ETag answers the whole 200. Faults apply to the ranged answer. The emulator serves
    no S3 GET (Bedrock's data lives in the external S3 server); the gateway's S3-style PUT answers a
    quoted MD5 ``ETag``.

Private state
    State files are created 0600 and directories 0700 whatever the umask.
"""

from .app import create_app
from .config import EmulatorConfig, default_state_dir

__all__ = ["EmulatorConfig", "create_app", "default_state_dir"]
