"""The caller's money (ledger accounts, transactions, CSV statement), operator-recorded
deposits and credit scores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import Response

from sharefab.api.deps import CurrentUser, SessionDep
from sharefab.api.schemas.common import MAX_DB_INT, PROBLEM_RESPONSES, IdPath, Offset
from sharefab.api.schemas.deposits import DepositPublic, DepositRequest
from sharefab.api.schemas.market import (
    CreditComponentPublic,
    CreditPublic,
    LedgerAccountPublic,
    LedgerAccountsPublic,
    LedgerTransactionPublic,
    LedgerTransactionsPublic,
    PostingPublic,
)
from sharefab.domain.money import Money
from sharefab.services import credit, ledger

router = APIRouter(prefix="/ledger", tags=["ledger"], responses=PROBLEM_RESPONSES)
credit_router = APIRouter(prefix="/organizations", tags=["credit"], responses=PROBLEM_RESPONSES)


@router.get("/accounts")
def list_accounts(session: SessionDep, user: CurrentUser) -> LedgerAccountsPublic:
    """The caller's accounts (wallet, escrows, payable) with natural balances."""
    rows = ledger.list_accounts(session, user)
    data = [LedgerAccountPublic(**vars_of(a)) for a in rows]
    return LedgerAccountsPublic(data=data, count=len(data))


def vars_of(obj: object) -> dict[str, object]:
    """Fields of a slotted dataclass as a dict."""
    return {name: getattr(obj, name) for name in obj.__slots__}  # type: ignore[attr-defined]


@router.get("/transactions")
def list_transactions(
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> LedgerTransactionsPublic:
    """Transactions touching the caller's accounts, with only the caller's postings."""
    page = ledger.list_transactions(session, user, limit=limit, offset=offset)
    data = [
        LedgerTransactionPublic(
            id=t.id,
            kind=t.kind,
            memo=t.memo,
            at=t.at,
            order_ref=t.order_ref,
            correction_of=t.correction_of,
            postings=[PostingPublic(**vars_of(p)) for p in t.postings],
        )
        for t in page.data
    ]
    return LedgerTransactionsPublic(data=data, count=page.count)


@router.get(
    "/statement.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def statement_csv(
    session: SessionDep,
    user: CurrentUser,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None,
) -> Response:
    """CSV statement of the caller's accounts, or of one (``account_id``), in major units
    with running balances."""
    return Response(
        ledger.statement_text(session, user, account_id),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="statement.csv"'},
    )


@router.post("/deposits", status_code=status.HTTP_201_CREATED)
def record_deposit(
    body: DepositRequest, response: Response, session: SessionDep, user: CurrentUser
) -> DepositPublic:
    """Record money received for an organization's wallet, e.g. a bank transfer (platform
    operators only, 403 otherwise): Dr platform cash, Cr the organization's wallet, seen in
    its ledger accounts, transactions and statement. Idempotent by ``reference``: 201 when
    posted, 200 with the stored deposit when the reference was already recorded with the same
    details, 409 when it was recorded with other details."""
    record = ledger.record_deposit(
        session,
        user,
        body.org_id,
        Money(body.amount_minor, body.currency),
        body.reference,
        at=body.received_at or datetime.now(UTC),
        memo=body.memo,
    )
    if not record.created:
        response.status_code = status.HTTP_200_OK
    tx = record.transaction
    return DepositPublic(
        transaction_id=tx.tx_id,
        created=record.created,
        org_id=record.org_id,
        amount_minor=record.amount.amount_minor,
        currency=record.amount.currency,
        reference=record.reference,
        memo=tx.memo,
        at=tx.at,
        wallet_balance_minor=record.wallet_balance.amount_minor,
    )


@credit_router.get("/{org_id}/credit")
def read_credit(org_id: IdPath, session: SessionDep, user: CurrentUser) -> CreditPublic:
    """An organization's credit score 0-1000 with each component explained (any caller)."""
    del user  # any authenticated organization may read any score
    score = credit.org_credit(session, org_id)
    return CreditPublic(
        org_id=org_id,
        score=score.score,
        prior_score=score.prior_score,
        as_of=score.as_of,
        components=[
            CreditComponentPublic(
                name=c.name,
                value_0_1=round(c.value_0_1, 4),
                evidence_weight=round(c.evidence_weight, 3),
                prior=round(c.prior, 4),
                weight=round(c.weight, 4),
                points=round(c.points, 1),
                explanation=c.explanation_en,
            )
            for c in score.components
        ],
    )
