"""What the pay-per-use billing tests share: the lease terms, the charge they give for the
reference usage, and an app whose platform fee is known."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharefab.api.app import create_app
from sharefab.config import Settings

TERMS = {"model": "pay_per_use", "run_hour_minor": 12000, "cycle_minor": 5, "kwh_minor": 90}
# One run hour, 100 cycles and 4 kWh inside the booking: 12000 + 500 + 360.
CHARGE = 12_860
FEE_BPS = 300


@contextmanager
def billing_client(db_url: str, key_prefix: str) -> Iterator[TestClient]:
    """A test client of an app on ``db_url`` charging a :data:`FEE_BPS` platform fee."""
    settings = Settings(
        env="test",
        database_url=db_url,
        secret_key=key_prefix + "k" * 32,
        platform_fee_bps=FEE_BPS,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def engine_of(client: TestClient) -> Engine:
    return client.app.state.engine  # type: ignore[attr-defined,no-any-return]
