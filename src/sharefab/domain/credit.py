"""Explainable credit score (0-1000) per organisation, from platform evidence only.

Each component is a posterior mean in 0..1 built from time-decayed evidence:

==========================  ===========  ===================================  ==========  ======
component                   applies to   model and prior                      evidence    weight
==========================  ===========  ===================================  ==========  ======
``on_time_delivery``        provider     Beta, prior mean 0.75, strength 10   deliveries    0.30
``inspection_pass_rate``    provider     Beta, prior mean 0.80, strength 10   inspections   0.25
``commitment``              both         Beta, prior mean 0.85, strength 10   closed orders 0.15
``buyer_rating``            provider     Normal mean, prior 3.5 stars, k=5    ratings       0.15
``payment_punctuality``     buyer        Beta, prior mean 0.80, strength 10   payments      0.15
==========================  ===========  ===================================  ==========  ======

- **Bayesian smoothing.** A Beta prior of mean ``m`` and strength ``n`` is ``n`` pseudo-events
  (``a = m n`` successes, ``b = (1 - m) n`` failures); the posterior mean is
  ``(a + successes) / (a + b + events)``. Ratings are mapped to 0..1 (``(stars - 1) / 4``) and
  use the normal-normal posterior mean with known variance: ``(k m + sum x) / (k + count)``,
  ``k`` pseudo-ratings at the prior mean. A new firm therefore starts at the prior (760 as a
  provider, 825 as a buyer, 766 as both), not at 0 or 1000, and needs real evidence to move
  far from it.
- **Time decay.** An event ``d`` days before ``as_of`` counts ``0.5 ** (d / half_life)``
  (half-life 180 days), so old events weigh less than recent ones. Events after ``as_of``
  are ignored (scores can be recomputed as of any past date).
- **Cancellations** (``commitment``): one :class:`CommitmentEvidence` per order the firm
  accepted that is closed. Honoured orders are successes; a cancellation by the firm itself is
  a full failure, by the platform operator half a failure (fault not established), by the
  counterparty or the system no evidence about the firm at all.
- **Score.** ``round(1000 * sum(share_i * value_i))`` over the components that apply to the
  firm's roles, with ``share_i`` the weights above renormalised over those components. Each
  :class:`Component` carries its ``points`` (``1000 * share * value``) so the explanation adds up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from sharefab.domain.orders import ActorRole, OrderState, check_aware, parse_role, parse_state

__all__ = [
    "DEFAULT_CONFIG",
    "BetaPrior",
    "CancelledBy",
    "CommitmentEvidence",
    "Component",
    "CreditConfig",
    "CreditEvidence",
    "CreditScore",
    "DeliveryEvidence",
    "InspectionEvidence",
    "OrgRole",
    "PaymentEvidence",
    "RatingEvidence",
    "RatingPrior",
    "can_rate",
    "cancelled_by_from_role",
    "check_can_rate",
    "compute_credit",
    "decay_weight",
    "delivery_evidence",
    "filter_by_credit",
]

RATABLE_STATES = frozenset({OrderState.DELIVERED, OrderState.SETTLED})
"""Order states in which the buyer may leave its (single) rating."""


class OrgRole(StrEnum):
    """Roles that select the applicable components."""

    PROVIDER = "provider"
    BUYER = "buyer"


class CancelledBy(StrEnum):
    """Who cancelled an order, seen from the organisation being scored."""

    SELF = "self"
    OPERATOR = "operator"
    COUNTERPARTY = "counterparty"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class DeliveryEvidence:
    """A provider delivery: was it on time (by the promised date)?"""

    at: datetime
    on_time: bool


def delivery_evidence(delivered_at: datetime, promised_at: datetime) -> DeliveryEvidence:
    """Evidence for a delivery: on time when delivered no later than the promised date."""
    check_aware(delivered_at, "delivered_at")
    check_aware(promised_at, "promised_at")
    return DeliveryEvidence(delivered_at, delivered_at <= promised_at)


def cancelled_by_from_role(scored_as: OrgRole | str, actor: ActorRole | str) -> CancelledBy:
    """Who cancelled, seen from the firm scored in role ``scored_as``, given the order event's
    actor role (e.g. a provider scored on an order its buyer cancelled: ``counterparty``)."""
    role = OrgRole(scored_as)
    who = parse_role(actor)
    if who is ActorRole.OPERATOR:
        return CancelledBy.OPERATOR
    if who is ActorRole.SYSTEM:
        return CancelledBy.SYSTEM
    same = (who is ActorRole.PROVIDER) == (role is OrgRole.PROVIDER)
    return CancelledBy.SELF if same else CancelledBy.COUNTERPARTY


@dataclass(frozen=True, slots=True)
class InspectionEvidence:
    """An inspection of a provider's parts: passed or failed."""

    at: datetime
    passed: bool


@dataclass(frozen=True, slots=True)
class CommitmentEvidence:
    """A closed order the firm had accepted; ``cancelled_by`` is ``None`` if it was honoured."""

    at: datetime
    cancelled_by: CancelledBy | None = None

    def __post_init__(self) -> None:
        if self.cancelled_by is not None:
            object.__setattr__(self, "cancelled_by", CancelledBy(self.cancelled_by))


@dataclass(frozen=True, slots=True)
class RatingEvidence:
    """A buyer's rating of a provider, 1 to 5 stars."""

    at: datetime
    stars: int

    def __post_init__(self) -> None:
        if isinstance(self.stars, bool) or self.stars not in (1, 2, 3, 4, 5):
            raise ValueError(f"rating must be 1 to 5 stars, got {self.stars!r}")


@dataclass(frozen=True, slots=True)
class PaymentEvidence:
    """A buyer payment: made by its due date or not."""

    at: datetime
    on_time: bool


@dataclass(frozen=True, slots=True)
class CreditEvidence:
    """All evidence about one organisation."""

    deliveries: Sequence[DeliveryEvidence] = ()
    inspections: Sequence[InspectionEvidence] = ()
    commitments: Sequence[CommitmentEvidence] = ()
    ratings: Sequence[RatingEvidence] = ()
    payments: Sequence[PaymentEvidence] = ()


@dataclass(frozen=True, slots=True)
class BetaPrior:
    """Beta prior given by its mean and strength (number of pseudo-events)."""

    mean: float
    strength: float

    def __post_init__(self) -> None:
        if not 0 < self.mean < 1 or self.strength <= 0:
            raise ValueError("a Beta prior needs 0 < mean < 1 and strength > 0")


@dataclass(frozen=True, slots=True)
class RatingPrior:
    """Prior for the mean rating: ``mean_stars`` worth ``strength`` pseudo-ratings."""

    mean_stars: float
    strength: float

    def __post_init__(self) -> None:
        if not 1 <= self.mean_stars <= 5 or self.strength <= 0:
            raise ValueError("a rating prior needs 1 <= mean_stars <= 5 and strength > 0")


def _default_weights() -> dict[str, float]:
    return {
        "on_time_delivery": 0.30,
        "inspection_pass_rate": 0.25,
        "commitment": 0.15,
        "buyer_rating": 0.15,
        "payment_punctuality": 0.15,
    }


@dataclass(frozen=True)
class CreditConfig:
    """Priors, weights and decay of the score (defaults documented in the module)."""

    half_life_days: float = 180.0
    on_time_prior: BetaPrior = BetaPrior(0.75, 10)
    inspection_prior: BetaPrior = BetaPrior(0.80, 10)
    commitment_prior: BetaPrior = BetaPrior(0.85, 10)
    payment_prior: BetaPrior = BetaPrior(0.80, 10)
    rating_prior: RatingPrior = RatingPrior(3.5, 5)
    operator_cancel_weight: float = 0.5
    weights: dict[str, float] = field(default_factory=_default_weights)

    def __post_init__(self) -> None:
        if self.half_life_days <= 0:
            raise ValueError("half_life_days must be positive")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("component weights must be >= 0 with a positive sum")


DEFAULT_CONFIG = CreditConfig()


@dataclass(frozen=True, slots=True)
class Component:
    """One explained part of a score: its value, evidence, prior and contribution."""

    name: str
    value_0_1: float
    evidence_weight: float
    prior: float
    explanation_en: str
    weight: float
    points: float


@dataclass(frozen=True, slots=True)
class CreditScore:
    """A score 0-1000 with the components that make it up."""

    score: int
    components: list[Component]
    as_of: datetime
    prior_score: int

    def component(self, name: str) -> Component:
        """The component called ``name`` (``KeyError`` if it does not apply)."""
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)


def decay_weight(at: datetime, as_of: datetime, half_life_days: float) -> float:
    """Weight of an event at ``at`` seen from ``as_of``; 0 for events after ``as_of``."""
    age_days = (as_of - at).total_seconds() / 86_400
    if age_days < 0:
        return 0.0
    return 0.5 ** (age_days / half_life_days)


def _beta(
    name: str,
    trials: Iterable[tuple[datetime, float, float]],
    prior: BetaPrior,
    as_of: datetime,
    cfg: CreditConfig,
    nouns: str,
    success_word: str,
    note: str = "",
) -> tuple[str, float, float, float, str]:
    """Posterior mean from ``(at, success_amount, failure_amount)`` trials."""
    good = bad = 0.0
    count = 0
    for at, s, f in trials:
        check_aware(at, f"{name} evidence time")
        w = decay_weight(at, as_of, cfg.half_life_days)
        good += w * s
        bad += w * f
        count += 1 if w > 0 else 0
    a = prior.mean * prior.strength
    value = (a + good) / (prior.strength + good + bad)
    total = good + bad
    if count == 0:
        text = f"No {nouns} yet: the prior of {prior.mean:.0%} is used."
    else:
        text = (
            f"{good:.1f} of {total:.1f} time-weighted {nouns} {success_word} ({count} in total, "
            f"half-life {cfg.half_life_days:g} days), blended with a prior of {prior.mean:.0%} "
            f"worth {prior.strength:g} {nouns}: {value:.1%}.{note}"
        )
    return name, value, total, prior.mean, text


def _rating(
    ratings: Sequence[RatingEvidence], as_of: datetime, cfg: CreditConfig
) -> tuple[str, float, float, float, str]:
    prior = cfg.rating_prior
    m0 = (prior.mean_stars - 1) / 4
    weighted = total = 0.0
    count = 0
    for r in ratings:
        check_aware(r.at, "rating time")
        w = decay_weight(r.at, as_of, cfg.half_life_days)
        weighted += w * (r.stars - 1) / 4
        total += w
        count += 1 if w > 0 else 0
    value = (prior.strength * m0 + weighted) / (prior.strength + total)
    stars = 1 + 4 * value
    if count == 0:
        text = f"No ratings yet: the prior of {prior.mean_stars:g} stars is used."
    else:
        raw = 1 + 4 * weighted / total if total else prior.mean_stars
        text = (
            f"{count} ratings averaging {raw:.2f} stars (time-weighted {total:.1f}), blended "
            f"with a prior of {prior.mean_stars:g} stars worth {prior.strength:g} ratings: "
            f"{stars:.2f} stars."
        )
    return "buyer_rating", value, total, m0, text


def compute_credit(
    evidence: CreditEvidence,
    roles: Iterable[OrgRole | str],
    as_of: datetime,
    config: CreditConfig = DEFAULT_CONFIG,
) -> CreditScore:
    """Score an organisation with ``roles`` (provider and/or buyer) as of ``as_of``."""
    check_aware(as_of, "as_of")
    role_set = {OrgRole(r) for r in roles}
    if not role_set:
        raise ValueError("at least one role (provider or buyer) is needed to score")
    cfg = config
    self_w, op_w = 1.0, cfg.operator_cancel_weight
    parts = []
    if OrgRole.PROVIDER in role_set:
        parts.append(
            _beta(
                "on_time_delivery",
                ((d.at, float(d.on_time), float(not d.on_time)) for d in evidence.deliveries),
                cfg.on_time_prior,
                as_of,
                cfg,
                "deliveries",
                "on time",
            )
        )
        parts.append(
            _beta(
                "inspection_pass_rate",
                ((i.at, float(i.passed), float(not i.passed)) for i in evidence.inspections),
                cfg.inspection_prior,
                as_of,
                cfg,
                "inspections",
                "passed",
            )
        )
    commitment_trials = []
    by_self = by_operator = 0
    for c in evidence.commitments:
        if c.cancelled_by is None:
            commitment_trials.append((c.at, 1.0, 0.0))
        elif c.cancelled_by is CancelledBy.SELF:
            commitment_trials.append((c.at, 0.0, self_w))
            by_self += 1
        elif c.cancelled_by is CancelledBy.OPERATOR:
            commitment_trials.append((c.at, 0.0, op_w))
            by_operator += 1
    note = (
        f" Cancelled by the firm: {by_self} (count fully); by the operator: {by_operator} "
        f"(count {op_w:g}); cancellations by others do not count."
    )
    parts.append(
        _beta(
            "commitment",
            commitment_trials,
            cfg.commitment_prior,
            as_of,
            cfg,
            "orders",
            "honoured",
            note,
        )
    )
    if OrgRole.PROVIDER in role_set:
        parts.append(_rating(evidence.ratings, as_of, cfg))
    if OrgRole.BUYER in role_set:
        parts.append(
            _beta(
                "payment_punctuality",
                ((p.at, float(p.on_time), float(not p.on_time)) for p in evidence.payments),
                cfg.payment_prior,
                as_of,
                cfg,
                "payments",
                "on time",
            )
        )
    total_weight = sum(cfg.weights.get(p[0], 0.0) for p in parts)
    if total_weight <= 0:
        raise ValueError("no applicable component has a positive weight")
    components = []
    for name, value, ev, prior, text in parts:
        share = cfg.weights.get(name, 0.0) / total_weight
        components.append(Component(name, value, ev, prior, text, share, 1000 * share * value))
    score = round(sum(c.points for c in components))
    prior_score = round(sum(1000 * c.weight * c.prior for c in components))
    return CreditScore(max(0, min(1000, score)), components, as_of, prior_score)


def check_can_rate(order_state: OrderState | str, existing_rating: object | None) -> None:
    """``ValueError`` saying why a rating is not allowed (delivered orders, one per order)."""
    state = parse_state(order_state, "order")
    if state not in RATABLE_STATES:
        raise ValueError(f"only a delivered order can be rated; this order is {state.value}")
    if existing_rating is not None:
        raise ValueError("this order already has a rating; only one rating per order")


def can_rate(order_state: OrderState | str, existing_rating: object | None) -> bool:
    """True if the buyer may rate an order in ``order_state`` that has ``existing_rating``."""
    try:
        check_can_rate(order_state, existing_rating)
    except ValueError:
        return False
    return True


T = TypeVar("T")


def filter_by_credit(
    items: Iterable[T], score_of: Callable[[T], int], minimum: int | None = None
) -> tuple[list[T], list[tuple[T, str]]]:
    """``(kept, excluded)``: items at or above ``minimum`` sorted by score (best first),
    and the others each with the reason. Stable for equal scores."""
    if minimum is not None and not 0 <= minimum <= 1000:
        raise ValueError(f"minimum credit must be between 0 and 1000, got {minimum}")
    kept: list[T] = []
    excluded: list[tuple[T, str]] = []
    for item in items:
        score = score_of(item)
        if minimum is not None and score < minimum:
            excluded.append((item, f"credit {score} is below the minimum {minimum}"))
        else:
            kept.append(item)
    kept.sort(key=score_of, reverse=True)
    return kept, excluded
