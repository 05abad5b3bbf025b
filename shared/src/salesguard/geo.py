"""Distances and geohash cells: enough geography for geofences and nearest-customer lookups.

A geohash names a cell of the globe; a longer hash, a smaller cell. Stored at
a fixed precision in an indexed column, it turns "near this point" into a few
index range scans over the cells around the point (never a table scan),
followed by the exact haversine distance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

EARTH_RADIUS_M = 6_371_008.8
_BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz"
_DECODE = {ch: i for i, ch in enumerate(_BASE32)}
# The precision stored in indexed columns: cells of about 150 m x 150 m.
STORED_PRECISION = 7


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lng2 - lng1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def encode(lat: float, lng: float, precision: int = STORED_PRECISION) -> str:
    lat_range, lng_range = [-90.0, 90.0], [-180.0, 180.0]
    chars: list[str] = []
    bits, value, even = 0, 0, True
    while len(chars) < precision:
        interval, coordinate = (lng_range, lng) if even else (lat_range, lat)
        middle = (interval[0] + interval[1]) / 2
        if coordinate >= middle:
            value = (value << 1) | 1
            interval[0] = middle
        else:
            value <<= 1
            interval[1] = middle
        even = not even
        bits += 1
        if bits == 5:
            chars.append(_BASE32[value])
            bits, value = 0, 0
    return "".join(chars)


def bounds(cell: str) -> tuple[float, float, float, float]:
    """(south, west, north, east) of a cell."""
    lat_range, lng_range = [-90.0, 90.0], [-180.0, 180.0]
    even = True
    for ch in cell:
        value = _DECODE[ch]
        for shift in range(4, -1, -1):
            bit = (value >> shift) & 1
            interval = lng_range if even else lat_range
            middle = (interval[0] + interval[1]) / 2
            interval[0 if bit else 1] = middle
            even = not even
    return lat_range[0], lng_range[0], lat_range[1], lng_range[1]


def _cell_size_m(lat: float, lng: float, precision: int) -> tuple[float, float]:
    """(height, width) in metres of the cell holding the point."""
    south, west, north, east = bounds(encode(lat, lng, precision))
    metres_per_degree = math.pi * EARTH_RADIUS_M / 180
    return (north - south) * metres_per_degree, (east - west) * metres_per_degree * math.cos(
        math.radians(lat)
    )


def precision_for(lat: float, lng: float, radius_m: float) -> int:
    """The finest precision whose cells here are at least the radius high and wide."""
    for precision in range(STORED_PRECISION, 0, -1):
        if min(_cell_size_m(lat, lng, precision)) >= radius_m:
            return precision
    return 1


def covering_cells(lat: float, lng: float, radius_m: float) -> list[str]:
    """Cells that together cover the circle: the point's cell and its eight neighbours.

    Each cell is at least ``radius_m`` high and wide, so a point within the
    radius cannot lie beyond the neighbours.
    """
    precision = precision_for(lat, lng, radius_m)
    south, west, north, east = bounds(encode(lat, lng, precision))
    height, width = north - south, east - west
    centre_lat, centre_lng = (south + north) / 2, (west + east) / 2
    cells = {
        encode(
            max(-89.999999, min(89.999999, centre_lat + d_lat * height)),
            ((centre_lng + d_lng * width + 180.0) % 360.0) - 180.0,
            precision,
        )
        for d_lat in (-1, 0, 1)
        for d_lng in (-1, 0, 1)
    }
    return sorted(cells)


def successor(cell: str) -> str | None:
    """The first hash after every hash that starts with ``cell`` (None past the last cell)."""
    while cell:
        position = _DECODE[cell[-1]]
        if position + 1 < len(_BASE32):
            return cell[:-1] + _BASE32[position + 1]
        cell = cell[:-1]
    return None


def prefix_ranges(cells: Iterable[str]) -> list[tuple[str, str | None]]:
    """Half-open [low, high) ranges matching every stored hash inside each cell.

    The bounds use the geohash alphabet only (digits and lower-case letters),
    which every collation orders alike, so the ranges are index range scans.
    """
    return [(cell, successor(cell)) for cell in cells]
