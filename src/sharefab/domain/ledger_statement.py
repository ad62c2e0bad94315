"""Account statements: the postings of selected accounts with running balances (CSV rows)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sharefab.domain.ledger import Account, Transaction, TransactionKind, natural_balance
from sharefab.domain.money import Money

__all__ = ["STATEMENT_COLUMNS", "StatementRow", "statement", "statement_csv"]


STATEMENT_COLUMNS: tuple[str, ...] = (
    "at",
    "transaction_id",
    "kind",
    "order_ref",
    "account",
    "currency",
    "debit",
    "credit",
    "balance",
    "memo",
)
"""Column order of :meth:`StatementRow.as_csv_row` (amounts in major units)."""


@dataclass(frozen=True, slots=True)
class StatementRow:
    """One posting on a statement with the account's running natural balance after it."""

    at: datetime
    transaction_id: str
    kind: TransactionKind
    order_ref: str | None
    account: Account
    debit_minor: int
    credit_minor: int
    balance_minor: int
    memo: str

    def as_csv_row(self) -> dict[str, str]:
        """The row as strings keyed by :data:`STATEMENT_COLUMNS` (major units, ISO time)."""
        cur = self.account.currency
        return {
            "at": self.at.isoformat(),
            "transaction_id": self.transaction_id,
            "kind": self.kind.value,
            "order_ref": self.order_ref or "",
            "account": self.account.name,
            "currency": cur,
            "debit": str(Money(self.debit_minor, cur).to_decimal()),
            "credit": str(Money(self.credit_minor, cur).to_decimal()),
            "balance": str(Money(self.balance_minor, cur).to_decimal()),
            "memo": self.memo,
        }


def statement(
    transactions: Iterable[Transaction],
    *,
    org_id: int | None = None,
    accounts: Iterable[Account] | None = None,
) -> Iterator[StatementRow]:
    """Rows for the postings to the selected accounts, in the order given.

    Select by ``org_id`` (every account that organisation owns: wallet, escrows, payable) or
    by an explicit ``accounts`` list; with neither, every posting is listed. Each row carries
    the account's running natural balance.
    """
    wanted = set(accounts) if accounts is not None else None
    running: dict[Account, int] = defaultdict(int)
    for tx in transactions:
        for p in tx.postings:
            running[p.account] += p.amount_minor
            if wanted is not None and p.account not in wanted:
                continue
            if org_id is not None and p.account.org_id != org_id:
                continue
            bal = natural_balance(p.account, Money(running[p.account], p.currency))
            yield StatementRow(
                at=tx.at,
                transaction_id=tx.id,
                kind=tx.kind,
                order_ref=tx.order_ref,
                account=p.account,
                debit_minor=p.debit_minor,
                credit_minor=p.credit_minor,
                balance_minor=bal.amount_minor,
                memo=tx.memo,
            )


def statement_csv(rows: Iterable[StatementRow]) -> str:
    """The rows as CSV text with a header of :data:`STATEMENT_COLUMNS` (major units)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=STATEMENT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.as_csv_row())
    return buffer.getvalue()
