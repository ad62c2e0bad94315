"""One ``APIRouter(prefix=..., tags=[...])`` per API resource, mounted under ``/api/v1``.

Later areas add their router to :func:`api_routers` (one import and one list entry).
"""

from __future__ import annotations

from fastapi import APIRouter


def api_routers() -> list[APIRouter]:
    """The built-in API routers in mount order."""
    from sharefab.api.routes import (
        auth,
        bookings,
        capabilities,
        clusters,
        devices,
        health,
        ledger,
        market,
        operator,
        orders,
        resources,
        sites,
        telemetry,
        usage,
        users,
        webhooks,
        windows,
    )

    return [
        health.router,
        auth.router,
        users.router,
        users.org_router,
        clusters.router,
        capabilities.router,
        sites.router,
        resources.router,
        windows.router,
        bookings.router,
        telemetry.router,
        devices.router,
        usage.router,
        webhooks.router,
        market.rfq_router,
        market.quote_router,
        orders.router,
        ledger.router,
        ledger.credit_router,
        operator.router,
    ]
