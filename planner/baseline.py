"""The static-rule baseline: what plain automation does. Every order goes to the first carrier
whose zone and service level match (and that can legally carry it), whether that carrier is up or
not: orders for a carrier that is down stay unserved. The rest go, in window order, to the
nearest van that can still take them; each van loads everything at the hubs, then delivers in
window order."""

from __future__ import annotations

from planner.evaluate import simulate_route
from planner.model import haversine_km, Plan, Problem
from planner.pricing import carrier_can_take


def _matches(problem: Problem, carrier, order) -> bool:
    up = carrier.__class__(**{**carrier.__dict__, "available": True})
    return carrier_can_take(problem, up, order)


def _route(problem: Problem, vehicle, assigned: list[str]) -> list[str]:
    by_hub = sorted(assigned, key=lambda o: (problem.orders[o].hub, o))
    deliveries = sorted(assigned, key=lambda o: (problem.orders[o].window[0], problem.orders[o].window[1], o))
    return [f"D:{o}" for o in vehicle.committed] + [f"P:{o}" for o in by_hub] + [f"D:{o}" for o in deliveries]


def solve(problem: Problem) -> Plan:
    p = problem
    committed = p.committed
    plan = Plan()
    used = {c.id: 0 for c in p.carriers}
    rest = []
    for oid in sorted((o for o in p.orders if o not in committed), key=lambda o: (p.orders[o].window[0], o)):
        o = p.orders[oid]
        first = next((c for c in p.carriers if used[c.id] < c.capacity and _matches(p, c, o)), None)
        if first is None:
            rest.append(oid)
        elif not first.available:
            plan.unserved.append(oid)
        else:
            plan.carriers.setdefault(first.id, []).append(oid)
            used[first.id] += 1
    assigned: dict[str, list[str]] = {v.id: [] for v in p.vehicles}
    for oid in rest:
        o = p.orders[oid]
        vans = sorted((v for v in p.vehicles if o.requires <= v.skills),
                      key=lambda v: haversine_km(v.start.lat, v.start.lon, o.at.lat, o.at.lon))
        for v in vans:
            trial = assigned[v.id] + [oid]
            if simulate_route(p, v, _route(p, v, trial)).feasible:
                assigned[v.id] = trial
                break
        else:
            plan.unserved.append(oid)
    plan.routes = {v.id: _route(p, v, assigned[v.id]) for v in p.vehicles if assigned[v.id] or v.committed}
    return plan
