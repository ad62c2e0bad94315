"""The ledger page shows the organisation's transactions newest first, 25 a page, paged in
the database: "Older" pages go back to the first transaction and a page past the end shows
the oldest page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from sharefab.domain.money import Money
from sharefab.services import ledger
from sharefab.storage.models import User

if TYPE_CHECKING:
    from tests.web.conftest import SignIn, WebWorld


def _deposits(app: FastAPI, world: WebWorld, n: int) -> None:
    """``n`` deposits ``PG-00``... into the buyer's wallet, recorded by a platform operator."""
    start = datetime.now(UTC) - timedelta(days=1)
    with app.state.session_factory() as session:
        ops = session.scalar(select(User).where(User.email == world.outsider_email))
        buyer = session.scalar(select(User).where(User.email == world.buyer_email))
        assert ops is not None and buyer is not None
        ops.is_platform_operator = True
        session.commit()
        for i in range(n):
            at = start + timedelta(minutes=i)
            money = Money(10_000 + i, "CNY")
            ledger.record_deposit(
                session, ops, buyer.org_id, money, f"PG-{i:02d}", at=at, memo=f"transfer PG-{i:02d}"
            )


def _shown(html: str) -> list[str]:
    return re.findall(r"transfer (PG-\d\d)", html)


def test_ledger_pages_go_back_newest_first(app: FastAPI, world: WebWorld, sign_in: SignIn) -> None:
    _deposits(app, world, 27)
    with TestClient(app) as buyer:
        sign_in(buyer, world.buyer_email)
        first = buyer.get("/ledger")
        assert first.status_code == 200
        assert _shown(first.text) == [f"PG-{i:02d}" for i in range(26, 1, -1)]
        assert "Page 1 of 2" in first.text and 'href="/ledger?page=2"' in first.text
        second = buyer.get("/ledger?page=2")
        assert _shown(second.text) == ["PG-01", "PG-00"]
        assert "Page 2 of 2" in second.text and 'href="/ledger?page=1"' in second.text
        past_the_end = buyer.get("/ledger?page=99")
        assert _shown(past_the_end.text) == ["PG-01", "PG-00"]
        assert "Page 2 of 2" in past_the_end.text
        assert _shown(buyer.get("/ledger?page=0").text) == _shown(first.text)
