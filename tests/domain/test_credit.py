"""Credit score: Bayesian smoothing, time decay, explanations, rating rules, filtering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sharefab.domain.credit import (
    DEFAULT_CONFIG,
    CommitmentEvidence,
    CreditConfig,
    CreditEvidence,
    DeliveryEvidence,
    InspectionEvidence,
    PaymentEvidence,
    RatingEvidence,
    can_rate,
    cancelled_by_from_role,
    check_can_rate,
    compute_credit,
    decay_weight,
    delivery_evidence,
    filter_by_credit,
)
from sharefab.domain.orders import OrderState

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def deliveries(n: int, on_time: bool = True, age: float = 1) -> list[DeliveryEvidence]:
    return [DeliveryEvidence(days_ago(age), on_time) for _ in range(n)]


def test_new_firm_scores_at_the_prior_not_at_the_extremes() -> None:
    score = compute_credit(CreditEvidence(), ["provider", "buyer"], NOW)
    assert score.score == score.prior_score
    assert 600 <= score.score <= 850
    assert all(c.evidence_weight == 0 and c.value_0_1 == c.prior for c in score.components)
    assert {c.name for c in score.components} == {
        "on_time_delivery",
        "inspection_pass_rate",
        "commitment",
        "buyer_rating",
        "payment_punctuality",
    }
    assert "No deliveries yet" in score.component("on_time_delivery").explanation_en


def test_a_few_perfect_events_move_the_score_only_a_little() -> None:
    prior = compute_credit(CreditEvidence(), ["provider"], NOW).score
    one = compute_credit(CreditEvidence(deliveries=deliveries(1)), ["provider"], NOW).score
    assert prior < one < prior + 40
    one_bad = compute_credit(CreditEvidence(deliveries=deliveries(1, False)), ["provider"], NOW)
    assert prior - 40 < one_bad.score < prior


def test_fifty_on_time_deliveries_beat_five() -> None:
    five = compute_credit(CreditEvidence(deliveries=deliveries(5)), ["provider"], NOW)
    fifty = compute_credit(CreditEvidence(deliveries=deliveries(50)), ["provider"], NOW)
    assert fifty.score > five.score
    c5, c50 = five.component("on_time_delivery"), fifty.component("on_time_delivery")
    assert c50.value_0_1 > c5.value_0_1 > c5.prior
    assert c50.evidence_weight > c5.evidence_weight


def test_old_bad_events_weigh_less_than_recent_ones() -> None:
    good = deliveries(20, True, age=10)
    old_bad = CreditEvidence(deliveries=good + deliveries(10, False, age=720))
    new_bad = CreditEvidence(deliveries=good + deliveries(10, False, age=10))
    s_old = compute_credit(old_bad, ["provider"], NOW)
    s_new = compute_credit(new_bad, ["provider"], NOW)
    assert s_old.score > s_new.score
    assert decay_weight(days_ago(180), NOW, 180) == pytest.approx(0.5)
    assert decay_weight(days_ago(360), NOW, 180) == pytest.approx(0.25)


def test_events_after_as_of_are_ignored() -> None:
    future = CreditEvidence(deliveries=[DeliveryEvidence(NOW + timedelta(days=1), False)])
    assert (
        compute_credit(future, ["provider"], NOW).score
        == compute_credit(CreditEvidence(), ["provider"], NOW).score
    )


def test_cancellations_count_by_who_cancelled() -> None:
    honoured = [CommitmentEvidence(days_ago(5)) for _ in range(5)]

    def commitment(by: str) -> float:
        ev = CreditEvidence(commitments=[*honoured, CommitmentEvidence(days_ago(1), by)])
        return compute_credit(ev, ["buyer"], NOW).component("commitment").value_0_1

    base = compute_credit(CreditEvidence(commitments=honoured), ["buyer"], NOW)
    base_value = base.component("commitment").value_0_1
    assert commitment("self") < commitment("operator") < base_value
    assert commitment("counterparty") == pytest.approx(base_value)
    assert commitment("system") == pytest.approx(base_value)
    text = (
        compute_credit(
            CreditEvidence(commitments=[CommitmentEvidence(days_ago(1), "self")]), ["buyer"], NOW
        )
        .component("commitment")
        .explanation_en
    )
    assert "Cancelled by the firm: 1" in text


def test_ratings_use_a_normal_posterior_around_the_prior() -> None:
    fives = CreditEvidence(ratings=[RatingEvidence(NOW, 5) for _ in range(3)])
    ones = CreditEvidence(ratings=[RatingEvidence(NOW, 1) for _ in range(3)])
    c5 = compute_credit(fives, ["provider"], NOW).component("buyer_rating")
    c1 = compute_credit(ones, ["provider"], NOW).component("buyer_rating")
    # prior 3.5 stars worth 5 ratings: (5 * 0.625 + 3 * 1.0) / 8
    assert c5.value_0_1 == pytest.approx((5 * 0.625 + 3) / 8)
    assert c1.value_0_1 == pytest.approx((5 * 0.625) / 8)
    assert "3 ratings averaging 5.00 stars" in c5.explanation_en
    with pytest.raises(ValueError, match="1 to 5 stars"):
        RatingEvidence(NOW, 6)


def test_roles_select_components_and_buyers_are_scored_on_payments() -> None:
    buyer = compute_credit(CreditEvidence(), ["buyer"], NOW)
    assert [c.name for c in buyer.components] == ["commitment", "payment_punctuality"]
    late = CreditEvidence(payments=[PaymentEvidence(days_ago(3), False) for _ in range(10)])
    assert compute_credit(late, ["buyer"], NOW).score < buyer.score
    # a provider's score ignores payment evidence
    provider = compute_credit(late, ["provider"], NOW)
    assert provider.score == compute_credit(CreditEvidence(), ["provider"], NOW).score
    with pytest.raises(ValueError, match="at least one role"):
        compute_credit(CreditEvidence(), [], NOW)
    with pytest.raises(ValueError):
        compute_credit(CreditEvidence(), ["landlord"], NOW)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_credit(CreditEvidence(), ["buyer"], datetime(2026, 1, 1))
    naive = CreditEvidence(deliveries=[DeliveryEvidence(datetime(2026, 1, 1), True)])
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_credit(naive, ["provider"], NOW)
    with pytest.raises(ValueError, match="half_life_days"):
        CreditConfig(half_life_days=0)


def test_rating_allowed_once_and_only_on_a_delivered_order() -> None:
    assert can_rate(OrderState.DELIVERED, None)
    assert can_rate("settled", None)
    assert not can_rate("delivered", 4)
    for state in ("shipped", "in_production", "cancelled", "disputed", "accepted"):
        assert not can_rate(state, None)
    with pytest.raises(
        ValueError, match="only a delivered order can be rated; this order is shipped"
    ):
        check_can_rate("shipped", None)
    with pytest.raises(ValueError, match="only one rating per order"):
        check_can_rate("delivered", {"stars": 5})


def test_filter_by_credit_excludes_with_reasons_and_sorts_best_first() -> None:
    firms = [("a", 700), ("b", 550), ("c", 910), ("d", 700)]
    kept, excluded = filter_by_credit(firms, lambda f: f[1], minimum=600)
    assert [f[0] for f in kept] == ["c", "a", "d"]
    assert excluded == [(("b", 550), "credit 550 is below the minimum 600")]
    with pytest.raises(ValueError, match="between 0 and 1000"):
        filter_by_credit(firms, lambda f: f[1], minimum=1200)


evidence_strategy = st.builds(
    CreditEvidence,
    deliveries=st.lists(
        st.builds(DeliveryEvidence, st.floats(0, 1500).map(days_ago), st.booleans()), max_size=30
    ),
    inspections=st.lists(
        st.builds(InspectionEvidence, st.floats(0, 1500).map(days_ago), st.booleans()),
        max_size=30,
    ),
    commitments=st.lists(
        st.builds(
            CommitmentEvidence,
            st.floats(0, 1500).map(days_ago),
            st.sampled_from([None, "self", "operator", "counterparty", "system"]),
        ),
        max_size=30,
    ),
    ratings=st.lists(
        st.builds(RatingEvidence, st.floats(0, 1500).map(days_ago), st.integers(1, 5)),
        max_size=30,
    ),
    payments=st.lists(
        st.builds(PaymentEvidence, st.floats(0, 1500).map(days_ago), st.booleans()), max_size=30
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    evidence=evidence_strategy,
    roles=st.sets(st.sampled_from(["provider", "buyer"]), min_size=1),
)
def test_explanation_components_add_up_to_the_score(evidence: CreditEvidence, roles: set) -> None:
    result = compute_credit(evidence, roles, NOW)
    assert 0 <= result.score <= 1000
    assert sum(c.weight for c in result.components) == pytest.approx(1.0)
    assert abs(sum(c.points for c in result.components) - result.score) <= 0.5 + 1e-9
    for c in result.components:
        assert 0 < c.value_0_1 < 1
        assert c.points == pytest.approx(1000 * c.weight * c.value_0_1)
        assert c.explanation_en
        assert DEFAULT_CONFIG.weights[c.name] > 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evidence=evidence_strategy, extra=st.integers(1, 20))
def test_more_recent_on_time_deliveries_never_lower_the_score(
    evidence: CreditEvidence, extra: int
) -> None:
    before = compute_credit(evidence, ["provider"], NOW).score
    more = CreditEvidence(
        deliveries=[*evidence.deliveries, *deliveries(extra)],
        inspections=evidence.inspections,
        commitments=evidence.commitments,
        ratings=evidence.ratings,
        payments=evidence.payments,
    )
    assert compute_credit(more, ["provider"], NOW).score >= before


def test_glue_from_order_events_to_evidence() -> None:
    assert delivery_evidence(NOW, NOW).on_time
    assert not delivery_evidence(NOW + timedelta(minutes=1), NOW).on_time
    assert cancelled_by_from_role("provider", "provider") == "self"
    assert cancelled_by_from_role("provider", "buyer") == "counterparty"
    assert cancelled_by_from_role("buyer", "buyer") == "self"
    assert cancelled_by_from_role("buyer", "provider") == "counterparty"
    assert cancelled_by_from_role("buyer", "operator") == "operator"
    assert cancelled_by_from_role("provider", "system") == "system"
