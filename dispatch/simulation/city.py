"""Synthetic cities: where the hubs are, how far deliveries reach, which carriers serve them.
Everything generated here is seeded, so a seed reproduces the same day."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatch.status import ServiceLevel


@dataclass(frozen=True)
class HubSpec:
    code: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class CarrierSpec:
    code: str
    name: str
    service_levels: tuple[str, ...]
    skills: tuple[str, ...]
    base: float
    per_kg: float
    per_km: float
    lead_min: int
    cutoff: str
    zone_offset_km: tuple[float, float]
    radius_km: float
    capacity: int
    reliability: float  # probability a delivery succeeds first time
    adapter: str = "manual"  # sandbox (native API), generic (the sandbox's legacy API, configured), manual


@dataclass(frozen=True)
class City:
    name: str
    lat: float
    lon: float
    radius_km: float
    tz: str
    hubs: tuple[HubSpec, ...]
    carriers: tuple[CarrierSpec, ...]


CARRIERS = (
    CarrierSpec("REX", "Regional Express", ("express", "same_day", "scheduled"), ("bulky",), 9.0, 0.18, 0.45, 60, "18:00", (0, 0), 22, 120, 0.95, "sandbox"),
    CarrierSpec("CITY", "CityCourier", ("express", "same_day"), (), 7.5, 0.10, 0.60, 45, "19:00", (3, -2), 10, 60, 0.92, "generic"),
    CarrierSpec("GIG", "GigDash", ("express", "same_day", "scheduled"), (), 6.0, 0.05, 0.80, 30, "21:00", (-2, 2), 12, 80, 0.85, "sandbox"),
    CarrierSpec("NAT", "National Parcel", ("scheduled", "next_day"), ("bulky", "regulated"), 5.5, 0.22, 0.15, 240, "16:00", (0, 0), 40, 300, 0.97),
)

CITIES = {
    "chicago": City("Chicago", 41.8781, -87.6298, 16, "America/Chicago", (
        HubSpec("CHI-N", "North Side hub", 41.9625, -87.6660),
        HubSpec("CHI-W", "West Loop hub", 41.8827, -87.6470),
        HubSpec("CHI-S", "South Side hub", 41.8000, -87.6200),
    ), CARRIERS),
    "berlin": City("Berlin", 52.5200, 13.4050, 14, "Europe/Berlin", (
        HubSpec("BER-M", "Mitte hub", 52.5210, 13.4100),
        HubSpec("BER-S", "Tempelhof hub", 52.4700, 13.4000),
    ), CARRIERS),
}

LEVEL_MIX = ((ServiceLevel.EXPRESS, 0.15), (ServiceLevel.SAME_DAY, 0.5), (ServiceLevel.SCHEDULED, 0.3), (ServiceLevel.NEXT_DAY, 0.05))
STREETS = ("Oak", "Maple", "Lake", "Park", "Cedar", "Elm", "Washington", "Lincoln", "Madison", "Grand", "Division", "Clark")
NAMES = ("Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Harper", "Jordan", "Kai", "Logan", "Morgan", "Quinn", "Riley", "Sage")


def offset(lat: float, lon: float, north_km: float, east_km: float) -> tuple[float, float]:
    return lat + north_km / 111.32, lon + east_km / (111.32 * math.cos(math.radians(lat)))


def random_point(rng: random.Random, city: City) -> tuple[float, float]:
    r = city.radius_km * math.sqrt(rng.random())
    a = rng.uniform(0, 2 * math.pi)
    return offset(city.lat, city.lon, r * math.cos(a), r * math.sin(a))


def nearest_hub(city: City, lat: float, lon: float) -> HubSpec:
    return min(city.hubs, key=lambda h: (h.lat - lat) ** 2 + ((h.lon - lon) * math.cos(math.radians(lat))) ** 2)


def order_spec(rng: random.Random, city: City, ref: str, now: datetime, *, near: HubSpec | None = None,
               window_start: datetime | None = None) -> dict:
    """One realistic order, as an integrator would post it to the API; `near` and `window_start`
    pin it to a hub's area and a same-day window (what a local promotion brings: a demand spike)."""
    if near is not None:
        r, a = 4.0 * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        lat, lon = offset(near.lat, near.lon, r * math.cos(a), r * math.sin(a))
    else:
        lat, lon = random_point(rng, city)
    level = rng.choices([lv for lv, _ in LEVEL_MIX], weights=[w for _, w in LEVEL_MIX])[0]
    if window_start is not None:
        level, start, length = ServiceLevel.SAME_DAY, window_start, 120
    elif level == ServiceLevel.EXPRESS:
        start, length = now + timedelta(minutes=rng.randint(30, 60)), 90
    elif level == ServiceLevel.SAME_DAY:
        start, length = now + timedelta(minutes=rng.randint(60, 240)), rng.choice((120, 180))
    elif level == ServiceLevel.SCHEDULED:
        start, length = now + timedelta(minutes=rng.randint(90, 360)), 60
    else:
        start, length = now + timedelta(hours=rng.randint(18, 22)), 240
    start = start.replace(second=0, microsecond=0)
    requires = ["bulky"] if rng.random() < 0.06 else []
    name = f"{rng.choice(NAMES)} {chr(65 + rng.randrange(26))}."
    return {
        "external_ref": ref,
        "hub": (near or nearest_hub(city, lat, lon)).code,
        "address": f"{rng.randint(100, 4999)} N {rng.choice(STREETS)} St, {city.name}",
        "lat": round(lat, 6), "lon": round(lon, 6),
        "window_start": start.isoformat(), "window_end": (start + timedelta(minutes=length)).isoformat(),
        "service_level": str(level),
        "weight_kg": round(rng.uniform(0.5, 25 if not requires else 60), 1),
        "volume_m3": round(rng.uniform(0.005, 0.2), 3),
        "requires": requires,
        "service_min": rng.choice((2, 3, 4, 5)),
        "customer": {"name": name, "email": f"{name.split()[0].lower()}.{ref.lower()}@example.com", "phone": ""},
    }
