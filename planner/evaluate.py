"""Exact cost and feasibility of a plan, by the benchmark's semantics (FORMAT.md track B)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import Plan, Problem, Vehicle
from .pricing import Rooms, carrier_can_take, carrier_order_cost

EPS = 1e-6


@dataclass
class RouteResult:
    cost: float
    finish_min: float
    feasible: bool
    late_cost: float
    km: float
    delivery_starts: dict[str, float] = field(default_factory=dict)


def simulate_route(problem: Problem, vehicle: Vehicle, stops: list[str]) -> RouteResult:
    """Drive one van's route; returns its total cost (fixed + km + hours + late) and feasibility."""
    orders, hubs = problem.orders, problem.hubs
    if not stops and not vehicle.committed:
        return RouteResult(0.0, max(problem.now_min, vehicle.available_from_min), True, 0.0, 0.0)
    t = t0 = max(problem.now_min, vehicle.available_from_min)
    pos = vehicle.start
    load = sum(orders[o].weight_kg for o in vehicle.committed)
    feasible = load <= vehicle.capacity_kg + EPS
    onboard = set(vehicle.committed)
    km = late = 0.0
    starts: dict[str, float] = {}
    for stop in stops:
        kind, oid = stop[0], stop[2:]
        o = orders[oid]
        if kind == "P":
            hub = hubs[o.hub]
            km += problem.km(pos, hub.at)
            t += problem.drive_min(pos, hub.at) + hub.load_min_per_order
            pos = hub.at
            onboard.add(oid)
            load += o.weight_kg
            if load > vehicle.capacity_kg + EPS or not o.requires <= vehicle.skills:
                feasible = False
        else:
            if oid not in onboard:
                feasible = False
                continue
            km += problem.km(pos, o.at)
            t += problem.drive_min(pos, o.at)
            start = max(t, o.window[0])
            starts[oid] = start
            late += problem.late_cost(o, start)
            t = start + o.service_min
            pos = o.at
            onboard.discard(oid)
            load -= o.weight_kg
    if onboard:
        feasible = False
    if vehicle.end is not None:
        km += problem.km(pos, vehicle.end)
        t += problem.drive_min(pos, vehicle.end)
    if t > vehicle.shift_end_min + EPS:
        feasible = False
    cost = vehicle.fixed_cost + vehicle.cost_per_km * km + vehicle.cost_per_hour * (t - t0) / 60.0 + late
    return RouteResult(cost, t, feasible, late, km, starts)


@dataclass
class Evaluation:
    cost: float
    feasible: bool
    problems: list[str]
    vans: float
    carriers: float
    unserved: float
    counts: dict


def evaluate(problem: Problem, plan: Plan) -> Evaluation:

    issues: list[str] = []
    seen: dict[str, str] = {}
    vans = carriers_cost = unserved_cost = 0.0
    by_id = {v.id: v for v in problem.vehicles}

    def claim(oid: str, who: str) -> None:
        if oid in seen:
            issues.append(f"{oid} planned twice ({seen[oid]}, {who})")
        seen[oid] = who

    for v in problem.vehicles:
        stops = plan.routes.get(v.id, [])
        if not stops and not v.committed:
            continue
        r = simulate_route(problem, v, stops)
        vans += r.cost
        if not r.feasible:
            issues.append(f"route {v.id} infeasible")
        for s in stops:
            if s.startswith("D:"):
                claim(s[2:], v.id)
    by_carrier = {c.id: c for c in problem.carriers}
    rooms = Rooms(problem)
    for cid, oids in plan.carriers.items():
        c = by_carrier[cid]
        for oid in oids:
            claim(oid, cid)
            o = problem.orders[oid]
            if not carrier_can_take(problem, c, o):
                issues.append(f"{cid} cannot take {oid}")
            rooms.take(c, o)
            carriers_cost += carrier_order_cost(problem, c, o)
    issues += rooms.over()
    committed = problem.committed
    for oid in plan.unserved:
        claim(oid, "unserved")
        if oid in committed:
            issues.append(f"{oid} is on board and cannot be unserved")
        unserved_cost += problem.orders[oid].unserved_penalty
    missing = set(problem.orders) - set(seen)
    if missing:
        issues.append(f"{len(missing)} orders missing")
    counts = {"vans": sum(1 for w in seen.values() if w in by_id), "carriers": sum(len(x) for x in plan.carriers.values()),
              "unserved": len(plan.unserved)}
    return Evaluation(vans + carriers_cost + unserved_cost, not issues, issues, vans, carriers_cost, unserved_cost, counts)
