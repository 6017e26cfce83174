"""The hidden world the simulator drives: travel that differs from the product's one formula by
hour, by place and by driver, and the same on every run of a seed."""

import random
from datetime import datetime
from zoneinfo import ZoneInfo

from world.traffic import World, straight_km

CHICAGO = World(7, 41.8781, -87.6298, "America/Chicago")


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, 7, hour, minute, tzinfo=ZoneInfo("America/Chicago"))


def test_rush_hour_is_slower_than_midmorning_and_traffic_builds_within_the_hour():
    here = (41.90, -87.65)
    assert CHICAGO.road_speed_kmh(*here, at(17, 30)) < 0.7 * CHICAGO.road_speed_kmh(*here, at(10, 30))
    assert CHICAGO.road_speed_kmh(*here, at(15, 0)) > CHICAGO.road_speed_kmh(*here, at(15, 45)) > CHICAGO.road_speed_kmh(*here, at(16, 30))


def test_the_centre_is_slower_than_the_outskirts_and_the_road_is_longer_in_some_places_than_others():
    rng = random.Random(1)
    points = [(41.8781 + rng.uniform(-0.15, 0.15), -87.6298 + rng.uniform(-0.15, 0.15)) for _ in range(400)]
    centre = [p for p in points if straight_km(*p, 41.8781, -87.6298) < 3]
    outskirts = [p for p in points if straight_km(*p, 41.8781, -87.6298) > 10]
    mean = lambda ps: sum(CHICAGO.area_factor(*p) for p in ps) / len(ps)  # noqa: E731
    assert mean(centre) < 0.9 * mean(outskirts)
    factors = [CHICAGO.road_factor(*p) for p in points]
    assert min(factors) < 1.25 and max(factors) > 1.6  # never the product's one 1.3 everywhere


def test_drivers_differ_and_a_seed_is_the_same_world_on_every_run():
    drivers = {CHICAGO.driver_factor(f"N0{i}") for i in range(1, 7)}
    assert len(drivers) == 6 and min(drivers) >= 0.85 and max(drivers) <= 1.15
    again = World(7, 41.8781, -87.6298, "America/Chicago")
    other = World(8, 41.8781, -87.6298, "America/Chicago")
    assert again.road_factor(41.95, -87.70) == CHICAGO.road_factor(41.95, -87.70)
    assert [other.road_factor(41.8781 + i / 50, -87.6298) for i in range(10)] != \
        [CHICAGO.road_factor(41.8781 + i / 50, -87.6298) for i in range(10)]


def test_a_stop_takes_what_the_address_takes_around_what_was_planned():
    rng = random.Random(3)
    taken = [CHICAGO.service_min(41.9 + i / 1000, -87.65, 4, rng) for i in range(500)]
    assert 3 < sum(taken) / len(taken) < 7 and max(taken) > 2 * 4  # a long tail
    unplanned = sum(1 for _ in range(24 * 60) if CHICAGO.unplanned_stop_min(rng, 60))
    assert 1 <= unplanned <= 15  # about once in four hours of driving
