"""The streets the simulated vans drive, in road mode: the route OSRM finds on the same map the
product's engine was built from (the roads are the roads), cut into the street segments it runs
along. How long each segment really takes is the hidden world's business (world.traffic: the hour,
the area, the driver), not the map's free-flow time. Imports nothing of ours."""

from __future__ import annotations

import math
import threading
from pathlib import Path

from world.traffic import straight_km

DOOR_KMH = 15.0  # from the street to the door, and from wherever the van stands onto the street


class Streets:
    def __init__(self, base: str | Path):
        import osrm

        base = str(base)
        algorithm = "MLD" if Path(base + ".mldgr").exists() else "CH"
        self._osrm = osrm
        self._engine = osrm.OSRM(storage_config=base, algorithm=algorithm, use_shared_memory=False)
        self._lock = threading.Lock()

    def path(self, lat1: float, lon1: float, lat2: float, lon2: float) -> list[list[float]]:
        """[[lat, lon, free-flow seconds, km], ...]: the segments from here to the door, each ending
        at its point; the first joins the street, the last leaves it for the door."""
        params = self._osrm.RouteParameters(coordinates=[(lon1, lat1), (lon2, lat2)], geometries="geojson",
                                            overview="full", annotations=["duration", "distance"])
        try:
            with self._lock:
                route = self._engine.Route(params)["routes"][0]
        except (RuntimeError, KeyError, IndexError):  # off the map: straight there, slowly
            km = straight_km(lat1, lon1, lat2, lon2)
            return [[lat2, lon2, km / DOOR_KMH * 3600, km]]
        coords = [(float(c[0]), float(c[1])) for c in route["geometry"]["coordinates"]]
        seconds = [float(s) for leg in route["legs"] for s in leg["annotation"]["duration"]]
        metres = [float(m) for leg in route["legs"] for m in leg["annotation"]["distance"]]
        segments = []
        first = (coords[0][1], coords[0][0])
        km = straight_km(lat1, lon1, *first)
        if km > 0.001:
            segments.append([first[0], first[1], km / DOOR_KMH * 3600, km])
        for (lon, lat), s, m in zip(coords[1:], seconds, metres):
            segments.append([lat, lon, float(s), float(m) / 1000.0])
        last = segments[-1][:2] if segments else [lat1, lon1]
        km = straight_km(last[0], last[1], lat2, lon2)
        segments.append([lat2, lon2, km / DOOR_KMH * 3600, km])
        return segments


def drive_along(path: list[list[float]], lat: float, lon: float, budget: float, pace) -> tuple:
    """Drive from (lat, lon) along the path's segments for `budget` seconds; a segment ending at
    (la, lo) takes its free-flow seconds over pace(la, lo). Consumes the path in place. Returns
    (lat, lon, heading, km/h, seconds left), seconds left being None when the budget ran out on
    the way (the van is then part way along a segment)."""
    heading, speed = None, 0.0
    while path:
        la, lo, free_s, km = path[0]
        real_s = free_s / max(0.05, pace(la, lo))
        if real_s > budget:
            frac = budget / real_s
            heading = bearing(lat, lon, la, lo)
            lat, lon = lat + (la - lat) * frac, lon + (lo - lon) * frac
            path[0] = [la, lo, free_s * (1 - frac), km * (1 - frac)]
            return lat, lon, heading, km / real_s * 3600 if real_s > 0 else 0.0, None
        budget -= real_s
        if km > 0:
            heading = bearing(lat, lon, la, lo)
        lat, lon = la, lo
        path.pop(0)
    return lat, lon, heading, speed, budget


def bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(x, y)) + 360.0) % 360.0
