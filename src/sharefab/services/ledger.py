"""The stored double-entry ledger: posting domain transactions, balances, statements.

Transactions are built by :mod:`sharefab.domain.ledger_flows` (pure) and stored here by
:func:`post_transaction` inside the caller's transaction (no commit). Stored transactions are
never updated or deleted; a correction is a new transaction. Before storing, the same checks as
:class:`sharefab.domain.ledger.Journal` run against the stored balances: the transaction
balances (domain), its id is new, and no escrow, wallet or payable goes below zero.

Deposits: :func:`record_deposit` is the platform operator's record of money received for a
buyer (a bank transfer): Dr platform_cash, Cr the buyer's wallet, idempotent by the bank
reference (transaction id ``deposit:<reference>``), so recording the same transfer twice
posts once; the same reference with different details is refused (409).

Visibility: an organization sees its own accounts (wallet, escrows of its orders, payable) and,
on each transaction, only the postings to those accounts, so a provider never learns another
provider's share of a split order. Platform operators also see the platform accounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from sharefab.domain.ledger import (
    NON_NEGATIVE_ACCOUNTS,
    Account,
    AccountCode,
    Posting,
    Transaction,
    TransactionKind,
    natural_balance,
)
from sharefab.domain.ledger_flows import buyer_wallet, deposit
from sharefab.domain.ledger_statement import statement, statement_csv
from sharefab.domain.money import Money
from sharefab.services.common import Page, transaction
from sharefab.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sharefab.storage.market_models import LedgerAccount, LedgerPosting, LedgerTransaction
from sharefab.storage.models import Organization, User
from sharefab.storage.types import utc_now


def _account_row(session: Session, account: Account) -> LedgerAccount:
    row = session.scalar(select(LedgerAccount).where(LedgerAccount.name == account.name))
    if row is None:
        row = LedgerAccount(
            name=account.name,
            code=account.code.value,
            currency=account.currency,
            org_id=account.org_id,
            order_ref=account.order_ref,
        )
        try:
            with session.begin_nested():  # a savepoint: losing the race below keeps our work
                session.add(row)
        except IntegrityError:
            # another transaction created the account first (its first posting, e.g. two
            # deposits into a new wallet at once); use the committed row
            row = session.scalars(
                select(LedgerAccount).where(LedgerAccount.name == account.name)
            ).one()
    return row


def signed_balance(session: Session, account_id: int) -> int:
    """Debits minus credits of a stored account."""
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerPosting.amount_minor), 0)).where(
            LedgerPosting.account_id == account_id
        )
    )
    return int(total or 0)


def balance_of(session: Session, account: Account) -> Money:
    """Natural balance of ``account`` (zero if it was never posted to)."""
    row = session.scalar(select(LedgerAccount).where(LedgerAccount.name == account.name))
    signed = 0 if row is None else signed_balance(session, row.id)
    return natural_balance(account, Money(signed, account.currency))


def post_transaction(session: Session, tx: Transaction) -> LedgerTransaction:
    """Store ``tx`` (already balanced by construction) in the caller's transaction.

    Raises :class:`Conflict` for a repeated id or a posting that would drive an escrow, wallet
    or payable below zero; nothing is written then (the caller rolls back).
    """
    if session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.tx_id == tx.id)):
        raise Conflict(f"ledger transaction {tx.id} is already posted")
    deltas: dict[Account, int] = {}
    for p in tx.postings:
        deltas[p.account] = deltas.get(p.account, 0) + p.amount_minor
    rows = {account: _account_row(session, account) for account in deltas}
    for account, delta in deltas.items():
        if account.code not in NON_NEGATIVE_ACCOUNTS:
            continue
        after = natural_balance(
            account, Money(signed_balance(session, rows[account].id) + delta, account.currency)
        )
        if after.is_negative:
            raise Conflict(f"transaction {tx.id} would leave {account.name} at {after}")
    stored = LedgerTransaction(
        tx_id=tx.id,
        kind=tx.kind.value,
        memo=tx.memo,
        at=tx.at,
        order_ref=tx.order_ref,
        correction_of=tx.correction_of,
    )
    session.add(stored)
    session.flush()
    for p in tx.postings:
        session.add(
            LedgerPosting(
                transaction_id=stored.id,
                account_id=rows[p.account].id,
                amount_minor=p.amount_minor,
                currency=p.currency,
            )
        )
    session.flush()
    return stored


def _domain_account(row: LedgerAccount) -> Account:
    return Account(AccountCode(row.code), row.currency, row.org_id, row.order_ref)


def to_domain(row: LedgerTransaction) -> Transaction:
    """A stored transaction as the domain's immutable :class:`Transaction`."""
    return Transaction(
        id=row.tx_id,
        kind=TransactionKind(row.kind),
        postings=tuple(
            Posting(_domain_account(p.account), p.amount_minor, p.currency) for p in row.postings
        ),
        memo=row.memo,
        at=row.at,
        correction_of=row.correction_of,
        order_ref=row.order_ref,
    )


def _visible_accounts(actor: User) -> list[object]:
    conditions: list[object] = [LedgerAccount.org_id == actor.org_id]
    if actor.is_platform_operator:
        conditions.append(LedgerAccount.org_id.is_(None))
    return conditions


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account the caller owns, with its natural balance."""

    id: int
    name: str
    code: str
    currency: str
    org_id: int | None
    order_ref: str | None
    balance_minor: int


def list_accounts(session: Session, actor: User) -> list[AccountView]:
    """The caller's accounts with balances (platform accounts too for platform operators)."""
    rows = session.execute(
        select(LedgerAccount, func.coalesce(func.sum(LedgerPosting.amount_minor), 0))
        .outerjoin(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
        .where(or_(*_visible_accounts(actor)))  # type: ignore[arg-type]
        .group_by(LedgerAccount.id)
        .order_by(LedgerAccount.id)
    ).all()
    out = []
    for row, signed in rows:
        account = _domain_account(row)
        bal = natural_balance(account, Money(int(signed), row.currency))
        out.append(
            AccountView(
                row.id,
                row.name,
                row.code,
                row.currency,
                row.org_id,
                row.order_ref,
                bal.amount_minor,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class PostingView:
    """One posting to one of the caller's accounts."""

    account: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class TransactionView:
    """A transaction as the caller sees it: only the postings to its own accounts."""

    id: str
    kind: str
    memo: str
    at: datetime
    order_ref: str | None
    correction_of: str | None
    postings: Sequence[PostingView]


def _visible_ids(actor: User) -> Select[tuple[int]]:
    """Ids of the transactions with a posting on one of the caller's accounts."""
    return (
        select(LedgerPosting.transaction_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(or_(*_visible_accounts(actor)))  # type: ignore[arg-type]
    )


def _with_postings(stmt: Select[tuple[LedgerTransaction]]) -> Select[tuple[LedgerTransaction]]:
    return stmt.options(
        selectinload(LedgerTransaction.postings).selectinload(LedgerPosting.account)
    )


def _visible_transactions(session: Session, actor: User) -> list[LedgerTransaction]:
    stmt = select(LedgerTransaction).where(LedgerTransaction.id.in_(_visible_ids(actor)))
    return list(session.scalars(_with_postings(stmt).order_by(LedgerTransaction.id)))


def owns_account(actor: User, account: LedgerAccount) -> bool:
    """Whether ``actor`` sees ``account``'s postings: its organization's accounts, and the
    platform's own accounts for a platform operator."""
    return account.org_id == actor.org_id or (actor.is_platform_operator and account.org_id is None)


def list_transactions(
    session: Session,
    actor: User,
    *,
    limit: int = 100,
    offset: int = 0,
    newest_first: bool = False,
) -> Page[TransactionView]:
    """Transactions touching the caller's accounts, with only its postings: one page of them,
    oldest first (``newest_first``: the most recent first), and how many there are in all.

    The page is cut in SQL (count, then ``LIMIT``/``OFFSET`` in the order the rows were
    posted), so only the page's transactions and postings are loaded.
    """
    visible = LedgerTransaction.id.in_(_visible_ids(actor))
    count = session.scalar(select(func.count()).select_from(LedgerTransaction).where(visible))
    order = LedgerTransaction.id.desc() if newest_first else LedgerTransaction.id
    stmt = select(LedgerTransaction).where(visible).order_by(order).limit(limit).offset(offset)
    views = [
        TransactionView(
            t.tx_id,
            t.kind,
            t.memo,
            t.at,
            t.order_ref,
            t.correction_of,
            [
                PostingView(p.account.name, p.amount_minor, p.currency)
                for p in t.postings
                if owns_account(actor, p.account)
            ],
        )
        for t in session.scalars(_with_postings(stmt))
    ]
    return Page(views, count or 0)


def statement_text(session: Session, actor: User, account_id: int | None = None) -> str:
    """CSV statement of the caller's accounts, or of one of them (``account_id``; 404 for an
    account the caller does not own), with running natural balances in major units."""
    txs = [to_domain(t) for t in _visible_transactions(session, actor)]
    if account_id is not None:
        row = session.get(LedgerAccount, account_id)
        if row is None or not owns_account(actor, row):
            raise NotFound("ledger account", account_id)
        return statement_csv(statement(txs, accounts=[_domain_account(row)]))
    if actor.is_platform_operator:
        rows = (
            r
            for r in statement(txs)
            if r.account.org_id == actor.org_id or r.account.org_id is None
        )
    else:
        rows = statement(txs, org_id=actor.org_id)
    return statement_csv(rows)


def trial_balance(session: Session) -> dict[str, int]:
    """Signed sum of every posting per currency (all zero when the books balance)."""
    rows = session.execute(
        select(LedgerPosting.currency, func.sum(LedgerPosting.amount_minor)).group_by(
            LedgerPosting.currency
        )
    ).all()
    return {cur: int(total) for cur, total in rows}


DEPOSIT_PREFIX = "deposit:"
MAX_REFERENCE = 100 - len(DEPOSIT_PREFIX)


def deposit_tx_id(reference: str) -> str:
    """Ledger transaction id of the deposit with bank reference ``reference``."""
    return f"{DEPOSIT_PREFIX}{reference}"


@dataclass(frozen=True, slots=True)
class DepositRecord:
    """A recorded deposit; ``created`` is False when the reference was already recorded."""

    transaction: LedgerTransaction
    org_id: int
    amount: Money
    reference: str
    wallet_balance: Money
    created: bool


def _deposit_record(
    session: Session, row: LedgerTransaction, reference: str, created: bool
) -> DepositRecord:
    wallet = next(p for p in row.postings if p.account.code == AccountCode.BUYER_WALLET.value)
    org_id = wallet.account.org_id
    assert org_id is not None
    amount = Money(-wallet.amount_minor, wallet.currency)
    return DepositRecord(
        row,
        org_id,
        amount,
        reference,
        balance_of(session, buyer_wallet(org_id, amount.currency)),
        created,
    )


def _stored(session: Session, tx_id: str) -> LedgerTransaction | None:
    return session.scalar(
        select(LedgerTransaction)
        .where(LedgerTransaction.tx_id == tx_id)
        .options(selectinload(LedgerTransaction.postings).selectinload(LedgerPosting.account))
    )


def record_deposit(
    session: Session,
    actor: User,
    org_id: int,
    amount: Money,
    reference: str,
    *,
    at: datetime,
    memo: str = "",
) -> DepositRecord:
    """Record money received for organization ``org_id``'s wallet (platform operators only:
    403 otherwise), in its own transaction. Idempotent by ``reference`` (the bank transfer's
    reference): the same reference with the same organization, amount and currency returns the
    stored deposit (``created=False``) and posts nothing; with other details it is refused
    (409) so a typo cannot silently swallow a second transfer."""
    if not actor.is_platform_operator:
        raise PermissionDenied("only platform operators record deposits")
    reference = reference.strip()
    if not reference or len(reference) > MAX_REFERENCE:
        raise InvalidInput.single(
            "reference", f"must be 1-{MAX_REFERENCE} characters (the bank transfer reference)"
        )
    if amount.amount_minor <= 0:
        raise InvalidInput.single("amount_minor", "must be a positive amount of minor units")
    if at > utc_now() + timedelta(minutes=5):
        raise InvalidInput.single("received_at", "must not be in the future")
    if session.get(Organization, org_id) is None:
        raise InvalidInput.single("org_id", f"no organization with id {org_id}")
    tx_id = deposit_tx_id(reference)

    def replay(row: LedgerTransaction) -> DepositRecord:
        record = _deposit_record(session, row, reference, created=False)
        if record.org_id != org_id or record.amount != amount:
            raise Conflict(
                f"reference {reference!r} already records a deposit of {record.amount} for "
                f"organization {record.org_id} ({row.tx_id}); a different transfer needs its "
                "own reference"
            )
        return record

    tx = deposit(
        org_id,
        amount,
        at,
        tx_id=tx_id,
        memo=memo.strip() or f"bank transfer {reference} received for organization {org_id}",
    )
    for attempt in range(3):
        existing = _stored(session, tx_id)
        if existing is not None:
            return replay(existing)
        try:
            with transaction(session):
                post_transaction(session, tx)
            break
        except (IntegrityError, Conflict):
            # A concurrent request recorded the same reference first (the unique transaction
            # id, or post_transaction's own check of it): replayed above on the next pass.
            # Or it created the organization's wallet account first (another reference, the
            # unique account name): the next pass finds the account.
            if attempt == 2:
                raise
    stored = _stored(session, tx_id)
    assert stored is not None
    return _deposit_record(session, stored, reference, created=True)
