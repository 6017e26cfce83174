"""Plain data for one re-plan: the state of a delivery day at `now`, and a plan for it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from planner.travel import EARTH_RADIUS_KM, RoadMatrix, haversine_km, haversine_km_np  # noqa: F401  (the one definition)


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True)
class Hub:
    id: str
    at: Point
    load_min_per_order: float = 0.0
    # False for a place where only a van can collect (a broken-down van at the roadside).
    carrier_pickup: bool = True


@dataclass(frozen=True)
class Vehicle:
    id: str
    start: Point
    end: Point | None
    available_from_min: float
    shift_end_min: float
    capacity_kg: float
    fixed_cost: float
    cost_per_km: float
    cost_per_hour: float
    skills: frozenset[str] = frozenset()
    committed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Zone:
    at: Point
    radius_km: float
    surcharge: float = 0.0  # added to the price of a delivery in this zone


@dataclass(frozen=True)
class Slot:
    """Room a carrier reports for deliveries in one zone (None: anywhere it serves) and time window,
    net of what it already carries there."""
    zone: Zone | None
    start_min: float
    end_min: float
    room: int


@dataclass(frozen=True)
class Carrier:
    id: str
    available: bool
    service_levels: frozenset[str]
    skills: frozenset[str]
    zones: tuple[Zone, ...]
    base: float
    per_kg: float
    per_km: float
    lead_min: float
    pickup_cutoff_min: float
    capacity: int
    # From the carrier's scorecard: (probability late, probability a delivery fails) per order zone,
    # and for zones it has no record of. Empty: priced by its rate card alone.
    reliability: dict[str, tuple[float, float]] = field(default_factory=dict, hash=False, compare=False)
    default_reliability: tuple[float, float] = (0.0, 0.0)
    # Rate card surcharges: fuel as a percentage of the price, a fee above each weight break
    # ((over_kg, fee), ...; the highest that applies), and a fee for deliveries from a time of day.
    fuel_pct: float = 0.0
    weight_breaks: tuple[tuple[float, float], ...] = ()
    after_hours_from_min: float | None = None
    after_hours_fee: float = 0.0
    # Capacity per zone and time window. Empty: only `capacity` limits it. Otherwise an order goes
    # to the first slot covering its drop-off and delivery time, and none covering means no.
    slots: tuple[Slot, ...] = ()
    # Carriers sharing one capacity (one company's service levels, each priced by its own rate
    # card): the same pool name. Empty: its own.
    pool: str = ""

    @property
    def room_key(self) -> str:
        return self.pool or self.id


@dataclass(frozen=True)
class Order:
    id: str
    hub: str
    at: Point
    window: tuple[float, float]
    service_min: float
    weight_kg: float
    service_level: str
    requires: frozenset[str]
    late_penalty: float
    late_penalty_per_min: float
    unserved_penalty: float
    zone: str = ""
    reattempt_cost: float = 0.0


@dataclass
class Problem:
    name: str
    now_min: float
    detour_factor: float
    speed_kmh: float
    hubs: dict[str, Hub]
    vehicles: list[Vehicle]
    carriers: list[Carrier]
    orders: dict[str, Order]
    # Road travel between the problem's points (None: the straight line x detour_factor at speed_kmh).
    travel: RoadMatrix | None = None
    _km: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _min: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # on a road matrix

    KM_CACHE_MAX = 2_000_000  # distances kept (route simulation asks for the same legs again and again)

    def __setattr__(self, name, value):
        if name == "travel" and "_min" in self.__dict__:  # another matrix: nothing kept from the last one holds
            self._km.clear()
            self._min.clear()
        object.__setattr__(self, name, value)

    def km(self, a: Point, b: Point) -> float:
        key = (a.lat, a.lon, b.lat, b.lon)
        d = self._km.get(key)
        if d is None:
            if len(self._km) >= self.KM_CACHE_MAX:
                self._km.clear()
            if self.travel is not None:
                d = self._km[key] = self.travel.km(a.lat, a.lon, b.lat, b.lon)
            else:
                d = self._km[key] = haversine_km(a.lat, a.lon, b.lat, b.lon) * self.detour_factor
        return d

    def points(self) -> list[tuple[float, float]]:
        """Every point a leg of this problem can start or end at: hubs, drop-offs, vans' starts and ends."""
        pts = [(h.at.lat, h.at.lon) for h in self.hubs.values()] + [(o.at.lat, o.at.lon) for o in self.orders.values()]
        pts += [(p.lat, p.lon) for v in self.vehicles for p in (v.start, v.end) if p is not None]
        return list(dict.fromkeys((round(lat, 6), round(lon, 6)) for lat, lon in pts))

    def drive_min(self, a: Point, b: Point) -> float:
        """Minutes to drive from a to b."""
        if self.travel is not None:
            key = (a.lat, a.lon, b.lat, b.lon)
            m = self._min.get(key)
            if m is None:
                if len(self._min) >= self.KM_CACHE_MAX:
                    self._min.clear()
                m = self._min[key] = self.travel.minutes(a.lat, a.lon, b.lat, b.lon)
            return m
        return self.km(a, b) / self.speed_kmh * 60.0

    def km_from(self, a: Point, lat: np.ndarray, lon: np.ndarray, *, to: bool = False) -> np.ndarray:
        """Distances from a to many points (to=True: from them to a), vectorized."""
        if self.travel is not None:
            i, js = self.travel.idx(a.lat, a.lon), self.travel.indices(lat, lon)
            return self.travel.km_m[js, i] if to else self.travel.km_m[i, js]
        return haversine_km_np(a.lat, a.lon, lat, lon) * self.detour_factor

    def min_from(self, a: Point, lat: np.ndarray, lon: np.ndarray, *, to: bool = False) -> np.ndarray:
        """Drive minutes from a to many points (to=True: from them to a), vectorized."""
        if self.travel is not None:
            i, js = self.travel.idx(a.lat, a.lon), self.travel.indices(lat, lon)
            return self.travel.min_m[js, i] if to else self.travel.min_m[i, js]
        return self.km_from(a, lat, lon) / self.speed_kmh * 60.0

    def matrices(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """km and minutes between every pair of the given points (row: from, column: to)."""
        if self.travel is not None:
            ix = self.travel.indices(lat, lon)
            return self.travel.km_m[np.ix_(ix, ix)], self.travel.min_m[np.ix_(ix, ix)]
        lat, lon = np.asarray(lat), np.asarray(lon)
        km = haversine_km_np(lat[:, None], lon[:, None], lat[None, :], lon[None, :]) * self.detour_factor
        return km, km / self.speed_kmh * 60.0

    def late_cost(self, order: Order, start_min: float) -> float:
        late = start_min - order.window[1]
        return 0.0 if late <= 1e-9 else order.late_penalty + order.late_penalty_per_min * late

    @property
    def committed(self) -> dict[str, str]:
        return {oid: v.id for v in self.vehicles for oid in v.committed}


@dataclass
class Plan:
    routes: dict[str, list[str]] = field(default_factory=dict)   # vehicle id -> ["P:O1", "D:O1", ...]
    carriers: dict[str, list[str]] = field(default_factory=dict)  # carrier id -> order ids
    unserved: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"routes": {k: v for k, v in self.routes.items() if v},
                "carriers": {k: v for k, v in self.carriers.items() if v},
                "unserved": list(self.unserved)}
