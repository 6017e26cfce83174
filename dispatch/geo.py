"""Distances and travel times. One convention for the product, the planner and the checker:
haversine × detour factor, at an average urban speed."""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088
DETOUR_FACTOR = 1.3
SPEED_KMH = 28.0


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def road_km(lat1: float, lon1: float, lat2: float, lon2: float, detour: float = DETOUR_FACTOR) -> float:
    return haversine_km(lat1, lon1, lat2, lon2) * detour


def travel_minutes(km: float, speed_kmh: float = SPEED_KMH) -> float:
    return km / speed_kmh * 60.0
