"""Answering a disruption, starting from the plan in force.

Some orders are free (their carrier went down, their van broke or its driver went home, they just
arrived); everything else has a home. First each free order is inserted where it is cheapest
(greedy.insert: a carrier with room in its zone and window, a nearby van's route, or unserved).
A van the insertion gave orders to then gives up any order of its own that a carrier now takes for
less than keeping it costs (one the insertion made late), and that order is free as well.
Then localized re-optimizations, warm-started from that, in passes until the budget is spent: a
group of free orders near each other and the routes of the vans near them go to the production
planner (hybrid) as one small problem, with the carriers' room net of everything outside it;
vans and bookings elsewhere stay exactly as they are. Orders spread over the whole network (a
demand spike) are taken a group per pass. A pass's result is kept only where it is cheaper, so
the answer is never worse than the insertion alone.

A van left with the same orders keeps its sequence: a driver's route is not reshuffled for a
disruption that neither gives them nor takes from them anything. The van that meets a broken one
(a hand-over) is re-optimized like any other, and what it picks up there stays on it. The vans a
free order brings into a neighbourhood are the nearest that could carry it (a chilled order
looks for vans with cold).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace

import numpy as np

from . import hybrid
from .evaluate import evaluate, simulate_route
from .greedy import Option, _insertions, _VanPoints, insert, nearest_first
from .model import Plan, Problem

VAN_CANDIDATES = 6    # vans an order's insertion is tried in
POSITIONS = 4         # positions tried in each
NEAR_VANS = 3         # per free order, the nearest vans whose routes the re-optimization may change
MAX_VANS = 80         # at most this many vans in one re-optimized neighbourhood
MAX_LOCAL_ORDERS = 500  # and at most this many orders in it
ORDERS_PER_S = 500    # and no more than a pass re-optimizes in its time (measured: at 5,000 orders one sweep of 500 took 0.8 s)
PASS_FREE = 100       # free orders one pass re-optimizes around (the nearest to each other)
BUDGET_S = 1.6        # the whole repair: insertion, then re-optimization passes in what is left
PASS_S = 0.6          # a pass gets half of what is left, at least this
SETTLE_S = 0.1        # kept for merging and costing the result
SETTLE_RESERVE_S = 0.3  # of a pass, kept after its search for the exact settling (measured 0.1-0.25 s at 500 orders)
MIN_SEARCH_S = 0.5    # less than this left: no further pass (after the insertion: the insertion is the answer)
REOPTIMIZE_FROM = 5   # fewer free orders than this (a failed delivery, one new order): insertion alone


def budget_for(free: int, cap: float = BUDGET_S) -> float:
    """The time a repair of this many free orders gets: a handful is answered by the insertion
    alone (re-optimizing around one order costs a second of CPU for next to nothing, and these come
    several a second), more get the whole budget."""
    return cap if free >= REOPTIMIZE_FROM else 0.0


@dataclass
class Repair:
    plan: Plan                     # the whole plan after the disruption is answered
    cost: float
    greedy: Plan                   # the insertion alone
    greedy_cost: float
    method: str                    # "reoptimized" or "insertion" (whichever was cheaper)
    neighbourhood: list[str]       # vans whose routes could change
    weighed: dict[str, list[Option]] = field(default_factory=dict)  # per free order: its options, cheapest first
    seconds: float = 0.0


def _copy(plan: Plan) -> Plan:
    return Plan({k: list(v) for k, v in plan.routes.items()}, {k: list(v) for k, v in plan.carriers.items()}, list(plan.unserved))


def neighbourhood(problem: Problem, free: list[str], plan: Plan, *, per_order: int = NEAR_VANS, limit: int = MAX_VANS,
                  max_orders: int = MAX_LOCAL_ORDERS) -> list[str]:
    """The vans nearest the free orders (by where they are and where they deliver), the vans most
    often near first, at most `limit`, and no more than keep the re-optimized orders (free ones and
    those on the chosen vans) within `max_orders`."""
    p = problem
    near = _VanPoints(p, plan.routes)
    votes: dict[int, float] = {}
    for oid in free:
        o = p.orders[oid]
        able = (i for i in near.ranked(o.at) if o.requires <= p.vehicles[i].skills)  # a cold order votes for vans with cold
        for rank, i in enumerate(itertools.islice(able, per_order)):
            votes[i] = votes.get(i, 0.0) + 1.0 / (1 + rank)
    held = {vid: sum(s.startswith("D:") for s in stops) for vid, stops in plan.routes.items()}
    chosen, size = [], len(free)
    for i in sorted(votes, key=lambda i: (-votes[i], i))[:limit]:
        vid = p.vehicles[i].id
        if size + held.get(vid, 0) > max_orders and len(chosen) >= 2:
            continue  # the search must fit its time: the neighbourhood is bounded by orders, not only vans
        chosen.append(vid)
        size += held.get(vid, 0)
    return chosen


def van_positions_near(points: list[tuple[float, float, frozenset]], vans: list[tuple[str, float, float, frozenset]], *,
                       per_order: int = NEAR_VANS + VAN_CANDIDATES, limit: int = 4 * MAX_VANS) -> set[str]:
    """Which vans (id, lat, lon, skills) a repair around these points (lat, lon, skills an order
    there requires) can involve, from their positions alone: what the bridge loads, a superset of
    what neighbourhood() and the insertion pick. A point counts only vans that could serve it."""
    if not vans:
        return set()
    lat = np.array([v[1] for v in vans])
    lon = np.array([v[2] for v in vans])
    index = np.arange(len(vans))
    votes: dict[int, int] = {}
    for plat, plon, requires in points:
        ranked = nearest_first(index, lat, lon, len(vans), plat, plon)
        able = [int(i) for i in ranked if requires <= vans[i][3]] if requires else [int(i) for i in ranked[:per_order]]
        for i in able[:per_order]:
            votes[i] = votes.get(i, 0) + 1
    return {vans[i][0] for i in sorted(votes, key=lambda i: (-votes[i], i))[:limit]}


def repair(problem: Problem, current: Plan, free: list[str], *, time_limit: float | None = None,
           vans: int = VAN_CANDIDATES, positions: int = POSITIONS, reoptimize: bool = True,
           pinned: set[str] | frozenset = frozenset(), ordered: bool = False) -> Repair:
    """Give the free orders a home, changing as little of `current` (the plan in force, without
    them) as is worth it, in about `time_limit` seconds (by default what budget_for gives). A van
    holding a `pinned` order (a hand-over arranged) is re-optimized with those orders kept on it.
    With `ordered`, the insertion takes the free orders in the given order (a priority), not by
    window end. See the module's doc."""
    started = time.monotonic()
    time_limit = budget_for(len(free)) if time_limit is None else time_limit
    p = problem
    weighed: dict[str, list[Option]] = {}
    greedy_plan = insert(p, _copy(current), list(free), vans=vans, positions=positions, weighed=weighed, ordered=ordered)
    greedy_cost = evaluate(p, greedy_plan).cost
    best, best_cost, method, hood = greedy_plan, greedy_cost, "insertion", []
    if reoptimize and free and time_limit > 0:
        held = {s[2:]: vid for vid, stops in greedy_plan.routes.items() for s in stops if s.startswith("D:") and s[2:] in pinned}
        deadline = started + time_limit - SETTLE_S
        start, start_cost, moved = _relieve(p, current, greedy_plan, greedy_cost, set(held.values()),
                                          deadline=deadline - MIN_SEARCH_S)
        best, best_cost, hood = _reoptimize_around(p, current, start, start_cost, list(free) + moved, held,
                                                   deadline=deadline)
        if best_cost >= greedy_cost - 1e-6:
            best, best_cost = greedy_plan, greedy_cost
        else:
            method = "reoptimized"
    return Repair(best, best_cost, greedy_plan, greedy_cost, method, hood, weighed, time.monotonic() - started)


def _relieve(p: Problem, current: Plan, plan: Plan, cost: float, keep: set[str], *,
             deadline: float | None = None) -> tuple[Plan, float, list[str]]:
    """The insertion (`plan`, costing `cost`), with the vans it gave orders to relieved of any
    order of theirs that a carrier (or leaving it) now costs less than keeping: one the insertion
    made late, or whose detour grew. Vans it did not touch, those in `keep` (a hand-over arranged)
    and those not reached by the deadline stay as they are. Returns the plan, its cost and the
    orders moved off vans (free again for the passes)."""
    touched = {vid for vid, stops in plan.routes.items() if stops != current.routes.get(vid, [])} - keep
    relieved = _copy(plan)
    hybrid.drop_unprofitable(p, relieved, vans=touched, deadline=deadline)
    result = evaluate(p, relieved)
    if not result.feasible or result.cost >= cost - 1e-6:
        return plan, cost, []
    on_vans = {s[2:] for vid in touched for s in plan.routes.get(vid, []) if s.startswith("D:")}
    kept = {s[2:] for vid in touched for s in relieved.routes.get(vid, []) if s.startswith("D:")}
    return relieved, result.cost, sorted(on_vans - kept)


def _reoptimize_around(p: Problem, current: Plan, plan: Plan, cost: float, free: list[str], held: dict[str, str], *,
                       deadline: float) -> tuple[Plan, float, list[str]]:
    """Local re-optimizations one after another until the deadline, each warm-started from the
    best plan so far: around the free orders nearest the first one not yet covered (at most
    PASS_FREE of them, so that their neighbourhood has room for the vans' own orders), until every
    free order had its turn, then around the first ones again with another seed. Returns the best
    plan, its cost and every van a pass could change."""
    uncovered, hoods, seed, best = list(free), {}, 0, plan  # hoods: every van a pass could change, in order
    while deadline - time.monotonic() >= MIN_SEARCH_S:
        pool = uncovered or list(free)
        anchor = p.orders[pool[0]].at
        targets = sorted(pool, key=lambda o: p.km(anchor, p.orders[o].at))[:PASS_FREE]
        left = deadline - time.monotonic()
        share = min(left, max(PASS_S, left / 2))
        # One sweep of the local search is not interrupted: the neighbourhood is what the pass's time allows.
        size = min(MAX_LOCAL_ORDERS, int(ORDERS_PER_S * share))
        if left - share < MIN_SEARCH_S:
            share = left  # too little would be left for another pass: this one searches longer, not wider
        hood = neighbourhood(p, targets, best, max_orders=size)
        if not hood:
            break
        taken = set(targets)
        uncovered = [o for o in uncovered if o not in taken]
        seed += 1
        local = _reoptimize(p, current, best, targets, hood, held, time_limit=share, seed=seed)
        hoods.update(dict.fromkeys(hood))
        if local is not None:
            result = evaluate(p, local)
            if result.feasible and result.cost < cost - 1e-6:
                best, cost = local, result.cost
    return best, cost, list(hoods)


def _reoptimize(p: Problem, current: Plan, start: Plan, free: list[str], hood: list[str], held: dict[str, str], *,
                time_limit: float, seed: int = 1) -> Plan | None:
    """The production planner on the neighbourhood: its vans with every order on their routes, the
    free orders not placed elsewhere, and carriers with the room left outside it. An order `held`
    by a van (order -> van: a hand-over arranged) stays on that van: in the part it requires a skill
    only that van has."""
    sub, initial, outside = hybrid.local_problem(p, start, hood, free)
    pins = {oid: vid for oid, vid in held.items() if oid in sub.orders and vid in hood}
    if pins:
        tag = {vid: f"held-by:{vid}" for vid in pins.values()}
        sub = replace(sub, orders={oid: replace(o, requires=o.requires | {tag[pins[oid]]}) if oid in pins else o
                                   for oid, o in sub.orders.items()},
                      vehicles=[replace(v, skills=v.skills | {tag[v.id]}) if v.id in tag else v for v in sub.vehicles])
    solved = hybrid.solve(sub, hybrid.Options(time_limit=time_limit, settle_reserve=SETTLE_RESERVE_S, seed=seed), initial=initial)
    merged = hybrid.merge_local(start, hood, sub, solved, outside)
    for vid in hood:
        before = current.routes.get(vid, [])
        if {s for s in merged.routes.get(vid, []) if s.startswith("D:")} == {s for s in before if s.startswith("D:")}:
            if before:  # the same orders as now: this driver's route is not reshuffled
                merged.routes[vid] = before
    by_id = {v.id: v for v in sub.vehicles}
    if any(not simulate_route(p, by_id[vid], merged.routes.get(vid, [])).feasible for vid in hood):
        return None
    if any(f"D:{oid}" not in merged.routes.get(vid, []) for oid, vid in pins.items()):
        return None  # a held order dropped rather than carried: the hand-over stands as arranged
    return merged


@dataclass
class HandOver:
    van: str
    route: list[str]
    added: float                   # what the van's route costs more
    starts: dict[str, float]       # delivery start per order


def hand_over(problem: Problem, plan: Plan, refs: list[str], *, broken: str, meet, candidates: int = VAN_CANDIDATES,
              positions: int = POSITIONS) -> HandOver | None:
    """Orders on board a van that cannot deliver them (`broken`, standing at `meet`; the orders'
    hub is the meeting point): one van nearby takes all of them (one meeting), each inserted where
    the evaluator finds it cheapest; the van that adds least wins. `plan` is updated in place;
    None when no van can take them."""
    p = problem
    need_kg = sum(p.orders[r].weight_kg for r in refs)
    need_skills = frozenset().union(*(p.orders[r].requires for r in refs))
    vans = sorted((v for v in p.vehicles if v.id != broken and need_skills <= v.skills and v.capacity_kg >= need_kg),
                  key=lambda v: p.km(v.start, meet))[:candidates]
    best = None
    for v in vans:
        route = list(plan.routes.get(v.id, []))
        for ref in refs:
            options = [(simulate_route(p, v, r), r) for _, r in _insertions(p, route, ref, v.start, positions)]
            options = [(res.cost, r) for res, r in options if res.feasible]
            if not options:
                break
            _, route = min(options, key=lambda x: x[0])
        else:
            result = simulate_route(p, v, route)
            added = result.cost - simulate_route(p, v, plan.routes.get(v.id, [])).cost
            if best is None or added < best.added:
                best = HandOver(v.id, route, added, result.delivery_starts)
    if best is not None:
        plan.routes[best.van] = best.route
    return best
