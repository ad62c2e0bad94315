"""Money: exact minor units, one currency at a time, allocation without losing a cent."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharefab.domain.money import CurrencyMismatch, Money, sum_money


def test_formatting_uses_thousands_separators_and_the_minor_unit() -> None:
    assert Money(123456, "CNY").format() == "CNY 1,234.56"
    assert str(Money(-5, "EUR")) == "EUR -0.05"
    assert Money(1200, "JPY").format() == "JPY 1,200"
    assert Money(1234567, "KWD").format() == "KWD 1,234.567"
    assert Money(0, "USD").format() == "USD 0.00"


def test_parse_major_units() -> None:
    assert Money.of("1,234.56", "CNY") == Money(123456, "CNY")
    assert Money.of(Decimal("0.1"), "USD") == Money(10, "USD")
    assert Money.of(7, "JPY") == Money(7, "JPY")
    with pytest.raises(ValueError, match="more than 2 decimals"):
        Money.of("1.234", "CNY")
    with pytest.raises(ValueError, match="not a number"):
        Money.of("abc", "CNY")
    with pytest.raises(ValueError, match="float"):
        Money.of(1.5, "CNY")  # type: ignore[arg-type]


def test_bad_construction_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(1, "cny")
    with pytest.raises(ValueError, match="integer"):
        Money(1.5, "CNY")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="integer"):
        Money(True, "CNY")


def test_arithmetic_within_one_currency() -> None:
    a, b = Money(1000, "CNY"), Money(250, "CNY")
    assert a + b == Money(1250, "CNY")
    assert a - b == Money(750, "CNY")
    assert -a == Money(-1000, "CNY")
    assert a * 3 == 3 * a == Money(3000, "CNY")
    assert b < a and a >= b
    assert sum_money([a, b, b], "CNY") == Money(1500, "CNY")
    assert sum_money([], "USD") == Money.zero("USD")


def test_mixing_currencies_raises_naming_both() -> None:
    with pytest.raises(CurrencyMismatch, match="CNY and USD"):
        _ = Money(1, "CNY") + Money(1, "USD")
    with pytest.raises(CurrencyMismatch):
        _ = Money(1, "CNY") < Money(1, "USD")
    with pytest.raises(ValueError):
        sum_money([Money(1, "EUR")], "CNY")


def test_allocate_by_ratio_gives_leftover_cents_to_largest_remainders() -> None:
    assert Money(100, "CNY").allocate([1, 1, 1]) == [
        Money(34, "CNY"),
        Money(33, "CNY"),
        Money(33, "CNY"),
    ]
    # 1000 split 3:7 -> exact 300 / 700
    assert [m.amount_minor for m in Money(1000, "CNY").allocate([3, 7])] == [300, 700]
    # 5 split 1:1:2 -> exact 1.25, 1.25, 2.5 -> remainders .25, .25, .5: one extra unit to the third
    assert [m.amount_minor for m in Money(5, "CNY").allocate([1, 1, 2])] == [1, 1, 3]
    assert [m.amount_minor for m in Money(-100, "CNY").allocate([1, 1, 1])] == [-34, -33, -33]
    assert [m.amount_minor for m in Money(10, "CNY").allocate([0, 1])] == [0, 10]


def test_allocate_rejects_bad_ratios() -> None:
    with pytest.raises(ValueError, match="positive sum"):
        Money(10, "CNY").allocate([0, 0])
    with pytest.raises(ValueError, match=">= 0"):
        Money(10, "CNY").allocate([2, -1])
    with pytest.raises(ValueError, match="at least one"):
        Money(10, "CNY").allocate([])


def test_fee_in_basis_points_rounds_half_to_even() -> None:
    assert Money(100000, "CNY").fee_bps(250) == Money(2500, "CNY")  # 2.5 % of 1,000.00
    assert Money(50, "CNY").fee_bps(1000) == Money(5, "CNY")
    assert Money(25, "CNY").fee_bps(1000) == Money(2, "CNY")  # 2.5 -> 2 (even)
    assert Money(35, "CNY").fee_bps(1000) == Money(4, "CNY")  # 3.5 -> 4 (even)
    assert Money(-25, "CNY").fee_bps(1000) == Money(-2, "CNY")
    huge = 10**30 + 5  # beyond float and default Decimal precision, still exact
    assert Money(huge, "CNY").fee_bps(5000) == Money(5 * 10**29 + 2, "CNY")
    with pytest.raises(ValueError, match="bps"):
        Money(100, "CNY").fee_bps(10001)


@given(
    amount=st.integers(min_value=-(10**12), max_value=10**12),
    ratios=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=8).filter(
        lambda r: sum(r) > 0
    ),
)
def test_allocation_never_loses_a_unit_and_stays_within_one_of_the_exact_share(
    amount: int, ratios: list[int]
) -> None:
    parts = Money(amount, "CNY").allocate(ratios)
    assert sum(p.amount_minor for p in parts) == amount
    total = sum(ratios)
    for part, ratio in zip(parts, ratios, strict=True):
        exact = Decimal(amount) * ratio / total
        assert abs(Decimal(part.amount_minor) - exact) < 1
        if ratio == 0:
            assert part.amount_minor == 0


@given(
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    bps=st.integers(min_value=0, max_value=10_000),
)
def test_fee_and_rest_add_back_to_the_amount(amount: int, bps: int) -> None:
    fee, rest = Money(amount, "USD").split_fee(bps)
    assert fee + rest == Money(amount, "USD")
    exact = Decimal(amount) * bps / 10_000
    assert abs(Decimal(fee.amount_minor) - exact) <= Decimal("0.5")
    assert fee.amount_minor == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
