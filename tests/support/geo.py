"""Points a known distance apart, on the sphere ``salesguard.geo`` measures with."""

from __future__ import annotations

import math

from salesguard import geo


def offset(point: tuple[float, float], metres: float, bearing: float = 90.0) -> tuple[float, float]:
    """The point ``metres`` away on ``bearing`` (degrees)."""
    lat, lng = point
    d = metres / geo.EARTH_RADIUS_M
    phi1, lambda1, theta = math.radians(lat), math.radians(lng), math.radians(bearing)
    phi2 = math.asin(math.sin(phi1) * math.cos(d) + math.cos(phi1) * math.sin(d) * math.cos(theta))
    lambda2 = lambda1 + math.atan2(
        math.sin(theta) * math.sin(d) * math.cos(phi1),
        math.cos(d) - math.sin(phi1) * math.sin(phi2),
    )
    return math.degrees(phi2), math.degrees(lambda2)
