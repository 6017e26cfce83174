"""Road mode: `manage.py build_roads` prepares OSRM's data for the generated city, a setting selects
it, and then every path that asks for travel gets the road engine's answer (the travel model's
contract): the live ETA leg by leg, learning from the fleet, the planner's problem (and the
snapshot it exports, which the independent checker reads in matrix mode), a van's attempt cost
and a manual carrier's promise. The generated city is not the straight line: a river with a few
bridges, one-way streets, a faster ring road."""

import io
import json
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command, CommandError

from dispatch import clock
from dispatch.engine.bridge import problem_from_db
from dispatch.models import Order, Stop, TravelFactor
from dispatch.selectors.travel import travel_model
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.services.orders import order_set_status
from dispatch.services.routes import route_recompute_etas
from dispatch.services.settlement import van_attempt_cost
from dispatch.services.travel import travel_learn
from planner import hybrid
from planner.roads import RoadEngine
from planner.snapshot import problem_from_snapshot, snapshot_from_problem
from planner.travel import haversine_km, STRAIGHT
from tests.dispatch.test_planner import CHECKER
from tests.factories import OrderFactory, VehicleFactory

SYSTEM = ActorRef.system("tests")
CENTRE = (41.88, -87.63)  # the factories' hub


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    out = tmp_path_factory.mktemp("roads")
    printed = io.StringIO()
    call_command("build_roads", "--generate-city", "--size-km", "4", "--centre", f"{CENTRE[0]},{CENTRE[1]}",
                 "--out", str(out), stdout=printed)
    line = [ln for ln in printed.getvalue().splitlines() if ln.strip().startswith("ROADS=")][0]
    return line.strip().split("=", 1)[1]


@pytest.fixture
def roads(city, settings):
    settings.ROADS = city
    return travel_model()


def test_build_roads_refuses_what_it_cannot_build(tmp_path):
    with pytest.raises(CommandError, match="No such OpenStreetMap file"):
        call_command("build_roads", str(tmp_path / "nowhere.osm.pbf"), "--out", str(tmp_path))
    with pytest.raises(CommandError, match="not both or neither"):
        call_command("build_roads", "--out", str(tmp_path))
    bad = tmp_path / "broken.osm"
    bad.write_text("<osm><node id='1' lat='x'/></osm>")
    with pytest.raises(CommandError, match="osrm-extract failed on broken.osm"):
        call_command("build_roads", str(bad), "--out", str(tmp_path / "out"))


def test_the_setting_selects_the_road_engine_and_its_roads_are_not_the_straight_line(roads, settings):
    assert isinstance(roads, RoadEngine)
    south, north = (CENTRE[0] - 0.004, CENTRE[1] - 0.0097), (CENTRE[0] + 0.004, CENTRE[1] - 0.0097)  # between bridges
    km_there, min_there = roads.leg(*south, *north)
    assert km_there > 1.3 * haversine_km(*south, *north)  # over the river by a bridge
    route = roads.route(*south, *north)
    assert route["km"] == pytest.approx(km_there, rel=0.01) and len(route["geometry"]) > 3  # along the streets
    m = roads.matrix([south, north, CENTRE])
    assert m.km_m[0, 1] == pytest.approx(km_there, abs=0.01) and m.min_m[0, 1] == pytest.approx(min_there, abs=0.05)
    settings.ROADS = ""
    assert travel_model() is STRAIGHT


@pytest.mark.django_db
def test_every_path_that_asks_gets_the_road_engines_answer(roads, org, hub, tmp_path):
    now = clock.now()
    van = VehicleFactory(fleet__hub=hub, code="R1", lat=hub.lat, lon=hub.lon, position_at=now)
    doors = [(hub.lat + 0.011, hub.lon - 0.006), (hub.lat - 0.009, hub.lon + 0.012), (hub.lat + 0.004, hub.lon + 0.015)]
    orders = [OrderFactory(hub=hub, external_ref=f"R{i}", lat=lat, lon=lon, window_start=now - timedelta(hours=1),
                           window_end=now + timedelta(hours=5), service_min=2.0) for i, (lat, lon) in enumerate(doors)]
    for o in orders:
        assignment_to_vehicle(order=o, vehicle=van, actor=SYSTEM, on_board=True)

    # the live ETA: the engine's legs through the van's stops, in the route's order
    route_recompute_etas(vehicle=van)
    stops = list(Stop.objects.filter(route__vehicle=van, route__active=True).order_by("sequence").select_related("order"))
    legs = roads.legs([(van.lat, van.lon)] + [(s.lat, s.lon) for s in stops])
    t = now
    for stop, (_, drive) in zip(stops, legs):
        t += timedelta(minutes=drive)
        assert abs((Order.objects.get(pk=stop.order_id).eta - t).total_seconds()) < 5
        t += timedelta(minutes=stop.order.service_min)

    # the planner's problem: every leg from the engine's matrix, and its snapshot in matrix mode
    problem = problem_from_db(organization_id=org.id, extra_orders=[]).problem
    assert problem.travel is not None
    a, b = problem.hubs[hub.code].at, problem.orders["R1"].at
    assert problem.km(a, b) == pytest.approx(roads.leg(a.lat, a.lon, b.lat, b.lon)[0], abs=0.01)
    assert problem.drive_min(b, a) == pytest.approx(roads.leg(b.lat, b.lon, a.lat, a.lon)[1], abs=0.05)
    snap = snapshot_from_problem(problem, day_start="2026-12-07T00:00:00")
    assert snap["travel"]["metric"] == "matrix"
    (tmp_path / "snap.json").write_text(json.dumps(snap))
    plan = hybrid.solve(problem_from_snapshot(snap), hybrid.Options(time_limit=2))
    (tmp_path / "plan.json").write_text(json.dumps(plan.to_json()))
    checked = json.loads(subprocess.run([sys.executable, str(CHECKER), "snapshot", str(tmp_path / "snap.json"),
                                         str(tmp_path / "plan.json")], capture_output=True, text=True).stdout)
    assert checked["feasible"], checked["violations"]

    # a van's attempt cost: the engine's leg from the hub
    km, drive = roads.leg(hub.lat, hub.lon, orders[0].lat, orders[0].lon)
    order = Order.objects.select_related("vehicle__fleet__hub").get(pk=orders[0].pk)
    expected = float(van.cost_per_km) * km + float(van.cost_per_hour) * (drive + order.service_min) / 60
    assert float(van_attempt_cost(order)) == pytest.approx(expected, abs=0.011)


@pytest.mark.django_db(transaction=True)
def test_learning_on_roads_converges_on_a_planted_slowdown_of_the_engines_times(roads, org, hub, monkeypatch):
    monkeypatch.setattr("dispatch.services.travel.LEGS_PER_QUERY", 5)  # the legs are asked in blocks that cut the route
    zone = ZoneInfo("America/Chicago")
    org.time_zone = "America/Chicago"
    org.save()
    start = datetime.now(zone).replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=1)
    clock.anchor(sim_at=start, speed=0.0)
    van = VehicleFactory(fleet__hub=hub, code="L1", lat=hub.lat, lon=hub.lon, position_at=start)
    orders = [OrderFactory(hub=hub, external_ref=f"T{i}", lat=hub.lat + 0.003 * ((i % 5) - 2), lon=hub.lon + 0.002 * (i - 6),
                           window_start=start - timedelta(hours=1), window_end=start + timedelta(hours=6), service_min=1.0)
              for i in range(12)]
    for o in orders:
        assignment_to_vehicle(order=o, vehicle=van, actor=SYSTEM)
        order_set_status(organization_id=org.id, order_id=o.id, status="picked_up", actor=SYSTEM, at=start)
    at, here = start, (hub.lat, hub.lon)
    for o in orders:  # rush hour: every leg takes 1.4 times the engine's time
        at += timedelta(minutes=1.4 * (roads.leg(*here, o.lat, o.lon)[1] + o.service_min))
        order_set_status(organization_id=org.id, order_id=o.id, status="delivered", actor=SYSTEM, at=at)
        here = (o.lat, o.lon)
    assert at < start + timedelta(hours=1)
    clock.anchor(sim_at=at + timedelta(minutes=1), speed=0.0)

    travel_learn(organization_id=org.id)

    rush = TravelFactor.objects.get(organization=org, hub=hub, hour=8)
    assert rush.legs == 12 and rush.observed == pytest.approx(1.4, rel=0.01)
    # an order due at this hour is late by the learned slowdown, and the dispatcher reads on which road
    later = OrderFactory(hub=hub, external_ref="NEXT", lat=hub.lat + 0.012, lon=hub.lon + 0.004, window_start=start,
                         window_end=start + timedelta(hours=6), service_min=2)
    fresh = VehicleFactory(fleet__hub=hub, code="L2", lat=hub.lat, lon=hub.lon, position_at=clock.now())
    assignment_to_vehicle(order=later, vehicle=fresh, actor=SYSTEM, on_board=True)
    route_recompute_etas(vehicle=fresh)
    road = roads.via([(hub.lat, hub.lon), (later.lat, later.lon)])[0]
    why = Order.objects.get(pk=later.pk).eta_why
    assert road and f" on {road}: +" in why and "08:00 around hub" in why, (road, why)


@pytest.mark.django_db
def test_the_map_draws_a_vans_way_along_the_streets(roads, org, hub):
    from django.test import Client

    from tests.factories import UserFactory

    now = clock.now()
    van = VehicleFactory(fleet__hub=hub, code="M1", lat=CENTRE[0] - 0.004, lon=CENTRE[1] - 0.0097, position_at=now)
    door = OrderFactory(hub=hub, external_ref="M-1", lat=CENTRE[0] + 0.004, lon=CENTRE[1] - 0.0097,
                        window_start=now, window_end=now + timedelta(hours=4))
    assignment_to_vehicle(order=door, vehicle=van, actor=SYSTEM, on_board=True)
    client = Client()
    client.force_login(UserFactory(organization=org))

    path = client.get("/vehicles/M1/?format=json").json()["path"]

    assert len(path) > 3  # round by a bridge, street by street, not one straight line over the river
    assert max(abs(lon - CENTRE[1] + 0.0097) for _, lon in path) > 0.003
    assert path[-1] == pytest.approx([door.lat, door.lon], abs=0.002)


def test_the_engine_asks_only_for_new_points_and_answers_as_if_it_asked_for_all(city):
    import random

    rng = random.Random(3)
    pts = [(CENTRE[0] + rng.uniform(-0.015, 0.015), CENTRE[1] + rng.uniform(-0.02, 0.02)) for _ in range(40)]
    kept = RoadEngine(city)
    first = kept.matrix(pts[:25])
    second = kept.matrix(pts[10:])  # 15 of these it knows, 15 are new
    fresh = RoadEngine(city).matrix(pts[10:])

    assert len(kept._store.known) == 40
    assert second.km_m == pytest.approx(fresh.km_m, abs=1e-3) and second.min_m == pytest.approx(fresh.min_m, abs=1e-3)
    assert first.km(*pts[12], *pts[20]) == pytest.approx(fresh.km(*pts[12], *pts[20]), abs=1e-3)


def test_a_matrix_of_many_points_is_sparse_exact_between_neighbours_and_close_elsewhere(city):
    """Above `exact_max` points the engine answers in seconds, not minutes: each point's nearest
    neighbours exactly, every other pair interpolated between anchors and calibrated on routes."""
    import random

    import numpy as np

    from planner import roads as roads_module

    rng = random.Random(5)
    pts = [(CENTRE[0] + rng.uniform(-0.016, 0.016), CENTRE[1] + rng.uniform(-0.022, 0.022)) for _ in range(120)]
    exact = RoadEngine(city).matrix(pts)  # 120 points: every pair asked
    engine = RoadEngine(city)
    engine.exact_max = 50
    sparse = engine.matrix(pts)

    assert sparse.calibration["pairs"] >= 8 and 0.5 <= sparse.calibration["minutes_scale"] <= 2.0
    at = np.array(pts)
    for i, near in enumerate(roads_module._nearest(at, roads_module.NEIGHBOURS)):
        assert sparse.min_m[i, near] == pytest.approx(exact.min_m[i, near], abs=1e-3)  # a route's usual legs: exact
        assert sparse.km_m[i, near] == pytest.approx(exact.km_m[i, near], abs=1e-3)
    off = ~np.eye(len(pts), dtype=bool)
    err = np.abs(sparse.min_m - exact.min_m)[off]
    rel = err / np.maximum(exact.min_m[off], 1.0)
    print(f"sparse vs exact, minutes: median {np.median(err):.2f}, p90 {np.percentile(err, 90):.2f}; relative median {np.median(rel):.3f}")
    assert np.median(rel) < 0.15 and np.percentile(rel, 90) < 0.35
    # the river shows: a far pair across it is dearer than the straight line at the streets' pace
    south, north = (CENTRE[0] - 0.012, CENTRE[1] + 0.003), (CENTRE[0] + 0.012, CENTRE[1] - 0.003)
    both = engine.matrix(pts + [south, north])
    assert both.minutes(*south, *north) > 0.8 * RoadEngine(city).leg(*south, *north)[1]
    # the anchors are kept beside the road data: a process starting later reads them, and answers alike
    later = RoadEngine(city)
    later.exact_max = 50
    assert len(later._anchors.known) > 0
    again = later.matrix(pts)
    assert again.min_m == pytest.approx(sparse.min_m, abs=1e-3) and again.km_m == pytest.approx(sparse.km_m, abs=1e-3)


@pytest.mark.django_db
def test_the_planner_drives_each_order_in_its_own_time_band(roads, org, hub):
    """The solvers take one static matrix: planned at 10:00, the legs into an order whose window
    opens at 17:00 are at the evening rush's learned pace, those into an 11:00 order at 10:00's."""
    from django.core.cache import cache

    from dispatch.selectors.travel import ANY_HOUR, cache_key

    zone = ZoneInfo("America/Chicago")
    org.time_zone = "America/Chicago"
    org.save()
    now = datetime.now(zone).replace(hour=10, minute=0, second=0, microsecond=0)
    for hour, factor in ((10, 1.1), (11, 1.1), (17, 1.6), (ANY_HOUR, 1.2)):
        TravelFactor.objects.create(organization=org, hub=hub, hour=hour, factor=factor, legs=40, observed=factor)
    cache.delete(cache_key(org.id))
    morning = OrderFactory(hub=hub, external_ref="AM", lat=hub.lat + 0.011, lon=hub.lon - 0.006,
                           window_start=now + timedelta(hours=1), window_end=now + timedelta(hours=3))
    evening = OrderFactory(hub=hub, external_ref="PM", lat=hub.lat - 0.009, lon=hub.lon + 0.012,
                           window_start=now + timedelta(hours=7), window_end=now + timedelta(hours=9))

    problem = problem_from_db(organization_id=org.id, extra_orders=[morning, evening], now=now).problem

    h = problem.hubs[hub.code].at
    for ref, factor in (("AM", 1.1), ("PM", 1.6)):
        door = problem.orders[ref].at
        assert problem.drive_min(h, door) == pytest.approx(roads.leg(h.lat, h.lon, door.lat, door.lon)[1] * factor, rel=0.01)
    am, pm = problem.orders["AM"].at, problem.orders["PM"].at
    assert problem.drive_min(pm, h) == pytest.approx(roads.leg(pm.lat, pm.lon, h.lat, h.lon)[1] * 1.1, rel=0.01)  # back: this hour
    assert problem.drive_min(am, pm) == pytest.approx(roads.leg(am.lat, am.lon, pm.lat, pm.lon)[1] * 1.6, rel=0.01)
