"""Liveness and database reachability."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from sharefab import __version__
from sharefab.api.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health(session: SessionDep) -> JSONResponse:
    """``200 {"status": "ok", "database": "ok"}`` when the database answers, else 503."""
    try:
        session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # any driver error means "unreachable" here
        database = f"unreachable ({exc.__class__.__name__})"
    status = 200 if database == "ok" else 503
    body = {"status": "ok" if status == 200 else "degraded", "database": database}
    return JSONResponse({**body, "version": __version__}, status_code=status)
