"""The demo in road mode, as the README says to run it: the road data built by `manage.py
build_roads --generate-city`, the product on it (ROADS), and the simulator's vans driving its
streets. A dispatcher watches the live map: the vans are on the streets, and a van's way through
its stops is drawn street by street, not as straight lines from stop to stop."""

import io
import math
import time as clock_time

import pytest
from django.core.management import call_command

from .conftest import demo_day, login

pytestmark = [pytest.mark.browser, pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def test_a_road_mode_demo_day_draws_the_vans_along_the_streets(settings, browser, tmp_path):
    from dispatch.models import Stop, Vehicle

    def stops_open(van) -> int:
        return Stop.objects.filter(route__vehicle=van, route__active=True, completed_at__isnull=True).count()
    from dispatch.simulation.city import CITIES
    from planner.roads import RoadEngine

    printed = io.StringIO()
    call_command("build_roads", "--generate-city", "--size-km", "36", "--block-m", "500", "--out", str(tmp_path / "roads"),
                 stdout=printed)
    roads = [ln for ln in printed.getvalue().splitlines() if ln.strip().startswith("ROADS=")][0].strip().split("=", 1)[1]
    engine = RoadEngine(roads)

    with demo_day(settings, tmp_path, env_extra={"ROADS": roads}) as (web, procs, simulate):
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        login(page, web, "dispatcher")
        simulate()

        # wait for vans out on their rounds: away from their hubs, with stops still to go
        hubs = {h.code: (h.lat, h.lon) for h in CITIES["chicago"].hubs}
        deadline = clock_time.monotonic() + 180
        out: list[Vehicle] = []
        while clock_time.monotonic() < deadline and len(out) < 3:
            out = [v for v in Vehicle.objects.select_related("fleet__hub").filter(lat__isnull=False)
                   if math.dist((v.lat, v.lon), hubs[v.fleet.hub.code]) > 0.005
                   and stops_open(v) > 0]
            assert all(p.poll() is None for p in procs), "a process of the demo stopped"
            clock_time.sleep(0.5)
        assert len(out) >= 3, "no van went out on its round"

        # the vans out there are on the streets (the road engine snaps them within a few metres), but
        # for the short way between the street and a door; a van over the blocks would be 0-250 m off
        import osrm

        off, last = [], {}
        looking = clock_time.monotonic() + 90
        # the vans driving (moved since the last look; a van waiting at a door is off the street)
        while len(off) < 20 and clock_time.monotonic() < looking:
            for v in Vehicle.objects.select_related("fleet__hub").filter(lat__isnull=False):
                moved = v.code in last and math.dist(last[v.code], (v.lat, v.lon)) > 0.0002
                last[v.code] = (v.lat, v.lon)
                if moved and math.dist((v.lat, v.lon), hubs[v.fleet.hub.code]) > 0.005:
                    near = engine._engine.Nearest(osrm.NearestParameters(coordinates=[(v.lon, v.lat)]))
                    off.append(round(float(near["waypoints"][0]["distance"]), 1))
            clock_time.sleep(1.5)
        # a van that drove straight over the blocks would be within 8 m of a street in about 6% of
        # samples (a uniform point in a 500 m block); one on the streets in nearly all, less those
        # caught on the way from the street to a door, which a loaded machine samples more of
        on_street = sum(1 for d in off if d < 8)
        assert len(off) >= 10 and on_street >= 0.6 * len(off), sorted(off)

        # and the map draws a van's way along the streets: many pieces, nearly all along the grid's
        # streets (north-south or east-west), not one straight line from stop to stop
        van = out[0]
        page.evaluate("code => window.ct.vehicles[code].fire('click')", van.code)
        page.wait_for_selector('#map path[stroke-dasharray="6 4"]', state="attached", timeout=15000)
        drawn = page.evaluate("""code => {
            let line = null;
            window.ct.vehicles[code]._map.eachLayer(l => { if (l.options && l.options.dashArray === "6 4" && l.getLatLngs) line = l; });
            return line ? line.getLatLngs().map(p => [p.lat, p.lng]) : null; }""", van.code)
        pieces = [(a, b) for a, b in zip(drawn, drawn[1:]) if a != b]
        assert len(pieces) > stops_open(van) + 4, (van.code, drawn)
        def bearing(a, b) -> float:  # of a piece, in degrees on the ground
            return math.degrees(math.atan2((b[0] - a[0]) * 111.32, (b[1] - a[1]) * 111.32 * math.cos(math.radians(a[0]))))

        # the city's streets run north-south, east-west and, its two avenues, diagonally at 45 degrees
        along = sum(1 for a, b in pieces if min(bearing(a, b) % 45, 45 - bearing(a, b) % 45) < 3)
        assert along >= 0.75 * len(pieces), (along, len(pieces), drawn)
