"""The planner's answer to a disruption (planner.repair), and carrier capacity per zone, window
and company in every part of the planner: driven from plans and snapshots, costed by the
evaluator and by the independent checker."""

import json
import subprocess
import sys
from dataclasses import replace

from planner import greedy, hybrid
from planner.offers import assign_to_carriers
from planner.evaluate import evaluate
from planner.model import Plan, Point, Slot, Zone
from planner.repair import hand_over, neighbourhood, repair, van_positions_near
from planner.snapshot import (
    load_problem,
    problem_from_snapshot,
    snapshot_from_problem,
)
from tests.dispatch.test_planner import CHECKER, order, SHARED, snapshot

SNAPSHOT = SHARED / "data" / "snapshots" / "chicago-200-none.json"


def busiest_van(plan: Plan) -> str:
    return max(plan.routes, key=lambda v: (sum(s.startswith("D:") for s in plan.routes[v]), v))


def test_a_sick_driver_is_answered_feasibly_no_worse_than_insertion_and_far_vans_keep_their_routes(tmp_path):
    problem = load_problem(SNAPSHOT)
    in_force = greedy.solve(problem)
    sick = busiest_van(in_force)  # what it was to carry waits at the hub: all of it is free
    free = [s[2:] for s in in_force.routes[sick] if s.startswith("D:")]
    after = replace(problem, vehicles=[v for v in problem.vehicles if v.id != sick])
    current = Plan({v: list(s) for v, s in in_force.routes.items() if v != sick}, {c: list(o) for c, o in in_force.carriers.items()},
                   list(in_force.unserved))

    result = repair(after, current, free, time_limit=1.0)

    assert free and result.cost <= result.greedy_cost + 1e-6
    assert evaluate(after, result.plan).feasible
    for vid, stops in current.routes.items():
        if vid not in result.neighbourhood:
            gained = {s for s in result.plan.routes.get(vid, []) if s.startswith("D:")} - set(stops)
            assert result.plan.routes.get(vid, []) == stops or gained, vid  # untouched unless the insertion gave it one
    snap, plan = tmp_path / "snap.json", tmp_path / "plan.json"
    snap.write_text(json.dumps(snapshot_from_problem(after, day_start="2026-11-20T00:00:00-06:00")))
    plan.write_text(json.dumps(result.plan.to_json()))
    checked = json.loads(subprocess.run([sys.executable, str(CHECKER), "snapshot", str(snap), str(plan)],
                                        capture_output=True, text=True).stdout)
    assert checked["feasible"] and abs(checked["cost"] - result.cost) < 0.01


def test_a_van_left_with_the_same_orders_keeps_its_sequence():
    problem = load_problem(SNAPSHOT)
    in_force = greedy.solve(problem)
    down = max(in_force.carriers, key=lambda c: len(in_force.carriers[c]))
    free = list(in_force.carriers[down])
    after = replace(problem, carriers=[replace(c, available=False) if c.id == down else c for c in problem.carriers])
    current = Plan({v: list(s) for v, s in in_force.routes.items()},
                   {c: list(o) for c, o in in_force.carriers.items() if c != down}, list(in_force.unserved))

    result = repair(after, current, free, time_limit=1.0)

    assert result.method == "reoptimized"
    for vid, stops in result.plan.routes.items():
        before = current.routes.get(vid, [])
        if {s for s in stops if s.startswith("D:")} == {s for s in before if s.startswith("D:")}:
            assert stops == before, vid


def test_stranded_orders_go_to_one_van_that_meets_the_broken_one():
    p = problem_from_snapshot(snapshot(
        [order("A", 41.90, -87.63), order("B", 41.91, -87.64), order("C", 41.61, -87.62)],
        vehicles=[{"id": v, "start": {"lat": lat, "lon": -87.63}, "end": {"lat": lat, "lon": -87.63},
                   "available_from_min": 720, "shift_end_min": 1080, "capacity_kg": 100, "fixed_cost": 0,
                   "cost_per_km": 0.55, "cost_per_hour": 24.0, "skills": [], "committed": []}
                  for v, lat in (("NEAR", 41.895), ("FAR", 41.60))], carriers=[]))
    meet = Point(41.90, -87.635)
    p.hubs["meet"] = replace(p.hubs["H1"], id="meet", at=meet)
    for oid in ("A", "B"):
        p.orders[oid] = replace(p.orders[oid], hub="meet")
    plan = Plan(routes={"FAR": ["P:C", "D:C"]})

    handed = hand_over(p, plan, ["A", "B"], broken="BROKEN", meet=meet)

    assert handed.van == "NEAR"
    assert set(plan.routes["NEAR"]) == {"P:A", "P:B", "D:A", "D:B"}
    assert {s[2:] for s in plan.routes["NEAR"] if s.startswith("D:")} == {"A", "B"}
    assert plan.routes["FAR"] == ["P:C", "D:C"]


def slotted(room: int, *, pool: str = ""):
    """Three orders near C1's zone centre, all for the same window; C1 reports `room` there."""
    p = problem_from_snapshot(snapshot([order(f"O{i}", 41.80 + 0.001 * i, -87.63) for i in range(3)], vehicles=[]))
    c = p.carriers[0]
    slot = Slot(Zone(Point(41.80, -87.63), 3.0), 0.0, 2000.0, room)
    p.carriers = [replace(c, slots=(slot,), pool=pool)]
    return p


def test_a_carriers_room_in_a_zone_and_window_bounds_every_planner():
    p = slotted(1)

    plans = {"greedy": greedy.solve(p), "hybrid": hybrid.solve(p, hybrid.Options(time_limit=1.0)),
             "repair": repair(p, Plan(), list(p.orders), time_limit=0.5).plan}
    flow, unserved, _ = assign_to_carriers(p, list(p.orders))

    for name, plan in plans.items():
        assert sum(len(x) for x in plan.carriers.values()) == 1, name
        assert evaluate(p, plan).feasible, name
    assert sum(len(x) for x in flow.values()) == 1 and len(unserved) == 2
    assert "C1 over capacity in slot 1" in evaluate(p, Plan(carriers={"C1": list(p.orders)})).problems


def test_outside_every_reported_window_a_carrier_is_limited_only_by_its_capacity():
    p = slotted(0)
    c = p.carriers[0]
    p.carriers = [replace(c, slots=(replace(c.slots[0], start_min=0.0, end_min=700.0),))]  # a window already over

    assert sum(len(x) for x in greedy.solve(p).carriers.values()) == 3


def test_service_levels_of_one_carrier_share_its_capacity():
    p = slotted(5)
    c = p.carriers[0]
    p.carriers = [replace(c, id="C1|same_day", capacity=2, slots=(), pool="C1"),
                  replace(c, id="C1|express", capacity=2, slots=(), pool="C1")]

    flow, _, _ = assign_to_carriers(p, list(p.orders))

    assert sum(len(x) for x in flow.values()) == 2
    assert evaluate(p, Plan(carriers={"C1|same_day": ["O0", "O1"], "C1|express": ["O2"]})).problems == ["C1 over capacity"]


def test_slots_and_pools_survive_the_replay_snapshot():
    p = slotted(1, pool="C1")

    again = problem_from_snapshot(json.loads(json.dumps(snapshot_from_problem(p, day_start="2026-11-20T00:00:00-06:00"))))

    assert again.carriers[0].slots == p.carriers[0].slots and again.carriers[0].pool == "C1"


def test_free_orders_far_apart_are_reoptimized_a_group_per_pass(monkeypatch):
    """Two drivers at opposite ends of the city go home: one pass re-optimizes around one group of
    free orders, the next around the others, not one neighbourhood crowded by both."""
    from planner import repair as repair_module

    problem = load_problem(SNAPSHOT)
    in_force = greedy.solve(problem)

    def middle(vid):
        doors = [problem.orders[s[2:]].at.lat for s in in_force.routes[vid] if s.startswith("D:")]
        return sum(doors) / len(doors)

    busy = [v for v in in_force.routes if sum(s.startswith("D:") for s in in_force.routes[v]) >= 3]
    gone = (max(busy, key=middle), min(busy, key=middle))
    free = [s[2:] for vid in gone for s in in_force.routes[vid] if s.startswith("D:")]
    after = replace(problem, vehicles=[v for v in problem.vehicles if v.id not in gone])
    current = Plan({v: list(s) for v, s in in_force.routes.items() if v not in gone},
                   {c: list(o) for c, o in in_force.carriers.items()}, list(in_force.unserved))
    monkeypatch.setattr(repair_module, "PASS_FREE", (len(free) + 1) // 2)
    passes, reoptimize = [], repair_module._reoptimize

    def watched(p, current, start, targets, hood, held, **kw):
        passes.append(set(targets))
        return reoptimize(p, current, start, targets, hood, held, **kw)

    monkeypatch.setattr(repair_module, "_reoptimize", watched)

    result = repair(after, current, free, time_limit=4.0)

    assert len(passes) >= 2
    assert not passes[0] & passes[1] and passes[0] | passes[1] == set(free)
    assert evaluate(after, result.plan).feasible and result.cost <= result.greedy_cost + 1e-6


def van(vid, lat, skills=(), **extra):
    return {"id": vid, "start": {"lat": lat, "lon": -87.63}, "end": {"lat": lat, "lon": -87.63}, "available_from_min": 720,
            "shift_end_min": 1080, "capacity_kg": 100, "fixed_cost": 0, "cost_per_km": 0.55, "cost_per_hour": 24.0,
            "skills": list(skills), "committed": [], **extra}


def test_an_order_that_needs_a_skill_looks_for_the_nearest_vans_that_have_it():
    """A chilled order next to three plain vans: the re-optimization around it takes in the
    chilled van across town, and the bridge loads that van, since only it can carry the order."""
    p = problem_from_snapshot(snapshot([order("COLD", 41.90, -87.63, requires=["cold"])],
                                       vehicles=[van("A", 41.901), van("B", 41.902), van("C", 41.903), van("FRIDGE", 41.70, ["cold"])],
                                       carriers=[]))

    assert "FRIDGE" in neighbourhood(p, ["COLD"], Plan(), per_order=1)
    positions = [("A", 41.901, -87.63, frozenset()), ("B", 41.902, -87.63, frozenset()), ("FRIDGE", 41.70, -87.63, frozenset({"cold"}))]
    assert van_positions_near([(41.90, -87.63, frozenset({"cold"}))], positions, per_order=1) == {"FRIDGE"}
    assert van_positions_near([(41.90, -87.63, frozenset())], positions, per_order=1) == {"A"}


def test_the_van_that_takes_a_hand_over_is_reoptimized_and_keeps_the_orders_it_meets_for(monkeypatch):
    """A breakdown: the van that meets the broken one is re-optimized with the rest (its other
    orders may move), and what it picks up at the meeting point stays on it."""
    from planner import repair as repair_module

    problem = load_problem(SNAPSHOT)
    in_force = greedy.solve(problem)
    broken = busiest_van(in_force)
    mine = [s[2:] for s in in_force.routes[broken] if s.startswith("D:")]
    stranded, free = mine[:2], mine[2:]
    gone = next(v for v in problem.vehicles if v.id == broken)
    p = replace(problem, hubs={**problem.hubs, "meet": replace(next(iter(problem.hubs.values())), id="meet", at=gone.start,
                                                              carrier_pickup=False)},
                orders={**problem.orders, **{o: replace(problem.orders[o], hub="meet") for o in stranded}},
                vehicles=[v for v in problem.vehicles if v.id != broken])
    current = Plan({v: [s for s in stops if s[2:] not in mine] for v, stops in in_force.routes.items() if v != broken},
                   {c: list(o) for c, o in in_force.carriers.items()}, list(in_force.unserved))
    handed = hand_over(p, current, stranded, broken=broken, meet=gone.start)
    hoods, reoptimize = [], repair_module._reoptimize

    def watched(p, current, start, targets, hood, held, **kw):
        hoods.append((set(hood), dict(held)))
        return reoptimize(p, current, start, targets, hood, held, **kw)

    monkeypatch.setattr(repair_module, "_reoptimize", watched)

    result = repair(p, current, free, time_limit=1.5, pinned=set(stranded))

    assert handed is not None and hoods
    assert any(handed.van in hood for hood, _ in hoods)
    assert all(held == {o: handed.van for o in stranded} for _, held in hoods)
    assert {f"P:{o}" for o in stranded} | {f"D:{o}" for o in stranded} <= set(result.plan.routes[handed.van])
    assert evaluate(p, result.plan).feasible and result.cost <= result.greedy_cost + 1e-6


def test_a_van_the_insertion_changed_gives_up_an_order_a_carrier_now_takes_for_less_and_the_passes_see_it_again():
    """Two vans each carry one far-off order that a carrier would deliver for less than the detour
    costs. The van the insertion changed hands its far-off order to the carrier, and that order
    is free for the re-optimization; the van the insertion left alone keeps its route."""
    from planner import repair as repair_module

    far = 41.795  # inside C1's zone, far north of the vans
    p = problem_from_snapshot(snapshot(
        [order("FAR1", far, -87.63), order("FAR2", far + 0.001, -87.63), order("NEW", 41.951, -87.63)],
        vehicles=[van("TOUCHED", 41.95), van("ALONE", 41.95)]))
    current = Plan(routes={"TOUCHED": ["P:FAR1", "D:FAR1"], "ALONE": ["P:FAR2", "D:FAR2"]})
    inserted = Plan(routes={"TOUCHED": ["P:FAR1", "P:NEW", "D:NEW", "D:FAR1"], "ALONE": ["P:FAR2", "D:FAR2"]})

    relieved, cost, moved = repair_module._relieve(p, current, inserted, evaluate(p, inserted).cost, keep=set())

    assert moved == ["FAR1"] and relieved.carriers == {"C1": ["FAR1"]}
    assert relieved.routes["ALONE"] == ["P:FAR2", "D:FAR2"]
    assert cost < evaluate(p, inserted).cost and abs(cost - evaluate(p, relieved).cost) < 1e-6
    assert repair_module._relieve(p, current, inserted, evaluate(p, inserted).cost, keep={"TOUCHED"}) == (inserted, evaluate(p, inserted).cost, [])
