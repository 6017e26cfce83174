"""The pure planner: tiny instances with a known optimum, its invariants, and the shared benchmark
files through the independent checker."""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command, CommandError

from planner import greedy, hybrid
from planner.evaluate import evaluate
from planner.model import Plan
from planner.snapshot import problem_from_snapshot, SnapshotError

SHARED = Path(__file__).resolve().parents[3] / "shared"
CHECKER = SHARED / "tools" / "check_plan.py"


def snapshot(orders, vehicles=None, carriers=None, now=720):
    return {
        "format": "controltower-snapshot/1", "name": "tiny", "now_min": now,
        "travel": {"metric": "haversine", "detour_factor": 1.3, "speed_kmh": 28},
        "hubs": [{"id": "H1", "lat": 41.88, "lon": -87.63, "load_min_per_order": 1.0}],
        "vehicles": vehicles if vehicles is not None else [{
            "id": "V1", "start": {"lat": 41.88, "lon": -87.63}, "end": {"lat": 41.88, "lon": -87.63},
            "available_from_min": 720, "shift_end_min": 1080, "capacity_kg": 100, "fixed_cost": 0,
            "cost_per_km": 0.55, "cost_per_hour": 24.0, "skills": [], "committed": []}],
        "carriers": carriers if carriers is not None else [{
            "id": "C1", "available": True, "service_levels": ["same_day"], "skills": [],
            "zones": [{"lat": 41.80, "lon": -87.63, "radius_km": 6}],
            "price": {"base": 6.0, "per_kg": 0.1, "per_km": 0.2}, "lead_min": 60, "pickup_cutoff_min": 1000, "capacity": 10}],
        "orders": orders,
    }


def order(oid, lat, lon, window=(760, 900), weight=2.0, **extra):
    return {"id": oid, "hub": "H1", "lat": lat, "lon": lon, "window": list(window), "service_min": 3, "weight_kg": weight,
            "service_level": "same_day", "requires": [], "late_penalty": 15.0, "late_penalty_per_min": 0.25,
            "unserved_penalty": 80.0, **extra}


def brute_force_optimum(problem) -> float:
    """Every split of the orders between the van (in every order, one hub visit first), the carrier
    and unserved."""
    oids = list(problem.orders)
    best = float("inf")
    for choice in itertools.product(("van", "carrier", "unserved"), repeat=len(oids)):
        van = [o for o, c in zip(oids, choice) if c == "van"]
        for seq in itertools.permutations(van):
            plan = Plan(routes={"V1": [f"P:{o}" for o in seq] + [f"D:{o}" for o in seq]} if seq else {},
                        carriers={"C1": [o for o, c in zip(oids, choice) if c == "carrier"]},
                        unserved=[o for o, c in zip(oids, choice) if c == "unserved"])
            ev = evaluate(problem, plan)
            if ev.feasible:
                best = min(best, ev.cost)
    return best


def test_the_planner_finds_the_optimum_of_a_tiny_mixed_instance():
    # Two orders close to the hub (a van is cheapest), one far south inside the carrier's zone.
    problem = problem_from_snapshot(snapshot([
        order("A", 41.885, -87.625), order("B", 41.89, -87.64), order("C", 41.79, -87.63),
    ]))

    plan = hybrid.solve(problem, hybrid.Options(time_limit=2))

    assert evaluate(problem, plan).feasible
    assert evaluate(problem, plan).cost == pytest.approx(brute_force_optimum(problem), abs=0.01)
    assert plan.carriers.get("C1") == ["C"]


def test_a_carrier_that_is_down_gets_nothing_and_orders_on_board_stay_on_their_van():
    vehicles = [{"id": "V1", "start": {"lat": 41.88, "lon": -87.63}, "end": {"lat": 41.88, "lon": -87.63},
                 "available_from_min": 720, "shift_end_min": 1080, "capacity_kg": 100, "fixed_cost": 0,
                 "cost_per_km": 0.55, "cost_per_hour": 24.0, "skills": [], "committed": ["K"]}]
    carriers = [{"id": "C1", "available": False, "service_levels": ["same_day"], "skills": [],
                 "zones": [{"lat": 41.88, "lon": -87.63, "radius_km": 50}], "price": {"base": 1.0, "per_kg": 0, "per_km": 0},
                 "lead_min": 0, "pickup_cutoff_min": 1000, "capacity": 10}]
    problem = problem_from_snapshot(snapshot([order("K", 41.9, -87.6), order("A", 41.885, -87.625)], vehicles, carriers))

    plan = hybrid.solve(problem, hybrid.Options(time_limit=2))

    assert evaluate(problem, plan).feasible
    assert not plan.carriers.get("C1")
    assert "D:K" in plan.routes["V1"] and "P:K" not in plan.routes["V1"]


def test_carrier_capacity_is_never_exceeded():
    carriers = [{"id": "C1", "available": True, "service_levels": ["same_day"], "skills": [],
                 "zones": [{"lat": 41.88, "lon": -87.63, "radius_km": 50}], "price": {"base": 0.5, "per_kg": 0, "per_km": 0},
                 "lead_min": 0, "pickup_cutoff_min": 1000, "capacity": 2}]
    problem = problem_from_snapshot(snapshot([order(f"O{i}", 41.80 + i * 0.01, -87.7) for i in range(6)], [], carriers))

    for plan in (greedy.solve(problem), hybrid.solve(problem, hybrid.Options(time_limit=2))):
        assert len(plan.carriers.get("C1", [])) == 2
        assert evaluate(problem, plan).feasible


def test_a_malformed_snapshot_is_refused_with_a_reason():
    with pytest.raises(SnapshotError, match="format"):
        problem_from_snapshot({"format": "something-else"})
    with pytest.raises(SnapshotError, match="unknown hubs"):
        problem_from_snapshot(snapshot([order("A", 41.9, -87.6, hub="NOPE")]))


def checker(track, instance, plan_path, *extra):
    out = subprocess.run([sys.executable, str(CHECKER), track, str(instance), str(plan_path), *extra], capture_output=True, text=True)
    return json.loads(out.stdout)


def test_plan_snapshot_on_a_shared_snapshot_is_feasible_and_beats_the_greedy(tmp_path):
    path = SHARED / "data" / "snapshots" / "chicago-200-none.json"
    out = tmp_path / "plan.json"

    call_command("plan_snapshot", str(path), "--time-limit", "5", "--out", str(out))

    result = checker("snapshot", path, out)
    problem = problem_from_snapshot(json.loads(path.read_text()))
    assert result["feasible"], result["violations"]
    assert result["cost"] < evaluate(problem, greedy.solve(problem)).cost


def test_solve_vrptw_on_a_solomon_instance_is_feasible_and_near_the_best_known(tmp_path):
    path = SHARED / "data" / "solomon" / "C101.txt"
    out = tmp_path / "plan.json"

    call_command("solve_vrptw", str(path), "--time-limit", "3", "--out", str(out))

    result = checker("solomon", path, out, "--bks", str(SHARED / "data" / "solomon" / "bks.json"))
    assert result["feasible"], result["violations"]
    assert result["gap_pct"] < 1.0


def test_the_commands_refuse_unreadable_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")

    with pytest.raises(CommandError, match="not JSON"):
        call_command("plan_snapshot", str(bad), "--out", str(tmp_path / "p.json"))
    with pytest.raises(CommandError, match="not a Solomon instance"):
        call_command("solve_vrptw", str(bad), "--out", str(tmp_path / "p.json"))


def test_a_network_too_large_for_one_search_is_replanned_region_by_region_and_stays_feasible(tmp_path, monkeypatch):
    # The 400-order outage, with the limits lowered so that it counts as large: it is cut into
    # regions of about 120 orders, each re-planned with carriers' room net of the other regions.
    monkeypatch.setattr(hybrid, "WHOLE_SEARCH_MAX", 100)
    monkeypatch.setattr(hybrid, "REGION_ORDERS", 120)
    path = SHARED / "data" / "snapshots" / "chicago-400-outage.json"
    problem = problem_from_snapshot(json.loads(path.read_text()))
    regions = hybrid._regions(problem, greedy.solve(problem), 120, offset=0.0)
    assert len(regions) >= 3
    assert len({v for vans, _ in regions for v in vans}) == len(problem.vehicles)

    plan = hybrid.solve(problem, hybrid.Options(time_limit=8))

    assert hybrid.LAST_TIMINGS["passes"] >= 1
    out = tmp_path / "plan.json"
    out.write_text(json.dumps(plan.to_json()))
    result = checker("snapshot", path, out)
    assert result["feasible"], result["violations"]
    assert result["cost"] < hybrid.LAST_TIMINGS["seed_cost"] - 1


def test_a_region_is_not_cut_again_even_when_one_van_holds_more_than_a_region(monkeypatch):
    monkeypatch.setattr(hybrid, "WHOLE_SEARCH_MAX", 5)
    monkeypatch.setattr(hybrid, "REGION_ORDERS", 3)
    problem = problem_from_snapshot(snapshot([order(f"O{i}", 41.87 + i * 0.002, -87.62) for i in range(12)]))

    plan = hybrid.solve(problem, hybrid.Options(time_limit=3))

    assert evaluate(problem, plan).feasible
    placed = [s[2:] for stops in plan.routes.values() for s in stops if s[0] == "D"] + \
        [o for oids in plan.carriers.values() for o in oids] + list(plan.unserved)
    assert sorted(placed) == sorted(problem.orders)
