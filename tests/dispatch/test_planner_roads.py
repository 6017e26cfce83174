"""The planner on road travel: a snapshot whose travel is a matrix (the format's metric "matrix")
is planned by the product's planner from the command line, and the independent checker, reading
the same matrix, agrees with its figures. The roads here are not the straight line: a river
crossed at three bridges, one-way slow-downs and slower streets in the centre, so a planner that
still used the straight line would be caught."""

import json
import math

import numpy as np
import pytest
from django.core.management import call_command

from planner import greedy
from planner.evaluate import evaluate
from planner.model import Point
from planner.snapshot import problem_from_snapshot, SnapshotError, snapshot_from_problem
from planner.travel import haversine_km, RoadMatrix
from tests.dispatch.test_planner import checker, order, SHARED, snapshot

SNAPSHOT = SHARED / "data" / "snapshots" / "chicago-200-none.json"


def _points(data: dict) -> list[tuple[float, float]]:
    pts = [(h["lat"], h["lon"]) for h in data["hubs"]] + [(o["lat"], o["lon"]) for o in data["orders"]]
    for v in data["vehicles"]:
        pts += [(p["lat"], p["lon"]) for p in (v["start"], v.get("end")) if p]
    return list(dict.fromkeys((round(a, 6), round(b, 6)) for a, b in pts))


def river_city(points: list[tuple[float, float]]) -> RoadMatrix:
    """Roads of a city with a river along the median longitude, crossed at three bridges; streets
    east of it are slower, and every leg heading north is 15 % slower than the way back."""
    lat = np.array([p[0] for p in points])
    lon = np.array([p[1] for p in points])
    river = float(np.median(lon))
    bridges = [(float(q), river) for q in np.quantile(lat, [0.2, 0.5, 0.8])]
    n = len(points)
    km = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            a, b = points[i], points[j]
            if (a[1] < river) == (b[1] < river):
                km[i, j] = haversine_km(*a, *b) * 1.25
            else:
                km[i, j] = min(haversine_km(*a, *br) + haversine_km(*br, *b) for br in bridges) * 1.25
    speed = np.where(lon > river, 20.0, 34.0)  # km/h on the streets a leg starts in
    minutes = km / speed[:, None] * 60.0
    minutes *= np.where(lat[None, :] > lat[:, None], 1.15, 1.0)
    return RoadMatrix(points, km, minutes)


@pytest.fixture(scope="module")
def road_snapshot(tmp_path_factory):
    data = json.loads(SNAPSHOT.read_text())
    data["travel"] = river_city(_points(data)).to_json()
    path = tmp_path_factory.mktemp("roads") / "chicago-200-roads.json"
    path.write_text(json.dumps(data))
    return path


def test_a_road_snapshot_is_planned_from_the_command_line_and_the_checker_agrees(road_snapshot, tmp_path):
    out = tmp_path / "plan.json"

    call_command("plan_snapshot", str(road_snapshot), "--time-limit", "6", "--out", str(out))

    result = checker("snapshot", road_snapshot, out)
    problem = problem_from_snapshot(json.loads(road_snapshot.read_text()))
    ours = evaluate(problem, _plan(json.loads(out.read_text())))
    assert result["feasible"], result["violations"]
    assert result["cost"] == pytest.approx(ours.cost, rel=1e-3)  # the checker read the same roads
    assert result["cost"] < evaluate(problem, greedy.solve(problem)).cost


def _plan(data):
    from planner.model import Plan

    return Plan(routes=data.get("routes", {}), carriers=data.get("carriers", {}), unserved=data.get("unserved", []))


def test_the_planner_reads_every_leg_from_the_roads_not_the_straight_line(road_snapshot):
    data = json.loads(road_snapshot.read_text())
    roads = problem_from_snapshot(data)
    straight = problem_from_snapshot(json.loads(SNAPSHOT.read_text()))
    west = min(roads.orders.values(), key=lambda o: o.at.lon).at
    east = max(roads.orders.values(), key=lambda o: o.at.lon).at
    ratios = [roads.km(a.at, b.at) / straight.km(a.at, b.at) for a in roads.orders.values() for b in roads.orders.values()
              if a.id != b.id and a.at != b.at]

    assert max(ratios) > 1.5 and min(ratios) < 1.0  # round by a bridge; straight where no river is between
    assert roads.drive_min(west, east) != pytest.approx(roads.drive_min(east, west))  # one way is slower
    lat = np.array([o.at.lat for o in roads.orders.values()])
    lon = np.array([o.at.lon for o in roads.orders.values()])
    km, minutes = roads.matrices(lat, lon)
    i, j = 0, len(lat) - 1
    a, b = Point(lat[i], lon[i]), Point(lat[j], lon[j])
    assert km[i, j] == pytest.approx(roads.km(a, b)) and minutes[j, i] == pytest.approx(roads.drive_min(b, a))
    assert roads.min_from(a, lon=lon, lat=lat)[j] == pytest.approx(roads.drive_min(a, b))
    assert roads.min_from(a, lat, lon, to=True)[j] == pytest.approx(roads.drive_min(b, a))


def test_a_matrix_of_the_straight_line_gives_the_same_answers_as_the_straight_line():
    data = json.loads(SNAPSHOT.read_text())
    straight = problem_from_snapshot(data)
    points = _points(data)
    detour, speed = data["travel"]["detour_factor"], data["travel"]["speed_kmh"]
    km = np.array([[haversine_km(*a, *b) * detour for b in points] for a in points])
    data["travel"] = RoadMatrix(points, km, km / speed * 60.0).to_json(packed=False)
    roads = problem_from_snapshot(data)
    plan = greedy.solve(straight)

    assert evaluate(roads, plan).cost == pytest.approx(evaluate(straight, plan).cost, rel=1e-6)
    assert greedy.solve(roads).to_json() == plan.to_json()
    again = problem_from_snapshot(json.loads(json.dumps(snapshot_from_problem(roads, day_start="2026-12-07T00:00:00"))))
    assert evaluate(again, plan).cost == pytest.approx(evaluate(straight, plan).cost, rel=1e-5)  # float32 when packed


def test_a_road_matrix_that_does_not_fit_the_snapshot_is_refused_with_a_reason():
    data = snapshot([order("A", 41.89, -87.62), order("B", 41.87, -87.64)])
    pts = _points(data)
    square = [[0.0 if a == b else 2.0 for b in pts] for a in pts]

    short = {**data, "travel": {"metric": "matrix", "points": [list(p) for p in pts[:-1]],
                                "km": [r[:-1] for r in square[:-1]], "minutes": [r[:-1] for r in square[:-1]]}}
    with pytest.raises(SnapshotError, match="no row for 1 point"):
        problem_from_snapshot(short)
    skewed = {**data, "travel": {"metric": "matrix", "points": [list(p) for p in pts], "km": square, "minutes": square[:-1]}}
    with pytest.raises(SnapshotError, match="must be 3 x 3"):
        problem_from_snapshot(skewed)
    holes = [[math.inf if (a, b) == (0, 1) else 1.0 for b in range(len(pts))] for a in range(len(pts))]
    with pytest.raises(SnapshotError, match="finite"):
        problem_from_snapshot({**data, "travel": {"metric": "matrix", "points": [list(p) for p in pts], "km": holes, "minutes": holes}})
