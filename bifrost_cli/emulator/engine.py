"""Batch time progression and deterministic per-request results.

Nothing runs in the background: a batch record stores when it was created (and when a cancel was
asked) and every read computes the batch's state from the clock with :func:`snapshot`.

Timeline of a batch with ``n`` requests created at ``c`` with duration ``B`` (``batch_seconds``):

* request ``i`` (input order) finishes at ``c + B*(i+1)/(n+1)``; the batch ends at ``c + B``;
* the first ``B/(2(n+1))`` seconds are the "validating" phase, the time between the last request
  finishing and the end is the "finalizing" phase (only the emulated OpenAI upstream shows them);
* a cancel at ``t`` makes the batch "canceling" and ends it at ``min(t + 1, c + B)``; requests that
  had not finished at ``t`` end ``canceled``.

Each request's fate is decided when the batch is created (see :func:`plan_request` and the failure
markers documented in the package docstring) and stored, so results are a pure function of the input.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

CANCEL_SECONDS = 1.0
REPLY_PREFIX = "Emulated reply to: "
REPLY_CHARS = 200

# per-request outcome codes stored in a batch record's "outcomes" string
SUCCEEDED, ERRORED, EXPIRED, CANCELED = "s", "e", "x", "c"
OUTCOME_NAMES = {SUCCEEDED: "succeeded", ERRORED: "errored", EXPIRED: "expired", CANCELED: "canceled"}

_MARKER = re.compile(r"\[emulator:(error|expire|batch-fail|batch-expire)(?::([A-Za-z0-9_]+))?\]")

# HTTP status that goes with each Anthropic error type (also used for the OpenAI/Gemini shapes)
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def hash_token(*parts: str, length: int = 24) -> str:
    """A deterministic base62 token derived from ``parts``."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    number = int.from_bytes(digest, "big")
    out = []
    for _ in range(length):
        number, rem = divmod(number, 62)
        out.append(alphabet[rem])
    return "".join(out)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            block.get("text", "") for block in content
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
        )
    return ""


def user_texts(params: Any) -> list[str]:
    """Text of every user message in a Messages-style ``params`` object."""
    if not isinstance(params, dict) or not isinstance(params.get("messages"), list):
        return []
    return [
        _content_text(msg.get("content"))
        for msg in params["messages"]
        if isinstance(msg, dict) and msg.get("role") == "user"
    ]


def markers(params: Any) -> list[tuple[str, str | None]]:
    """The ``[emulator:...]`` markers found in the user messages, in order."""
    found: list[tuple[str, str | None]] = []
    for text in user_texts(params):
        found.extend((m.group(1), m.group(2)) for m in _MARKER.finditer(text))
    return found


def _param_problem(params: dict) -> str | None:
    """What the (asynchronous) params validation of the real API would reject, if anything."""
    for key in ("model", "max_tokens", "messages"):
        if key not in params:
            return f"{key}: Field required"
    if not isinstance(params["model"], str) or not params["model"]:
        return "model: Input should be a valid string"
    max_tokens = params["max_tokens"]
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        return "max_tokens: Input should be an integer greater than or equal to 1"
    messages = params["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for index, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
        if "content" not in msg:
            return f"messages.{index}.content: Field required"
    return None


def plan_request(batch_id: str, custom_id: str, params: Any) -> list:
    """Decide one request's result.

    Returns ``[custom_id, outcome, error_type, error_message, model, reply_text, input_tokens, output_tokens]``.
    """
    raw_model = params.get("model") if isinstance(params, dict) else None
    model = raw_model if isinstance(raw_model, str) else ""
    problem = _param_problem(params) if isinstance(params, dict) else "params: Input should be a valid dictionary"
    if problem:
        return [custom_id, ERRORED, "invalid_request_error", problem, model, "", 0, 0]
    return plan_checked(custom_id, model, params)


def plan_checked(custom_id: str, model: str, params: Any) -> list:
    """Decide the result of a request already found valid: its markers, else the deterministic reply
    to the last user message (``params`` needs only ``messages``; see :func:`plan_request`)."""
    for kind, arg in markers(params):
        if kind == "error":
            return [custom_id, ERRORED, arg or "invalid_request_error", "emulated failure", model, "", 0, 0]
        if kind == "expire":
            return [custom_id, EXPIRED, None, None, model, "", 0, 0]
    texts = user_texts(params)
    last = texts[-1] if texts else ""
    reply = REPLY_PREFIX + last[:REPLY_CHARS]
    input_tokens = max(1, math.ceil(sum(len(t) for t in texts) / 4))
    output_tokens = max(1, math.ceil(len(reply) / 4))
    return [custom_id, SUCCEEDED, None, None, model, reply, input_tokens, output_tokens]


def batch_fate(provider: str, requests: list[dict]) -> str | None:
    """Batch-level failure chosen by a marker in the FIRST request (only some upstreams have it)."""
    if not requests:
        return None
    kinds = {kind for kind, _ in markers(requests[0].get("params"))}
    if provider == "openai" and "batch-fail" in kinds:
        return "failed"
    if provider == "gemini" and "batch-expire" in kinds:
        return "expired"
    return None


def new_batch_record(batch_id: str, provider: str, plan: list[list], *, created_at: float,
                     batch_seconds: float, fate: str | None = None, model: str | None = None) -> dict:
    return {
        "id": batch_id,
        "provider": provider,
        "created_at": created_at,
        "batch_seconds": batch_seconds,
        "n": len(plan),
        "outcomes": "".join(entry[1] for entry in plan),
        "cancel_at": None,
        "fate": fate,
        "model": model,
    }


@dataclass
class Snapshot:
    """A batch's state at one instant."""

    phase: str  # validating | in_progress | finalizing | canceling | ended | failed | expired
    n: int
    finished: int  # requests (in input order) that reached their own outcome
    outcomes: str
    ended_at: float | None
    cancel_at: float | None

    @property
    def done(self) -> bool:
        return self.phase in ("ended", "failed", "expired")

    @property
    def canceled(self) -> bool:
        return self.cancel_at is not None

    def final_outcome(self, index: int) -> str:
        """Outcome code of request ``index`` once the batch has ended."""
        if index < self.finished:
            return self.outcomes[index]
        return CANCELED if self.canceled else EXPIRED

    def counts(self) -> dict[str, int]:
        """True per-state counts (they always sum to ``n``)."""
        head = self.outcomes[: self.finished]
        rest = self.n - self.finished
        counts = {
            "processing": 0 if self.done else rest,
            "succeeded": head.count(SUCCEEDED),
            "errored": head.count(ERRORED),
            "canceled": rest if self.done and self.canceled else 0,
            "expired": head.count(EXPIRED) + (rest if self.done and not self.canceled else 0),
        }
        return counts


def _finished_by(record: dict, t: float) -> int:
    n, start, span = record["n"], record["created_at"], record["batch_seconds"]
    if t < start:
        return 0
    if span <= 0:
        return n
    return max(0, min(n, math.floor((t - start) * (n + 1) / span + 1e-9)))


def snapshot(record: dict, now: float) -> Snapshot:
    """Compute a batch's state at ``now`` from its record (a pure function of the record and time)."""
    n, start, span = record["n"], record["created_at"], record["batch_seconds"]
    natural_end = start + span
    validated_at = start + span / (2 * (n + 1))
    cancel_at = record.get("cancel_at")
    fate = record.get("fate")
    outcomes = record["outcomes"]

    def snap(phase: str, finished: int, ended_at: float | None) -> Snapshot:
        return Snapshot(phase, n, finished, outcomes, ended_at, cancel_at)

    if cancel_at is not None and (fate != "failed" or cancel_at < validated_at):
        end = min(cancel_at + CANCEL_SECONDS, natural_end) if cancel_at < natural_end else cancel_at
        finished = 0 if fate else _finished_by(record, min(now, cancel_at))
        if now >= end:
            return snap("ended", finished, end)
        return snap("canceling", finished, None)
    if fate == "failed":
        return snap("failed", 0, validated_at) if now >= validated_at else snap("validating", 0, None)
    if fate == "expired":
        return snap("expired", 0, natural_end) if now >= natural_end else snap("in_progress", 0, None)
    if now >= natural_end:
        return snap("ended", n, natural_end)
    finished = _finished_by(record, now)
    if now < validated_at:
        return snap("validating", finished, None)
    if finished >= n:
        return snap("finalizing", finished, None)
    return snap("in_progress", finished, None)


def result_order(batch_id: str, plan: list[list]) -> list[int]:
    """A deterministic order of result lines that is not the input order."""
    return sorted(range(len(plan)), key=lambda i: hashlib.sha256(f"{batch_id}\x00{plan[i][0]}".encode()).digest())


def anthropic_message(batch_id: str, entry: list) -> dict:
    custom_id, _, _, _, model, reply, input_tokens, output_tokens = entry
    return {
        "id": "msg_01" + hash_token(batch_id, custom_id, "msg", length=22),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": reply, "citations": None}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "stop_details": None,
        "container": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
            "server_tool_use": None,
            "service_tier": "batch",
            "inference_geo": None,
        },
    }


def request_id_for(batch_id: str, custom_id: str) -> str:
    return "req_011" + hash_token(batch_id, custom_id, "req", length=22)


def anthropic_result(batch_id: str, entry: list, outcome: str) -> dict:
    """One line of Anthropic's results JSONL (``MessageBatchIndividualResponse``)."""
    custom_id = entry[0]
    if outcome == SUCCEEDED:
        result: dict = {"type": "succeeded", "message": anthropic_message(batch_id, entry)}
    elif outcome == ERRORED:
        result = {
            "type": "errored",
            "error": {
                "type": "error",
                "error": {"type": entry[2], "message": entry[3]},
                "request_id": request_id_for(batch_id, custom_id),
            },
        }
    else:
        result = {"type": OUTCOME_NAMES[outcome]}
    return {"custom_id": custom_id, "result": result}
