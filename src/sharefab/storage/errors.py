"""Errors raised by the storage layer (services translate them to HTTP problems)."""

from __future__ import annotations

from datetime import datetime


class StorageError(Exception):
    """Base class of storage-layer errors."""


class NotFound(StorageError):
    """A referenced row does not exist, e.g. booking an unknown resource."""

    def __init__(self, entity: str, entity_id: int) -> None:
        self.entity = entity
        self.entity_id = entity_id
        super().__init__(f"{entity} {entity_id} not found")


class BookingConflict(StorageError):
    """The requested interval overlaps an existing non-cancelled booking of the resource.

    ``booking_id`` names one conflicting booking (on a k-capacity resource with no free unit,
    the earliest-created of the conflicts on the requested unit or on every unit).
    """

    def __init__(
        self,
        *,
        resource_id: int,
        start_at: datetime,
        end_at: datetime,
        booking_id: int | None,
        unit: int | None = None,
    ) -> None:
        self.resource_id = resource_id
        self.start_at = start_at
        self.end_at = end_at
        self.booking_id = booking_id
        self.unit = unit
        where = f"resource {resource_id}" + (f" unit {unit}" if unit is not None else "")
        by = f"booking {booking_id}" if booking_id is not None else "an existing booking"
        super().__init__(
            f"{where} is already booked during [{start_at.isoformat()}, {end_at.isoformat()}) "
            f"by {by}"
        )
