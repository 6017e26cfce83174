"""Urgency-ordered construction: each order, earliest window end first, goes to the cheapest of
a carrier, the cheapest feasible insertion into a van route, or unserved. It is the reference
the optimizing planner is measured against, and a fast fallback."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .offers import carrier_options
from .evaluate import simulate_route
from .model import Plan, Problem
from .pricing import carrier_eta, Rooms

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

    def __init__(self, p: Problem, routes: dict[str, list[str]] | None = None):
        """routes: the plan's routes, whose deliveries count too (orders on board always do)."""
        self.index = {v.id: i for i, v in enumerate(p.vehicles)}
        self.n = len(p.vehicles)
        pts = [(i, v.start.lat, v.start.lon) for i, v in enumerate(p.vehicles)]
        pts += [(i, p.orders[o].at.lat, p.orders[o].at.lon) for i, v in enumerate(p.vehicles) for o in v.committed]
        pts += [(self.index[vid], p.orders[s[2:]].at.lat, p.orders[s[2:]].at.lon) for vid, stops in (routes or {}).items()
                if vid in self.index for s in stops if s.startswith("D:")]
        self.van = np.array([x[0] for x in pts], dtype=np.int64)
        self.lat = np.array([x[1] for x in pts])
        self.lon = np.array([x[2] for x in pts])

    def add(self, vid: str, at) -> None:
        self.van = np.append(self.van, self.index[vid])
        self.lat = np.append(self.lat, at.lat)
        self.lon = np.append(self.lon, at.lon)

    def ranked(self, at) -> list[int]:
        """Van indexes, nearest first."""
        return list(nearest_first(self.van, self.lat, self.lon, self.n, at.lat, at.lon))


def nearest_first(van: np.ndarray, lat: np.ndarray, lon: np.ndarray, n: int, at_lat: float, at_lon: float) -> np.ndarray:
    """Van indexes 0..n-1 by how close the nearest of their points (van[i] at lat[i], lon[i]) comes
    to a point; ties in index order. Equirectangular distance is enough to rank."""
    dx = (lon - at_lon) * np.cos(np.radians(at_lat))
    d2 = dx * dx + (lat - at_lat) ** 2
    best = np.full(n, np.inf)
    np.minimum.at(best, van, d2)
    return np.argsort(best, kind="stable")


def solve(problem: Problem, *, vans: int = CANDIDATE_VANS, positions: int = CANDIDATE_POSITIONS) -> Plan:
    """vans/positions: how many nearest vans, and how many positions in each (screened by added
    distance), are evaluated exactly for each order."""
    p = problem
    committed = p.committed
    plan = Plan(routes={v.id: [f"D:{o}" for o in v.committed] for v in p.vehicles})
    insert(p, plan, [o for o in p.orders if o not in committed], vans=vans, positions=positions)
    return plan


@dataclass
class Option:
    cost: float               # what giving the order this home adds to the plan's cost
    kind: str                 # "van" or "carrier"
    id: str                   # van or carrier id
    eta: float | None         # when it would be delivered (minutes from the day's start)
    route: list[str] | None   # the van's route with the order in it


def insert(problem: Problem, plan: Plan, order_ids: list[str], *, vans: int = CANDIDATE_VANS, positions: int = CANDIDATE_POSITIONS,
           weighed: dict[str, list[Option]] | None = None, ordered: bool = False) -> Plan:
    """Give each order, earliest window end first, the cheapest of: a carrier with room (overall
    and in the order's zone and window), its cheapest feasible insertion into one of the nearest
    vans' routes, or unserved. `plan` is the plan in force and is extended in place; `weighed`, if
    given, receives every order's options, cheapest first. With `ordered`, the orders are taken as
    given rather than by window end."""
    p = problem
    by_id = {v.id: v for v in p.vehicles}
    routes = plan.routes
    for v in p.vehicles:
        routes.setdefault(v.id, [])
    near = _VanPoints(p, routes)
    costs = {v.id: simulate_route(p, v, routes[v.id]).cost for v in p.vehicles}
    rooms = Rooms(p, plan.carriers)
    for oid in order_ids if ordered else sorted(order_ids, key=lambda o: (p.orders[o].window[1], o)):
        o = p.orders[oid]
        options: list[Option] = []
        for cost, carrier in carrier_options(p, o):
            if rooms.fits(carrier, o):
                options.append(Option(cost, "carrier", carrier.id, carrier_eta(p, carrier, o), None))
                if weighed is None:
                    break  # the cheapest with room is the only one that can win
        candidates = [p.vehicles[i] for i in near.ranked(o.at) if o.requires <= p.vehicles[i].skills]
        for v in candidates[:vans]:
            best = None
            for _, route in _insertions(p, routes[v.id], oid, v.start, positions):
                r = simulate_route(p, v, route)
                if r.feasible and (best is None or r.cost < best[0]):
                    best = (r.cost, route, r.delivery_starts.get(oid))
            if best:
                options.append(Option(best[0] - costs[v.id], "van", v.id, best[2], best[1]))
        options.sort(key=lambda x: x.cost)
        if weighed is not None:
            weighed[oid] = options
        chosen = options[0] if options and options[0].cost < o.unserved_penalty else None
        if chosen is None:
            plan.unserved.append(oid)
        elif chosen.kind == "van":
            routes[chosen.id], costs[chosen.id] = chosen.route, costs[chosen.id] + chosen.cost
            near.add(chosen.id, o.at)
        else:
            plan.carriers.setdefault(chosen.id, []).append(oid)
            rooms.take(next(c for c in p.carriers if c.id == chosen.id), o)
    for vid in [vid for vid, stops in routes.items() if not stops and not by_id[vid].committed]:
        del routes[vid]
    return plan
