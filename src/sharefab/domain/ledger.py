"""Double-entry bookkeeping in integer minor units, kept from the platform's point of view.

Sign convention: a posting's ``amount_minor`` is **positive for a debit and negative for a
credit**. Every :class:`Transaction` sums to zero per currency, has at least two postings and
no zero posting, and is frozen: a mistake is corrected by a new transaction that reverses
(and optionally replaces) it, never by editing (:func:`reverse`, :func:`correct`).

Chart of accounts (``AccountCode``; one account per code, currency and owner):

====================  =========  ==============================  =================================
code                  type       owner                           meaning
====================  =========  ==============================  =================================
platform_cash         asset      platform                        money at the platform's bank/PSP
buyer_wallet          liability  buyer org                       buyer funds the platform holds
escrow                liability  buyer org + order_ref           paid for an order, not released
provider_payable      liability  provider org                    earned by a provider, not paid out
fee_revenue           revenue    platform                        platform fees
refund_expense        expense    platform                        refunds the platform pays itself
====================  =========  ==============================  =================================

Assets and expenses have a debit normal balance, liabilities and revenue a credit normal
balance; :func:`natural_balance` shows an account's balance with its normal sign (an escrow
holding CNY 100 shows +100). :class:`Journal` posts transactions in order and refuses one that
would drive an escrow, wallet or payable below zero, repeat an id, or correct an unknown
transaction. Statements (CSV rows) are in :mod:`sharefab.domain.ledger_statement`; the
marketplace flows (escrow on accept, release, refunds, usage billing) are
built in :mod:`sharefab.domain.ledger_flows`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sharefab.domain.money import Money
from sharefab.domain.orders import check_aware

__all__ = [
    "ACCOUNT_TYPES",
    "NON_NEGATIVE_ACCOUNTS",
    "Account",
    "AccountCode",
    "AccountType",
    "Journal",
    "Posting",
    "Side",
    "Transaction",
    "TransactionKind",
    "UnbalancedTransaction",
    "balances",
    "buyer_wallet",
    "correct",
    "credit",
    "debit",
    "escrow_account",
    "fee_revenue",
    "natural_balance",
    "natural_balances",
    "platform_cash",
    "provider_payable",
    "refund_expense",
    "reverse",
    "totals_by_currency",
]


class AccountType(StrEnum):
    """The four account types used by the platform's books."""

    ASSET = "asset"
    LIABILITY = "liability"
    REVENUE = "revenue"
    EXPENSE = "expense"

    @property
    def normal_side(self) -> Side:
        """The side on which the account's balance normally sits."""
        if self in (AccountType.ASSET, AccountType.EXPENSE):
            return Side.DEBIT
        return Side.CREDIT


class Side(StrEnum):
    """Debit or credit."""

    DEBIT = "debit"
    CREDIT = "credit"


class AccountCode(StrEnum):
    """Standard accounts (see the module table)."""

    PLATFORM_CASH = "platform_cash"
    BUYER_WALLET = "buyer_wallet"
    ESCROW = "escrow"
    PROVIDER_PAYABLE = "provider_payable"
    FEE_REVENUE = "fee_revenue"
    REFUND_EXPENSE = "refund_expense"


ACCOUNT_TYPES: dict[AccountCode, AccountType] = {
    AccountCode.PLATFORM_CASH: AccountType.ASSET,
    AccountCode.BUYER_WALLET: AccountType.LIABILITY,
    AccountCode.ESCROW: AccountType.LIABILITY,
    AccountCode.PROVIDER_PAYABLE: AccountType.LIABILITY,
    AccountCode.FEE_REVENUE: AccountType.REVENUE,
    AccountCode.REFUND_EXPENSE: AccountType.EXPENSE,
}
"""Type of each standard account."""

NON_NEGATIVE_ACCOUNTS: frozenset[AccountCode] = frozenset(
    {AccountCode.ESCROW, AccountCode.BUYER_WALLET, AccountCode.PROVIDER_PAYABLE}
)
"""Accounts whose natural balance may never go below zero (checked by :class:`Journal`)."""

_PLATFORM_CODES = frozenset(
    {AccountCode.PLATFORM_CASH, AccountCode.FEE_REVENUE, AccountCode.REFUND_EXPENSE}
)


@dataclass(frozen=True, slots=True)
class Account:
    """One ledger account: a code, a currency, the owning organisation and, for escrow, the order.

    Platform accounts have ``org_id=None``; wallets and payables name their organisation;
    escrow names the buyer organisation and the ``order_ref``.
    """

    code: AccountCode
    currency: str
    org_id: int | None = None
    order_ref: str | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "code", AccountCode(self.code))
        except ValueError:
            codes = ", ".join(c.value for c in AccountCode)
            raise ValueError(
                f"unknown account code {self.code!r}; expected one of {codes}"
            ) from None
        Money.zero(self.currency)  # validates the currency code
        if self.code in _PLATFORM_CODES and self.org_id is not None:
            raise ValueError(f"{self.code.value} is a platform account and has no org_id")
        if self.code not in _PLATFORM_CODES and self.org_id is None:
            raise ValueError(f"{self.code.value} needs the owning org_id")
        if (self.code is AccountCode.ESCROW) != (self.order_ref is not None):
            raise ValueError("order_ref is required for escrow accounts and only for them")
        if self.order_ref is not None and not self.order_ref.strip():
            raise ValueError("order_ref must not be blank")

    @property
    def type(self) -> AccountType:
        """Asset, liability, revenue or expense."""
        return ACCOUNT_TYPES[self.code]

    @property
    def name(self) -> str:
        """Readable unique name, e.g. ``escrow/org:3/order:O-17/CNY``."""
        parts = [self.code.value]
        if self.org_id is not None:
            parts.append(f"org:{self.org_id}")
        if self.order_ref is not None:
            parts.append(f"order:{self.order_ref}")
        parts.append(self.currency)
        return "/".join(parts)

    def __str__(self) -> str:
        return self.name


def platform_cash(currency: str) -> Account:
    """The platform's cash (bank/PSP) account."""
    return Account(AccountCode.PLATFORM_CASH, currency)


def fee_revenue(currency: str) -> Account:
    """The platform's fee revenue account."""
    return Account(AccountCode.FEE_REVENUE, currency)


def refund_expense(currency: str) -> Account:
    """Refunds and goodwill credits paid by the platform itself."""
    return Account(AccountCode.REFUND_EXPENSE, currency)


def buyer_wallet(org_id: int, currency: str) -> Account:
    """Funds of buyer ``org_id`` held by the platform."""
    return Account(AccountCode.BUYER_WALLET, currency, org_id)


def provider_payable(org_id: int, currency: str) -> Account:
    """Money earned by provider ``org_id`` and not yet paid out (its receivable)."""
    return Account(AccountCode.PROVIDER_PAYABLE, currency, org_id)


def escrow_account(order_ref: str, buyer_org: int, currency: str) -> Account:
    """Escrow of one order, paid by ``buyer_org`` and held by the platform."""
    return Account(AccountCode.ESCROW, currency, buyer_org, order_ref)


@dataclass(frozen=True, slots=True)
class Posting:
    """One line of a transaction: ``amount_minor`` > 0 debits, < 0 credits ``account``."""

    account: Account
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        amount = self.amount_minor
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValueError(f"posting amount must be an integer, got {amount!r}")
        if amount == 0:
            raise ValueError(f"posting to {self.account.name} has a zero amount")
        if self.currency != self.account.currency:
            raise ValueError(
                f"posting in {self.currency} to account {self.account.name} "
                f"kept in {self.account.currency}"
            )

    @property
    def side(self) -> Side:
        """Debit or credit."""
        return Side.DEBIT if self.amount_minor > 0 else Side.CREDIT

    @property
    def money(self) -> Money:
        """The signed amount as :class:`Money`."""
        return Money(self.amount_minor, self.currency)

    @property
    def debit_minor(self) -> int:
        """Debit amount (0 for a credit)."""
        return max(self.amount_minor, 0)

    @property
    def credit_minor(self) -> int:
        """Credit amount (0 for a debit)."""
        return max(-self.amount_minor, 0)


def debit(account: Account, amount: Money) -> Posting:
    """Posting that debits ``account`` by a positive ``amount``."""
    if amount.amount_minor <= 0:
        raise ValueError(f"debit amount must be positive, got {amount}")
    return Posting(account, amount.amount_minor, amount.currency)


def credit(account: Account, amount: Money) -> Posting:
    """Posting that credits ``account`` by a positive ``amount``."""
    if amount.amount_minor <= 0:
        raise ValueError(f"credit amount must be positive, got {amount}")
    return Posting(account, -amount.amount_minor, amount.currency)


class TransactionKind(StrEnum):
    """What a transaction records."""

    DEPOSIT = "deposit"
    ESCROW = "escrow"
    RELEASE = "release"
    REFUND = "refund"
    DISPUTE_SETTLEMENT = "dispute_settlement"
    USAGE = "usage"
    PAYOUT = "payout"
    GOODWILL = "goodwill"
    REVERSAL = "reversal"


class UnbalancedTransaction(ValueError):
    """A transaction whose postings do not sum to zero in some currency."""


def totals_by_currency(postings: Iterable[Posting]) -> dict[str, int]:
    """Signed sum of postings per currency (all zero for a balanced set)."""
    totals: dict[str, int] = defaultdict(int)
    for p in postings:
        totals[p.currency] += p.amount_minor
    return dict(totals)


@dataclass(frozen=True, slots=True)
class Transaction:
    """An immutable, balanced set of postings.

    ``correction_of`` names the transaction this one reverses or replaces. ``order_ref`` ties
    it to an order (for statements and idempotency). Validated at construction.
    """

    id: str
    kind: TransactionKind
    postings: tuple[Posting, ...]
    memo: str
    at: datetime
    correction_of: str | None = None
    order_ref: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise ValueError("transaction id must be a non-empty string")
        object.__setattr__(self, "kind", TransactionKind(self.kind))
        object.__setattr__(self, "postings", tuple(self.postings))
        check_aware(self.at, f"transaction {self.id} time")
        if len(self.postings) < 2:
            raise ValueError(f"transaction {self.id} needs at least two postings")
        for p in self.postings:
            if not isinstance(p, Posting):
                raise ValueError(f"transaction {self.id}: {p!r} is not a Posting")
        off = {c: t for c, t in totals_by_currency(self.postings).items() if t != 0}
        if off:
            detail = ", ".join(f"{Money(t, c)}" for c, t in sorted(off.items()))
            raise UnbalancedTransaction(
                f"transaction {self.id} does not balance: debits minus credits = {detail}"
            )
        if self.correction_of is not None and self.correction_of == self.id:
            raise ValueError(f"transaction {self.id} cannot correct itself")

    def amount(self, currency: str) -> Money:
        """Total debited (= total credited) in ``currency``."""
        return Money(sum(p.debit_minor for p in self.postings if p.currency == currency), currency)

    def net_for(self, account: Account) -> int:
        """Signed sum this transaction posts to ``account``."""
        return sum(p.amount_minor for p in self.postings if p.account == account)


def reverse(original: Transaction, tx_id: str, at: datetime, memo: str = "") -> Transaction:
    """A new transaction that exactly undoes ``original`` (every posting negated)."""
    return Transaction(
        id=tx_id,
        kind=TransactionKind.REVERSAL,
        postings=tuple(Posting(p.account, -p.amount_minor, p.currency) for p in original.postings),
        memo=memo or f"reversal of {original.id}",
        at=at,
        correction_of=original.id,
        order_ref=original.order_ref,
    )


def correct(
    original: Transaction,
    postings: Sequence[Posting],
    *,
    reversal_id: str,
    replacement_id: str,
    at: datetime,
    memo: str = "",
) -> tuple[Transaction, Transaction]:
    """``(reversal, replacement)``: undo ``original`` and post ``postings`` in its place."""
    reversal = reverse(original, reversal_id, at, f"correction of {original.id}: reversal")
    replacement = Transaction(
        id=replacement_id,
        kind=original.kind,
        postings=tuple(postings),
        memo=memo or f"correction of {original.id}",
        at=at,
        correction_of=original.id,
        order_ref=original.order_ref,
    )
    return reversal, replacement


def balances(transactions: Iterable[Transaction]) -> dict[Account, Money]:
    """Signed balance (debits minus credits) of every account touched.

    Over any set of balanced transactions these sum to zero per currency.
    """
    sums: dict[Account, int] = defaultdict(int)
    for tx in transactions:
        for p in tx.postings:
            sums[p.account] += p.amount_minor
    return {account: Money(total, account.currency) for account, total in sums.items()}


def natural_balance(account: Account, signed: Money) -> Money:
    """``signed`` (debit-positive) shown with the account's normal sign."""
    return signed if account.type.normal_side is Side.DEBIT else -signed


def natural_balances(transactions: Iterable[Transaction]) -> dict[Account, Money]:
    """Like :func:`balances` but each with its account's normal sign (escrow held > 0)."""
    return {a: natural_balance(a, m) for a, m in balances(transactions).items()}


class Journal:
    """An in-memory, append-only sequence of transactions with ledger-wide checks.

    :meth:`post` refuses (``ValueError``, nothing applied) a repeated id, a correction of an
    unknown transaction, a second reversal of the same transaction, a replacement of one not
    yet reversed (or already replaced), and any transaction that
    would leave an account in :data:`NON_NEGATIVE_ACCOUNTS` below zero. The service layer can
    rebuild one from stored transactions and post the new one to validate it before storing.
    """

    def __init__(self, transactions: Iterable[Transaction] = ()) -> None:
        self._transactions: list[Transaction] = []
        self._ids: set[str] = set()
        self._reversed: set[str] = set()
        self._replaced: set[str] = set()
        self._signed: dict[Account, int] = defaultdict(int)
        for tx in transactions:
            self.post(tx)

    @property
    def transactions(self) -> tuple[Transaction, ...]:
        """All posted transactions in posting order."""
        return tuple(self._transactions)

    def __contains__(self, tx_id: object) -> bool:
        return tx_id in self._ids

    def balance(self, account: Account) -> Money:
        """Natural balance of ``account`` (zero if never touched)."""
        return natural_balance(account, Money(self._signed.get(account, 0), account.currency))

    def balances(self) -> dict[Account, Money]:
        """Signed balances of all touched accounts."""
        return {a: Money(v, a.currency) for a, v in self._signed.items()}

    def post(self, tx: Transaction) -> None:
        """Validate ``tx`` against the journal and append it."""
        if tx.id in self._ids:
            raise ValueError(f"transaction {tx.id} is already posted")
        if tx.correction_of is not None:
            if tx.correction_of not in self._ids:
                raise ValueError(f"transaction {tx.id} corrects unknown {tx.correction_of}")
            if tx.kind is TransactionKind.REVERSAL and tx.correction_of in self._reversed:
                raise ValueError(f"transaction {tx.correction_of} is already reversed")
            if tx.kind is not TransactionKind.REVERSAL:
                if tx.correction_of not in self._reversed:
                    raise ValueError(
                        f"transaction {tx.id} replaces {tx.correction_of}, which is not reversed"
                    )
                if tx.correction_of in self._replaced:
                    raise ValueError(f"transaction {tx.correction_of} is already replaced")
        touched: dict[Account, int] = defaultdict(int)
        for p in tx.postings:
            touched[p.account] += p.amount_minor
        for account, delta in touched.items():
            if account.code not in NON_NEGATIVE_ACCOUNTS:
                continue
            after = natural_balance(account, Money(self._signed[account] + delta, account.currency))
            if after.is_negative:
                raise ValueError(
                    f"transaction {tx.id} would leave {account.name} at {after} (below zero)"
                )
        for account, delta in touched.items():
            self._signed[account] += delta
        self._transactions.append(tx)
        self._ids.add(tx.id)
        if tx.correction_of is not None:
            if tx.kind is TransactionKind.REVERSAL:
                self._reversed.add(tx.correction_of)
            else:
                self._replaced.add(tx.correction_of)
