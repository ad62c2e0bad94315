"""Quote option ranking: labels, combined rank, explanations, filters and validity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sharefab.domain.money import Money
from sharefab.domain.quotes import (
    LABELS,
    QuoteCandidate,
    QuoteValidity,
    RankingWeights,
    check_quote_valid,
    rank_quote_options,
)

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
DUE = NOW + timedelta(days=10)


def option(
    oid: str,
    price: int,
    days: float,
    credit: dict[int, int],
    *,
    currency: str = "CNY",
    valid_for: timedelta = timedelta(minutes=15),
) -> QuoteCandidate:
    return QuoteCandidate(
        option_id=oid,
        total_price=Money(price, currency),
        delivery_at=NOW + timedelta(days=days),
        due_at=DUE,
        provider_credit=credit,
        valid_until=NOW + valid_for,
    )


CHEAP = option("cheap", 80_000, 9, {1: 700})
FAST = option("fast", 120_000, 3, {2: 720})
SAFE = option("safe", 100_000, 7, {3: 930, 4: 910})


def test_three_distinct_options_get_the_three_labels() -> None:
    result = rank_quote_options([CHEAP, FAST, SAFE], now=NOW)
    assert result.by_label("cheapest").candidate is CHEAP
    assert result.by_label("fastest").candidate is FAST
    assert result.by_label("most_reliable").candidate is SAFE
    assert result.by_label("best_overall").rank == 1
    assert [o.rank for o in result.ranked] == [1, 2, 3]
    assert result.excluded == []


def test_every_label_is_handed_out_exactly_once() -> None:
    result = rank_quote_options([CHEAP, FAST, SAFE], now=NOW)
    handed = [label for o in result.ranked for label in o.labels]
    assert sorted(handed) == sorted(LABELS)


def test_one_option_carries_all_labels() -> None:
    result = rank_quote_options([SAFE], now=NOW)
    assert result.ranked[0].labels == LABELS
    assert "the lowest" in result.ranked[0].why and "the earliest" in result.ranked[0].why


def test_most_reliable_uses_the_weakest_provider_of_a_split_order() -> None:
    split = option("split", 90_000, 6, {5: 990, 6: 400})
    single = option("single", 95_000, 6, {7: 800})
    result = rank_quote_options([split, single], now=NOW)
    assert result.by_label("most_reliable").candidate is single
    assert "weakest provider credit 400 (best 800)" in next(
        o.why for o in result.ranked if o.candidate is split
    )


def test_weights_change_the_combined_order() -> None:
    price_only = rank_quote_options(
        [CHEAP, FAST, SAFE], now=NOW, weights=RankingWeights(1, 0, 0, 0)
    )
    speed_only = rank_quote_options(
        [CHEAP, FAST, SAFE], now=NOW, weights=RankingWeights(0, 1, 0, 0)
    )
    credit_only = rank_quote_options(
        [CHEAP, FAST, SAFE], now=NOW, weights=RankingWeights(0, 0, 1, 0)
    )
    assert [o.candidate.option_id for o in price_only.ranked] == ["cheap", "safe", "fast"]
    assert [o.candidate.option_id for o in speed_only.ranked] == ["fast", "safe", "cheap"]
    assert credit_only.ranked[0].candidate is SAFE
    with pytest.raises(ValueError, match="positive sum"):
        RankingWeights(0, 0, 0, 0)


def test_late_options_rank_behind_an_equal_on_time_one() -> None:
    on_time = option("on_time", 100_000, 9, {1: 800})
    late = option("late", 100_000, 12, {2: 800})
    result = rank_quote_options([late, on_time], now=NOW)
    assert [o.candidate.option_id for o in result.ranked] == ["on_time", "late"]
    late_why = result.ranked[1].why
    assert "2.0 days late for the due date" in late_why
    assert result.ranked[0].terms["lateness"] == 0.0 and result.ranked[1].terms["lateness"] == 1.0


def test_explanation_names_the_gap_to_the_best() -> None:
    result = rank_quote_options([CHEAP, FAST, SAFE], now=NOW)
    why = {o.candidate.option_id: o.why for o in result.ranked}
    assert "price CNY 1,200.00 is CNY 400.00 (+50 %) above the cheapest" in why["fast"]
    assert "6.0 days after the fastest" in why["cheap"]
    assert "on time (24.0 h before the due date)" in why["cheap"]
    assert why["safe"].startswith("Rank ")


def test_filters_state_every_reason() -> None:
    expired = option("old", 50_000, 5, {1: 900}, valid_for=timedelta(0))
    dear = option("dear", 500_000, 5, {2: 300})
    dollars = option("usd", 10_000, 5, {3: 900}, currency="USD")
    result = rank_quote_options(
        [expired, dear, dollars, SAFE],
        now=NOW,
        min_provider_credit=600,
        budget_ceiling=Money(200_000, "CNY"),
    )
    assert [o.candidate for o in result.ranked] == [SAFE]
    reasons = {e.candidate.option_id: e.reasons for e in result.excluded}
    assert reasons["old"] == (f"expired at {NOW.isoformat()}",)
    assert reasons["dear"] == (
        "price CNY 5,000.00 exceeds the budget ceiling CNY 2,000.00",
        "provider 2 has credit 300, below the minimum 600",
    )
    assert reasons["usd"] == ("priced in USD, the budget is in CNY",)


def test_nothing_eligible_gives_an_empty_ranking() -> None:
    result = rank_quote_options([CHEAP], now=NOW, min_provider_credit=950)
    assert result.ranked == [] and result.by_label("cheapest") is None
    assert len(result.excluded) == 1


def test_bad_input_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="several currencies"):
        rank_quote_options([CHEAP, option("usd", 1, 1, {9: 500}, currency="USD")], now=NOW)
    with pytest.raises(ValueError, match="unique"):
        rank_quote_options([CHEAP, CHEAP], now=NOW)
    with pytest.raises(ValueError, match="0-1000"):
        rank_quote_options([CHEAP], now=NOW, min_provider_credit=1001)
    with pytest.raises(ValueError, match="at least one provider"):
        option("none", 1, 1, {})
    with pytest.raises(ValueError, match="credit 1200"):
        option("x", 1, 1, {1: 1200})
    with pytest.raises(ValueError, match="unknown label"):
        rank_quote_options([CHEAP], now=NOW).by_label("nicest")


def test_validity_is_short_and_ends_before_the_work_would_start() -> None:
    policy = QuoteValidity()
    assert policy.valid_until(NOW, NOW + timedelta(days=2)) == NOW + timedelta(minutes=15)
    assert policy.valid_until(NOW, NOW + timedelta(minutes=70)) == NOW + timedelta(minutes=10)
    assert policy.valid_until(NOW, NOW + timedelta(minutes=30)) == NOW  # already too late
    check_quote_valid(NOW + timedelta(minutes=15), NOW)
    with pytest.raises(ValueError, match=r"expired .*request a fresh quote"):
        check_quote_valid(NOW, NOW)


candidates = st.lists(
    st.builds(
        lambda i, price, days, credits: option(
            f"o{i}", price, days, {k: v for k, v in enumerate(credits)}
        ),
        st.integers(0, 10**6),
        st.integers(0, 10**7),
        st.floats(0.1, 30),
        st.lists(st.integers(0, 1000), min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda c: c.option_id,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options=candidates)
def test_labels_point_at_the_extremes_and_ranks_are_a_permutation(
    options: list[QuoteCandidate],
) -> None:
    result = rank_quote_options(options, now=NOW)
    assert sorted(o.rank for o in result.ranked) == list(range(1, len(options) + 1))
    scores = [o.score for o in result.ranked]
    assert scores == sorted(scores)
    assert result.by_label("cheapest").candidate.total_price == min(c.total_price for c in options)
    assert result.by_label("fastest").candidate.delivery_at == min(c.delivery_at for c in options)
    best_credit = max(c.weakest_credit for c in options)
    assert result.by_label("most_reliable").candidate.weakest_credit == best_credit
    for o in result.ranked:
        assert 0.0 <= o.score <= 1.0 + 1e-9
        assert o.why.startswith(f"Rank {o.rank} of {len(options)}")
