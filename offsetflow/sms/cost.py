"""What LLM calls cost in money, and a ceiling on it.

Prices are USD per million tokens, per model, with a separate (usually half) price for providers' Batch APIs.
They come from a file (``--llm-prices``, JSON or TOML) or from flags; ``EXAMPLE_PRICES`` are *examples* of
list prices, written down once for documentation and tests: they are not fetched, and they go stale. Check
your provider's price page before trusting a figure in money.

A budget is checked *before* each call, against the call's worst case: its prompt tokens estimated from the
bytes sent (never fewer than one token per ``BYTES_PER_TOKEN`` bytes, and more once the server has shown
that it counts more) plus the most completion tokens the request allows. Concurrent calls each reserve their
worst case, so calls in flight together cannot overshoot the budget between them; after a call its
reservation is replaced by what the server says it used.
"""

from __future__ import annotations

import json
import math
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offsetflow.config import ConfigError
from offsetflow.stream.retry import StopCleanly

# Tokenisers of current models average 3.5 to 4.5 bytes per token on English and JSON; 3 leaves room for
# digits and punctuation, which bank SMS are full of. Scripts beyond ASCII take more bytes per character and
# about as many per token.
BYTES_PER_TOKEN = 3.0
PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """USD per million tokens. ``batch_*`` are the Batch API's prices; half the online ones unless given."""

    prompt: float
    completion: float
    batch_prompt: float | None = None
    batch_completion: float | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float:
        prompt, completion = (self.prompt, self.completion)
        if batch:
            prompt = self.batch_prompt if self.batch_prompt is not None else self.prompt / 2
            completion = self.batch_completion if self.batch_completion is not None else self.completion / 2
        return (prompt_tokens * prompt + completion_tokens * completion) / PER_MILLION


# Examples only (OpenAI list prices as written down in 2025, USD per 1M tokens, batch at half): not live prices.
EXAMPLE_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
}


@dataclass(frozen=True)
class PriceTable:
    models: Mapping[str, Price] = field(default_factory=lambda: dict(EXAMPLE_PRICES))

    def price(self, model: str) -> Price | None:
        """The exact model's price, else the longest name the model starts with (``gpt-4o-mini-2024-07-18`` is
        priced as ``gpt-4o-mini``), else None: an unknown model has no price rather than a guessed one."""
        if model in self.models:
            return self.models[model]
        prefixes = [name for name in self.models if model.startswith(name)]
        return self.models[max(prefixes, key=len)] if prefixes else None

    def with_price(self, model: str, prompt: float | None, completion: float | None) -> PriceTable:
        """This table with ``model``'s price overridden by flags (a flag left out keeps the table's figure)."""
        if prompt is None and completion is None:
            return self
        known = self.price(model)
        if known is None and (prompt is None or completion is None):
            raise ConfigError(
                f"no price for model {model!r} to complete: give both --llm-price-prompt and --llm-price-completion"
            )
        base = known or Price(0.0, 0.0)
        price = Price(
            prompt if prompt is not None else base.prompt,
            completion if completion is not None else base.completion,
            base.batch_prompt if prompt is None else None,
            base.batch_completion if completion is None else None,
        )
        return PriceTable({**self.models, model: price})


def load_prices(path: Path) -> PriceTable:
    """A price table from JSON or TOML (by the file's suffix): per model, ``prompt`` and ``completion`` USD per
    1M tokens, optionally ``batch_prompt`` and ``batch_completion``. Models may sit at the top level or under
    ``models``. The file replaces the examples entirely, so no example price is ever used by accident."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the price file {path}: {exc.strerror or exc}") from exc
    try:
        raw: Any = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise ConfigError(f"the price file {path} is not valid {kind}: {exc}") from exc
    if isinstance(raw, dict) and isinstance(raw.get("models"), dict):
        raw = raw["models"]
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f'the price file {path} holds no models: write {{"<model>": {{"prompt": .., ...}}}}')
    return PriceTable({str(model): _price(path, str(model), entry) for model, entry in raw.items()})


def _price(path: Path, model: str, entry: Any) -> Price:
    fields = ("prompt", "completion", "batch_prompt", "batch_completion")
    where = f"the price file {path}, model {model!r}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table with prompt and completion prices")
    unknown = sorted(set(entry) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (fields are {', '.join(fields)})")
    values: dict[str, float | None] = {}
    for name in fields:
        value = entry.get(name)
        if value is None and name in ("prompt", "completion"):
            raise ConfigError(f"{where}: {name} (USD per 1M tokens) is missing")
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0
        ):
            raise ConfigError(f"{where}: {name} must be a number of USD per 1M tokens, >= 0 (got {value!r})")
        values[name] = None if value is None else float(value)
    prompt, completion = values["prompt"], values["completion"]
    assert prompt is not None and completion is not None
    return Price(prompt, completion, values["batch_prompt"], values["batch_completion"])


class BudgetExceeded(StopCleanly):
    """The next call could take spending past ``--llm-budget``. No record is at fault (so no dead letter): the
    consumer stops, and results already paid for are stored, so a restart with a higher budget reuses them."""

    def __init__(self, budget: float, spent: float) -> None:
        super().__init__(
            f"LLM budget of {usd(budget)} reached after {usd(spent)}: raise --llm-budget and restart; nothing is lost"
        )
        self.budget = budget
        self.spent = spent


def usd(amount: float) -> str:
    """Money as people read it: cents for sums, more digits for the fractions of a cent one call costs."""
    if amount >= 1 or amount == 0:
        return f"${amount:,.2f}"
    digits = f"{amount:.4f}".rstrip("0")
    return "$" + (digits if len(digits.split(".")[1]) >= 2 else f"{amount:.2f}")


class Meter:
    """Money spent by one extractor, and the budget it must stay under (``None``: no ceiling).

    ``reserve`` before a call, then ``charge`` what it cost or ``release`` the reservation if no server
    billed it. A model without a price spends nothing that can be counted: a budget
    on such a model is refused up front (``require_price``) rather than silently never reached."""

    def __init__(self, price: Price | None, budget: float | None = None, batch: bool = False) -> None:
        self.price = price
        self.budget = budget
        self.batch = batch
        self.spent = 0.0
        self.reserved = 0.0
        self._bytes_per_token = BYTES_PER_TOKEN
        self._lock = threading.Lock()

    def require_price(self, model: str) -> None:
        if self.budget is not None and self.price is None:
            raise ConfigError(
                f"--llm-budget needs a price for model {model!r}: give --llm-price-prompt and "
                "--llm-price-completion, or --llm-prices FILE"
            )

    def estimate_prompt_tokens(self, sent_bytes: int) -> int:
        with self._lock:
            return math.ceil(sent_bytes / self._bytes_per_token)

    def reserve(self, sent_bytes: int, max_completion_tokens: int, batch: bool | None = None) -> float:
        """Hold the worst case of one call (or one batch job: its requests' bytes and completion bounds summed,
        ``batch=True`` for the Batch API's price); raises ``BudgetExceeded`` if it does not fit. Returns the
        amount held, to hand back to ``charge`` or ``release``."""
        worst = self.worst_case(sent_bytes, max_completion_tokens, batch)
        with self._lock:
            # (a hair of tolerance: ten calls of $0.001 fit in $0.01, whatever floating point says)
            if self.budget is not None and self.spent + self.reserved + worst > self.budget * (1 + 1e-9):
                raise BudgetExceeded(self.budget, self.spent)
            self.reserved += worst
        return worst

    def worst_case(self, sent_bytes: int, max_completion_tokens: int, batch: bool | None = None) -> float:
        if self.price is None:
            return 0.0
        at_batch_price = self.batch if batch is None else batch
        return self.price.cost(self.estimate_prompt_tokens(sent_bytes), max_completion_tokens, at_batch_price)

    def release(self, held: float) -> None:
        """The call never reached a server that bills for it (refused, busy, unreachable)."""
        with self._lock:
            self.reserved = max(0.0, self.reserved - held)

    def charge(
        self, held: float, sent_bytes: int, prompt_tokens: int, completion_tokens: int, batch: bool | None = None
    ) -> float:
        """Replace a reservation by what the call cost; returns it. A call the server did not count (no usage
        in the answer, a timeout, an unreadable answer: it may have billed us all the same) costs its worst
        case. A server that counts more prompt tokens than estimated makes every later estimate as
        pessimistic."""
        at_batch_price = self.batch if batch is None else batch
        if prompt_tokens or completion_tokens:
            cost = self.price.cost(prompt_tokens, completion_tokens, at_batch_price) if self.price is not None else 0.0
        else:
            cost = held
        with self._lock:
            self.reserved = max(0.0, self.reserved - held)
            self.spent += cost
            if prompt_tokens > 0 and sent_bytes > 0:
                self._bytes_per_token = min(self._bytes_per_token, sent_bytes / prompt_tokens)
        return cost


def meter_for(
    model: str,
    prices_file: Path | None = None,
    price_prompt: float | None = None,
    price_completion: float | None = None,
    budget: float | None = None,
    batch: bool = False,
) -> Meter:
    """The meter the CLI's flags describe: ``--llm-prices`` (else the examples), ``--llm-price-prompt`` and
    ``--llm-price-completion`` over it, ``--llm-budget``. A budget needs a price: see ``Meter.require_price``."""
    table = load_prices(prices_file) if prices_file is not None else PriceTable()
    table = table.with_price(model, price_prompt, price_completion)
    if budget is not None and not (math.isfinite(budget) and budget > 0):
        raise ConfigError(f"--llm-budget must be an amount of USD above 0 (got {budget!r})")
    meter = Meter(table.price(model), budget, batch)
    meter.require_price(model)
    return meter
