"""Road mode's hidden world: a simulated van drives the streets of the map (round by a bridge, not
straight across the river), and each street segment takes its free-flow time over the world's
pace there, which the van's pings then show."""

import pytest

from planner import roads
from world.roads import drive_along, Streets
from world.traffic import straight_km

CENTRE = (41.8781, -87.6298)


@pytest.fixture(scope="module")
def streets(tmp_path_factory):
    out = tmp_path_factory.mktemp("city")
    roads.generate_city(out / "city.osm", centre=CENTRE, size_km=4.0)
    return Streets(roads.build(out / "city.osm", out))


def _off_line_km(p, a, b) -> float:
    """How far p lies from the straight line a-b (flat, in km)."""
    k = 111.2
    ax, ay, bx, by, px, py = a[1] * k * 0.745, a[0] * k, b[1] * k * 0.745, b[0] * k, p[1] * k * 0.745, p[0] * k
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return ((ax + t * dx - px) ** 2 + (ay + t * dy - py) ** 2) ** 0.5


def test_a_van_drives_the_streets_round_by_a_bridge_at_the_worlds_pace(streets):
    south, north = (CENTRE[0] - 0.004, CENTRE[1] - 0.0097), (CENTRE[0] + 0.004, CENTRE[1] - 0.0097)  # between two bridges
    path = streets.path(*south, *north)
    free_s = sum(seg[2] for seg in path)
    road_km = sum(seg[3] for seg in path)
    pace = 0.5  # rush hour: half the free-flow speed

    pings, here, seconds = [], south, 0.0
    while True:
        lat, lon, heading, kmh, left = drive_along(path, *here, 10.0, lambda la, lo: pace)
        here = (lat, lon)
        pings.append(here)
        if left is not None:
            seconds += 10.0 - left
            break
        seconds += 10.0
        assert 0 < kmh < 100 and 0 <= heading < 360

    assert road_km > 1.5 * straight_km(*south, *north)  # the river is crossed at a bridge
    assert max(_off_line_km(p, south, north) for p in pings) > 0.3  # the pings leave the straight line
    assert here == pytest.approx(north, abs=1e-6)
    assert seconds == pytest.approx(free_s / pace, rel=1e-6)


def test_a_point_off_the_map_is_reached_straight_and_slowly(streets):
    far = (CENTRE[0] + 0.5, CENTRE[1])
    path = streets.path(*CENTRE, *far)
    assert path[-1][:2] == list(far) and sum(seg[3] for seg in path) >= straight_km(*CENTRE, *far) * 0.99
