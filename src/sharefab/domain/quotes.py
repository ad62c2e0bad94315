"""Ranking rules for instant-quote options: labels, a combined rank, and why.

Input: :class:`QuoteCandidate` per option (a concrete plan priced and dated by the scheduler):
total price, delivery time, the RFQ's due date, each involved provider's credit score and the
option's validity. :func:`rank_quote_options`:

1. **Filters** with every reason stated (:class:`ExcludedOption`): expired options, prices in
   another currency than the budget, prices above the buyer's budget ceiling, and any involved
   provider below the buyer's minimum credit.
2. **Labels** the survivors: ``cheapest`` (lowest price; ties by delivery, credit),
   ``fastest`` (earliest delivery; ties by price, credit), ``most_reliable`` (highest
   *weakest-provider* credit, since a split order is only as reliable as its least reliable
   provider; ties by lateness, price) and ``best_overall`` (rank 1).
3. **Ranks** by a combined score, lower is better::

       score = w_price * price_n + w_speed * delivery_n + w_reliability * risk_n
               + w_lateness * lateness_n

   Each term is min-max normalised to 0..1 over the eligible options (0 = best; a term on
   which all options tie is 0): ``price_n`` by total price, ``delivery_n`` by delivery time,
   ``risk_n`` by weakest-provider credit (highest credit = 0), ``lateness_n`` by lateness past
   the due date divided by the largest lateness. Default weights: price 0.35, speed 0.25,
   reliability 0.25, lateness 0.15. Ties break by price, then delivery, then option id.

Validity: an option is valid until ``min(created + ttl, earliest start - start_margin)``
(:class:`QuoteValidity`; 15 minutes and 1 hour by default); it never blocks capacity, so
accepting re-checks the slots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sharefab.domain.money import Money
from sharefab.domain.orders import check_aware

__all__ = [
    "LABELS",
    "ExcludedOption",
    "QuoteCandidate",
    "QuoteRanking",
    "QuoteValidity",
    "RankedOption",
    "RankingWeights",
    "check_quote_valid",
    "rank_quote_options",
]

LABELS = ("best_overall", "cheapest", "fastest", "most_reliable")
"""Labels an option can carry; every non-empty ranking hands out each exactly once."""


@dataclass(frozen=True)
class QuoteCandidate:
    """One quote option as the scheduler priced it.

    ``provider_credit`` maps each involved provider organisation to its credit score 0-1000.
    """

    option_id: str
    total_price: Money
    delivery_at: datetime
    due_at: datetime
    provider_credit: Mapping[int, int]
    valid_until: datetime

    def __post_init__(self) -> None:
        if not self.option_id:
            raise ValueError("quote option needs an option_id")
        if self.total_price.is_negative:
            raise ValueError(f"option {self.option_id}: total price must not be negative")
        for name in ("delivery_at", "due_at", "valid_until"):
            check_aware(getattr(self, name), f"option {self.option_id} {name}")
        if not self.provider_credit:
            raise ValueError(f"option {self.option_id}: at least one provider is required")
        for org, score in self.provider_credit.items():
            if not 0 <= score <= 1000:
                raise ValueError(
                    f"option {self.option_id}: provider {org} credit {score} not 0-1000"
                )
        object.__setattr__(self, "provider_credit", dict(self.provider_credit))

    @property
    def lateness(self) -> timedelta:
        """How long after the due date the option delivers (zero when on time)."""
        return max(self.delivery_at - self.due_at, timedelta(0))

    @property
    def weakest_credit(self) -> int:
        """The lowest credit among the involved providers."""
        return min(self.provider_credit.values())


@dataclass(frozen=True, slots=True)
class RankingWeights:
    """Weights of the combined score (any non-negative numbers with a positive sum)."""

    price: float = 0.35
    speed: float = 0.25
    reliability: float = 0.25
    lateness: float = 0.15

    def __post_init__(self) -> None:
        values = (self.price, self.speed, self.reliability, self.lateness)
        if any(v < 0 for v in values) or sum(values) <= 0:
            raise ValueError("ranking weights must be >= 0 with a positive sum")

    def normalised(self) -> tuple[float, float, float, float]:
        """The weights scaled to sum to one."""
        values = (self.price, self.speed, self.reliability, self.lateness)
        total = sum(values)
        return (values[0] / total, values[1] / total, values[2] / total, values[3] / total)


@dataclass(frozen=True)
class RankedOption:
    """An eligible option with its rank (1 = best), labels, score terms and explanation."""

    candidate: QuoteCandidate
    rank: int
    labels: tuple[str, ...]
    score: float
    terms: dict[str, float] = field(default_factory=dict)
    why: str = ""


@dataclass(frozen=True, slots=True)
class ExcludedOption:
    """An option filtered out, with every reason."""

    candidate: QuoteCandidate
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class QuoteRanking:
    """Result of :func:`rank_quote_options`: ranked options (best first) and exclusions."""

    ranked: list[RankedOption]
    excluded: list[ExcludedOption]

    def by_label(self, label: str) -> RankedOption | None:
        """The option carrying ``label`` (``None`` if nothing is eligible)."""
        if label not in LABELS:
            raise ValueError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
        return next((o for o in self.ranked if label in o.labels), None)


@dataclass(frozen=True, slots=True)
class QuoteValidity:
    """How long a quote option stays valid."""

    ttl: timedelta = timedelta(minutes=15)
    start_margin: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.ttl <= timedelta(0) or self.start_margin < timedelta(0):
            raise ValueError("ttl must be positive and start_margin not negative")

    def valid_until(self, created_at: datetime, earliest_start: datetime) -> datetime:
        """``min(created_at + ttl, earliest_start - start_margin)``; may equal ``created_at``."""
        check_aware(created_at, "created_at")
        check_aware(earliest_start, "earliest_start")
        return max(created_at, min(created_at + self.ttl, earliest_start - self.start_margin))


def check_quote_valid(valid_until: datetime, now: datetime) -> None:
    """``ValueError`` if the option expired (at ``valid_until`` it is already expired)."""
    check_aware(now, "now")
    if now >= valid_until:
        raise ValueError(f"the quote expired at {valid_until.isoformat()}; request a fresh quote")


def _exclusions(
    c: QuoteCandidate, now: datetime, min_credit: int | None, budget: Money | None
) -> list[str]:
    reasons = []
    if now >= c.valid_until:
        reasons.append(f"expired at {c.valid_until.isoformat()}")
    if budget is not None:
        if budget.currency != c.total_price.currency:
            reasons.append(
                f"priced in {c.total_price.currency}, the budget is in {budget.currency}"
            )
        elif c.total_price > budget:
            reasons.append(f"price {c.total_price} exceeds the budget ceiling {budget}")
    if min_credit is not None:
        for org, score in sorted(c.provider_credit.items(), key=lambda kv: (kv[1], str(kv[0]))):
            if score < min_credit:
                reasons.append(f"provider {org} has credit {score}, below the minimum {min_credit}")
    return reasons


def _norm(value: float, lo: float, hi: float) -> float:
    return 0.0 if hi == lo else (value - lo) / (hi - lo)


def _duration(d: timedelta) -> str:
    hours = d.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _why(
    rank: int,
    count: int,
    labels: Sequence[str],
    c: QuoteCandidate,
    best: dict[str, QuoteCandidate],
    terms: dict[str, float],
    score: float,
) -> str:
    parts = [f"Rank {rank} of {count}"]
    if labels:
        parts[0] += " (" + ", ".join(label.replace("_", " ") for label in labels) + ")"
    cheapest = best["cheapest"].total_price
    if c.total_price == cheapest:
        parts.append(f"price {c.total_price} is the lowest")
    else:
        extra = c.total_price - cheapest
        pct = (
            f" (+{100 * extra.amount_minor / cheapest.amount_minor:.0f} %)"
            if cheapest.amount_minor
            else ""
        )
        parts.append(f"price {c.total_price} is {extra}{pct} above the cheapest")
    fastest = best["fastest"].delivery_at
    when = c.delivery_at.isoformat(timespec="minutes")
    if c.delivery_at == fastest:
        parts.append(f"delivers {when}, the earliest")
    else:
        parts.append(f"delivers {when}, {_duration(c.delivery_at - fastest)} after the fastest")
    if c.lateness:
        parts.append(f"{_duration(c.lateness)} late for the due date")
    else:
        parts.append(f"on time ({_duration(c.due_at - c.delivery_at)} before the due date)")
    top = best["most_reliable"].weakest_credit
    credit_text = f"weakest provider credit {c.weakest_credit}"
    parts.append(credit_text + (" is the best" if c.weakest_credit == top else f" (best {top})"))
    detail = ", ".join(f"{k} {v:.2f}" for k, v in terms.items())
    return "; ".join(parts) + f". Combined score {score:.3f} (0 is best; {detail})."


def rank_quote_options(
    candidates: Sequence[QuoteCandidate],
    *,
    now: datetime,
    min_provider_credit: int | None = None,
    budget_ceiling: Money | None = None,
    weights: RankingWeights | None = None,
) -> QuoteRanking:
    """Filter, label and rank quote options (see the module docstring for the rules).

    ``ValueError`` if the eligible options are priced in more than one currency, if option ids
    repeat, or if ``min_provider_credit`` is outside 0-1000.
    """
    check_aware(now, "now")
    if min_provider_credit is not None and not 0 <= min_provider_credit <= 1000:
        raise ValueError(f"minimum provider credit must be 0-1000, got {min_provider_credit}")
    ids = [c.option_id for c in candidates]
    if len(set(ids)) != len(ids):
        raise ValueError("quote option ids must be unique")
    w_price, w_speed, w_rel, w_late = (weights or RankingWeights()).normalised()
    eligible: list[QuoteCandidate] = []
    excluded: list[ExcludedOption] = []
    for c in candidates:
        reasons = _exclusions(c, now, min_provider_credit, budget_ceiling)
        if reasons:
            excluded.append(ExcludedOption(c, tuple(reasons)))
        else:
            eligible.append(c)
    if not eligible:
        return QuoteRanking([], excluded)
    currencies = {c.total_price.currency for c in eligible}
    if len(currencies) > 1:
        raise ValueError(f"quote options are priced in several currencies: {sorted(currencies)}")

    prices = [c.total_price.amount_minor for c in eligible]
    times = [c.delivery_at.timestamp() for c in eligible]
    credits = [c.weakest_credit for c in eligible]
    lates = [c.lateness.total_seconds() for c in eligible]
    max_late = max(lates)
    scored = []
    for c, p, t, cr, late in zip(eligible, prices, times, credits, lates, strict=True):
        terms = {
            "price": _norm(p, min(prices), max(prices)),
            "speed": _norm(t, min(times), max(times)),
            "risk": _norm(max(credits) - cr, 0, max(credits) - min(credits)),
            "lateness": late / max_late if max_late > 0 else 0.0,
        }
        score = (
            w_price * terms["price"]
            + w_speed * terms["speed"]
            + w_rel * terms["risk"]
            + w_late * terms["lateness"]
        )
        scored.append((score, c, terms))
    scored.sort(
        key=lambda s: (s[0], s[1].total_price.amount_minor, s[1].delivery_at, s[1].option_id)
    )
    best = {
        "best_overall": scored[0][1],
        "cheapest": min(
            eligible,
            key=lambda c: (
                c.total_price.amount_minor,
                c.delivery_at,
                -c.weakest_credit,
                c.option_id,
            ),
        ),
        "fastest": min(
            eligible,
            key=lambda c: (
                c.delivery_at,
                c.total_price.amount_minor,
                -c.weakest_credit,
                c.option_id,
            ),
        ),
        "most_reliable": min(
            eligible,
            key=lambda c: (-c.weakest_credit, c.lateness, c.total_price.amount_minor, c.option_id),
        ),
    }
    ranked = []
    for rank, (score, c, terms) in enumerate(scored, start=1):
        labels = tuple(label for label in LABELS if best[label] is c)
        why = _why(rank, len(scored), labels, c, best, terms, score)
        ranked.append(RankedOption(c, rank, labels, score, terms, why))
    return QuoteRanking(ranked, excluded)
