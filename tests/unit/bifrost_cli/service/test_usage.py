"""Tokens and cost (service/usage.py): summing result lines per model and per batch, summing
several batches (a group), the cost estimate from genai-prices, and what is shown without it."""

from __future__ import annotations

import json
import sys
import tracemalloc
from collections.abc import Iterator
from typing import Any
from decimal import Decimal

import pytest

from bifrost_cli.service.usage import (
    PRICES_HINT,
    Tokens,
    UsageSummary,
    check_summary_options,
    estimate_cost,
    sum_usage,
)


def _line(custom_id: str, model: str | None, usage: dict | None, rtype: str = "succeeded") -> bytes:
    if rtype != "succeeded":
        return json.dumps({"custom_id": custom_id, "result": {"type": rtype}}).encode()
    message: dict = {"type": "message", "role": "assistant", "content": []}
    if model is not None:
        message["model"] = model
    if usage is not None:
        message["usage"] = usage
    return json.dumps({"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}).encode()


def _summary(batch_id: str, lines: list[tuple[str, bytes]]) -> UsageSummary:
    summary = UsageSummary(batch_ids=[batch_id], provider="anthropic")
    for rtype, text in lines:
        summary.add_line(batch_id, rtype, text)
    return summary


SONNET = "claude-sonnet-4-5"
HAIKU = "claude-haiku-4-5"


def test_tokens_are_summed_per_model_with_cache_apart() -> None:
    summary = _summary(
        "b1",
        [
            ("succeeded", _line("a", SONNET, {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100})),
            ("succeeded", _line("b", SONNET, {"input_tokens": 7, "output_tokens": 3, "cache_creation_input_tokens": 40})),
            ("succeeded", _line("c", HAIKU, {"input_tokens": 1, "output_tokens": 2})),
            ("errored", _line("d", None, None, "errored")),
        ],
    )
    sonnet = summary.models[SONNET].tokens
    assert (sonnet.requests, sonnet.input_tokens, sonnet.cache_read_tokens, sonnet.cache_write_tokens, sonnet.output_tokens) == (
        2, 17, 100, 40, 8,
    )
    assert summary.models[HAIKU].tokens.total_tokens == 3
    total = summary.total
    assert (total.input_tokens, total.output_tokens, total.total_tokens) == (18, 10, 18 + 140 + 10)
    assert summary.counts == {"succeeded": 3, "errored": 1}


def test_a_result_without_a_model_counts_to_the_batch_model_else_unknown() -> None:  # with or without the extra
    named = UsageSummary(batch_ids=["b"], batch_model="models/gemini-2.5-flash")
    named.add_line("b", "succeeded", _line("a", None, {"input_tokens": 3, "output_tokens": 4}))
    assert list(named.models) == ["models/gemini-2.5-flash"]

    unnamed = _summary("b", [("succeeded", _line("a", None, {"input_tokens": 3, "output_tokens": 4}))])
    assert list(unnamed.models) == ["unknown"]
    cost = estimate_cost(unnamed).models["unknown"]
    assert cost.amount is None and cost.note


def test_bad_usage_values_count_as_nothing_never_fail() -> None:
    summary = _summary(
        "b", [("succeeded", _line("a", SONNET, {"input_tokens": "12", "output_tokens": -4, "cache_read_input_tokens": True}))]
    )
    assert summary.total.total_tokens == 0 and summary.total.requests == 1


def test_several_batches_sum_per_model_and_keep_each_batch() -> None:
    first = _summary("b1", [("succeeded", _line("a", SONNET, {"input_tokens": 10, "output_tokens": 5}))])
    second = _summary(
        "b2",
        [
            ("succeeded", _line("a", SONNET, {"input_tokens": 1, "output_tokens": 1})),
            ("succeeded", _line("b", HAIKU, {"input_tokens": 2, "output_tokens": 2})),
        ],
    )
    first.expected, second.expected = 1, 2
    group = sum_usage([first, second])
    assert group.batch_ids == ["b1", "b2"]
    assert group.models[SONNET].tokens.input_tokens == 11 and group.models[HAIKU].tokens.input_tokens == 2
    assert group.per_batch["b1"].total_tokens == 15 and group.per_batch["b2"].total_tokens == 6
    assert group.expected == 3 and group.missing == 0
    # the parts are not changed by summing them
    assert first.models[SONNET].tokens.input_tokens == 10


def _peak_while_summing(n: int) -> tuple[UsageSummary, int]:
    def lines() -> Iterator[bytes]:
        for i in range(n):
            yield _line(f"req-{i}", SONNET, {"input_tokens": 10 + i % 7, "output_tokens": 5})

    summary = UsageSummary(batch_ids=["big"])
    tracemalloc.start()
    try:
        for text in lines():
            summary.add_line("big", "succeeded", text)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return summary, peak


def test_results_are_summed_in_flat_memory() -> None:
    # ten times the results, the same memory: running sums, never the results (so 100,000 are
    # summed as 1,000 are)
    few, few_peak = _peak_while_summing(500)
    many, many_peak = _peak_while_summing(5_000)
    assert many.total.requests == 5_000 and many.total.output_tokens == 25_000
    assert few.total.requests == 500
    assert many_peak < few_peak + 64_000


# -- cost -----------------------------------------------------------------------------------------

@pytest.fixture
def genai_prices():  # the extra (in the test extra); the tests below need it
    return pytest.importorskip("genai_prices")


def _library_price(genai_prices, model: str, provider: str, batch: bool, **usage: int) -> Decimal:
    calc = genai_prices.calc_price(
        genai_prices.Usage(**usage), model, provider_id=provider, price_context={"processing": "batch"} if batch else None
    )
    return Decimal(calc.total_price)


def test_cost_is_the_library_batch_rate_where_it_has_one(genai_prices) -> None:
    summary = _summary(
        "b",
        [
            ("succeeded", _line("a", SONNET, {"input_tokens": 1000, "output_tokens": 500, "cache_read_input_tokens": 2000})),
        ],
    )
    cost = estimate_cost(summary).models[SONNET]
    assert cost.rate == "batch"
    expected = _library_price(genai_prices, SONNET, "anthropic", True, input_tokens=3000, cache_read_tokens=2000, output_tokens=500)
    assert cost.amount == expected
    assert expected < _library_price(genai_prices, SONNET, "anthropic", False, input_tokens=3000, cache_read_tokens=2000, output_tokens=500)


def test_long_prompts_are_priced_per_request_not_as_one_huge_prompt(genai_prices) -> None:
    # Sonnet 4.5's rate is higher above 200k prompt tokens: each request is priced at its own tier
    small = {"input_tokens": 150_000, "output_tokens": 1000}
    large = {"input_tokens": 250_000, "output_tokens": 1000}
    summary = _summary("b", [("succeeded", _line("a", SONNET, small)), ("succeeded", _line("b", SONNET, large))])
    cost = estimate_cost(summary).models[SONNET]
    each = _library_price(genai_prices, SONNET, "anthropic", True, **small) + _library_price(genai_prices, SONNET, "anthropic", True, **large)
    assert cost.amount == each
    assert each != _library_price(genai_prices, SONNET, "anthropic", True, input_tokens=400_000, output_tokens=2000)


def test_a_model_the_library_does_not_price_is_unknown_and_the_rest_still_priced(genai_prices) -> None:
    summary = _summary(
        "b",
        [
            ("succeeded", _line("a", "no-such-model-xyz", {"input_tokens": 10, "output_tokens": 5})),
            ("succeeded", _line("b", SONNET, {"input_tokens": 10, "output_tokens": 5})),
        ],
    )
    costs = estimate_cost(summary)
    assert costs.models["no-such-model-xyz"].amount is None
    assert "not in the price library" in (costs.models["no-such-model-xyz"].note or "")
    assert costs.total == costs.models[SONNET].amount and not costs.complete
    assert costs.to_json()["estimate"] is True


def test_without_the_extra_tokens_stay_and_cost_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "genai_prices", None)  # as if not installed: importing it fails
    summary = _summary("b", [("succeeded", _line("a", SONNET, {"input_tokens": 10, "output_tokens": 5}))])
    costs = estimate_cost(summary)
    assert not costs.available and costs.total is None
    assert costs.to_json()["note"] == PRICES_HINT == "install bifrost-cli[prices]"
    assert summary.total.total_tokens == 15


def test_summary_refuses_options_about_the_results_themselves() -> None:
    from bifrost_cli.errors import UsageError

    check_summary_options(output=None, raw=False)
    with pytest.raises(UsageError, match="--output"):
        check_summary_options(output="out.jsonl", raw=False)
    with pytest.raises(UsageError, match="--raw"):
        check_summary_options(output=None, raw=True)
    with pytest.raises(UsageError, match="--join, --retry-file"):
        check_summary_options(output=None, raw=False, join="in.jsonl", retry_file="retry.jsonl")
    with pytest.raises(UsageError, match="--format"):
        check_summary_options(output=None, raw=False, result_format="table")


def test_tokens_json_has_every_count_and_the_total() -> None:
    tokens = Tokens(requests=1, input_tokens=2, cache_read_tokens=3, cache_write_tokens=4, output_tokens=5, reasoning_tokens=1)
    assert tokens.to_json() == {
        "requests": 1, "input_tokens": 2, "cache_read_tokens": 3, "cache_write_tokens": 4,
        "output_tokens": 5, "reasoning_tokens": 1, "total_tokens": 14,
    }


# -- the batch's own usage (OpenAI) ---------------------------------------------------------------

OPENAI_BATCH = {"id": "batch_1", "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "file-in",
                "completion_window": "24h", "status": "completed", "output_file_id": "file-out", "created_at": 1735689600,
                "completed_at": 1735693200, "request_counts": {"total": 2, "completed": 2, "failed": 0},
                "usage": {"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 200}, "output_tokens": 300,
                          "output_tokens_details": {"reasoning_tokens": 50}, "total_tokens": 1500}}


def test_get_usage_takes_openai_batch_usage_without_reading_results(loopback: Any) -> None:
    from http.server import BaseHTTPRequestHandler

    from tests.conftest import invoke
    from tests.fakes import send_json

    paths: list[str] = []

    def route(h: BaseHTTPRequestHandler) -> None:
        paths.append(h.path)
        send_json(h, OPENAI_BATCH)

    env = {"OPENAI_BASE_URL": loopback(route).url, "OPENAI_API_KEY": "sk-test-0123456789", "BIFROST_MAX_RETRIES": "0"}
    proc = invoke("-p", "openai", "batches", "get", "batch_1", "--usage", "--json", env=env)
    assert proc.exit_code == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["id"] == "batch_1" and data["tokens"]["source"] == "batch"
    total = data["tokens"]["total"]
    # the cached part is counted apart from input, as in the result lines
    assert (total["input_tokens"], total["cache_read_tokens"], total["output_tokens"], total["reasoning_tokens"]) == (
        1000, 200, 300, 50,
    )
    assert data["tokens"]["cost"]["total_usd"] is None  # no model named: no price guessed
    assert all("/content" not in p for p in paths)  # the results were not read

    table = invoke("-p", "openai", "batches", "get", "batch_1", "--usage", env=env)
    assert table.exit_code == 0, table.stderr
    assert "1,000" in table.stdout and "as the batch reports them" in table.stderr  # piped: the title on stderr


def test_a_group_table_shows_each_batch_and_the_total() -> None:
    import io

    from bifrost_cli.output import Output

    first = _summary("batch-a", [("succeeded", _line("a", SONNET, {"input_tokens": 1000, "output_tokens": 10}))])
    second = _summary("batch-b", [("succeeded", _line("b", SONNET, {"input_tokens": 2000, "output_tokens": 20}))])
    group = sum_usage([first, second], group_id="grp_1")
    stdout, stderr = io.StringIO(), io.StringIO()
    Output("human", stdout=stdout, stderr=stderr).usage(group, estimate_cost(group))
    table = stdout.getvalue()
    assert "group grp_1" in stderr.getvalue()  # piped: the title on stderr, the data on stdout
    assert "batch-a" in table and "batch-b" in table and "3,000" in table
    data = io.StringIO()
    Output("json", stdout=data, stderr=io.StringIO()).usage(group, estimate_cost(group))
    parsed = json.loads(data.getvalue())
    assert parsed["group_id"] == "grp_1" and [b["id"] for b in parsed["batches"]] == ["batch-a", "batch-b"]
    assert parsed["total"]["input_tokens"] == 3000
