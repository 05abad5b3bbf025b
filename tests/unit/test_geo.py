"""Geofence arithmetic: distances, and cells that never miss a point within the radius."""

from __future__ import annotations

import random

import pytest

from salesguard import geo
from tests.support.geo import offset


def test_haversine_matches_known_distances() -> None:
    # The Bund to People's Square, Shanghai: about 1.6 km.
    assert 1_500 < geo.haversine_m(31.2400, 121.4900, 31.2304, 121.4737) < 1_900
    assert geo.haversine_m(31.0, 121.0, 31.0, 121.0) == 0
    # One degree of latitude is about 111.2 km everywhere.
    assert geo.haversine_m(10.0, 20.0, 11.0, 20.0) == pytest.approx(111_195, rel=1e-3)


def test_encode_matches_the_reference_geohash() -> None:
    assert geo.encode(57.64911, 10.40744, 11) == "u4pruydqqvj"
    assert geo.encode(31.2304, 121.4737, 7) == "wtw3sjq"


@pytest.mark.parametrize("radius", [50, 300, 1_000, 5_000])
def test_covering_cells_contain_every_point_within_the_radius(radius: float) -> None:
    rng = random.Random(radius)
    for _ in range(300):
        lat, lng = rng.uniform(-60, 60), rng.uniform(-179, 179)
        cells = geo.covering_cells(lat, lng, radius)
        ranges = geo.prefix_ranges(cells)
        for _ in range(10):
            near = offset((lat, lng), rng.uniform(0, radius * 0.999), rng.uniform(0, 360))
            stored = geo.encode(*near)
            assert any(low <= stored and (high is None or stored < high) for low, high in ranges), (
                lat,
                lng,
                near,
            )


def test_successor_bounds_a_prefix() -> None:
    assert geo.successor("wtw3s") == "wtw3t"
    assert geo.successor("wtwz") == "wtx"
    assert geo.successor("zz") is None
