"""Tokens and cost: ``batches results --summary`` and ``batches get --usage``.

Tokens are summed from the normalised result lines (Anthropic's ``message.usage``, whatever the
provider: see providers/results.py), per model and per batch, in flat memory: one running sum per
model (and prompt-size band, for pricing), however many results there are. Where the target reports
a batch's usage as a whole (OpenAI's batch ``usage``), ``batches get --usage`` takes it without
reading the results.

Counts follow the result lines: ``input_tokens`` is the input not read from (or written to) the
prompt cache; ``cache_read_tokens`` and ``cache_write_tokens`` are counted apart;
``reasoning_tokens`` is the part of ``output_tokens`` spent thinking, where the target says so.

The cost is an estimate from pydantic's ``genai-prices`` (the optional extra ``bifrost-cli[prices]``,
imported only when a cost is asked for), at the batch rate where the library knows one.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bifrost_cli.hints import suggest
from bifrost_cli.errors import BifrostError
from bifrost_cli.models import Batch
from bifrost_cli.providers.base import CheckedTarget, Target

if TYPE_CHECKING:
    from bifrost_cli.ledger import Ledger

PRICES_HINT = "install bifrost-cli[prices]"

# Prompt sizes (input + cache, per request) at which a price library's long-prompt tiers start.
# Requests are summed apart per band, so a band's sum is priced at the rate its requests had.
BANDS: tuple[int, ...] = (32_000, 100_000, 128_000, 199_999, 200_000, 256_000, 272_000, 512_000, 524_288)

# The library's provider ids for this CLI's providers.
_PRICE_PROVIDER = {"anthropic": "anthropic", "openai": "openai", "gemini": "google", "bedrock": "aws"}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass(slots=True)
class Tokens:
    """Token sums over some results (``requests``: the results that reported usage)."""

    requests: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    def add(self, other: Tokens) -> None:
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.output_tokens += other.output_tokens
        self.reasoning_tokens += other.reasoning_tokens

    @property
    def prompt_tokens(self) -> int:
        """All input, cached or not (what long-prompt price tiers look at)."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    @classmethod
    def from_message_usage(cls, usage: Mapping[str, Any]) -> Tokens:
        """One result's ``message.usage`` (Anthropic's shape, as every provider's results are normalised)."""
        details = usage.get("output_tokens_details")
        return cls(
            requests=1,
            input_tokens=_count(usage.get("input_tokens")),
            cache_read_tokens=_count(usage.get("cache_read_input_tokens")),
            cache_write_tokens=_count(usage.get("cache_creation_input_tokens")),
            output_tokens=_count(usage.get("output_tokens")),
            reasoning_tokens=_count(details.get("reasoning_tokens")) if isinstance(details, dict) else 0,
        )

    def to_json(self) -> dict[str, int]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["total_tokens"] = self.total_tokens
        return out


def band_of(prompt_tokens: int) -> int:
    """How many of :data:`BANDS` a request's prompt is over."""
    band = 0
    for start in BANDS:
        if prompt_tokens > start:
            band += 1
        else:
            break
    return band


@dataclass(slots=True)
class ModelUsage:
    model: str
    tokens: Tokens = field(default_factory=Tokens)
    bands: dict[int, Tokens] = field(default_factory=dict)
    """The same sums split by prompt-size band (:func:`band_of`), for pricing."""

    def add(self, tokens: Tokens, band: int | None = None) -> None:
        self.tokens.add(tokens)
        key = band_of(tokens.prompt_tokens // max(tokens.requests, 1)) if band is None else band
        self.bands.setdefault(key, Tokens()).add(tokens)


@dataclass
class UsageSummary:
    """Tokens per model and per batch, for one batch or (summed with :func:`sum_usage`) several."""

    batch_ids: list[str] = field(default_factory=list)
    provider: str | None = None
    models: dict[str, ModelUsage] = field(default_factory=dict)
    per_batch: dict[str, Tokens] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    """Result lines by type (succeeded, errored...); empty when the usage is the batch's own."""
    source: str = "results"
    """``results`` (summed over the result lines) or ``batch`` (the target's figure for the batch)."""
    expected: int | None = None
    """Requests the batch counts (results missing when more than the lines read)."""
    batch_model: str | None = None
    """The model the batch as a whole runs (results that do not name theirs are counted to it)."""
    group_id: str | None = None
    """The batch group these batches make up, where they are one (set by whoever sums a group)."""

    @property
    def total(self) -> Tokens:
        total = Tokens()
        for usage in self.models.values():
            total.add(usage.tokens)
        return total

    @property
    def results(self) -> int:
        return sum(self.counts.values())

    @property
    def missing(self) -> int:
        return max((self.expected or 0) - self.results, 0) if self.source == "results" else 0

    def add(self, batch_id: str, model: str | None, tokens: Tokens) -> None:
        name = model or self.batch_model or "unknown"
        self.models.setdefault(name, ModelUsage(name)).add(tokens)
        self.per_batch.setdefault(batch_id, Tokens()).add(tokens)

    def add_line(self, batch_id: str, rtype: str, line: bytes | str) -> None:
        """One normalised result line (a JSON object): its type counted, its usage summed."""
        self.counts[rtype] += 1
        if rtype != "succeeded":
            return
        try:
            item = json.loads(line)
        except ValueError:
            return
        message = (item.get("result") or {}).get("message") if isinstance(item, dict) else None
        if isinstance(message, dict):
            self.add_message(batch_id, message)

    def add_message(self, batch_id: str, message: Mapping[str, Any]) -> None:
        usage = message.get("usage")
        model = message.get("model")
        self.add(
            batch_id,
            model if isinstance(model, str) and model else None,
            Tokens.from_message_usage(usage if isinstance(usage, dict) else {}),
        )

    def merge(self, other: UsageSummary) -> None:
        """Add another batch's (or group's) sums to these."""
        for bid in other.batch_ids:
            if bid not in self.batch_ids:
                self.batch_ids.append(bid)
        if self.provider is None:
            self.provider = other.provider
        for name, usage in other.models.items():
            mine = self.models.setdefault(name, ModelUsage(name))
            for band, tokens in usage.bands.items():
                mine.add(tokens, band)
        for bid, tokens in other.per_batch.items():
            self.per_batch.setdefault(bid, Tokens()).add(tokens)
        self.counts.update(other.counts)
        if other.expected is not None:
            self.expected = (self.expected or 0) + other.expected
        if other.source != self.source:
            self.source = "mixed"


def sum_usage(summaries: Iterable[UsageSummary], group_id: str | None = None) -> UsageSummary:
    """One summary over several (a batch group): per model, per batch and in total. Each batch's
    summary is read one after the other (:func:`summarise_results`), so a group of any size is
    summed in flat memory: ``sum_usage(summarise_results(t, b) for b in group_batch_ids)``."""
    total = UsageSummary(group_id=group_id)
    first = True
    for summary in summaries:
        if first:
            total.source = summary.source
            first = False
        total.merge(summary)
    return total


# ------------------------------------------------------------------------------------------------
# reading


def summarise_results(target: CheckedTarget | Target, batch_id: str) -> UsageSummary:
    """Sum the tokens over the batch's results, streamed (flat memory)."""
    from bifrost_cli.service.results import _request_total

    reader = target.check("batches.results") if isinstance(target, CheckedTarget) else target
    summary = UsageSummary(batch_ids=[batch_id], provider=getattr(target, "provider", None))
    summary.batch_model = _batch_model(reader, batch_id)
    texts = getattr(reader, "iter_result_texts", None)
    if texts is not None:
        for rtype, text in texts(batch_id):
            summary.add_line(batch_id, rtype, text)
    else:
        for result in reader.iter_results(batch_id):
            summary.counts[result.result.type] += 1
            if result.result.type == "succeeded" and isinstance(result.result.message, dict):
                summary.add_message(batch_id, result.result.message)
    summary.expected = _request_total(reader, batch_id)
    return summary


def check_summary_options(
    *,
    output: str | None,
    raw: bool,
    join: str | None = None,
    retry_file: str | None = None,
    input_path: str | None = None,
    result_format: str = "auto",
) -> None:
    """``results --summary`` prints the tokens instead of the results: refused with the options that
    are about the results themselves (before anything is sent)."""
    from bifrost_cli.errors import UsageError

    given = (
        ("--output", output is not None),
        ("--raw", raw),
        ("--join", join is not None),
        ("--retry-file", retry_file is not None),
        ("--input", input_path is not None),
        ("--format", result_format != "auto"),
    )
    clash = [name for name, on in given if on]
    if clash:
        raise UsageError(
            f"--summary shows the tokens instead of the results; it does not go with {', '.join(clash)}",
            hint="Fetch the results and the summary in two runs.",
        )


def batch_with_usage(target: CheckedTarget, batch_id: str) -> tuple[Batch, UsageSummary]:
    """``batches get --usage``: the batch, and its own usage where the target reports one (OpenAI),
    else its tokens summed over its results once it has ended (a batch still running has none to sum:
    conflict, exit 5)."""
    from bifrost_cli.service.batches import get_batch

    batch = get_batch(target, batch_id)
    return batch, _batch_usage(target, batch, batch_id)


def _batch_usage(target: CheckedTarget, batch: Batch, batch_id: str) -> UsageSummary:
    from bifrost_cli.errors import ConflictError

    if batch.usage is not None:
        u = batch.usage
        summary = UsageSummary(batch_ids=[batch_id], provider=batch.provider or target.provider, source="batch")
        model = batch.details.get("model")
        summary.batch_model = model if isinstance(model, str) and model else None
        if batch.request_counts is not None:
            summary.expected = batch.request_counts.total
        cached = min(u.cached_tokens, u.input_tokens)
        summary.add(
            batch_id,
            None,
            Tokens(
                requests=max(batch.request_counts.succeeded if batch.request_counts else 0, 1),
                input_tokens=u.input_tokens - cached,
                cache_read_tokens=cached,
                output_tokens=u.output_tokens,
                reasoning_tokens=u.reasoning_tokens,
            ),
        )
        return summary
    if not batch.ended:
        raise ConflictError(
            f"batch {batch_id} is still {batch.native_status or batch.status}: its tokens are known once it has ended",
            hint=f"`{suggest('batches wait', batch_id)}`, then ask again.",
        )
    return summarise_results(target, batch_id)


def group_usage(target: CheckedTarget, ledger: Ledger | None, group_id: str, *, batch_figures: bool = False) -> UsageSummary:
    """A batch group's tokens: each of its batches summed (one after the other, flat memory), per
    model, per batch and in total. ``batch_figures``: a batch's own usage where the target reports
    one (``get --usage``), else its results."""
    from bifrost_cli.service.batches import get_batch
    from bifrost_cli.service.groups import group_batch_ids, load_group

    ids = group_batch_ids(load_group(ledger, target, group_id))

    def each() -> Iterator[UsageSummary]:
        for batch_id in ids:
            if batch_figures:
                yield _batch_usage(target, get_batch(target, batch_id), batch_id)
            else:
                yield summarise_results(target, batch_id)

    return sum_usage(each(), group_id=group_id)


def _batch_model(target: Target, batch_id: str) -> str | None:
    """The model the batch names as a whole (Gemini, Bedrock), for results that do not name theirs."""
    try:
        model = target.get_batch(batch_id).details.get("model")
    except BifrostError:
        return None
    return model if isinstance(model, str) and model else None


# ------------------------------------------------------------------------------------------------
# cost


@dataclass
class Cost:
    """The estimated cost of one model's tokens."""

    model: str
    amount: Decimal | None = None
    """US dollars; ``None`` when the model is not priced (or prices are not installed)."""
    rate: str | None = None
    """``batch`` (the library's batch rate), ``standard`` (it knows no batch rate for the model)."""
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "usd": float(self.amount) if self.amount is not None else None,
            "rate": self.rate,
            "note": self.note,
        }


@dataclass
class Costs:
    available: bool
    """Whether the price library is installed."""
    models: dict[str, Cost] = field(default_factory=dict)

    @property
    def total(self) -> Decimal | None:
        """The sum over the priced models (``None`` when none is priced)."""
        amounts = [c.amount for c in self.models.values() if c.amount is not None]
        return sum(amounts, Decimal(0)) if amounts else None

    @property
    def complete(self) -> bool:
        return all(c.amount is not None for c in self.models.values())

    def to_json(self) -> dict[str, Any]:
        total = self.total
        return {
            "estimate": True,
            "available": self.available,
            "note": None if self.available else PRICES_HINT,
            "total_usd": float(total) if total is not None else None,
            "complete": self.complete if self.available else False,
            "models": [c.to_json() for c in self.models.values()],
        }


def estimate_cost(summary: UsageSummary) -> Costs:
    """The cost of the summary's tokens per model, from genai-prices where it is installed."""
    try:
        import genai_prices
    except ImportError:
        return Costs(False, {name: Cost(name, note=PRICES_HINT) for name in summary.models})
    costs = Costs(True)
    for name, usage in summary.models.items():
        if name == "unknown" and summary.source == "batch":
            costs.models[name] = Cost(
                name, note=f"the batch's own usage names no model: `{suggest('batches results ID --summary')}` prices it per model"
            )
            continue
        costs.models[name] = _price_model(genai_prices, summary.provider, usage)
    return costs


def _price_ref(provider: str | None, model: str) -> tuple[str | None, str]:
    """The library's provider id and model name for a model as the results name it."""
    ref = model
    if ref.startswith("models/"):  # Gemini's resource name
        ref = ref[len("models/") :]
    if "/" in ref:  # "provider/model", as gateways name them
        head, tail = ref.split("/", 1)
        if head in _PRICE_PROVIDER:
            return _PRICE_PROVIDER[head], tail
    return _PRICE_PROVIDER.get(provider or ""), ref


def _price_model(genai_prices: Any, provider: str | None, usage: ModelUsage) -> Cost:
    if usage.model == "unknown":
        return Cost(usage.model, note="the results do not name the model")
    provider_id, ref = _price_ref(provider, usage.model)
    try:
        try:
            batch_total, standard_total = _price_bands(genai_prices, provider_id, ref, usage)
        except LookupError:
            if provider_id is None:
                raise
            # a model this provider's price list does not hold (another's, through a gateway or
            # an emulator): priced as the library knows it by name
            batch_total, standard_total = _price_bands(genai_prices, None, ref, usage)
    except LookupError:
        return Cost(usage.model, note="not in the price library")
    except Exception as exc:  # the library refusing these tokens is no reason to fail the command
        return Cost(usage.model, note=f"the price library could not price it ({type(exc).__name__})")
    if batch_total < standard_total or not standard_total:
        return Cost(usage.model, batch_total, "batch")
    return Cost(usage.model, standard_total, "standard", note="standard rate: the price library knows no batch rate")


def _price_bands(genai_prices: Any, provider_id: str | None, ref: str, usage: ModelUsage) -> tuple[Decimal, Decimal]:
    """The model's tokens priced at the batch rate and at the standard rate."""
    batch_total = Decimal(0)
    standard_total = Decimal(0)
    for tokens in usage.bands.values():
        if tokens.requests:
            batch_total += _price_band(genai_prices, provider_id, ref, tokens, {"processing": "batch"})
            standard_total += _price_band(genai_prices, provider_id, ref, tokens, None)
    return batch_total, standard_total


def _price_band(genai_prices: Any, provider_id: str | None, ref: str, tokens: Tokens, context: Any) -> Decimal:
    """The price of a band's requests: the mean request priced (all in the band, so at one tier)
    times the number of requests."""
    n = tokens.requests
    mean = genai_prices.Usage(
        input_tokens=Decimal(tokens.prompt_tokens) / n,
        cache_read_tokens=Decimal(tokens.cache_read_tokens) / n,
        cache_write_tokens=Decimal(tokens.cache_write_tokens) / n,
        output_tokens=Decimal(tokens.output_tokens) / n,
    )
    calc = genai_prices.calc_price(mean, ref, provider_id=provider_id, price_context=context)
    return Decimal(calc.total_price) * n
