"""Distances and travel times. One convention for the product, the planner and the checker:
haversine × detour factor, at an average urban speed."""

from __future__ import annotations

import base64
import math

import numpy as np

EARTH_RADIUS_KM = 6371.0088
DETOUR_FACTOR = 1.3
SPEED_KMH = 28.0


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def haversine_km_np(lat1, lon1, lat2, lon2) -> np.ndarray:
    """haversine_km over numpy arrays, broadcasting (a row against a column gives a matrix)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))


def road_km(lat1: float, lon1: float, lat2: float, lon2: float, detour: float = DETOUR_FACTOR) -> float:
    return haversine_km(lat1, lon1, lat2, lon2) * detour


def travel_minutes(km: float, speed_kmh: float = SPEED_KMH) -> float:
    return km / speed_kmh * 60.0


class StraightLine:
    """The embedded travel model: the straight line x a detour factor, at an average urban speed.
    It has the road engine's interface (planner.roads.RoadEngine), so every path asks one model."""

    name = "straight"

    def __init__(self, detour: float = DETOUR_FACTOR, speed_kmh: float = SPEED_KMH):
        self.detour, self.speed_kmh = detour, speed_kmh

    def leg(self, lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float]:
        """(km, minutes) from one point to another."""
        km = haversine_km(lat1, lon1, lat2, lon2) * self.detour
        return km, km / self.speed_kmh * 60.0

    def legs(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """(km, minutes) of each leg of a route through the points, in order."""
        return [self.leg(*a, *b) for a, b in zip(points, points[1:])]

    def matrix(self, points: list[tuple[float, float]]) -> "RoadMatrix | None":
        """None: a problem on the straight line computes its own legs (detour_factor, speed_kmh)."""
        return None

    def via(self, points: list[tuple[float, float]]) -> list[str]:
        """The roads each leg mostly takes: none known on the straight line."""
        return [""] * max(0, len(points) - 1)

    def path(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """The line a map draws through the points, in order: here the points themselves."""
        return list(points)

    def route(self, lat1: float, lon1: float, lat2: float, lon2: float) -> dict:
        km, minutes = self.leg(lat1, lon1, lat2, lon2)
        return {"km": km, "minutes": minutes, "geometry": [(lat1, lon1), (lat2, lon2)]}


STRAIGHT = StraightLine()


class UnknownPoint(KeyError):
    """A point the road matrix was not built for."""


def point_key(lat: float, lon: float) -> tuple[float, float]:
    """How a point is matched against a road matrix: at 6 decimals (about 0.1 m), as the checker does."""
    return (round(float(lat), 6), round(float(lon), 6))


class RoadMatrix:
    """Road travel between known points: distance (km) and drive time (minutes) from each point to
    each other, asymmetric where the roads are (one-way streets, a bridge on one side). A problem
    that carries one reads every leg from it instead of the straight line (the snapshot format's
    travel metric "matrix")."""

    calibration: dict | None = None  # a sparse matrix's: its interpolation's scale factors and error (planner.roads)

    def __init__(self, points: list[tuple[float, float]], km, minutes):
        self.points = [point_key(lat, lon) for lat, lon in points]
        self.index = {pt: i for i, pt in enumerate(self.points)}
        self._seen: dict[tuple[float, float], int] = {}  # coordinates as asked -> index: the search asks millions of times
        self.km_m = np.asarray(km, dtype=np.float64)
        self.min_m = np.asarray(minutes, dtype=np.float64)
        n = len(self.points)
        if self.km_m.shape != (n, n) or self.min_m.shape != (n, n):
            raise ValueError(f"road matrices must be {n} x {n} for {n} points, got {self.km_m.shape} and {self.min_m.shape}")
        if not (np.isfinite(self.km_m).all() and np.isfinite(self.min_m).all()) or (self.km_m < 0).any() or (self.min_m < 0).any():
            raise ValueError("road matrices must hold finite, non-negative figures (a point no road reaches?)")

    def __len__(self) -> int:
        return len(self.points)

    def idx(self, lat: float, lon: float) -> int:
        i = self._seen.get((lat, lon))
        if i is None:
            try:
                i = self._seen[(lat, lon)] = self.index[point_key(lat, lon)]
            except KeyError:
                raise UnknownPoint(f"no road travel is known for the point ({lat:.6f}, {lon:.6f})") from None
        return i

    def indices(self, lats, lons) -> np.ndarray:
        return np.fromiter((self.idx(a, b) for a, b in zip(lats, lons)), dtype=np.int64, count=len(lats))

    def km(self, lat1: float, lon1: float, lat2: float, lon2: float) -> float:
        return float(self.km_m[self.idx(lat1, lon1), self.idx(lat2, lon2)])

    def minutes(self, lat1: float, lon1: float, lat2: float, lon2: float) -> float:
        return float(self.min_m[self.idx(lat1, lon1), self.idx(lat2, lon2)])

    def to_json(self, *, packed: bool = True) -> dict:
        """The snapshot format's "travel" object (matrices packed as little-endian float32 by default)."""
        def pack(m):
            if not packed:
                return m.tolist()
            return {"f32_b64": base64.b64encode(np.ascontiguousarray(m, dtype="<f4").tobytes()).decode()}
        return {"metric": "matrix", "points": [list(pt) for pt in self.points], "km": pack(self.km_m), "minutes": pack(self.min_m)}

    @classmethod
    def from_json(cls, travel: dict) -> "RoadMatrix":
        points = [(float(a), float(b)) for a, b in travel["points"]]
        n = len(points)

        def unpack(m):
            if isinstance(m, dict):
                raw = base64.b64decode(m["f32_b64"])
                if len(raw) != 4 * n * n:
                    raise ValueError(f"a packed matrix for {n} points holds {n * n} float32, not {len(raw) // 4}")
                return np.frombuffer(raw, dtype="<f4").reshape(n, n).astype(np.float64)
            return np.array(m, dtype=np.float64)
        return cls(points, unpack(travel["km"]), unpack(travel["minutes"]))


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
