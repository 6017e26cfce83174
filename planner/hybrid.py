"""The production planner: one model across own fleet and carriers.

Own-fleet routing is a pickup-and-delivery problem with time windows, capacities, skills,
shift ends and orders already on board, solved with PyVRP (a hybrid genetic search in C++).
Each order is an optional shipment (pickup at its hub, delivery at the door) whose prize is
the cost of its best alternative: the carrier that would take it (price plus any late penalty,
within carrier capacity) or its unserved penalty. Orders the vans do not take are then given
to carriers by a min-cost flow that respects capacities. An exact evaluation by the benchmark's
semantics follows, and a repair step guarantees the returned plan is feasible.

The search's neighbourhood is built from where orders are delivered (PyVRP's own is built from
pickups, which all stand at the hub). A network of more than WHOLE_SEARCH_MAX orders is re-planned
region by region, each region a problem of its own with carriers' room net of the others.

Orders already on board are delivered first, in the cheapest order (they are due soonest); the
van enters the routing model from where and when it finishes them.
Scaling: distances in metres, durations in seconds, costs in 1e-5 currency units (PyVRP is integer).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, replace

import numpy as np
import pyvrp
from pyvrp.search import LocalSearch, PerturbationManager, PerturbationParams
from pyvrp.stop import MaxRuntime

from . import greedy
from .offers import assign_to_carriers, carrier_options
from .evaluate import evaluate, simulate_route
from .model import Plan, Problem
from .pricing import carrier_order_cost, Rooms
from .trips import add_trips, insert_into_vans

COST = 100_000          # integer cost units per currency unit
# Above this many orders to route, one search over the whole network does not get past its first
# local-search pass in the time a re-plan has (measured: at 5,000 orders, one iteration in 10 s).
# The network is then re-planned region by region instead (see _by_regions).
WHOLE_SEARCH_MAX = 1500
REGION_ORDERS = 700     # orders per region (its vans' and the carriers' and unserved ones nearest them)
LAST_TIMINGS: dict[str, float] = {}  # seconds since start at the end of each phase, for the benchmark
MARGIN_S = 30           # safety margin against integer rounding on hard limits


@dataclass
class Options:
    time_limit: float = 10.0
    seed: int = 1
    warm_start: bool = True
    late_allowance_min: float = 30.0  # how late a van may be for an order nobody else would take
    seed_vans: int = 6        # the seeding construction's breadth (see greedy.solve)
    seed_positions: int = 4
    # The local search's breadth: for each order, the orders whose doors are nearest in place and
    # time (see _neighbours).
    neighbours: int = 40
    # How many orders one perturbation of the iterated local search moves at most. PyVRP's
    # default (25) makes each iteration a long repair here. Measured at the same time, mean of
    # three seeds: 200-none 2,444 against 2,546; 1000-sick (with PyVRP's own neighbourhood)
    # 10,918 against 11,350.
    perturbation_max: int = 10
    # Re-plan a network above WHOLE_SEARCH_MAX orders region by region (a region itself is not cut again).
    by_regions: bool = True
    # Seconds kept after the search for the exact settling (None: 0.5 s + 0.8 ms per order).
    settle_reserve: float | None = None


class _Builder:
    def __init__(self, problem: Problem):
        self.p = problem
        self.lat: list[float] = []
        self.lon: list[float] = []

    def loc(self, point) -> int:
        self.lat.append(point.lat)
        self.lon.append(point.lon)
        return len(self.lat) - 1


def solve(problem: Problem, options: Options | None = None, initial: Plan | None = None) -> Plan:
    """Plan every order. `initial` (for example the current plan, or a construction) seeds the search."""
    options = options or Options()
    started = time.monotonic()
    timings = LAST_TIMINGS
    timings.clear()
    p = problem
    if initial is None and options.warm_start:
        initial = greedy.solve(p, vans=options.seed_vans, positions=options.seed_positions)
    # time kept for settling the plan after the search (more on a road matrix: its legs are looked up, not computed)
    reserve = ((0.5 + 0.0008 * len(p.orders)) * (1.5 if p.travel is not None else 1.0) if options.settle_reserve is None
               else options.settle_reserve)
    if initial is not None:
        initial = add_trips(p, _copy(initial), deadline=started + 0.3 * options.time_limit)
        _settle(p, initial)
        timings["seed"] = time.monotonic() - started
        timings["seed_cost"] = evaluate(p, initial).cost
    committed = p.committed
    free_orders = [oid for oid in p.orders if oid not in committed]
    if initial is not None and options.by_regions and len(free_orders) > WHOLE_SEARCH_MAX and p.vehicles:
        return _by_regions(p, initial, options, started, deadline=started + options.time_limit - 0.3 * reserve)

    # 1. What each order would cost elsewhere: the capacity-aware carrier assignment of all of them.
    by_carrier, unserved, _ = assign_to_carriers(p, free_orders)
    alternative: dict[str, float] = {oid: p.orders[oid].unserved_penalty for oid in unserved}

    carrier_by_id = {c.id: c for c in p.carriers}
    for cid, oids in by_carrier.items():
        for oid in oids:
            alternative[oid] = carrier_order_cost(p, carrier_by_id[cid], p.orders[oid])

    # 2. Orders already on board go first, in their cheapest order.
    prefix: dict[str, list[str]] = {}
    ready: dict[str, tuple] = {}
    for v in p.vehicles:
        prefix[v.id] = _best_committed_order(p, v)
        ready[v.id] = _after(p, v, prefix[v.id])

    # 3. Locations: hubs, where each van becomes free, where it ends, and every door.
    b = _Builder(p)
    hub_loc = {h.id: b.loc(h.at) for h in p.hubs.values()}
    start_loc = {v.id: b.loc(ready[v.id][0]) for v in p.vehicles}
    end_loc = {v.id: b.loc(v.end if v.end is not None else ready[v.id][0]) for v in p.vehicles}
    order_loc = {oid: b.loc(p.orders[oid].at) for oid in free_orders}
    km, minutes = p.matrices(np.array(b.lat), np.array(b.lon))
    dist = np.rint(km * 1000).astype(np.int64)
    dur = np.rint(minutes * 60).astype(np.int64)
    for v in p.vehicles:
        if v.end is None:  # no end: the route finishes at its last stop, so the way "home" is free
            dist[:, end_loc[v.id]] = dur[:, end_loc[v.id]] = 0

    # 4. Load dimensions: weight (0.1 kg), and per skill a token dimension only skilled vans can carry.
    skills = sorted({s for o in p.orders.values() for s in o.requires})
    token, big = 10**4, 10**9

    def amount(o) -> list[int]:
        return [int(math.ceil(o.weight_kg * 10))] + [token if s in o.requires else 0 for s in skills]

    depots, vehicle_types, vehicle_ids = [], [], []
    for v in p.vehicles:
        _, t_ready, load_left = ready[v.id]
        t_ready *= 60
        if v.shift_end_min * 60 - MARGIN_S <= t_ready:
            continue
        depots.append(pyvrp.Depot(location=start_loc[v.id]))
        depots.append(pyvrp.Depot(location=end_loc[v.id]))
        vehicle_types.append(pyvrp.VehicleType(
            num_available=1,
            capacity=[max(0, int(v.capacity_kg * 10) - int(math.ceil(load_left * 10)))] + [big if s in v.skills else 0 for s in skills],
            start_depot=len(depots) - 2, end_depot=len(depots) - 1,
            fixed_cost=0 if v.committed else int(round(v.fixed_cost * COST)),
            tw_early=int(t_ready), start_late=int(t_ready), tw_late=int(v.shift_end_min * 60) - MARGIN_S,
            unit_distance_cost=int(round(v.cost_per_km * COST / 1000)),
            unit_duration_cost=int(round(v.cost_per_hour * COST / 3600)),
            name=v.id,
        ))
        vehicle_ids.append(v.id)

    shipments, shipment_orders = [], []
    for oid in free_orders:
        o = p.orders[oid]
        hub = p.hubs[o.hub]
        latest = int(o.window[1] * 60) - MARGIN_S
        if oid in unserved:  # nobody else would take it: a late van beats no delivery
            latest += int(options.late_allowance_min * 60)
        if latest < int(p.now_min * 60):
            continue  # a van can no longer be on time; carriers or unserved decide
        shipments.append(pyvrp.Shipment(
            pickup_location=hub_loc[o.hub], delivery_location=order_loc[oid],
            pickup_service_duration=int(round(hub.load_min_per_order * 60)),
            delivery_tw_early=int(o.window[0] * 60), delivery_tw_late=latest,
            delivery_service_duration=int(round(o.service_min * 60)),
            amount=amount(o), prize=int(round(alternative[oid] * COST)), required=False, name=oid,
        ))
        shipment_orders.append(oid)

    plan = Plan()
    if vehicle_types and shipments:
        locations = [pyvrp.Location(x=lon, y=lat) for lat, lon in zip(b.lon, b.lat)]
        data = pyvrp.ProblemData(locations=locations, clients=[], depots=depots, vehicle_types=vehicle_types,
                                 distance_matrices=[dist], duration_matrices=[dur], shipments=shipments)
        warm = _warm_start(data, initial, vehicle_ids, shipment_orders, committed, p) if initial else None
        result = _search(data, options, warm, deadline=started + options.time_limit - reserve)
        for route in result.best.routes():
            vid = vehicle_ids[route.vehicle_type()]
            stops = list(prefix[vid])
            for act in route.schedule():
                if act.is_shipment():
                    stops.append(("P:" if act.is_pickup() else "D:") + shipment_orders[act.idx])
            plan.routes[vid] = stops
    for v in p.vehicles:
        if v.committed and not plan.routes.get(v.id):
            plan.routes[v.id] = list(prefix[v.id])
    timings["search"] = time.monotonic() - started
    _settle(p, plan)
    plan = add_trips(p, plan, deadline=started + options.time_limit - 0.6 * reserve)
    plan = insert_into_vans(p, plan, deadline=started + options.time_limit - 0.3 * reserve)
    _settle(p, plan)
    timings["settle"] = time.monotonic() - started
    timings["search_cost"] = evaluate(p, plan).cost
    if initial is not None and evaluate(p, initial).cost < evaluate(p, plan).cost:
        return initial
    return plan


def local_problem(p: Problem, plan: Plan, vans: list[str], orders) -> tuple[Problem, Plan, dict[str, list[str]]]:
    """A part of the network as a problem of its own: the given vans with every order on their
    routes and on board, the given orders not on other vans, and the carriers with the room left
    by what they carry outside it. Returns the part, the plan restricted to it, and what carriers
    keep outside it."""
    in_part = set(vans)
    elsewhere = {s[2:] for vid, stops in plan.routes.items() if vid not in in_part for s in stops if s.startswith("D:")}
    local = {s[2:] for vid in vans for s in plan.routes.get(vid, []) if s.startswith("D:")}
    local |= {oid for oid in orders if oid not in elsewhere}
    vehicles = [v for v in p.vehicles if v.id in in_part]
    local |= {oid for v in vehicles for oid in v.committed}
    outside = {cid: [o for o in oids if o not in local] for cid, oids in plan.carriers.items()}
    rooms = Rooms(p, outside)
    carriers = []
    for c in p.carriers:
        slots = tuple(replace(s, room=max(0, s.room - rooms.slot_used.get((c.room_key, i), 0))) for i, s in enumerate(c.slots))
        carriers.append(replace(c, capacity=max(0, c.capacity - rooms.used.get(c.room_key, 0)), slots=slots))
    sub = Problem(p.name + ":local", p.now_min, p.detour_factor, p.speed_kmh, p.hubs, vehicles, carriers,
                  {oid: p.orders[oid] for oid in p.orders if oid in local}, travel=p.travel)
    restricted = Plan(routes={vid: list(plan.routes[vid]) for vid in vans if plan.routes.get(vid)},
                      carriers={cid: [o for o in oids if o in local] for cid, oids in plan.carriers.items()},
                      unserved=[o for o in plan.unserved if o in local])
    return sub, restricted, outside


def merge_local(plan: Plan, vans: list[str], sub: Problem, solved: Plan, outside: dict[str, list[str]]) -> Plan:
    """The plan with the part made by local_problem (its vans, `sub`'s orders) replaced by `solved`."""
    in_part = set(vans)
    merged = Plan(routes={vid: stops for vid, stops in plan.routes.items() if vid not in in_part},
                  carriers={cid: list(oids) for cid, oids in outside.items()},
                  unserved=[o for o in plan.unserved if o not in sub.orders])
    merged.routes.update({vid: stops for vid, stops in solved.routes.items() if stops})
    for cid, oids in solved.carriers.items():
        merged.carriers.setdefault(cid, []).extend(oids)
    merged.unserved += solved.unserved
    return merged


def _regions(p: Problem, plan: Plan, size: int, offset: float) -> list[tuple[list[str], list[str]]]:
    """The network cut into regions of about `size` orders: vans in the order of the bearing of
    where they deliver (seen from the middle of all doors), each carrier or unserved order with
    the van delivering nearest to it, cut where a region has its orders. `offset` (0 to 1) shifts
    the cuts by that part of a region, so that successive passes have different borders."""
    vans = list(p.vehicles)
    doors = {vid: [p.orders[s[2:]].at for s in stops if s.startswith("D:")] for vid, stops in plan.routes.items()}
    lat = np.array([np.mean([d.lat for d in doors[v.id]]) if doors.get(v.id) else v.start.lat for v in vans])
    lon = np.array([np.mean([d.lon for d in doors[v.id]]) if doors.get(v.id) else v.start.lon for v in vans])
    mid_lat = np.mean([o.at.lat for o in p.orders.values()])
    mid_lon = np.mean([o.at.lon for o in p.orders.values()])
    bearing = np.arctan2(lat - mid_lat, (lon - mid_lon) * math.cos(math.radians(mid_lat)))
    order = np.argsort(bearing, kind="stable")
    elsewhere = [oid for oids in plan.carriers.values() for oid in oids] + list(plan.unserved)
    extra: dict[int, list[str]] = {}
    if elsewhere:
        olat = np.array([p.orders[o].at.lat for o in elsewhere])
        olon = np.array([p.orders[o].at.lon for o in elsewhere])
        nearest = np.argmin((olat[:, None] - lat[None, :]) ** 2
                            + ((olon[:, None] - lon[None, :]) * math.cos(math.radians(mid_lat))) ** 2, axis=1)
        for oid, i in zip(elsewhere, nearest):
            extra.setdefault(int(i), []).append(oid)
    weight = [len(doors.get(vans[i].id, [])) + len(vans[i].committed) + len(extra.get(i, [])) for i in order]
    total = sum(weight)
    parts = max(1, round(total / size))
    shift = int(offset * len(order) / parts)
    order = np.roll(order, -shift)
    weight = weight[shift:] + weight[:shift]
    regions, current, held = [], [], 0
    for i, w in zip(order, weight):
        current.append(int(i))
        held += w
        if held >= total / parts and len(regions) < parts - 1:
            regions.append(current)
            current, held = [], 0
    if current:
        regions.append(current)
    return [([vans[i].id for i in r], [oid for i in r for oid in extra.get(i, [])]) for r in regions]


def _by_regions(p: Problem, plan: Plan, options: Options, started: float, deadline: float) -> Plan:
    """Re-plan a large network region by region (see WHOLE_SEARCH_MAX): each region is solved
    as a problem of its own, warm-started from the plan, with carriers' room net of what they
    carry elsewhere, and kept where it is cheaper. Passes repeat with shifted borders until the
    time is up."""
    timings = dict(LAST_TIMINGS)  # each region's solve keeps its own
    passes = 0
    while time.monotonic() < deadline - 1.0:
        regions = _regions(p, plan, REGION_ORDERS, offset=(passes * 0.5) % 1.0)
        sizes = [len(orders) + sum(len(plan.routes.get(v, [])) // 2 for v in vans) for vans, orders in regions]
        for k, (vans, orders) in enumerate(regions):
            left = deadline - time.monotonic()
            if left < 1.0:
                break
            share = left * sizes[k] / max(1, sum(sizes[k:]))
            sub, restricted, outside = local_problem(p, plan, vans, orders)
            before = evaluate(sub, restricted).cost
            solved = solve(sub, replace(options, time_limit=max(1.0, share), seed=options.seed + passes, by_regions=False),
                           initial=restricted)
            if evaluate(sub, solved).cost < before - 1e-6:
                plan = merge_local(plan, vans, sub, solved, outside)
        passes += 1
    LAST_TIMINGS.clear()
    LAST_TIMINGS.update(timings, search=time.monotonic() - started, settle=time.monotonic() - started, passes=passes,
                        search_cost=evaluate(p, plan).cost)
    return plan


def _neighbours(data: pyvrp.ProblemData, k: int) -> dict:
    """The granular neighbourhood of each order: the orders whose doors are nearest to its door,
    in travel time plus the wait or lateness their windows would cause (as PyVRP measures it).

    PyVRP's own neighbourhood is built from pickups, and every pickup at a hub stands at the same
    place, so it gives each order an arbitrary set of orders from the same hub. Where the
    deliveries are is what tells which orders belong on one route."""
    shipments = data.shipments()
    n = len(shipments)
    k = min(k, n - 1)
    if k <= 0:
        return {pyvrp.Activity(pyvrp.ActivityType.PICKUP, i): [] for i in range(n)}
    loc = np.array([s.delivery.location for s in shipments])
    early = np.array([s.delivery.tw_early for s in shipments], dtype=float)
    late = np.array([min(s.delivery.tw_late, 10**12) for s in shipments], dtype=float)
    service = np.array([s.delivery.service_duration for s in shipments], dtype=float)
    durations = np.asarray(data.duration_matrix(0))

    def proximity(a: slice, b: slice, travel: np.ndarray) -> np.ndarray:  # from the doors of `a` on to those of `b`
        wait = np.maximum(0.0, early[b][None, :] - (late[a] + service[a])[:, None] - travel)
        warp = np.maximum(0.0, (early[a] + service[a])[:, None] + travel - late[b][None, :])
        return travel + 0.2 * wait + warp

    neighbours = {}
    everyone = slice(0, n)
    for first in range(0, n, 256):  # a block of rows at a time: memory stays linear in the orders
        rows = slice(first, min(n, first + 256))
        out = proximity(rows, everyone, durations[np.ix_(loc[rows], loc)].astype(float))
        back = proximity(everyone, rows, durations[np.ix_(loc, loc[rows])].astype(float)).T
        near = np.minimum(out, back)
        near[np.arange(near.shape[0]), np.arange(rows.start, rows.stop)] = np.inf
        nearest = np.argpartition(near, k - 1, axis=1)[:, :k]
        for r, i in enumerate(range(rows.start, rows.stop)):
            ranked = nearest[r][np.argsort(near[r, nearest[r]], kind="stable")]
            neighbours[pyvrp.Activity(pyvrp.ActivityType.PICKUP, i)] = [
                pyvrp.Activity(pyvrp.ActivityType.PICKUP, int(j)) for j in ranked]
    return neighbours


def _search(data: pyvrp.ProblemData, options: Options, initial: pyvrp.Solution | None, deadline: float) -> pyvrp.Result:
    """PyVRP's iterated local search (as `pyvrp.solve` runs it) over the neighbourhood above,
    stopping at the deadline (time.monotonic())."""
    params = pyvrp.SolveParams(
        perturbation=PerturbationParams(min_perturbations=1, max_perturbations=options.perturbation_max))
    rng = pyvrp.RandomNumberGenerator(seed=options.seed)
    ls = LocalSearch(data, rng, _neighbours(data, options.neighbours), PerturbationManager(params.perturbation))
    for op in params.operators:
        if op.supports(data):
            ls.add_operator(op(data))
    penalties = pyvrp.PenaltyManager(params.penalty.midpoint_penalties(data), params.penalty)
    if initial is None:
        initial = ls(pyvrp.Solution.make_random(data, rng), penalties.max_cost_evaluator(), exhaustive=True)
    algorithm = pyvrp.IteratedLocalSearch(data, penalties, ls, initial, params.ils)
    return algorithm.run(MaxRuntime(max(0.2, deadline - time.monotonic())), False, False)


def _copy(plan: Plan) -> Plan:
    return Plan({k: list(v) for k, v in plan.routes.items()}, {k: list(v) for k, v in plan.carriers.items()}, list(plan.unserved))


def _warm_start(data, initial: Plan, vehicle_ids: list[str], shipment_orders: list[str], committed,
                p: Problem) -> pyvrp.Solution:
    """The seed plan's van routes as a PyVRP solution (orders on board are already in the prefix).
    Deliveries the seed makes after the model's latest time are left out, so the seed is feasible."""
    index = {oid: i for i, oid in enumerate(shipment_orders)}
    by_id = {v.id: v for v in p.vehicles}
    routes = []
    for k, vid in enumerate(vehicle_ids):
        acts = []
        stops = initial.routes.get(vid, [])
        starts = simulate_route(p, by_id[vid], stops).delivery_starts
        late = {oid for oid, t in starts.items()
                if oid in index and t * 60 > data.shipments()[index[oid]].delivery.tw_late}
        for stop in stops:
            oid = stop[2:]
            if oid in committed or oid not in index or oid in late:
                continue
            kind = pyvrp.ActivityType.PICKUP if stop[0] == "P" else pyvrp.ActivityType.DELIVERY
            acts.append(pyvrp.Activity(kind, index[oid]))
        if acts:
            routes.append(pyvrp.Route(data, acts, k))
    return pyvrp.Solution(data, routes)


def _best_committed_order(p: Problem, v) -> list[str]:
    """The cheapest order in which to deliver what the van already carries (exact up to 7 orders)."""
    orders = list(v.committed)
    if not orders:
        return []
    if len(orders) <= 7:
        best = min(itertools.permutations(orders), key=lambda seq: simulate_route(p, v, [f"D:{o}" for o in seq]).cost)
        return [f"D:{o}" for o in best]
    seq, pos, left = [], v.start, set(orders)
    while left:
        nxt = min(left, key=lambda o: p.km(pos, p.orders[o].at))
        seq.append(nxt)
        pos = p.orders[nxt].at
        left.discard(nxt)
    return [f"D:{o}" for o in seq]


def _after(p: Problem, v, stops: list[str]):
    """Where and when the van is free after the given deliveries, and the load still on board."""
    t = max(p.now_min, v.available_from_min)
    pos = v.start
    for s in stops:
        o = p.orders[s[2:]]
        t += p.drive_min(pos, o.at)
        t = max(t, o.window[0]) + o.service_min
        pos = o.at
    delivered = {s[2:] for s in stops}
    return pos, t, sum(p.orders[o].weight_kg for o in v.committed if o not in delivered)


def _van_orders(plan: Plan) -> set[str]:
    return {s[2:] for stops in plan.routes.values() for s in stops if s.startswith("D:")}


def _settle(p: Problem, plan: Plan) -> None:
    """Make the plan feasible by the exact semantics, move van orders to carriers where that is
    cheaper, and give every remaining order to carriers or leave it unserved."""
    by_id = {v.id: v for v in p.vehicles}
    committed = p.committed
    for vid, stops in list(plan.routes.items()):
        v = by_id[vid]
        result = simulate_route(p, v, stops)
        while not result.feasible and stops:
            removable = [s for s in stops if s.startswith("D:") and s[2:] not in committed]
            if not removable:
                break
            victim = removable[-1][2:]
            stops = [s for s in stops if s[2:] != victim]
            result = simulate_route(p, v, stops)
        plan.routes[vid] = stops
    on_vans = _van_orders(plan)
    rest = [oid for oid in p.orders if oid not in on_vans]
    plan.carriers, plan.unserved, _ = assign_to_carriers(p, rest)
    drop_unprofitable(p, plan)


def drop_unprofitable(p: Problem, plan: Plan, vans: set[str] | None = None, deadline: float | None = None) -> None:
    """A van order whose removal saves more than its best remaining alternative costs moves off the
    van (on the given `vans`, by default every one). Stops at the deadline (time.monotonic()) if
    one is given; the plan is consistent after every van."""
    by_id = {v.id: v for v in p.vehicles}
    committed = p.committed
    changed = True
    rounds = 0
    while changed and rounds < 3:
        changed, rounds = False, rounds + 1
        rooms = Rooms(p, plan.carriers)
        for vid, stops in plan.routes.items():
            if vans is not None and vid not in vans:
                continue
            if deadline is not None and time.monotonic() > deadline:
                break
            v = by_id[vid]
            base = simulate_route(p, v, stops).cost
            for s in [s for s in stops if s.startswith("D:") and s[2:] not in committed]:
                oid = s[2:]
                trial = [x for x in stops if x[2:] != oid]
                if not [x for x in trial if x.startswith("D:")] and not v.committed:
                    saving = base
                else:
                    saving = base - simulate_route(p, v, trial).cost

                options = [(c, car) for c, car in carrier_options(p, p.orders[oid]) if rooms.fits(car, p.orders[oid])]
                best_alt = min([options[0][0]] if options else [] + [p.orders[oid].unserved_penalty])
                best_alt = min(best_alt, p.orders[oid].unserved_penalty)
                if saving > best_alt + 1e-6:
                    stops = trial
                    base -= saving
                    if options and options[0][0] <= p.orders[oid].unserved_penalty:
                        car = options[0][1]
                        plan.carriers.setdefault(car.id, []).append(oid)
                        rooms.take(car, p.orders[oid])
                    else:
                        plan.unserved.append(oid)
                    changed = True
            plan.routes[vid] = stops
    for vid in [vid for vid, stops in plan.routes.items() if not stops]:
        del plan.routes[vid]

