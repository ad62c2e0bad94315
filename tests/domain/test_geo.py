"""Distances and radius bounding boxes."""

from __future__ import annotations

import pytest

from sharefab.domain.geo import bounding_box, haversine_km

SUZHOU = (31.2990, 120.5853)
SHANGHAI = (31.2304, 121.4737)
BEIJING = (39.9042, 116.4074)


def test_known_distances() -> None:
    assert 80 <= haversine_km(*SUZHOU, *SHANGHAI) <= 100
    assert 1050 <= haversine_km(*SHANGHAI, *BEIJING) <= 1100
    assert haversine_km(*SUZHOU, *SUZHOU) == 0
    assert haversine_km(*SUZHOU, *SHANGHAI) == pytest.approx(haversine_km(*SHANGHAI, *SUZHOU))
    # a quarter of the equator
    assert haversine_km(0, 0, 0, 90) == pytest.approx(10007.5, rel=1e-3)


def test_bounding_box_contains_every_point_within_radius() -> None:
    box = bounding_box(*SUZHOU, 100)
    assert box.contains(*SHANGHAI)
    assert not box.contains(*BEIJING)
    # points exactly at the radius in the four directions lie inside the box
    for bearing_point in [(box.max_lat, SUZHOU[1]), (box.min_lat, SUZHOU[1])]:
        assert haversine_km(*SUZHOU, *bearing_point) == pytest.approx(100, rel=1e-6)
    east = (SUZHOU[0], box.max_lon)
    assert haversine_km(*SUZHOU, *east) >= 100 - 1e-6


def test_bounding_box_edge_cases() -> None:
    wrap = bounding_box(0.0, 179.9, 50)
    assert wrap.crosses_antimeridian and wrap.contains(0.0, -179.9) and wrap.contains(0.0, 179.95)
    polar = bounding_box(89.9, 0.0, 100)
    assert (polar.min_lon, polar.max_lon, polar.max_lat) == (-180.0, 180.0, 90.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((91.0, 0.0, 0.0, 0.0), "latitude 91.0 is outside"),
        ((0.0, 200.0, 0.0, 0.0), "longitude 200.0 is outside"),
        ((0.0, "x", 0.0, 0.0), "longitude must be a number"),
    ],
)
def test_bad_coordinates_are_refused(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        haversine_km(*args)


def test_negative_radius_is_refused() -> None:
    with pytest.raises(ValueError, match="radius_km must be a non-negative"):
        bounding_box(*SUZHOU, -5)
