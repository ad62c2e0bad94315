"""Orders: tracking, lifecycle events, provider progress, inspections, rating."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from sharefab.api.deps import CurrentUser, SessionDep, SettingsDep
from sharefab.api.schemas.common import PROBLEM_RESPONSES
from sharefab.api.schemas.market import (
    EventCreate,
    InspectionCreate,
    InspectionPublic,
    InspectionsPublic,
    OrderPublic,
    OrdersPublic,
    ProgressCreate,
    RatingCreate,
    RatingPublic,
)
from sharefab.services import order_work, orders

router = APIRouter(prefix="/orders", tags=["orders"], responses=PROBLEM_RESPONSES)


@router.get("")
def list_orders(
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OrdersPublic:
    """Orders the caller buys or works on (providers see only their own work orders)."""
    page = orders.list_orders(session, user, limit=limit, offset=offset)
    return OrdersPublic(data=[OrderPublic.model_validate(v) for v in page.data], count=page.count)


@router.get("/{order_id}")
def read_order(order_id: int, session: SessionDep, user: CurrentUser) -> OrderPublic:
    """One order as the caller may see it."""
    return OrderPublic.model_validate(orders.get_order(session, user, order_id))


@router.post("/{order_id}/events", status_code=status.HTTP_201_CREATED)
def add_event(
    order_id: int,
    body: EventCreate,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
) -> OrderPublic:
    """Move the order to ``to`` (409 listing the allowed targets when illegal)."""
    view = orders.transition_order(
        session,
        user,
        order_id,
        body.to,
        body.note,
        platform_fee_bps=settings.platform_fee_bps,
    )
    return OrderPublic.model_validate(view)


@router.post("/{order_id}/operations/{work_order_id}/progress")
def report_progress(
    order_id: int,
    work_order_id: int,
    body: ProgressCreate,
    session: SessionDep,
    user: CurrentUser,
) -> OrderPublic:
    """A provider reports progress on its own work order (``started``, then ``done``)."""
    view = order_work.report_operation_progress(session, user, order_id, work_order_id, body.to)
    return OrderPublic.model_validate(view)


@router.post("/{order_id}/inspections", status_code=status.HTTP_201_CREATED)
def add_inspection(
    order_id: int,
    body: InspectionCreate,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
) -> InspectionPublic:
    """Record an inspection; a pass (all work done) moves the order to ``inspected``."""
    data = order_work.InspectionInput(
        work_order_id=body.work_order_id,
        limits=[x.model_dump() for x in body.limits],
        measurements=[x.model_dump() for x in body.measurements],
        defects=[x.model_dump() for x in body.defects],
        max_minor_defects=body.max_minor_defects,
        declared_passed=body.declared_passed,
        report_filename=body.report_filename,
        report_content_type=body.report_content_type,
        report_base64=body.report_base64,
    )
    result = order_work.add_inspection(
        session, user, order_id, data, max_report_bytes=settings.attachment_max_bytes
    )
    return InspectionPublic.model_validate(result)


@router.post("/{order_id}/rating", status_code=status.HTTP_201_CREATED)
def rate(order_id: int, body: RatingCreate, session: SessionDep, user: CurrentUser) -> RatingPublic:
    """The buyer rates a delivered order, once."""
    return RatingPublic.model_validate(
        order_work.rate_order(session, user, order_id, body.stars, body.comment)
    )


@router.get("/{order_id}/inspections")
def list_inspections(order_id: int, session: SessionDep, user: CurrentUser) -> InspectionsPublic:
    """The order's inspection records (buyer, its providers, platform operators)."""
    rows = order_work.list_inspections(session, user, order_id)
    return InspectionsPublic(
        data=[InspectionPublic.model_validate(r) for r in rows], count=len(rows)
    )


@router.get(
    "/{order_id}/inspections/{inspection_id}/report",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def inspection_report(
    order_id: int, inspection_id: int, session: SessionDep, user: CurrentUser
) -> Response:
    """The report file attached to an inspection."""
    row = order_work.inspection_report(session, user, order_id, inspection_id)
    return Response(
        row.report,
        media_type=row.report_content_type or "application/octet-stream",
        headers={"ETag": f'"{row.report_sha256}"'},
    )
