"""The organisation's ledger: accounts with balances, recent transactions (only its own
postings) and the CSV statement, over :mod:`sharefab.services.ledger`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from sharefab.services import ledger
from sharefab.services.errors import NotFound
from sharefab.web.auth import PageSession, RequiredViewer
from sharefab.web.errors import not_found
from sharefab.web.templating import format_instant, format_money, render

router = APIRouter(include_in_schema=False)

RECENT = 25


@router.get("/ledger", name="web_ledger")
def ledger_page(
    request: Request, session: PageSession, viewer: RequiredViewer, page: int = 1
) -> Response:
    """Accounts and the most recent transactions, newest first (``page`` goes back)."""
    accounts = [
        {
            "id": a.id,
            "name": a.name,
            "code": a.code,
            "order_ref": a.order_ref,
            "balance": format_money(a.balance_minor, a.currency),
            "negative": a.balance_minor < 0,
        }
        for a in ledger.list_accounts(session, viewer.user)
    ]
    page = max(1, page)
    shown = ledger.list_transactions(
        session, viewer.user, limit=RECENT, offset=(page - 1) * RECENT, newest_first=True
    )
    total = shown.count
    pages = max(1, -(-total // RECENT))
    if page > pages:  # past the oldest page: show the oldest
        page = pages
        shown = ledger.list_transactions(
            session, viewer.user, limit=RECENT, offset=(page - 1) * RECENT, newest_first=True
        )
    newest_first = shown.data
    transactions = [
        {
            "id": t.id,
            "kind": t.kind.replace("_", " "),
            "memo": t.memo,
            "at": format_instant(t.at),
            "order_ref": t.order_ref,
            "correction_of": t.correction_of,
            "postings": [
                {
                    "account": p.account,
                    "amount": format_money(abs(p.amount_minor), p.currency),
                    "side": "Dr" if p.amount_minor > 0 else "Cr",
                }
                for p in t.postings
            ],
        }
        for t in newest_first
    ]
    context = {
        "accounts": accounts,
        "transactions": transactions,
        "count": total,
        "page": page,
        "pages": pages,
    }
    return render(request, "ledger.html", context)


@router.get("/ledger/statement.csv", name="web_statement")
def statement(
    session: PageSession, viewer: RequiredViewer, account_id: int | None = None
) -> Response:
    """The CSV statement of the organisation's accounts (or one of them; 404 for another's)."""
    try:
        text = ledger.statement_text(session, viewer.user, account_id)
    except NotFound as exc:
        raise not_found("account") from exc
    name = f"statement-{account_id}.csv" if account_id else "statement.csv"
    return Response(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
