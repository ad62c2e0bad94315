"""Great-circle distances and radius bounding boxes (for database pre-filtering).

Coordinates are WGS-84 degrees; distances are kilometres on a sphere of mean Earth radius
(6371.0088 km), accurate to about 0.5 % — plenty for "factories within 50 km".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["EARTH_RADIUS_KM", "BoundingBox", "bounding_box", "haversine_km", "validate_point"]

EARTH_RADIUS_KM = 6371.0088


def validate_point(lat: float, lon: float) -> None:
    """Raise ``ValueError`` naming the problem if ``(lat, lon)`` is not a valid coordinate."""
    for name, value, limit in (("latitude", lat, 90.0), ("longitude", lon, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value) or abs(value) > limit:
            raise ValueError(f"{name} {value} is outside [-{limit:g}, {limit:g}]")


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees."""
    validate_point(lat1, lon1)
    validate_point(lat2, lon2)
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """A lat/lon rectangle. ``min_lon > max_lon`` means the box crosses the antimeridian."""

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float

    @property
    def crosses_antimeridian(self) -> bool:
        """True if the longitude range wraps from +180 to -180."""
        return self.min_lon > self.max_lon

    def contains(self, lat: float, lon: float) -> bool:
        """True if the point is inside the box (edges included)."""
        if not self.min_lat <= lat <= self.max_lat:
            return False
        if self.crosses_antimeridian:
            return lon >= self.min_lon or lon <= self.max_lon
        return self.min_lon <= lon <= self.max_lon


def bounding_box(lat: float, lon: float, radius_km: float) -> BoundingBox:
    """The smallest lat/lon box containing every point within ``radius_km`` of the centre.

    Use it as a cheap index pre-filter (``lat BETWEEN ... AND lon BETWEEN ...``), then keep
    rows whose :func:`haversine_km` is within the radius. Near a pole the box spans all
    longitudes.
    """
    validate_point(lat, lon)
    if isinstance(radius_km, bool) or not isinstance(radius_km, int | float):
        raise ValueError(f"radius_km must be a number, got {radius_km!r}")
    if not math.isfinite(radius_km) or radius_km < 0:
        raise ValueError(f"radius_km must be a non-negative number, got {radius_km}")
    ang = radius_km / EARTH_RADIUS_KM
    lat_r, lon_r = math.radians(lat), math.radians(lon)
    min_lat, max_lat = lat_r - ang, lat_r + ang
    if min_lat <= -math.pi / 2 or max_lat >= math.pi / 2 or ang >= math.pi:
        return BoundingBox(
            max(math.degrees(min_lat), -90.0), min(math.degrees(max_lat), 90.0), -180.0, 180.0
        )
    d_lon = math.asin(min(1.0, math.sin(ang) / math.cos(lat_r)))
    min_lon, max_lon = lon_r - d_lon, lon_r + d_lon
    lo, hi = math.degrees(min_lon), math.degrees(max_lon)
    if lo < -180.0:
        lo += 360.0
    if hi > 180.0:
        hi -= 360.0
    return BoundingBox(math.degrees(min_lat), math.degrees(max_lat), lo, hi)
