"""Decisions: the planner's proposed response to an exception, and how it is applied.

The bridge part (problem_from_db) is the only code that turns database state into a planner
problem; propose() prices every option for each affected order with the pure planner's
evaluation and keeps the cheapest, with the alternatives it considered."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from carriers.models import Carrier
from dispatch import clock
from dispatch.engine.decisions import decision_create
from dispatch.models import Decision, Order, OrderException, Shift, Stop, Vehicle
from planner import hybrid, model as pm
from planner.evaluate import evaluate, simulate_route
from planner.model import Plan
from planner.pricing import carrier_eta, carrier_order_cost, carrier_risk
from planner.repair import hand_over, repair, van_positions_near
from planner.snapshot import snapshot_from_problem
from planner.travel import DETOUR_FACTOR, SPEED_KMH, point_key
from dispatch.selectors import lane_reliability
from dispatch.selectors import organization_zone, policy_for, service_rules, slot_bookings, vans_unavailable
from dispatch.selectors.travel import area_factor, area_factors, learned_factor, travel_factors, travel_model
from dispatch.services.exceptions import exception_raise
from dispatch.status import (
    CarrierHealth,
    DutyStatus,
    ExceptionKind,
    OrderStatus,
    Severity,
    StopKind,
)

ON_BOARD = [OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY]


@dataclass
class DbProblem:
    problem: pm.Problem
    day0: datetime
    routes: dict[str, list[str]]          # vehicle code -> current open stops as planner keys
    carrier_of: dict[str, tuple[str, str]]  # planner carrier id -> (carrier code, service level)
    orders: dict[str, Order]


def replay_snapshot(db: DbProblem) -> dict:
    """The problem a decision solves, with the plan in force, as a Track B snapshot (replayable
    with `manage.py plan_snapshot`, downloadable from the decision)."""

    carriers = {}
    for o in db.orders.values():
        if o.carrier_id and o.status == OrderStatus.BOOKED:
            carriers.setdefault(o.carrier.code, []).append(o.external_ref)
    return snapshot_from_problem(db.problem, day_start=db.day0.isoformat(),
                                 current_plan={"routes": db.routes, "carriers": carriers})


def _cost(costs: dict | None, kind: str, pk: int, field: str, value):
    """A cost as proposed in a settings preview ({(kind, id): {field: value}}), else as stored."""
    return (costs or {}).get((kind, pk), {}).get(field, value)


def _with_costs(row, costs: dict | None, kind: str):
    changes = (costs or {}).get((kind, row.pk))
    if not changes:
        return row
    row = copy.copy(row)
    for field, value in changes.items():
        setattr(row, field, value)
    return row


def planner_carrier(c: Carrier, rate, *, available: bool, cutoff_min: float, capacity: int, **extra) -> pm.Carrier:
    """One carrier's rate card for one service level as the planner prices it (surcharges included)."""
    after = rate.after_hours_from
    return pm.Carrier(
        id=f"{c.code}|{rate.service_level}", available=available, service_levels=frozenset({rate.service_level}),
        skills=frozenset(c.skills), zones=tuple(pm.Zone(pm.Point(z.lat, z.lon), z.radius_km, z.surcharge) for z in c.zones.all()),
        base=rate.base, per_kg=rate.per_kg, per_km=rate.per_km, lead_min=c.lead_min, pickup_cutoff_min=cutoff_min, capacity=capacity,
        fuel_pct=rate.fuel_pct, weight_breaks=tuple((float(o), float(f)) for o, f in rate.weight_breaks or ()),
        after_hours_from_min=after.hour * 60 + after.minute if after else None, after_hours_fee=rate.after_hours_fee, **extra,
    )


def _min(dt: datetime, day0: datetime) -> float:
    return (dt - day0).total_seconds() / 60.0


def _order(o: Order, day0: datetime, rules: dict) -> pm.Order:
    rule = rules[o.service_level]
    late, per_min, unserved = float(rule.late_fixed), float(rule.late_per_min), float(rule.unserved)
    return pm.Order(
        id=o.external_ref, hub=o.hub.code, at=pm.Point(o.lat, o.lon), window=(_min(o.window_start, day0), _min(o.window_end, day0)),
        service_min=o.service_min, weight_kg=o.weight_kg, service_level=o.service_level, requires=frozenset(o.requires),
        late_penalty=late, late_penalty_per_min=per_min, unserved_penalty=unserved,
        zone=o.zone, reattempt_cost=float(rule.reattempt_cost),
    )


HANDOVER_LOAD_MIN = 3.0  # moving parcels from van to van at the roadside, per order


def _handover_hub(at: tuple[float, float]) -> pm.Hub:
    return pm.Hub(f"handover@{at[0]:.5f},{at[1]:.5f}", pm.Point(*at), HANDOVER_LOAD_MIN, carrier_pickup=False)


def problem_from_db(*, organization_id: int, extra_orders: list[Order], now: datetime | None = None,
                    booked_count_as_room: bool = False, rules: dict | None = None, costs: dict | None = None,
                    handover: dict[str, tuple[float, float]] | None = None,
                    near: list[tuple[float, float, frozenset]] | None = None) -> DbProblem:
    """The live state as a planner problem: vans that may be given work (on duty, heard from, their
    driver started: dispatch.selectors.availability) where they are with their open stops (orders
    on board become committed), carriers that are up with their rate cards and remaining capacity,
    and the given orders. With booked_count_as_room, orders already booked with a carrier count as
    capacity that may be reassigned (a whole-network re-plan). Orders in `handover` (on board a van
    that broke down) are picked up where that van stands, not at their hub; so are orders whose open
    pickup stop is such a hand-over already. With `near` (points and the skills an order there
    requires), only the vans a repair around
    those points can involve are loaded (planner.repair.van_positions_near), not the whole fleet."""
    now = now or clock.now()
    handover = dict(handover or {})
    day0 = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    now_min = _min(now, day0)
    on_duty = (Vehicle.objects.filter(organization_id=organization_id, status=DutyStatus.ON_DUTY)
               .exclude(pk__in=list(vans_unavailable(organization_id=organization_id, now=now))))
    if near is not None:
        positions = [(pk, lat if lat is not None else hlat, lon if lon is not None else hlon, frozenset(skills or ()))
                     for pk, lat, lon, hlat, hlon, skills in on_duty.values_list("pk", "lat", "lon", "fleet__hub__lat", "fleet__hub__lon", "skills")]
        on_duty = on_duty.filter(pk__in=van_positions_near(near, positions))
    vans = list(on_duty.select_related("fleet__hub"))
    stops = (Stop.objects.filter(route__vehicle__in=vans, route__active=True, completed_at__isnull=True)
             .select_related("order__hub", "route").order_by("route__vehicle_id", "route_id", "sequence"))
    orders: dict[str, Order] = {o.external_ref: o for o in extra_orders}
    routes: dict[str, list[str]] = {v.code: [] for v in vans}
    code_of = {v.id: v.code for v in vans}
    for s in stops:
        orders.setdefault(s.order.external_ref, s.order)
        routes[code_of[s.route.vehicle_id]].append(("P:" if s.kind == StopKind.PICKUP else "D:") + s.order.external_ref)
        if s.kind == StopKind.PICKUP and max(abs(s.lat - s.order.hub.lat), abs(s.lon - s.order.hub.lon)) > 1e-4:
            handover[s.order.external_ref] = (s.lat, s.lon)
    shift_end = {sh.vehicle_id: sh.ends_at for sh in Shift.objects.filter(vehicle__in=vans, starts_at__lte=now, ends_at__gt=now)}
    vehicles = []
    for v in vans:
        keys = routes[v.code]
        picked = [k[2:] for k in keys if k.startswith("P:")]
        committed = tuple(k[2:] for k in keys if k.startswith("D:") and k[2:] not in picked and orders[k[2:]].status in ON_BOARD)
        routes[v.code] = [k for k in keys if not (k.startswith("D:") and k[2:] in committed)]
        hub = v.fleet.hub
        vehicles.append(pm.Vehicle(
            id=v.code, start=pm.Point(v.lat, v.lon) if v.lat is not None else pm.Point(hub.lat, hub.lon), end=pm.Point(hub.lat, hub.lon),
            available_from_min=now_min, shift_end_min=_min(shift_end.get(v.id, now + timedelta(hours=8)), day0),
            capacity_kg=v.capacity_kg, fixed_cost=0.0,
            cost_per_km=_cost(costs, "vehicle", v.id, "cost_per_km", v.cost_per_km),
            cost_per_hour=_cost(costs, "vehicle", v.id, "cost_per_hour", v.cost_per_hour),
            skills=frozenset(v.skills), committed=committed,
        ))
        routes[v.code] = [f"D:{c}" for c in committed] + routes[v.code]
    open_statuses = [OrderStatus.BOOKED]
    carriers, carrier_of = [], {}
    track_record = lane_reliability(organization_id=organization_id, today=day0.date())
    for c in (Carrier.objects.filter(organization_id=organization_id, health=CarrierHealth.UP)
              .annotate(used=Count("orders", filter=Q(orders__status__in=open_statuses)))
              .prefetch_related("zones", "rates", "capacity_slots__zone")):
        slots = [s for s in c.capacity_slots.all() if s.window_end > now]
        room = (max(0, sum(s.capacity for s in slots) - (0 if booked_count_as_room else c.used)) if slots else 10**6)
        model_slots = tuple(pm.Slot(
            pm.Zone(pm.Point(s.zone.lat, s.zone.lon), s.zone.radius_km) if s.zone_id else None, _min(s.window_start, day0),
            _min(s.window_end, day0),
            s.capacity if booked_count_as_room else max(0, s.capacity - len(slot_bookings(slot=s, statuses=open_statuses))),
        ) for s in slots)
        cutoff = _min(datetime.combine(day0.date(), c.pickup_cutoff, tzinfo=day0.tzinfo), day0)
        record = track_record.get(c.id, {})
        for rate in c.rates.all():
            rate = _with_costs(rate, costs, "rate")
            pid = f"{c.code}|{rate.service_level}"
            carrier_of[pid] = (c.code, rate.service_level)
            suffix = f"|{rate.service_level}"
            carriers.append(planner_carrier(c, rate, available=True, cutoff_min=cutoff, capacity=room, slots=model_slots, pool=c.code,
                                            reliability={k[:-len(suffix)]: v for k, v in record.items() if k.endswith(suffix)},
                                            default_reliability=record.get("default", (0.0, 0.0))))
    hubs = {}
    rules = rules or service_rules(organization_id)
    for o in orders.values():
        hubs[o.hub.code] = pm.Hub(o.hub.code, pm.Point(o.hub.lat, o.hub.lon), o.hub.load_min_per_order)
    for v in vans:
        h = v.fleet.hub
        hubs.setdefault(h.code, pm.Hub(h.code, pm.Point(h.lat, h.lon), h.load_min_per_order))
    planned = {k: _order(o, day0, rules) for k, o in orders.items()}
    # What the fleet taught the product about travel (dispatch.services.travel). The solvers take
    # one static matrix, so the hours are put where they will be driven: on the straight line the
    # planner's one speed is the model's over the problem's hubs' mean factor at this hour; on the
    # road engine's matrix each leg into an order is slowed by its hub's factor in the hour its
    # window opens (its time band: the 17:00 order's legs at rush-hour pace when planned at 10:00)
    # and by its area's, and legs to hubs and vans' ends by this hour's. The network re-plan (every
    # few minutes) plans again as the bands come. Each stop takes its hub's factor times its
    # planned time.
    factors = travel_factors(organization_id=organization_id)
    speed, slower, band = SPEED_KMH, 1.0, {}
    if factors:
        zone = organization_zone(organization_id)
        hour = now.astimezone(zone).hour
        hub_ids = {o.hub_id for o in orders.values()} | {v.fleet.hub_id for v in vans}
        learned = {h: learned_factor(factors, h, hour) for h in hub_ids}
        slower = sum(learned.values()) / len(learned)
        speed = SPEED_KMH / slower
        areas = area_factors(organization_id=organization_id)
        band = {k: learned_factor(factors, o.hub_id, max(now, o.window_start).astimezone(zone).hour)
                * area_factor(areas, o.hub, o.lat, o.lon) for k, o in orders.items()}
        planned = {k: replace(p, service_min=p.service_min * learned[orders[k].hub_id]) for k, p in planned.items()}
    for ref, at in handover.items():
        if ref in planned:
            hub = _handover_hub(at)
            hubs[hub.id] = hub
            planned[ref] = replace(planned[ref], hub=hub.id)
    problem = pm.Problem("live", now_min, DETOUR_FACTOR, round(speed, 3), hubs, vehicles, carriers, planned)
    # On the road engine, every leg comes from its matrix (times slowed as the fleet taught)
    roads = travel_model().matrix(problem.points())
    if roads is not None:
        roads.min_m *= slower
        banded = set()
        for k, factor in band.items():  # an order's own time band, where it differs from this hour's
            j = roads.index.get(point_key(planned[k].at.lat, planned[k].at.lon))
            if j is not None and j not in banded and factor != slower:
                roads.min_m[:, j] *= factor / slower
                banded.add(j)
        problem.travel = roads
    return DbProblem(problem, day0, routes, carrier_of, orders)


def _label(kind: str | None, code: str | None) -> dict | None:
    return {"kind": kind, "code": code} if kind else None


def _holder(o: Order) -> tuple[str | None, str | None]:
    return ("van", o.vehicle.code) if o.vehicle_id else ("carrier", o.carrier.code) if o.carrier_id else (None, None)


def _holders(plan: Plan) -> dict[str, tuple[str, str]]:
    out = {s[2:]: ("van", vid) for vid, stops in plan.routes.items() for s in stops if s.startswith("D:")}
    out.update({oid: ("carrier", pid) for pid, oids in plan.carriers.items() for oid in oids})
    return out


@dataclass
class Change:
    """One order whose place differs between the database and a plan."""
    order: Order
    was: tuple[str | None, str | None]   # ("van", code) / ("carrier", code) / (None, None)
    kind: str                            # "van", "carrier" or "unserved"
    code: str | None                     # van or carrier code
    pid: str | None                      # the planner's carrier id (carrier and service level)
    route: list[str] | None              # the van's whole route in the plan
    eta: float | None                    # minutes from the day's start


def plan_changes(db: DbProblem, plan: Plan, free: list[Order], *, skip: set[str] = frozenset()) -> list[Change]:
    """What applying `plan` changes: every free order (placed, or left unserved), then every other
    order of the problem (on the loaded vans' routes) whose holder the plan changes."""
    p = db.problem
    holders = _holders(plan)
    by_code = {v.id: v for v in p.vehicles}
    by_pid = {c.id: c for c in p.carriers}
    starts: dict[str, float] = {}
    for code in {h[1] for h in holders.values() if h[0] == "van"}:
        starts.update(simulate_route(p, by_code[code], plan.routes[code]).delivery_starts)
    on_route = {s[2:]: code for code, stops in db.routes.items() for s in stops if s.startswith("D:")}
    free_refs = {o.external_ref for o in free}
    out = []
    for o in free + [o for o in db.orders.values() if o.external_ref not in free_refs and o.external_ref not in skip]:
        ref = o.external_ref
        was = _holder(o) if ref in free_refs else ("van", on_route.get(ref))
        kind, pid = holders.get(ref, ("unserved", None))
        if kind == "carrier":
            code, route, eta = db.carrier_of[pid][0], None, carrier_eta(p, by_pid[pid], p.orders[ref])
        elif kind == "van":
            code, route, eta, pid = pid, plan.routes[pid], starts.get(ref), None
        else:
            code = route = eta = None
        if ref not in free_refs and (kind, code) == was:
            continue  # a nearby van's order that stays where it is
        out.append(Change(o, was, kind, code, pid, route, eta))
    return out


def propose(*, exception: OrderException) -> Decision | None:
    """Answer an exception with the production planner (planner.repair): the affected orders are
    free, nearby vans' routes and carriers with room may change, everything else stays. Orders on
    board a van that cannot deliver them are handed over to one van first. The moves carry each
    order's cost and SLA effect and the alternatives the planner weighed."""
    affected = list(exception.orders.filter(status__in=[OrderStatus.CREATED, OrderStatus.PLANNED, OrderStatus.ASSIGNED,
                                                          OrderStatus.BOOKED, OrderStatus.FAILED])
                    .select_related("hub", "vehicle", "carrier").order_by("window_end", "id"))
    stranded = _stranded(exception)
    if not affected and not stranded:
        return None
    broken = exception.vehicle
    handover = {o.external_ref: (broken.lat, broken.lon) for o in stranded}
    db = problem_from_db(organization_id=exception.organization_id, extra_orders=affected + stranded, handover=handover,
                         near=[(o.lat, o.lon, frozenset(o.requires)) for o in affected]
                         + ([(broken.lat, broken.lon, frozenset().union(*(o.requires for o in stranded)))] if stranded else []))
    p = db.problem
    free = [o.external_ref for o in affected]
    free_set, total_before = set(free), 0.0
    current = Plan(routes={code: [s for s in stops if s[2:] not in free_set] for code, stops in db.routes.items()})
    base_cost = evaluate(p, current).cost
    moves, handed = [], None
    if stranded:
        refs = [o.external_ref for o in stranded]
        handed = hand_over(p, current, refs, broken=broken.code, meet=pm.Point(broken.lat, broken.lon))
        if handed is None:
            current.unserved += refs  # no van can take them: the call list is what is left
    result = repair(p, current, free, pinned={o.external_ref for o in stranded})
    plan = result.plan
    by_pid = {c.id: c for c in p.carriers}
    by_code = {v.id: v for v in p.vehicles}
    for ch in plan_changes(db, plan, affected, skip=set(handover)):
        o, ref = ch.order, ch.order.external_ref
        po = p.orders[ref]
        before_cost = float(o.bookings.filter(status="confirmed").values_list("price", flat=True).first() or 0.0) \
            if o.carrier_id and ref in free_set else 0.0
        total_before += before_cost
        move = {"order": ref, "from": _label(*ch.was), "to": {"kind": ch.kind, "code": ch.code}, "sla_before": o.risk}
        if ch.was[0] == "van" and (ch.kind, ch.code) != ch.was and ch.was[1] in db.routes:
            move["from_route"] = plan.routes.get(ch.was[1], [])  # the van it leaves, in the planner's order
        if ref not in free_set:
            move["reoptimized"] = True  # not affected itself: moved to make room for the affected orders
        if ch.kind == "unserved":
            move.update(cost_delta=round(po.unserved_penalty, 2), sla_after="late", eta=None, alternatives=[])
        else:
            if ch.kind == "carrier":
                c = by_pid[ch.pid]
                cost, risk = carrier_order_cost(p, c, po), carrier_risk(c, po)
            else:
                without = [s for s in ch.route if s[2:] != ref]
                cost = simulate_route(p, by_code[ch.code], ch.route).cost - simulate_route(p, by_code[ch.code], without).cost
                risk = 0.0
            move.update(cost_delta=round(cost - before_cost, 2), risk=round(risk, 2),
                        sla_after="on_time" if ch.eta is not None and ch.eta <= po.window[1] + 1e-6 else "late",
                        eta=(db.day0 + timedelta(minutes=ch.eta)).isoformat() if ch.eta is not None else None, route=ch.route,
                        alternatives=_alternatives(p, db, result.weighed.get(ref, []), (ch.kind, ch.pid or ch.code), po))
        moves.append(move)
    if handed is not None:
        for o in stranded:
            po = p.orders[o.external_ref]
            start = handed.starts.get(po.id)
            moves.append({"order": o.external_ref, "from": _label("van", broken.code), "to": {"kind": "van", "code": handed.van},
                          "handover": {"from": broken.code, "lat": broken.lat, "lon": broken.lon},
                          "cost_delta": round(handed.added / len(stranded), 2), "sla_before": o.risk, "risk": 0.0,
                          "sla_after": "on_time" if start is not None and start <= po.window[1] + 1e-6 else "late",
                          "eta": (db.day0 + timedelta(minutes=start)).isoformat() if start is not None else None,
                          "route": plan.routes.get(handed.van, handed.route), "alternatives": []})
    if not moves:
        return None
    total = evaluate(p, plan).cost - base_cost - total_before
    rank = {"on_time": 0, "at_risk": 1, "late": 2}
    worse = sum(1 for m in moves if rank.get(m["sla_after"], 2) > rank.get(m["sla_before"], 0))
    better = sum(1 for m in moves if rank.get(m["sla_after"], 2) < rank.get(m["sla_before"], 0))
    return decision_create(exception=exception, moves=moves, cost_delta=round(total, 2), sla_improved=better, sla_worsened=worse,
                           problem=replay_snapshot(db))


def _alternatives(p: pm.Problem, db: DbProblem, weighed: list, chosen: tuple[str, str], po: pm.Order) -> list[dict]:
    """The next best options the planner weighed for an order (up to three), priced as it priced them."""
    out = []
    by_pid = {c.id: c for c in p.carriers}
    for opt in weighed:
        if (opt.kind, opt.id) == chosen:
            continue
        risk = carrier_risk(by_pid[opt.id], po) if opt.kind == "carrier" else 0.0
        out.append({"kind": opt.kind, "code": db.carrier_of[opt.id][0] if opt.kind == "carrier" else opt.id,
                    "cost": round(opt.cost, 2), "risk": round(risk, 2), "price": round(opt.cost - risk, 2),
                    "eta": (db.day0 + timedelta(minutes=opt.eta)).isoformat() if opt.eta is not None else None})
        if len(out) == 3:
            break
    return out


def _stranded(exception: OrderException) -> list[Order]:
    """Orders on board a van that can no longer deliver them (it broke down or its driver is gone):
    they need another van to meet it and take them over."""
    if exception.vehicle_id is None or exception.vehicle.lat is None:
        return []
    return list(exception.orders.filter(status__in=ON_BOARD, vehicle_id=exception.vehicle_id)
                .select_related("hub", "vehicle", "carrier").order_by("window_end", "id"))


CAN_MOVE = [OrderStatus.CREATED, OrderStatus.PLANNED, OrderStatus.ASSIGNED, OrderStatus.BOOKED]


@dataclass
class NetworkPlan:
    db: DbProblem
    before: float            # the current plan's cost, by the evaluator
    after: float             # the planner's plan's cost
    moves: list[dict]        # orders whose place changes
    changed_ids: list[int]


def network_plan(*, organization_id: int, time_limit: float = 10.0, rules: dict | None = None,
                 costs: dict | None = None) -> NetworkPlan | None:
    """The production planner (hybrid) on the whole network from the current plan, with the rules in
    force or the given ones (a settings preview): the current plan's and the new plan's cost, and
    the orders that would move. None when nothing can move or a van holding orders is off duty."""

    movable = list(Order.objects.filter(organization_id=organization_id, status__in=CAN_MOVE)
                   .select_related("hub", "vehicle", "carrier"))
    if not movable:
        return None
    db = problem_from_db(organization_id=organization_id, extra_orders=movable, booked_count_as_room=True, rules=rules, costs=costs)
    p = db.problem
    pid_for = {(code, level): pid for pid, (code, level) in db.carrier_of.items()}
    current = Plan(routes={code: list(stops) for code, stops in db.routes.items() if stops})
    for o in movable:
        if o.status == OrderStatus.BOOKED and o.carrier_id:
            pid = pid_for.get((o.carrier.code, o.service_level))
            if pid is None:  # the carrier is down or no longer offers this: the current plan cannot keep it
                current.unserved.append(o.external_ref)
            else:
                current.carriers.setdefault(pid, []).append(o.external_ref)
        elif not o.vehicle_id:
            current.unserved.append(o.external_ref)
    if any(o.vehicle_id and o.status == OrderStatus.ASSIGNED and o.vehicle.code not in db.routes for o in movable):
        return None  # an order waits on a van that is off duty: that is a breakdown exception's job
    before = evaluate(p, current).cost
    plan = hybrid.solve(p, hybrid.Options(time_limit=time_limit), initial=current)
    after = evaluate(p, plan).cost
    holder: dict[str, tuple[str, str]] = {}
    for code, stops in plan.routes.items():
        for stop in stops:
            if stop.startswith("D:"):
                holder[stop[2:]] = ("van", code)
    for pid, refs in plan.carriers.items():
        for ref in refs:
            holder[ref] = ("carrier", db.carrier_of[pid][0])
    moves, changed_ids = [], []
    for o in movable:
        ref = o.external_ref
        old = ("van", o.vehicle.code) if o.vehicle_id else ("carrier", o.carrier.code) if o.carrier_id else None
        new = holder.get(ref)
        if new is None or new == old:
            continue
        changed_ids.append(o.id)
        moves.append({"order": ref, "from": {"kind": old[0], "code": old[1]} if old else None, "to": {"kind": new[0], "code": new[1]},
                      "cost_delta": 0.0, "sla_before": o.risk, "sla_after": o.risk, "eta": None,
                      "route": plan.routes.get(new[1]) if new[0] == "van" else None, "alternatives": []})
    return NetworkPlan(db, before, after, moves, changed_ids)


def replan_network(*, organization_id: int, time_limit: float = 10.0) -> Decision | None:
    """Re-plan the whole network with the production planner, starting from the current plan, and
    propose the moves if the new plan is cheaper (orders on board stay where they are). The planner
    keeps the current plan when it cannot beat it, so nothing moves without a gain."""

    result = network_plan(organization_id=organization_id, time_limit=time_limit)
    if result is None or result.before - result.after < policy_for(organization_id).replan_min_saving:
        return None
    db, before, after, moves, changed_ids = result.db, result.before, result.after, result.moves, result.changed_ids
    if not moves:
        return None
    saving = round(before - after, 2)
    exc, _ = exception_raise(
        organization_id=organization_id, kind=ExceptionKind.REPLAN, cause_key=f"replan:{clock.now():%Y%m%d}",
        title=f"Re-plan saves {saving:.2f}: {len(moves)} orders move", severity=Severity.LOW,
        cause="The planner found a cheaper plan for the network from the current one", order_ids=changed_ids, propose=False,
    )

    return decision_create(exception=exc, moves=moves, cost_delta=-saving, sla_improved=0, sla_worsened=0,
                           problem=replay_snapshot(db))
