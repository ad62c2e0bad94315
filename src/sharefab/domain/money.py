"""Money as integer minor units plus an ISO 4217 currency code.

Rules:

- An amount is an ``int`` count of the currency's minor unit (fen, cent, ...); floats are
  refused so no value is ever rounded by accident.
- Arithmetic and comparison work only within one currency; mixing currencies raises
  :class:`CurrencyMismatch` (a ``ValueError``) naming both codes.
- :meth:`Money.allocate` splits an amount by integer ratios with the *largest remainder*
  method: every part gets the floor of its exact share, then the minor units left over go one
  each to the parts with the largest fractional remainders (ties to the earlier part). The
  parts always sum to the original amount exactly.
- :meth:`Money.fee_bps` takes a fee in basis points (1 bp = 0.01 %) rounded to the nearest
  minor unit, **half to even** (banker's rounding, no systematic bias over many orders);
  :meth:`Money.split_fee` returns ``(fee, rest)`` with ``fee + rest == self`` exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = ["BPS_DENOMINATOR", "CurrencyMismatch", "Money", "minor_digits", "sum_money"]

BPS_DENOMINATOR = 10_000
"""Basis points in one whole (100 %)."""

_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")

# ISO 4217 currencies whose minor unit is not 1/100; everything else uses two digits.
_MINOR_DIGITS: dict[str, int] = {
    "BHD": 3,
    "BIF": 0,
    "CLP": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "TND": 3,
    "UGX": 0,
    "VND": 0,
    "XAF": 0,
    "XOF": 0,
}


def minor_digits(currency: str) -> int:
    """Number of decimal digits of the currency's minor unit (2 unless ISO 4217 says else)."""
    return _MINOR_DIGITS.get(currency, 2)


class CurrencyMismatch(ValueError):
    """Raised when two amounts in different currencies are combined or compared."""

    def __init__(self, left: str, right: str, operation: str) -> None:
        super().__init__(f"cannot {operation} {left} and {right}: currencies differ")
        self.left = left
        self.right = right


def _check_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, got {type(value).__name__} {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: ``amount_minor`` units of the minor unit of ``currency``."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        _check_int(self.amount_minor, "amount_minor")
        if not isinstance(self.currency, str) or not _CURRENCY_RE.match(self.currency):
            raise ValueError(
                f"currency must be a 3-letter upper-case ISO 4217 code, got {self.currency!r}"
            )

    # construction -------------------------------------------------------------------------

    @classmethod
    def zero(cls, currency: str) -> Money:
        """The zero amount in ``currency``."""
        return cls(0, currency)

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        """Build from a major-unit amount such as ``"1234.56"``; refuses sub-minor precision."""
        if isinstance(amount, float):
            raise ValueError("amount must be a str, int or Decimal, not float")
        try:
            value = Decimal(str(amount).replace(",", "").strip())
        except InvalidOperation:
            raise ValueError(f"amount {amount!r} is not a number") from None
        if not value.is_finite():
            raise ValueError(f"amount {amount!r} is not a finite number")
        cls(0, currency)  # validates the currency code first
        scaled = value.scaleb(minor_digits(currency))
        if scaled != scaled.to_integral_value():
            raise ValueError(
                f"amount {amount!r} has more than {minor_digits(currency)} decimals for {currency}"
            )
        return cls(int(scaled), currency)

    # arithmetic ---------------------------------------------------------------------------

    def _same(self, other: object, operation: str) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot {operation} Money and {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency, operation)
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount_minor + self._same(other, "add").amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount_minor - self._same(other, "subtract").amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount_minor), self.currency)

    def __mul__(self, factor: int) -> Money:
        return Money(self.amount_minor * _check_int(factor, "multiplier"), self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        return self.amount_minor < self._same(other, "compare").amount_minor

    def __le__(self, other: Money) -> bool:
        return self.amount_minor <= self._same(other, "compare").amount_minor

    def __gt__(self, other: Money) -> bool:
        return self.amount_minor > self._same(other, "compare").amount_minor

    def __ge__(self, other: Money) -> bool:
        return self.amount_minor >= self._same(other, "compare").amount_minor

    @property
    def is_zero(self) -> bool:
        """True for a zero amount."""
        return self.amount_minor == 0

    @property
    def is_negative(self) -> bool:
        """True for an amount below zero."""
        return self.amount_minor < 0

    # splitting ----------------------------------------------------------------------------

    def allocate(self, ratios: Sequence[int]) -> list[Money]:
        """Split into ``len(ratios)`` parts proportional to ``ratios`` without losing a unit.

        Largest remainder method; the parts sum exactly to ``self``. A negative amount is
        allocated as its absolute value, then negated. Ratios are non-negative integers with a
        positive sum; a zero ratio always receives zero.
        """
        if len(ratios) == 0:
            raise ValueError("allocate needs at least one ratio")
        for r in ratios:
            if _check_int(r, "ratio") < 0:
                raise ValueError(f"ratios must be >= 0, got {r}")
        total = sum(ratios)
        if total <= 0:
            raise ValueError("ratios must have a positive sum")
        sign = -1 if self.amount_minor < 0 else 1
        amount = abs(self.amount_minor)
        floors = [amount * r // total for r in ratios]
        remainders = [amount * r % total for r in ratios]
        left = amount - sum(floors)
        order = sorted(range(len(ratios)), key=lambda i: (-remainders[i], i))
        for i in order[:left]:
            floors[i] += 1
        return [Money(sign * part, self.currency) for part in floors]

    def fee_bps(self, bps: int) -> Money:
        """``bps`` basis points of this amount, rounded half to even to the minor unit."""
        if _check_int(bps, "bps") < 0 or bps > BPS_DENOMINATOR:
            raise ValueError(f"bps must be between 0 and {BPS_DENOMINATOR}, got {bps}")
        quotient, remainder = divmod(abs(self.amount_minor) * bps, BPS_DENOMINATOR)
        if 2 * remainder > BPS_DENOMINATOR or (
            2 * remainder == BPS_DENOMINATOR and quotient % 2 == 1
        ):
            quotient += 1  # exact integer arithmetic, round half to even
        sign = -1 if self.amount_minor < 0 else 1
        return Money(sign * quotient, self.currency)

    def split_fee(self, bps: int) -> tuple[Money, Money]:
        """``(fee, rest)`` where ``fee = self.fee_bps(bps)`` and ``fee + rest == self``."""
        fee = self.fee_bps(bps)
        return fee, self - fee

    # formatting ---------------------------------------------------------------------------

    def format(self) -> str:
        """Human form with thousands separators, e.g. ``CNY 1,234.56`` or ``JPY -1,200``."""
        digits = minor_digits(self.currency)
        sign = "-" if self.amount_minor < 0 else ""
        whole, frac = divmod(abs(self.amount_minor), 10**digits)
        text = f"{whole:,}"
        if digits:
            text += f".{frac:0{digits}d}"
        return f"{self.currency} {sign}{text}"

    def to_decimal(self) -> Decimal:
        """The amount in major units as an exact ``Decimal`` (for export)."""
        return Decimal(self.amount_minor).scaleb(-minor_digits(self.currency))

    def __str__(self) -> str:
        return self.format()


def sum_money(amounts: Iterable[Money], currency: str) -> Money:
    """Sum of ``amounts`` (all in ``currency``); the zero of ``currency`` when empty."""
    total = Money.zero(currency)
    for amount in amounts:
        total = total + amount
    return total
