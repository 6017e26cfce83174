"""Whole-trip construction for vans with time left: load a batch of orders at a hub and deliver
them nearest-next in time. One order at a time, a van that would otherwise go home never looks
worth a detour; a whole trip often is. A trip is kept only if it beats what its orders cost
elsewhere (their carrier price or unserved penalty)."""

from __future__ import annotations

import time

import numpy as np

from .evaluate import simulate_route
from .greedy import _insertions, _VanPoints
from .model import Plan, Problem
from .pricing import carrier_order_cost

MAX_CANDIDATES = 400


def _current_costs(p: Problem, plan: Plan) -> dict[str, float]:
    by_id = {c.id: c for c in p.carriers}
    costs = {oid: p.orders[oid].unserved_penalty for oid in plan.unserved}
    for cid, oids in plan.carriers.items():
        for oid in oids:
            costs[oid] = carrier_order_cost(p, by_id[cid], p.orders[oid])
    return costs


def _trip(p: Problem, v, hub_id: str, t: float, pos, load: float, pool: dict[str, float]) -> list[str]:
    """Nearest-next-in-time construction of one trip from the hub, scored against each order's
    current cost. Vectorized over the candidates."""
    hub = p.hubs[hub_id]
    t += p.drive_min(pos, hub.at)
    pos = hub.at
    ids = [oid for oid in pool if p.orders[oid].hub == hub_id and p.orders[oid].requires <= v.skills]
    if not ids:
        return []
    ids.sort(key=lambda o: p.orders[o].window[1])
    ids = ids[:MAX_CANDIDATES]
    orders = [p.orders[o] for o in ids]
    lat = np.array([o.at.lat for o in orders])
    lon = np.array([o.at.lon for o in orders])
    w0 = np.array([o.window[0] for o in orders])
    w1 = np.array([o.window[1] for o in orders])
    svc = np.array([o.service_min for o in orders])
    kg = np.array([o.weight_kg for o in orders])
    alt = np.array([pool[o] for o in ids])
    home = p.min_from(v.end, lat, lon, to=True) if v.end is not None else np.zeros(len(ids))
    free = np.ones(len(ids), dtype=bool)
    per_min = v.cost_per_hour / 60.0
    chosen: list[str] = []
    load_time = 0.0
    while True:
        d = p.km_from(pos, lat, lon)
        arrive = t + load_time + hub.load_min_per_order + p.min_from(pos, lat, lon)
        finish = np.maximum(arrive, w0) + svc
        ok = free & (load + kg <= v.capacity_kg) & (arrive <= w1) & (finish + home <= v.shift_end_min)
        if not ok.any():
            break
        score = np.where(ok, (finish - t) * per_min + d * v.cost_per_km - alt, np.inf)
        k = int(np.argmin(score))
        if score[k] >= 0:
            break
        load_time += hub.load_min_per_order
        t = finish[k]
        pos = orders[k].at
        load += kg[k]
        free[k] = False
        chosen.append(ids[k])
    return chosen


def add_trips(p: Problem, plan: Plan, rounds: int = 3, deadline: float | None = None) -> Plan:
    """Give vans with time left whole extra trips where that lowers the plan's cost. Stops at the
    deadline (time.monotonic()) if one is given; the plan is consistent after every van."""
    for _ in range(rounds):
        improved = False
        pool = _current_costs(p, plan)
        vans = sorted(p.vehicles, key=lambda v: simulate_route(p, v, plan.routes.get(v.id, [])).finish_min)
        for v in vans:
            if deadline is not None and time.monotonic() > deadline:
                return plan
            stops = plan.routes.get(v.id, [])
            base = simulate_route(p, v, stops)
            if not base.feasible:
                continue
            # the van's state at the end of its current route, before it heads home
            t, pos, load = max(p.now_min, v.available_from_min), v.start, 0.0
            if stops or v.committed:
                t, pos = _end_state(p, v, stops)
            best = None
            for hub_id in p.hubs:
                trip = _trip(p, v, hub_id, t, pos, load, pool)
                if not trip:
                    continue
                new = stops + [f"P:{o}" for o in trip] + [f"D:{o}" for o in trip]
                r = simulate_route(p, v, new)
                if not r.feasible:
                    continue
                gain = sum(pool[o] for o in trip) - (r.cost - (base.cost if (stops or v.committed) else 0.0))
                if gain > 1e-6 and (best is None or gain > best[0]):
                    best = (gain, new, trip)
            if best:
                _, new, trip = best
                plan.routes[v.id] = new
                taken = set(trip)
                plan.unserved = [o for o in plan.unserved if o not in taken]
                plan.carriers = {c: [o for o in oids if o not in taken] for c, oids in plan.carriers.items()}
                for o in trip:
                    pool.pop(o, None)
                improved = True
        if not improved:
            break
    return plan


def _end_state(p: Problem, v, stops: list[str]):
    t = max(p.now_min, v.available_from_min)
    pos = v.start
    for s in stops:
        o = p.orders[s[2:]]
        if s[0] == "P":
            hub = p.hubs[o.hub]
            t += p.drive_min(pos, hub.at) + hub.load_min_per_order
            pos = hub.at
        else:
            t = max(t + p.drive_min(pos, o.at), o.window[0]) + o.service_min
            pos = o.at
    if not stops:  # orders on board and nothing else: deliver them first
        for oid in v.committed:
            o = p.orders[oid]
            t = max(t + p.drive_min(pos, o.at), o.window[0]) + o.service_min
            pos = o.at
    return t, pos


def insert_into_vans(p: Problem, plan: Plan, deadline: float | None = None, vans: int = 6, positions: int = 4) -> Plan:
    """Move orders from carriers (or unserved) onto vans one by one, most expensive first,
    wherever the van's extra cost is below what the order costs now."""

    pool = _current_costs(p, plan)
    by_index = p.vehicles
    near = _VanPoints(p)
    for vid, stops in plan.routes.items():
        for s in stops:
            if s[0] == "D":
                near.add(vid, p.orders[s[2:]].at)
    costs = {v.id: simulate_route(p, v, plan.routes.get(v.id, [])).cost if (plan.routes.get(v.id) or v.committed) else 0.0
             for v in p.vehicles}
    moved: set[str] = set()
    for oid in sorted(pool, key=lambda o: -pool[o]):
        if deadline is not None and time.monotonic() > deadline:
            break
        o = p.orders[oid]
        best = None
        for i in near.ranked(o.at)[:vans * 2]:
            v = by_index[i]
            if not o.requires <= v.skills:
                continue
            for _, route in _insertions(p, plan.routes.get(v.id, []), oid, v.start, positions):
                r = simulate_route(p, v, route)
                if r.feasible:
                    gain = pool[oid] - (r.cost - costs[v.id])
                    if gain > 1e-6 and (best is None or gain > best[0]):
                        best = (gain, v.id, route, r.cost)
        if best:
            _, vid, route, cost = best
            plan.routes[vid], costs[vid] = route, cost
            near.add(vid, o.at)
            moved.add(oid)
    if moved:
        plan.unserved = [o for o in plan.unserved if o not in moved]
        plan.carriers = {c: [o for o in oids if o not in moved] for c, oids in plan.carriers.items()}
    return plan
