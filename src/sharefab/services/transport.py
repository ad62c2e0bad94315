"""Transport between factories for quotes: time and cost of a leg from haversine distance.

The model (documented, deliberately simple): parts travel by road at
:data:`TRANSPORT_SPEED_KMH` km/h on average, plus :data:`TRANSPORT_HANDLING_MIN` minutes of
loading and unloading per leg; a leg costs :data:`TRANSPORT_BASE_MINOR` plus
:data:`TRANSPORT_PER_KM_MINOR` per km, in minor units of the RFQ's currency (for CNY: 200 CNY
plus 5 CNY per km). Two resources on the same site need no leg; a site without coordinates is
treated as zero distance (handling only is not charged either).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sharefab.domain.geo import haversine_km
from sharefab.services.capacity import Candidate

TRANSPORT_SPEED_KMH = 50.0
TRANSPORT_HANDLING_MIN = 60
TRANSPORT_BASE_MINOR = 20_000
TRANSPORT_PER_KM_MINOR = 500


@dataclass(frozen=True, slots=True)
class Leg:
    """Transport between two sites (or to the delivery point)."""

    km: float
    minutes: int
    cost_minor: int


@lru_cache(maxsize=65_536)
def _leg(a: tuple[float, float], b: tuple[float, float]) -> Leg:
    km = haversine_km(a[0], a[1], b[0], b[1])
    minutes = TRANSPORT_HANDLING_MIN + math.ceil(60 * km / TRANSPORT_SPEED_KMH)
    return Leg(round(km, 1), minutes, TRANSPORT_BASE_MINOR + round(TRANSPORT_PER_KM_MINOR * km))


def transport_leg(a: Candidate | None, b: Candidate | None, delivery: Any = None) -> Leg:
    """The leg between two candidates' sites (zero on the same site or without coordinates)."""
    pa = (a.lat, a.lon) if a is not None else None
    pb = delivery if b is None else (b.lat, b.lon)
    if a is not None and b is not None and a.site_id == b.site_id:
        return Leg(0.0, 0, 0)
    if pa is None or pb is None or None in pa or None in pb:
        return Leg(0.0, 0, 0)
    return _leg(pa, pb)
