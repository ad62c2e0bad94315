"""Booking schemas: full details for the owner, busy intervals for everyone else."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class BookingPublic(BaseModel):
    """A booking. For the resource's owner ``visibility`` is ``"full"``; for another tenant
    looking at a public resource it is ``"busy"`` and only the interval (and the unit) is
    given: no id, status or order reference."""

    visibility: Literal["full", "busy"]
    resource_id: int
    unit: int
    start_at: datetime
    end_at: datetime
    id: int | None = None
    status: str | None = None
    order_ref: str | None = None
    created_at: datetime | None = None


class BookingsPublic(BaseModel):
    """A page of bookings, by start time."""

    data: list[BookingPublic]
    count: int = Field(description="total matching bookings")
