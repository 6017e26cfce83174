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


SECTORS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
CENTRE_KM = 2.0


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(x, y)) + 360.0) % 360.0


def compass_zone(hub_code: str, hub_lat: float, hub_lon: float, lat: float, lon: float) -> str:
    """A delivery zone: the hub and the compass sector the point lies in from it ("CHI-N/NE"), or
    its centre ("CHI-N/C") within 2 km. Stable, needs no map data, and fine enough for lanes."""
    if haversine_km(hub_lat, hub_lon, lat, lon) < CENTRE_KM:
        return f"{hub_code}/C"[:20]
    sector = SECTORS[int(((bearing_deg(hub_lat, hub_lon, lat, lon) + 22.5) % 360) // 45)]
    return f"{hub_code}/{sector}"[:20]
