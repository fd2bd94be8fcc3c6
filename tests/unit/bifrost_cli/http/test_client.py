"""Tests for bifrost_cli.http (``http/__init__.py``): retries, error mapping, redaction, credential safety,
paths, and what only a socket shows (answers that break off, redirects, huge error bodies).

Answers come from an ``httpx.MockTransport`` handler, whose client ``sleep`` is replaced by a recorder
so no test waits, or from a ``Loopback`` server behind the in-process CLI.
"""

from __future__ import annotations

import email.utils
import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from bifrost_cli.errors import (
    APIError,
    AuthError,
    ConflictError,
    ExitCode,
    NotFoundError,
    RateLimitError,
    ResponseError,
    UnavailableError,
    UsageError,
)
from bifrost_cli.http import Body, HttpClient, Redactor
from bifrost_cli.http.retry import MAX_RETRY_AFTER, backoff_delay, parse_retry_after
from tests.conftest import invoke
from tests.fakes import Scripted, anthropic_api, cut_content, cut_results, direct_env, drip_json

BASE = "https://api.example.test"
KEY = "sk-test-SECRET-0123456789"


def client(server: Scripted, *, base: str = BASE, key: str | None = KEY, sleeps: list[float] | None = None, **kw) -> HttpClient:
    return HttpClient(
        base,
        label="the server",
        auth_headers={"x-api-key": key} if key else None,
        transport=httpx.MockTransport(server),
        sleep=(sleeps.append if sleeps is not None else (lambda s: None)),
        **kw,
    )


def ok(**json_body: object) -> httpx.Response:
    return httpx.Response(200, json=json_body or {"ok": True})


def status(code: int, headers: dict[str, str] | None = None, body: object = None) -> httpx.Response:
    if body is None:
        body = {"type": "error", "error": {"type": "api_error", "message": f"status {code}"}}
    if isinstance(body, (dict, list)):
        return httpx.Response(code, json=body, headers=headers)
    return httpx.Response(code, text=str(body), headers=headers)


# ------------------------------------------------------------------------------------------------
# retries


@pytest.mark.parametrize("code", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_status_is_retried_with_backoff_then_succeeds(code: int) -> None:
    server = Scripted(status(code), status(code), ok(value=1))
    sleeps: list[float] = []
    response = client(server, sleeps=sleeps).request("GET", "/v1/thing")
    assert response.json() == {"value": 1}
    assert len(server.requests) == 3
    assert len(sleeps) == 2
    # backoff: 0.5 s then 1 s, each shortened by at most 25 % jitter
    assert 0.375 <= sleeps[0] <= 0.5
    assert 0.75 <= sleeps[1] <= 1.0


@pytest.mark.parametrize("code", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_not_retried(code: int) -> None:
    server = Scripted(status(code), ok())
    sleeps: list[float] = []
    with pytest.raises(APIError):
        client(server, sleeps=sleeps).request("GET", "/v1/thing")
    assert len(server.requests) == 1
    assert sleeps == []


def test_retries_run_out_and_the_last_error_is_raised() -> None:
    server = Scripted(status(503))
    sleeps: list[float] = []
    with pytest.raises(UnavailableError) as info:
        client(server, sleeps=sleeps, max_retries=3).request("GET", "/v1/thing")
    assert len(server.requests) == 4
    assert len(sleeps) == 3
    assert info.value.exit_code == ExitCode.UNAVAILABLE


def test_max_retries_zero_sends_once() -> None:
    server = Scripted(status(503), ok())
    sleeps: list[float] = []
    with pytest.raises(UnavailableError):
        client(server, sleeps=sleeps, max_retries=0).request("GET", "/v1/thing")
    assert len(server.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("code", "header", "calls"),
    [
        (503, "false", 1),  # a retryable status the server says not to retry
        (400, "true", 2),  # a non-retryable status the server says to retry
        (404, "true", 2),
        (500, "maybe", 2),  # anything else: the status decides
    ],
)
def test_x_should_retry_overrides_the_status(code: int, header: str, calls: int) -> None:
    server = Scripted(status(code, {"x-should-retry": header}), ok())
    sleeps: list[float] = []
    http = client(server, sleeps=sleeps)
    if calls == 1:
        with pytest.raises(APIError):
            http.request("GET", "/v1/thing")
    else:
        assert http.request("GET", "/v1/thing").status == 200
    assert len(server.requests) == calls
    assert len(sleeps) == calls - 1


def _http_date(seconds_from_now: float) -> str:
    import time

    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        ({"retry-after-ms": "1500"}, 1.5, 1.5),
        ({"retry-after-ms": "250", "retry-after": "30"}, 0.25, 0.25),  # -ms wins
        ({"retry-after": "3"}, 3.0, 3.0),
        ({"retry-after": "0.5"}, 0.5, 0.5),
        ({"retry-after": "-5"}, 0.0, 0.0),
        ({"retry-after-ms": "junk", "retry-after": "2"}, 2.0, 2.0),  # a bad -ms falls back
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0, 0.0),  # a date in the past
        ({"retry-after": "not a date"}, 0.375, 0.5),  # garbage: ordinary backoff
        ({"retry-after": ""}, 0.375, 0.5),
    ],
)
def test_retry_after_sets_the_wait(headers: dict[str, str], low: float, high: float) -> None:
    server = Scripted(status(429, headers), ok())
    sleeps: list[float] = []
    client(server, sleeps=sleeps).request("GET", "/v1/thing")
    assert len(server.requests) == 2
    assert len(sleeps) == 1
    assert low <= sleeps[0] <= high


def test_retry_after_http_date_in_the_near_future() -> None:
    server = Scripted(status(503, {"retry-after": _http_date(20)}), ok())
    sleeps: list[float] = []
    client(server, sleeps=sleeps).request("GET", "/v1/thing")
    assert len(server.requests) == 2
    assert 10 <= sleeps[0] <= 21


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "2000"}, 2.0),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "Thu, 01 Jan 1970 00:01:40 GMT"}, 60.0),  # now() = 40
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after_table(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=lambda: 40.0) == expected


@pytest.mark.parametrize(
    "headers",
    [{"retry-after": "120"}, {"retry-after-ms": "61000"}, {"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}],
)
def test_retry_after_over_the_cap_surfaces_the_error_with_the_wait(headers: dict[str, str]) -> None:
    server = Scripted(status(429, headers), ok())
    sleeps: list[float] = []
    with pytest.raises(RateLimitError) as info:
        client(server, sleeps=sleeps).request("GET", "/v1/thing")
    assert len(server.requests) == 1
    assert sleeps == []
    assert info.value.hint and "wait" in info.value.hint
    assert info.value.exit_code == ExitCode.CONFLICT


def test_retry_after_over_the_cap_on_429_names_the_seconds() -> None:
    server = Scripted(status(429, {"retry-after": "120"}))
    with pytest.raises(RateLimitError) as info:
        client(server).request("GET", "/v1/thing")
    assert "120" in (info.value.hint or "")


@pytest.mark.parametrize("code", [503, 529])
def test_retry_after_over_the_cap_on_overload_mentions_the_wait(code: int) -> None:
    server = Scripted(status(code, {"retry-after": "120"}))
    with pytest.raises(UnavailableError) as info:
        client(server).request("GET", "/v1/thing")
    assert len(server.requests) == 1
    assert "120" in (info.value.hint or "") or "120" in info.value.message


@pytest.mark.parametrize("headers", [{"retry-after": "nan"}, {"retry-after-ms": "NaN"}])
def test_retry_after_not_a_number_never_reaches_sleep(headers: dict[str, str]) -> None:
    server = Scripted(status(503, headers), ok())
    sleeps: list[float] = []
    client(server, sleeps=sleeps).request("GET", "/v1/thing")
    assert all(math.isfinite(s) and 0 <= s <= MAX_RETRY_AFTER for s in sleeps)


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (0, 0.0, 0.5),
        (0, 1.0, 0.375),
        (1, 0.0, 1.0),
        (2, 0.0, 2.0),
        (3, 0.0, 4.0),
        (4, 0.0, 8.0),
        (5, 0.0, 8.0),  # capped
        (20, 0.5, 8.0 * 0.875),
    ],
)
def test_backoff_delay_table(attempt: int, rand: float, expected: float) -> None:
    assert backoff_delay(attempt, rand=lambda: rand) == pytest.approx(expected)


# ------------------------------------------------------------------------------------------------
# transport failures and the "unsent" mode of batch create


@pytest.mark.parametrize("mode", ["idempotent", "unsent"])
@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ConnectTimeout])
def test_connection_never_made_is_retried_in_both_modes(mode: str, exc: type[Exception]) -> None:
    server = Scripted(exc, exc, ok(created=True))
    sleeps: list[float] = []
    response = client(server, sleeps=sleeps).request("POST", "/v1/messages/batches", json={"a": 1}, retry=mode)
    assert response.json() == {"created": True}
    assert len(server.requests) == 3
    assert len(sleeps) == 2


def test_connection_failure_after_retries_says_is_the_server_running() -> None:
    server = Scripted(httpx.ConnectError)
    with pytest.raises(UnavailableError) as info:
        client(server).request("GET", "/v1/files")
    assert len(server.requests) == 3
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert "could not connect" in info.value.message
    assert "server running" in (info.value.hint or "")


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError])
def test_idempotent_requests_retry_failures_after_sending(exc: type[Exception]) -> None:
    server = Scripted(exc, ok())
    assert client(server).request("GET", "/v1/files").status == 200
    assert len(server.requests) == 2


@pytest.mark.parametrize("answer", [status(500), status(502), status(504), httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_unsent_mode_is_not_retried_once_the_server_may_have_it(answer: object) -> None:
    server = Scripted(answer, ok())
    sleeps: list[float] = []
    with pytest.raises(UnavailableError):
        client(server, sleeps=sleeps).request("POST", "/v1/messages/batches", json={"requests": []}, retry="unsent")
    assert len(server.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "answer",
    [
        httpx.ReadTimeout,
        httpx.RemoteProtocolError,
        status(500),
        status(502),
        status(504),
    ],
)
def test_unsent_mode_failure_warns_the_server_may_have_received_it(answer: object) -> None:
    server = Scripted(answer)
    with pytest.raises(UnavailableError) as info:
        client(server).request("POST", "/v1/messages/batches", json={"requests": []}, retry="unsent")
    assert "may have received" in (info.value.hint or "")


def _anthropic_proof(headers: object, body: object) -> bool:
    from bifrost_cli.providers.anthropic import SPEC

    assert SPEC.refusal_proof is not None
    return SPEC.refusal_proof(headers, body)  # type: ignore[arg-type]


@pytest.mark.parametrize("code", [429, 503, 529])
def test_unsent_mode_retries_a_refusal_in_the_providers_shape_with_its_request_id(code: int) -> None:
    server = Scripted(status(code, {"request-id": "req_1"}), ok(id="msgbatch_1"))
    sleeps: list[float] = []
    http = client(server, sleeps=sleeps, refusal_proof=_anthropic_proof)
    response = http.request("POST", "/v1/messages/batches", json={"requests": []}, retry="unsent")
    assert response.json() == {"id": "msgbatch_1"}
    assert len(server.requests) == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    "answer",
    [
        status(503, body="<html>Service Unavailable</html>"),  # a proxy's page
        status(503, {"request-id": "req_1"}, body="upstream unavailable"),  # an id, but not the API's shape
        status(503),  # the API's shape, but no request id
        status(529, {"content-type": "application/json"}),
        status(429),
    ],
)
def test_unsent_mode_never_resends_a_refusal_without_proof(answer: httpx.Response) -> None:
    server = Scripted(answer, ok(id="msgbatch_2"))
    with pytest.raises(APIError) as info:
        client(server, refusal_proof=_anthropic_proof).request(
            "POST", "/v1/messages/batches", json={"requests": []}, retry="unsent"
        )
    assert len(server.requests) == 1
    assert info.value.may_have_been_received
    assert "may have received" in (info.value.hint or "")


def test_unsent_mode_without_a_proof_rule_never_resends_even_the_providers_shape() -> None:
    """A gateway's answer proves nothing of what the provider behind it did."""
    server = Scripted(status(503, {"request-id": "req_1"}), ok(id="msgbatch_2"))
    with pytest.raises(APIError):
        client(server).request("POST", "/v1/messages/batches", json={"requests": []}, retry="unsent")
    assert len(server.requests) == 1


def _stdin_body(data: bytes = b"streamed") -> Body:
    return Body(lambda: [data], length=len(data), content_type="application/octet-stream", replayable=False)


@pytest.mark.parametrize("answer", [status(503), status(429), httpx.ReadTimeout])
def test_non_replayable_body_is_never_sent_twice(answer: object) -> None:
    server = Scripted(answer, ok())
    with pytest.raises(APIError):
        client(server).request("POST", "/v1/files", body=_stdin_body())
    assert len(server.requests) == 1


def test_non_replayable_body_is_retried_when_the_connection_was_never_made() -> None:
    server = Scripted(httpx.ConnectError, ok())
    assert client(server).request("POST", "/v1/files", body=_stdin_body(b"abc")).status == 200
    assert len(server.requests) == 2
    assert server.requests[-1].content == b"abc"


def test_replayable_body_is_sent_whole_on_every_attempt() -> None:
    chunks = [b"part1-", b"part2"]
    body = Body(lambda: iter(chunks), length=11, content_type="application/octet-stream")
    server = Scripted(status(503), ok())
    client(server).request("POST", "/v1/files", body=body)
    assert [r.content for r in server.requests] == [b"part1-part2", b"part1-part2"]
    assert server.requests[0].headers["content-length"] == "11"


# ------------------------------------------------------------------------------------------------
# error mapping


@pytest.mark.parametrize(
    ("code", "cls", "exit_code"),
    [
        (400, APIError, ExitCode.ERROR),
        (402, APIError, ExitCode.ERROR),
        (401, AuthError, ExitCode.AUTH),
        (403, AuthError, ExitCode.AUTH),
        (404, NotFoundError, ExitCode.NOT_FOUND),
        (409, ConflictError, ExitCode.CONFLICT),
        (429, RateLimitError, ExitCode.CONFLICT),
        (413, APIError, ExitCode.ERROR),
        (408, UnavailableError, ExitCode.UNAVAILABLE),
        (500, UnavailableError, ExitCode.UNAVAILABLE),
        (503, UnavailableError, ExitCode.UNAVAILABLE),
        (529, UnavailableError, ExitCode.UNAVAILABLE),
    ],
)
def test_status_maps_to_error_class_and_exit_code(code: int, cls: type[APIError], exit_code: ExitCode) -> None:
    server = Scripted(status(code))
    with pytest.raises(APIError) as info:
        client(server, max_retries=0).request("GET", "/v1/thing")
    assert type(info.value) is cls
    assert info.value.exit_code == exit_code
    assert info.value.status == code
    assert str(code) in info.value.message


def test_413_hints_to_split_the_input() -> None:
    with pytest.raises(APIError) as info:
        client(Scripted(status(413, body="<html>Request Entity Too Large</html>"))).request("POST", "/v1/messages/batches")
    assert "split" in (info.value.hint or "")


def test_auth_error_carries_the_auth_hint() -> None:
    http = client(Scripted(status(401)), auth_hint="Check ANTHROPIC_API_KEY.")
    with pytest.raises(AuthError) as info:
        http.request("GET", "/v1/files")
    assert info.value.hint == "Check ANTHROPIC_API_KEY."


@pytest.mark.parametrize(
    ("body", "etype", "message"),
    [
        (  # Anthropic
            {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: required"}},
            "invalid_request_error",
            "max_tokens: required",
        ),
        (  # OpenAI
            {"error": {"message": "Invalid file format", "type": "invalid_request_error", "param": None, "code": None}},
            "invalid_request_error",
            "Invalid file format",
        ),
        (  # Gemini
            {"error": {"code": 400, "message": "API key not valid", "status": "INVALID_ARGUMENT"}},
            "INVALID_ARGUMENT",
            "API key not valid",
        ),
        (  # Bedrock
            {"message": "1 validation error detected", "__type": "ValidationException"},
            "ValidationException",
            "1 validation error detected",
        ),
        (  # Bifrost's own error
            {
                "is_bifrost_error": True,
                "status_code": 400,
                "error": {"type": "invalid_request", "code": "unsupported_operation", "message": "not supported by gemini"},
            },
            "invalid_request",
            "not supported by gemini",
        ),
        (  # Bifrost handler validation: a message but no type
            {"is_bifrost_error": False, "status_code": 400, "error": {"message": "x-model-provider header is required"}},
            None,
            "x-model-provider header is required",
        ),
        (  # a doubly nested envelope
            {"error": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}},
            "overloaded_error",
            "Overloaded",
        ),
        ({"error": "plain string error"}, None, "plain string error"),
        ("<html><body>Bad request from proxy</body></html>", None, "Bad request from proxy"),
        ([1, 2, 3], None, "no error message in the answer"),
    ],
)
def test_error_message_is_extracted_from_every_shape(body: object, etype: str | None, message: str) -> None:
    server = Scripted(status(400, body=body))
    with pytest.raises(APIError) as info:
        client(server).request("GET", "/v1/thing")
    err = info.value
    assert err.error_type == etype
    assert message in err.message
    assert err.message.startswith("the server answered 400")


@pytest.mark.parametrize("header", ["request-id", "x-request-id", "x-amzn-requestid"])
def test_request_id_is_captured(header: str) -> None:
    server = Scripted(status(404, {header: "req_0123"}))
    with pytest.raises(NotFoundError) as info:
        client(server).request("GET", "/v1/files/file_x")
    assert info.value.request_id == "req_0123"


def test_ok_statuses_are_returned_not_raised() -> None:
    server = Scripted(status(404))
    response = client(server).request("GET", "/v1/thing", ok_statuses=[404])
    assert response.status == 404


@pytest.mark.parametrize("text", ["not json at all", "{\"truncated\": ", ""])
def test_invalid_json_in_a_success_is_a_response_error(text: str) -> None:
    server = Scripted(httpx.Response(200, text=text))
    with pytest.raises(ResponseError) as info:
        client(server).request("GET", "/v1/files").json()
    assert info.value.exit_code == ExitCode.ERROR
    assert "not JSON" in info.value.message


def test_unsupported_url_scheme_is_a_usage_error() -> None:
    # httpx's own transport refuses an ftp:// URL before opening any connection
    http = HttpClient("ftp://files.example.test", label="x", sleep=lambda s: None)
    with pytest.raises(UsageError):
        http.request("GET", "/v1/files")


# ------------------------------------------------------------------------------------------------
# redaction


@pytest.mark.parametrize(
    "body",
    [
        {"type": "error", "error": {"type": "authentication_error", "message": f"invalid x-api-key: {KEY}"}},
        {"error": {"message": f"Incorrect API key provided: {KEY}.", "type": "invalid_request_error"}},
        f"bad key {KEY}",
    ],
)
def test_error_messages_never_echo_the_key(body: object) -> None:
    with pytest.raises(AuthError) as info:
        client(Scripted(status(401, body=body))).request("GET", "/v1/files")
    assert KEY not in info.value.message
    assert "***" in info.value.message


def test_error_type_echoing_the_key_is_redacted() -> None:
    body = {"error": {"code": f"bad_key_{KEY}", "message": "rejected"}}
    with pytest.raises(AuthError) as info:
        client(Scripted(status(401, body=body))).request("GET", "/v1/files")
    assert KEY not in info.value.message


def test_not_json_snippet_is_redacted() -> None:
    with pytest.raises(ResponseError) as info:
        client(Scripted(httpx.Response(200, text=f"<html>key={KEY}</html>"))).request("GET", "/v1/files").json()
    assert KEY not in info.value.message


def test_verbose_log_hides_credentials() -> None:
    lines: list[str] = []
    server = Scripted(httpx.ConnectError, status(503, body=f"overloaded for {KEY}"), ok())
    http = client(server, log=lines.append, headers={"x-trace": f"trace-{KEY}"})
    http.request("GET", "/v1/files", params={"q": KEY})
    text = "\n".join(lines)
    assert lines, "the verbose log got nothing"
    assert KEY not in text
    assert "'x-api-key': '***'" in text
    assert any(line.startswith("> GET") for line in lines)
    assert any(line.startswith("< 503") for line in lines)
    assert any("ConnectError" in line for line in lines)


@pytest.mark.parametrize(
    ("secrets", "text", "expected"),
    [
        (["abcd1234"], "key abcd1234 here", "key *** here"),
        (["abc"], "abc too short to redact", "abc too short to redact"),
        (["abcd", "abcdefgh"], "abcdefgh", "***"),  # the longer secret wins
        ([None, ""], "nothing", "nothing"),
    ],
)
def test_redactor_table(secrets: list[str | None], text: str, expected: str) -> None:
    assert Redactor(secrets)(text) == expected


def test_redactor_headers_hides_sensitive_names() -> None:
    r = Redactor(["secret-value"])
    shown = r.headers({"Authorization": "Bearer x", "X-Bf-Vk": "vk", "accept": "secret-value", "x-other": "ok"})
    assert shown == {"Authorization": "***", "X-Bf-Vk": "***", "accept": "***", "x-other": "ok"}


def test_bearer_token_is_redacted_without_its_prefix() -> None:
    lines: list[str] = []
    http = HttpClient(
        BASE,
        label="x",
        auth_headers={"authorization": "Bearer tok-ABCDEFGH"},
        transport=httpx.MockTransport(Scripted(status(401, body="token tok-ABCDEFGH refused"))),
        log=lines.append,
    )
    with pytest.raises(AuthError) as info:
        http.request("GET", "/v1/files")
    assert "tok-ABCDEFGH" not in info.value.message
    assert "tok-ABCDEFGH" not in "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# where credentials go


def test_credentials_go_to_the_configured_origin() -> None:
    server = Scripted()
    client(server).request("GET", "/v1/files")
    assert server.requests[0].headers["x-api-key"] == KEY


@pytest.mark.parametrize(
    "url",
    [
        "https://elsewhere.example.test/v1/messages/batches/b/results",
        "http://api.example.test/v1/files",  # another scheme
        "https://api.example.test:8443/v1/files",  # another port
    ],
)
def test_credentials_never_go_to_another_origin(url: str) -> None:
    server = Scripted()
    client(server).request("GET", url)
    assert len(server.requests) == 1
    assert str(server.requests[0].url).startswith(url.split("/v1")[0])
    assert "x-api-key" not in server.requests[0].headers


@pytest.mark.parametrize("base", ["http://gateway.example.test", "http://10.0.0.5:8080", "http://127.example.test"])
def test_credentials_over_plain_http_to_a_remote_host_are_refused(base: str) -> None:
    server = Scripted()
    with pytest.raises(UsageError) as info:
        client(server, base=base).request("GET", "/v1/files")
    assert len(server.requests) == 0
    assert "https" in (info.value.hint or "")
    assert KEY not in info.value.message


@pytest.mark.parametrize(
    "base", ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080", "http://127.0.0.2", "http://gw.localhost"]
)
def test_credentials_over_plain_http_to_loopback_are_allowed(base: str) -> None:
    server = Scripted()
    client(server, base=base).request("GET", "/v1/files")
    assert server.requests[0].headers["x-api-key"] == KEY


def test_plain_http_without_credentials_is_allowed() -> None:
    server = Scripted()
    client(server, base="http://gateway.example.test", key=None).request("GET", "/v1/files")
    assert len(server.requests) == 1


def test_plain_http_to_a_trusted_transport_is_allowed() -> None:
    server = Scripted()
    client(server, base="http://emulator.example.test", trusted_transport=True).request("GET", "/v1/files")
    assert server.requests[0].headers["x-api-key"] == KEY


def test_redirects_are_not_followed_and_say_where_they_point() -> None:
    server = Scripted(httpx.Response(302, headers={"location": "https://elsewhere.example.test/"}))
    with pytest.raises(APIError) as info:
        client(server).request("GET", "/v1/files")
    assert len(server.requests) == 1
    assert info.value.status == 302
    assert "redirected to https://elsewhere.example.test/" in info.value.message
    assert "not JSON" not in info.value.message


# ------------------------------------------------------------------------------------------------
# paths, and what only a socket shows


@pytest.mark.parametrize(("path", "params"), [("/v1/files?beta=true", None), ("/v1/files?beta=true", {"limit": 5})])
def test_query_string_in_the_path_is_kept(path: str, params: dict | None) -> None:
    server = Scripted()
    client(server).request("GET", path, params=params)
    assert server.requests[0].url.params.get("beta") == "true"


@pytest.mark.parametrize(
    "args",
    [["files", "download", "file_1", "-o"], ["files", "download", "file_1", "-o", "-"], ["batches", "results", "msgbatch_1", "-o"], ["batches", "results", "msgbatch_1"]],
    ids=["download-file", "download-stdout", "results-file", "results-stdout"],
)
def test_a_connection_broken_mid_answer_is_exit_6_with_a_message(loopback, tmp_path: Path, args: list[str]) -> None:
    server = loopback(anthropic_api(content=cut_content, results=cut_results))
    dest = tmp_path / "out.dat"
    if args[-1] == "-o":
        args = [*args, str(dest)]
    result = invoke(*args, env=direct_env(server))
    assert result.exit_code == 6, (result.stderr, result.exception)
    assert "broke while reading the answer" in result.stderr
    assert "internal error" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # neither the destination nor a temporary file


def test_a_redirect_says_where_it_points_and_what_to_set(loopback) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(301)
        h.send_header("location", "https://gateway.example.test" + h.path)
        h.send_header("content-length", "0")
        h.end_headers()

    server = loopback(route)
    result = invoke("--base-url", server.url, "batches", "get", "msgbatch_1")
    assert result.exit_code == 1
    assert "301" in result.stderr and "redirected to https://gateway.example.test/anthropic/v1/messages/batches/msgbatch_1" in result.stderr
    assert "Hint: Use the address it points to as the base URL: https://gateway.example.test" in result.stderr
    assert "not JSON" not in result.stderr
    assert len(server.requests) == 1  # never followed


def test_a_redirect_to_a_login_page_is_not_taken_for_a_missing_route(loopback) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        page = b"<html>sign in</html>"
        h.send_response(302)
        h.send_header("location", "/login")
        h.send_header("content-type", "text/html")
        h.send_header("content-length", str(len(page)))
        h.end_headers()
        h.wfile.write(page)

    server = loopback(route)
    result = invoke("--base-url", server.url, "batches", "list", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"redirected to {server.url}/login" in result.stderr
    assert "web page" not in result.stderr


def test_a_huge_error_message_is_clipped() -> None:
    message = "y" * 50_000
    transport = httpx.MockTransport(lambda r: httpx.Response(400, json={"type": "error", "error": {"type": "invalid_request_error", "message": message}}))
    with pytest.raises(APIError) as info:
        HttpClient("https://api.example.test", label="the server", transport=transport).request("GET", "/v1/x")
    assert len(info.value.message) < 1500
    assert "more characters" in info.value.message


def test_a_proxys_html_error_page_is_named_by_its_title_not_shown_as_markup() -> None:
    page = "<!DOCTYPE html><html><head><title>502 Bad\n Gateway</title></head><body><h1>nginx</h1></body></html>"
    transport = httpx.MockTransport(lambda r: httpx.Response(502, text=page, headers={"content-type": "text/html"}))
    with pytest.raises(APIError) as info:
        HttpClient("https://api.example.test", label="the gateway", transport=transport, max_retries=0).request("GET", "/v1/x")
    assert info.value.message == (
        "the gateway answered 502: an HTML page saying '502 Bad Gateway', not an API answer (a proxy or load balancer in the way?)"
    )


def test_a_huge_error_body_is_not_read_whole() -> None:
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        for _ in range(10_000):  # 640 MB if read to the end
            sent.append(1)
            yield b"<" * 65536

    transport = httpx.MockTransport(lambda r: httpx.Response(502, content=endless(), headers={"content-type": "text/html"}))
    client = HttpClient("https://api.example.test", label="the server", transport=transport, max_retries=0)
    with pytest.raises(APIError) as info:
        client.request("GET", "/v1/x")
    assert info.value.status == 502
    assert len(sent) < 100
    assert len(info.value.message) < 1500


@pytest.mark.parametrize("path", ["/v1/files/..", "/v1/files/.", "/v1/files/../cancel", "/v1/./files"])
def test_the_http_layer_refuses_dot_segments(path: str) -> None:
    server = Scripted()
    transport = httpx.MockTransport(server)
    with pytest.raises(UsageError):
        HttpClient("https://api.example.test", label="the server", transport=transport).request("DELETE", path)
    assert server.requests == []


# -- an overall deadline for an answer ------------------------------------------------------------


def test_an_answer_dripped_past_the_timeout_is_cut_off_and_retried_like_a_timeout(loopback) -> None:
    release = threading.Event()
    server = loopback(drip_json({"padding": "x" * 400}, every=0.05, release=release))
    sleeps: list[float] = []
    http = HttpClient(server.url, label="the server", timeout=0.5, max_retries=1, sleep=sleeps.append)
    try:
        with pytest.raises(UnavailableError) as raised:
            http.request("GET", "/v1/slow")
    finally:
        release.set()
        http.close()
    assert raised.value.exit_code == ExitCode.UNAVAILABLE
    assert "did not finish sending the answer" in raised.value.message and "0.5 s" in raised.value.message
    assert len(server.requests) == 2 and len(sleeps) == 1  # retried once, per the policy


def test_a_streamed_answer_has_no_overall_deadline(loopback) -> None:
    body = {"padding": "x" * 30}
    server = loopback(drip_json(body, every=0.05))
    http = HttpClient(server.url, label="the server", timeout=0.5, max_retries=0)
    try:
        with http.request("GET", "/v1/slow", stream=True) as response:
            data = b"".join(response.iter_bytes())
    finally:
        http.close()
    assert json.loads(data) == body  # about 2 s of bytes arriving, with a 0.5 s timeout
