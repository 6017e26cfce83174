"""Urgency-ordered construction: each order, earliest window end first, goes to the cheapest of
a carrier, the cheapest feasible insertion into a van route, or unserved. It is the reference
the optimizing planner is measured against, and a fast fallback."""

from __future__ import annotations

import numpy as np

from .carriers import carrier_options
from .evaluate import simulate_route
from .model import Plan, Problem

CANDIDATE_VANS = 12
CANDIDATE_POSITIONS = 6


def _insertions(problem: Problem, stops: list[str], oid: str, start, positions: int = CANDIDATE_POSITIONS) -> list[tuple[float, list[str]]]:
    """Candidate routes with the order inserted, screened by added distance."""
    o = problem.orders[oid]
    hub = problem.hubs[o.hub].at
    points = [start] + [problem.hubs[problem.orders[s[2:]].hub].at if s[0] == "P" else problem.orders[s[2:]].at for s in stops]
    candidates = []
    last_same_hub = None  # index in stops of the last pickup at this order's hub
    for j in range(len(stops) + 1):
        prev = points[j]
        nxt = points[j + 1] if j + 1 < len(points) else None
        d_in = problem.km(prev, o.at) + (problem.km(o.at, nxt) - problem.km(prev, nxt) if nxt is not None else 0.0)
        # a new hub visit right before the delivery
        d_hub = problem.km(prev, hub) + problem.km(hub, o.at) + (problem.km(o.at, nxt) - problem.km(prev, nxt) if nxt is not None else 0.0)
        candidates.append((d_hub, j, j))
        if last_same_hub is not None:
            candidates.append((d_in, last_same_hub + 1, j))
        if j < len(stops) and stops[j][0] == "P" and problem.orders[stops[j][2:]].hub == o.hub:
            last_same_hub = j
    candidates.sort(key=lambda c: c[0])
    out = []
    for _, i, j in candidates[:positions]:
        route = stops[:i] + [f"P:{oid}"] + stops[i:j] + [f"D:{oid}"] + stops[j:]
        out.append((0.0, route))
    return out


class _VanPoints:
    """Where each van starts and delivers: ranks vans by how close their route comes to a point."""

    def __init__(self, p: Problem):
        self.index = {v.id: i for i, v in enumerate(p.vehicles)}
        self.n = len(p.vehicles)
        pts = [(i, v.start.lat, v.start.lon) for i, v in enumerate(p.vehicles)]
        pts += [(i, p.orders[o].at.lat, p.orders[o].at.lon) for i, v in enumerate(p.vehicles) for o in v.committed]
        self.van = np.array([x[0] for x in pts], dtype=np.int64)
        self.lat = np.array([x[1] for x in pts])
        self.lon = np.array([x[2] for x in pts])

    def add(self, vid: str, at) -> None:
        self.van = np.append(self.van, self.index[vid])
        self.lat = np.append(self.lat, at.lat)
        self.lon = np.append(self.lon, at.lon)

    def ranked(self, at) -> list[int]:
        """Van indexes, nearest first (equirectangular distance is enough to rank)."""
        dx = (self.lon - at.lon) * np.cos(np.radians(at.lat))
        d2 = dx * dx + (self.lat - at.lat) ** 2
        best = np.full(self.n, np.inf)
        np.minimum.at(best, self.van, d2)
        return list(np.argsort(best, kind="stable"))


def solve(problem: Problem, *, vans: int = CANDIDATE_VANS, positions: int = CANDIDATE_POSITIONS) -> Plan:
    """vans/positions: how many nearest vans, and how many positions in each (screened by added
    distance), are evaluated exactly for each order."""
    p = problem
    committed = p.committed
    routes: dict[str, list[str]] = {v.id: [f"D:{o}" for o in v.committed] for v in p.vehicles}
    near = _VanPoints(p)
    costs = {v.id: simulate_route(p, v, routes[v.id]).cost for v in p.vehicles}
    used = {c.id: 0 for c in p.carriers}
    plan = Plan()
    for oid in sorted((o for o in p.orders if o not in committed), key=lambda o: (p.orders[o].window[1], o)):
        o = p.orders[oid]
        best_cost, best = o.unserved_penalty, ("unserved", None)
        for cost, carrier in carrier_options(p, o):
            if used[carrier.id] < carrier.capacity:
                if cost < best_cost:
                    best_cost, best = cost, ("carrier", carrier.id)
                break
        candidates = [p.vehicles[i] for i in near.ranked(o.at) if o.requires <= p.vehicles[i].skills]
        for v in candidates[:vans]:
            for _, route in _insertions(p, routes[v.id], oid, v.start, positions):
                r = simulate_route(p, v, route)
                if r.feasible:
                    extra = r.cost - costs[v.id]
                    if extra < best_cost:
                        best_cost, best = extra, ("van", (v.id, route, r.cost))
        kind, what = best
        if kind == "van":
            vid, route, cost = what
            routes[vid], costs[vid] = route, cost
            near.add(vid, o.at)
        elif kind == "carrier":
            plan.carriers.setdefault(what, []).append(oid)
            used[what] += 1
        else:
            plan.unserved.append(oid)
    plan.routes = {vid: r for vid, r in routes.items() if r}
    return plan
