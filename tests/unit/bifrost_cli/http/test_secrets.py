"""Tests for bifrost_cli.http.secrets: partial keys hidden, and where credentials may go (plain HTTP,
URL userinfo, proxies, cookies) proven on MockTransport and real loopback servers."""

from __future__ import annotations

import base64
import time
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from bifrost_cli.errors import AuthError, UsageError
from bifrost_cli.http import HttpClient, Redactor
from tests.conftest import invoke
from tests.fakes import Recorder, send_json

KEY = "sk-test-Qm9vQmFyQmF6X0tleV9UZXN0XzAx"


# ------------------------------------------------------------------------------------------------
# partial keys


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key {KEY} here", "key *** here"),
        (f"tail {KEY[-9:]}.", "tail ***."),  # 9 characters of the key
        (f"head {KEY[:8]}!", "head ***!"),  # exactly 8
        (f"a {KEY[:7]} b", f"a {KEY[:7]} b"),  # 7 are not a key
        (f"x{KEY[3:15]}{KEY[20:30]}y", "x***y"),  # two adjacent pieces: one ***
        (f"{KEY[2:12]} and {KEY[18:28]}", "*** and ***"),
        ("ordinary words: internationalization, processing", "ordinary words: internationalization, processing"),
    ],
)
def test_redactor_hides_any_eight_characters_of_a_secret(text: str, expected: str) -> None:
    assert Redactor([KEY])(text) == expected


def test_redactor_partial_match_spanning_two_secrets_is_one_mark() -> None:
    other = "vk-ZZZZ-9876543210-abcdef"
    assert Redactor([KEY, other])(f"<{KEY[-10:]}{other[:10]}>") == "<***>"


def test_redactor_copes_with_a_large_text() -> None:
    text = ("lorem ipsum dolor sit amet, " * 40000) + KEY[5:17] + ("x" * 100000)
    started = time.monotonic()
    out = Redactor([KEY])(text)
    elapsed = time.monotonic() - started
    assert KEY[5:17] not in out and out.count("***") == 1
    assert elapsed < 10  # generous: a quadratic scan would take minutes, not a timing claim


def test_partial_key_in_a_server_error_message_is_hidden() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"type": "authentication_error", "message": f"invalid key ...{KEY[-9:]}"}})

    http = HttpClient("https://api.example.test", label="the server", auth_headers={"x-api-key": KEY}, transport=httpx.MockTransport(handler))
    with pytest.raises(AuthError) as info:
        http.request("GET", "/v1/files")
    assert KEY[-9:] not in info.value.message
    assert "invalid key ...***" in info.value.message


# ------------------------------------------------------------------------------------------------
# plain HTTP, userinfo


def test_credentials_to_a_plain_http_host_off_loopback_are_refused_before_sending() -> None:
    server = Recorder(lambda r: httpx.Response(200, json={"data": []}))
    with pytest.raises(UsageError) as info:
        HttpClient("http://bifrost:8080", label="the gateway", auth_headers={"x-bf-vk": KEY}, transport=httpx.MockTransport(server))
    assert server.requests == []
    assert "bifrost" in info.value.message and "--allow-insecure-http" in (info.value.hint or "")


def test_userinfo_in_a_plain_http_url_off_loopback_is_refused_and_never_echoed() -> None:
    server = Recorder(lambda r: httpx.Response(200, json={"data": []}))
    with pytest.raises(UsageError) as info:
        HttpClient("http://user:SECRET-pass-123@gw.example.test", label="the gateway", transport=httpx.MockTransport(server))
    assert server.requests == []
    assert "SECRET" not in info.value.message + (info.value.hint or "")


def test_allow_insecure_http_sends_with_a_warning_naming_the_host() -> None:
    server = Recorder(lambda r: httpx.Response(200, json={"data": []}))
    warnings: list[str] = []
    http = HttpClient(
        "http://bifrost:8080",
        label="the gateway",
        auth_headers={"x-bf-vk": KEY},
        transport=httpx.MockTransport(server),
        allow_insecure_http=True,
        warn=warnings.append,
    )
    http.request("GET", "/v1/files")
    assert [str(r.url) for r in server.requests] == ["http://bifrost:8080/v1/files"]
    assert server.requests[0].headers["x-bf-vk"] == KEY
    assert len(warnings) == 1 and "bifrost" in warnings[0] and "plain HTTP" in warnings[0]


def test_userinfo_moves_into_an_explicit_basic_header_for_loopback(loopback) -> None:
    seen: list[tuple[str, str | None]] = []

    def route(h: BaseHTTPRequestHandler) -> None:
        seen.append((h.path, h.headers.get("authorization")))
        send_json(h, {"data": []})

    server = loopback(route)
    with_user = server.url.replace("http://", "http://me:pa%40ss-WORD-99@")
    http = HttpClient(with_user, label="the gateway")
    assert "pa%40ss" not in http.base_url and "@" not in http.base_url
    http.request("GET", "/v1/files")
    assert seen == [("/v1/files", "Basic " + base64.b64encode(b"me:pa@ss-WORD-99").decode())]
    assert http.redact("pa@ss-WORD-99") == "***"


def test_userinfo_beside_a_bearer_key_is_refused() -> None:
    with pytest.raises(UsageError) as info:
        HttpClient(
            "https://u:SECRET-pass-123@api.example.test",
            label="openai",
            auth_headers={"Authorization": f"Bearer {KEY}"},
            transport=httpx.MockTransport(lambda r: httpx.Response(200)),
        )
    assert "SECRET" not in info.value.message


def test_cli_refuses_plain_http_gateway_then_allows_it_with_the_flag_or_env() -> None:
    base = ["--base-url", "http://gw.invalid:9", "--api-key", KEY, "--max-retries", "0"]
    refused = invoke(*base, "files", "list")
    assert refused.exit_code == 2, refused.stderr
    assert "plain HTTP to gw.invalid" in refused.stderr and KEY not in refused.stderr
    for result in (
        invoke("--allow-insecure-http", *base, "files", "list"),
        invoke(*base, "files", "list", env={"BIFROST_ALLOW_INSECURE_HTTP": "1"}),
    ):
        # allowed: the warning names the host, then the request is tried (gw.invalid never resolves)
        assert "Warning: sending credentials over plain HTTP to gw.invalid" in result.stderr
        assert "could not connect" in result.stderr and result.exit_code != 2
        assert KEY not in result.stderr


def test_cli_allows_a_plain_http_host_that_is_not_loopback_only_with_the_flag(loopback) -> None:
    """0.0.0.0 reaches this machine's 127.0.0.1 listener, but is not a loopback address: a real
    non-loopback plain-HTTP target for the CLI, end to end."""
    seen: list[str | None] = []

    def route(h: BaseHTTPRequestHandler) -> None:
        seen.append(h.headers.get("x-bf-vk"))
        send_json(h, {"data": [], "has_more": False})

    server = loopback(route)
    base = ["--base-url", server.url.replace("127.0.0.1", "0.0.0.0"), "--api-key", KEY, "--max-retries", "0"]
    refused = invoke(*base, "batches", "list")
    assert refused.exit_code == 2 and seen == []
    allowed = invoke("--allow-insecure-http", *base, "batches", "list")
    assert allowed.exit_code == 0, allowed.stderr
    assert seen == [KEY]
    assert allowed.stderr.startswith("Warning: sending credentials over plain HTTP to 0.0.0.0")


@pytest.mark.parametrize(("host", "expected"), [("127.0.0.2", True), ("::1", True), ("[::ffff:127.0.0.1]", True), ("app.localhost", True), ("0.0.0.0", False), ("10.0.0.1", False), ("bifrost", False)])
def test_is_loopback(host: str, expected: bool) -> None:
    from bifrost_cli.http.secrets import is_loopback

    assert is_loopback(host) is expected


# ------------------------------------------------------------------------------------------------
# proxies and cookies


def test_loopback_never_goes_through_an_environment_proxy(loopback, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = loopback(lambda h: send_json(h, {"data": []}))
    proxy = loopback(lambda h: send_json(h, {"data": ["from the proxy"]}))
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("http_proxy", proxy.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with httpx.Client(trust_env=True) as plain:  # what httpx alone does: the proxy gets the request
        plain.get(gateway.url + "/probe")
    assert proxy.requests, "the environment proxy is not in effect; the test would prove nothing"
    proxy.requests.clear()

    http = HttpClient(gateway.url, label="the gateway", auth_headers={"x-bf-vk": KEY})
    assert http.request("GET", "/v1/files").json() == {"data": []}
    assert proxy.requests == []
    assert gateway.requests[-1] == ("GET", "/v1/files")


def test_cookies_a_server_sets_are_never_sent_back() -> None:
    server = Recorder(lambda r: httpx.Response(200, json={}, headers={"set-cookie": "session=abc123; Path=/"}))
    http = HttpClient("https://api.example.test", label="x", transport=httpx.MockTransport(server))
    http.request("GET", "/a")
    http.request("GET", "/b")
    assert "cookie" not in server.requests[1].headers
