"""Utilisation, idle-capacity suggestions and usage statements of the caller's resources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime

from sharefab.api.deps import CurrentUser, SessionDep, SettingsDep
from sharefab.api.schemas.common import PROBLEM_RESPONSES, IdPath
from sharefab.api.schemas.deposits import UsageBilledRecordPublic, UsageBilledStatementPublic
from sharefab.api.schemas.iot import (
    IdleSuggestions,
    IdleWindow,
    PublishSuggestions,
    ResourceUsagePublic,
    ResourceUtilisationPublic,
    UsageBillPostingPublic,
    UsageBillPublic,
    UsageBillRequest,
    UsageRecordPublic,
    UtilisationPublic,
)
from sharefab.api.schemas.windows import WindowPublic, WindowsPublic
from sharefab.domain.calendar import Interval
from sharefab.iot import metering, utilisation
from sharefab.services.ledger import owns_account

router = APIRouter(tags=["usage"], responses=PROBLEM_RESPONSES)

From = Annotated[AwareDatetime | None, Query(alias="from")]
To = Annotated[AwareDatetime | None, Query(alias="to")]
MinHours = Annotated[float, Query(gt=0, le=24 * 366)]
PAST = timedelta(days=30)
AHEAD = timedelta(days=14)


def _hour(now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)


def _past(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """``[from, to)``, by default the last 30 days."""
    end = end or _hour() + timedelta(hours=1)
    return start or end - PAST, end


def _ahead(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """``[from, to)``, by default the next 14 days."""
    start = start or _hour()
    return start, end or start + AHEAD


def _public(report: utilisation.UtilisationReport) -> UtilisationPublic:
    rows = [
        ResourceUtilisationPublic(
            resource_id=r.resource_id,
            name=r.name,
            capacity=r.capacity,
            booked_seconds=r.booked_seconds,
            running_seconds=r.running_seconds,
            idle_unbooked_seconds=r.idle_unbooked_seconds,
            booked_ratio=r.booked_ratio,
            running_ratio=r.running_ratio,
        )
        for r in report.resources
    ]
    return UtilisationPublic(
        scope=report.scope,
        key=report.key,
        start=report.start,
        end=report.end,
        booked_ratio=report.booked_ratio,
        running_ratio=report.running_ratio,
        data=rows,
        count=len(rows),
    )


@router.get("/resources/{resource_id}/utilisation")
def resource_utilisation(
    resource_id: IdPath, session: SessionDep, user: CurrentUser, start: From = None, end: To = None
) -> UtilisationPublic:
    """Booked and running utilisation of the caller's resource over ``[from, to)`` (default:
    the last 30 days)."""
    lo, hi = _past(start, end)
    return _public(utilisation.utilisation(session, user, "resource", str(resource_id), lo, hi))


@router.get("/resources/{resource_id}/usage")
def resource_usage(
    resource_id: IdPath, session: SessionDep, user: CurrentUser, start: From = None, end: To = None
) -> ResourceUsagePublic:
    """Metered usage of the caller's resource over ``[from, to)`` (default: the last 30
    days) from telemetry counters, priced at its pay-per-use lease terms."""
    lo, hi = _past(start, end)
    usage, lines, currency = metering.resource_usage(session, user, resource_id, lo, hi)
    return ResourceUsagePublic(
        resource_id=resource_id,
        start=lo,
        end=hi,
        run_seconds=usage.run_seconds,
        spindle_seconds=usage.spindle_seconds,
        cycles=usage.cycles,
        energy_wh=usage.energy_wh,
        samples=usage.samples,
        lines=lines,
        amount_minor=sum(line["amount_minor"] for line in lines),
        currency=currency,
    )


@router.get("/utilisation")
def scope_utilisation(
    session: SessionDep,
    user: CurrentUser,
    start: From = None,
    end: To = None,
    scope: Literal["site", "cluster", "capability", "organization"] = "organization",
    key: str = "",
) -> UtilisationPublic:
    """Utilisation of the caller's resources at a site, in a cluster, offering a capability
    (``key`` = dotted code, children included) or in the whole organization (default period:
    the last 30 days)."""
    lo, hi = _past(start, end)
    return _public(utilisation.utilisation(session, user, scope, key, lo, hi))


def _windows(intervals: list[Interval]) -> IdleSuggestions:
    data = [
        IdleWindow(start_at=iv.start, end_at=iv.end, hours=iv.duration.total_seconds() / 3600)
        for iv in intervals
    ]
    return IdleSuggestions(data=data, count=len(data))


@router.get("/resources/{resource_id}/idle-suggestions")
def idle_suggestions(
    resource_id: IdPath,
    session: SessionDep,
    user: CurrentUser,
    start: From = None,
    end: To = None,
    min_hours: MinHours = 4.0,
) -> IdleSuggestions:
    """Unbooked, unpublished stretches of ``[from, to)`` (default: the next 14 days) worth
    publishing as idle windows."""
    lo, hi = _ahead(start, end)
    return _windows(
        utilisation.idle_suggestions(session, user, resource_id, lo, hi, min_hours=min_hours)
    )


@router.post(
    "/resources/{resource_id}/idle-suggestions/publish", status_code=status.HTTP_201_CREATED
)
def publish_idle_suggestions(
    resource_id: IdPath, body: PublishSuggestions, session: SessionDep, user: CurrentUser
) -> WindowsPublic:
    """Publish every current suggestion as a window (source ``suggestion``) in one call
    (default period: the next 14 days)."""
    lo, hi = _ahead(body.start, body.end)
    rows = utilisation.publish_suggestions(
        session, user, resource_id, lo, hi, min_hours=body.min_hours
    )
    return WindowsPublic(data=[WindowPublic.model_validate(w) for w in rows], count=len(rows))


@router.get("/usage/statements")
def usage_statement(
    order_ref: Annotated[str, Query(min_length=1, max_length=100)],
    session: SessionDep,
    user: CurrentUser,
) -> UsageBilledStatementPublic:
    """Usage and pay-per-use charges of every booking of ``order_ref`` on the caller's
    resources, with what the ledger has billed for each (late telemetry that arrived after
    a booking was billed shows as ``unbilled_minor`` until the booking is billed again)."""
    statement = metering.usage_statement(session, user, order_ref)
    ids = [r.booking_id for r in statement.records]
    first = metering.billed_transactions(session, ids)
    rows = []
    billed_totals: dict[str, int] = {}
    unbilled_totals: dict[str, int] = {}
    for r in statement.records:
        billed = metering.billed_usage(session, r.booking_id)
        # only pay-per-use usage is billed: nothing is outstanding for other lease models
        outstanding = r.amount_minor - billed.charged_minor if r.lines else 0
        billed_totals[r.currency] = billed_totals.get(r.currency, 0) + billed.charged_minor
        unbilled_totals[r.currency] = unbilled_totals.get(r.currency, 0) + outstanding
        rows.append(
            UsageBilledRecordPublic.model_validate(
                {
                    **UsageRecordPublic.model_validate(r).model_dump(),
                    "billed_by": first.get(r.booking_id),
                    "billed_minor": billed.charged_minor,
                    "unbilled_minor": outstanding,
                    "billing_transactions": [t.tx_id for t in billed.transactions],
                }
            )
        )
    return UsageBilledStatementPublic(
        order_ref=statement.order_ref,
        totals_minor=statement.totals_minor,
        billed_minor=billed_totals,
        unbilled_minor=unbilled_totals,
        data=rows,
        count=len(rows),
        ledger_note=(
            "each pay-per-use booking is billed by POST /api/v1/usage/bill; billed_by names "
            "the ledger transaction that first billed it (null: not billed yet). Telemetry "
            "arriving later shows as unbilled_minor; billing the booking again posts the "
            "difference as a new transaction (billing_transactions lists them all)"
        ),
    )


@router.post("/usage/bill", status_code=status.HTTP_201_CREATED)
def bill_usage(
    body: UsageBillRequest,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> UsageBillPublic:
    """Bill a pay-per-use booking's metered usage (resource owner or platform operator): one
    ledger transaction charging the buyer of the booking's order and crediting the provider.
    201 when posted; 200 with the latest stored transaction when the booking was already
    billed and nothing changed. Billing again after late telemetry changed the metered amount
    posts the difference as a new transaction (201; the first bill is never edited). 409
    naming the shortfall when the buyer's wallet cannot cover the charge."""
    bill = metering.bill_usage(
        session, user, body.booking_id, platform_fee_bps=settings.platform_fee_bps
    )
    tx = bill.transaction
    if not bill.created:
        response.status_code = status.HTTP_200_OK
    debits = [p for p in tx.postings if p.amount_minor > 0]
    mine = [
        UsageBillPostingPublic(
            account=p.account.name, amount_minor=p.amount_minor, currency=p.currency
        )
        for p in tx.postings
        if owns_account(user, p.account)
    ]
    return UsageBillPublic(
        booking_id=bill.booking_id,
        created=bill.created,
        transaction_id=tx.tx_id,
        kind=tx.kind,
        memo=tx.memo,
        at=tx.at,
        order_ref=tx.order_ref,
        amount_minor=sum(p.amount_minor for p in debits),
        currency=debits[0].currency,
        postings=mine,
    )
