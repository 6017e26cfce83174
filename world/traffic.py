"""Hidden traffic: a seeded, reproducible city whose travel differs from any single formula.

- Free-flow road speed, slowed by the hour (morning and evening rush, a busy midday, quiet nights)
  and by the area: the centre is slower than the outskirts, and every 2 km cell has its own
  character (a ring road, a bridge, a school street), fixed by the seed.
- The road is longer than the straight line by a factor that also depends on the cell (a river
  crossed by few bridges, a grid, dead ends): 1.15 to 1.75.
- Each driver is a little faster or slower than the average; stops take what the address takes
  (a tower block with a lift, a house with a porch), around what was planned; now and then a driver
  stops for something no plan knows about.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

EARTH_RADIUS_KM = 6371.0088
FREE_FLOW_KMH = 36.0
CELL_KM = 2.0

# Speed factor by local hour: rush hours well below the day's average, nights above it.
HOURLY = {0: 1.15, 1: 1.15, 2: 1.15, 3: 1.15, 4: 1.1, 5: 1.0, 6: 0.8, 7: 0.55, 8: 0.5, 9: 0.7, 10: 0.85, 11: 0.8, 12: 0.7,
          13: 0.75, 14: 0.85, 15: 0.7, 16: 0.5, 17: 0.45, 18: 0.6, 19: 0.8, 20: 0.95, 21: 1.0, 22: 1.05, 23: 1.1}


def straight_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def _unit(*key) -> float:
    """A number in [0, 1) fixed by the key (the same on every run and machine)."""
    return random.Random(hash_key(key)).random()


def hash_key(key: tuple) -> int:
    h = 1469598103934665603
    for ch in repr(key).encode():
        h = ((h ^ ch) * 1099511628211) % (1 << 64)
    return h


@dataclass(frozen=True)
class World:
    seed: int
    centre_lat: float
    centre_lon: float
    tz: str

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        north = (lat - self.centre_lat) * 111.2
        east = (lon - self.centre_lon) * 111.2 * math.cos(math.radians(self.centre_lat))
        return math.floor(north / CELL_KM), math.floor(east / CELL_KM)

    def road_factor(self, lat: float, lon: float) -> float:
        """How much longer the road is than the straight line around here."""
        return 1.15 + 0.6 * _unit(self.seed, "road", self._cell(lat, lon))

    def area_factor(self, lat: float, lon: float) -> float:
        centre_km = straight_km(lat, lon, self.centre_lat, self.centre_lon)
        downtown = 0.7 + 0.3 * min(1.0, centre_km / 8.0)  # the centre is slower
        return downtown * (0.8 + 0.4 * _unit(self.seed, "area", self._cell(lat, lon)))

    def hour_factor(self, at: datetime) -> float:
        local = at.astimezone(ZoneInfo(self.tz))
        now, nxt = HOURLY[local.hour], HOURLY[(local.hour + 1) % 24]
        return now + (nxt - now) * local.minute / 60.0  # traffic builds and eases within the hour

    def road_speed_kmh(self, lat: float, lon: float, at: datetime) -> float:
        return FREE_FLOW_KMH * self.hour_factor(at) * self.area_factor(lat, lon)

    def straight_line_kmh(self, lat: float, lon: float, at: datetime, driver: str) -> float:
        """Progress towards the next stop as the crow flies, for a driver here and now."""
        return self.road_speed_kmh(lat, lon, at) * self.driver_factor(driver) / self.road_factor(lat, lon)

    def driver_factor(self, driver: str) -> float:
        return 0.85 + 0.3 * _unit(self.seed, "driver", driver)

    def service_min(self, lat: float, lon: float, planned_min: float, rng: random.Random) -> float:
        """How long a stop really takes: the address's kind around what was planned, with a long tail."""
        address = 0.8 + 0.9 * _unit(self.seed, "address", round(lat, 3), round(lon, 3))
        return max(0.5, planned_min * address * rng.lognormvariate(0.0, 0.35))

    def unplanned_stop_min(self, rng: random.Random, dt_seconds: float) -> float:
        """A stop no plan knows about (fuel, a call, a blocked street): about once in four hours."""
        return rng.uniform(4, 15) if rng.random() < dt_seconds / (4 * 3600) else 0.0
