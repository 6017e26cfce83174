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

from carriers.models import CapacitySlot, Carrier
from dispatch import clock
from dispatch.engine.decisions import decision_create
from dispatch.geo import haversine_km
from dispatch.models import Decision, Order, OrderException, Shift, Stop, Vehicle
from dispatch.planner import hybrid
from dispatch.planner import model as pm
from dispatch.planner.evaluate import evaluate, simulate_route
from dispatch.planner.greedy import _insertions
from dispatch.planner.model import Plan
from dispatch.planner.pricing import carrier_can_take, carrier_order_cost, carrier_risk
from dispatch.planner.snapshot import snapshot_from_problem
from dispatch.reports import lane_reliability
from dispatch.selectors import policy_for, service_rules, slot_bookings
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
VAN_CANDIDATES = 6
POSITIONS = 4


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
    return pm.Hub(f"handover@{at[0]:.5f},{at[1]:.5f}", pm.Point(*at), HANDOVER_LOAD_MIN)


def problem_from_db(*, organization_id: int, extra_orders: list[Order], now: datetime | None = None,
                    booked_count_as_room: bool = False, rules: dict | None = None, costs: dict | None = None,
                    handover: dict[str, tuple[float, float]] | None = None) -> DbProblem:
    """The live state as a planner problem: on-duty vans where they are with their open stops (orders
    on board become committed), carriers that are up with their rate cards and remaining capacity,
    and the given orders. With booked_count_as_room, orders already booked with a carrier count as
    capacity that may be reassigned (a whole-network re-plan). Orders in `handover` (on board a van
    that broke down) are picked up where that van stands, not at their hub; so are orders whose open
    pickup stop is such a hand-over already."""
    now = now or clock.now()
    handover = dict(handover or {})
    day0 = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    now_min = _min(now, day0)
    vans = list(Vehicle.objects.filter(organization_id=organization_id, status=DutyStatus.ON_DUTY).select_related("fleet__hub"))
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
              .prefetch_related("zones", "rates", "capacity_slots")):
        slots = [s for s in c.capacity_slots.all() if s.window_end > now]
        room = (max(0, sum(s.capacity for s in slots) - (0 if booked_count_as_room else c.used)) if slots else 10**6)
        cutoff = _min(datetime.combine(day0.date(), c.pickup_cutoff, tzinfo=day0.tzinfo), day0)
        record = track_record.get(c.id, {})
        for rate in c.rates.all():
            rate = _with_costs(rate, costs, "rate")
            pid = f"{c.code}|{rate.service_level}"
            carrier_of[pid] = (c.code, rate.service_level)
            suffix = f"|{rate.service_level}"
            carriers.append(planner_carrier(c, rate, available=True, cutoff_min=cutoff, capacity=room,
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
    for ref, at in handover.items():
        if ref in planned:
            hub = _handover_hub(at)
            hubs[hub.id] = hub
            planned[ref] = replace(planned[ref], hub=hub.id)
    problem = pm.Problem("live", now_min, 1.3, 28.0, hubs, vehicles, carriers, planned)
    return DbProblem(problem, day0, routes, carrier_of, orders)


class SlotRooms:
    """Room left per carrier capacity slot (zone and time window), from what carriers report and what
    we booked. A carrier that reports no slots is not limited here."""

    def __init__(self, organization_id: int, now: datetime):

        self._km = haversine_km
        self.slots: dict[str, list] = {}
        for slot in CapacitySlot.objects.filter(carrier__organization_id=organization_id, window_end__gt=now).select_related("carrier", "zone"):
            booked = slot_bookings(slot=slot, statuses=[OrderStatus.BOOKED])
            self.slots.setdefault(slot.carrier.code, []).append([slot, slot.capacity - len(booked)])

    def find(self, carrier_code: str, order: Order, eta: datetime):
        """The slot that would take this order, 'unlimited' if the carrier reports none, or None if full or not covered."""
        slots = self.slots.get(carrier_code)
        if not slots:
            return "unlimited"
        for entry in slots:
            slot, room = entry
            in_zone = slot.zone is None or self._km(slot.zone.lat, slot.zone.lon, order.lat, order.lon) <= slot.zone.radius_km
            if in_zone and slot.window_start <= eta < slot.window_end and room > 0:
                return entry
        return None


def _option_label(kind: str, code: str) -> dict:
    return {"kind": kind, "code": code}


def propose(*, exception: OrderException) -> Decision | None:
    """Price every option for each affected open order and propose the cheapest set of moves."""
    affected = list(exception.orders.filter(status__in=[OrderStatus.CREATED, OrderStatus.PLANNED, OrderStatus.ASSIGNED,
                                                          OrderStatus.BOOKED, OrderStatus.FAILED])
                    .select_related("hub", "vehicle", "carrier").order_by("window_end", "id"))
    stranded = _stranded(exception)
    if not affected and not stranded:
        return None
    handover = {o.external_ref: (exception.vehicle.lat, exception.vehicle.lon) for o in stranded}
    db = problem_from_db(organization_id=exception.organization_id, extra_orders=affected + stranded, handover=handover)
    p = db.problem
    by_pid = {c.id: c for c in p.carriers}
    by_code = {v.id: v for v in p.vehicles}
    routes = {code: list(stops) for code, stops in db.routes.items()}
    for o in affected:  # take the affected orders out of the routes: every option is priced from scratch
        for code in routes:
            routes[code] = [s for s in routes[code] if s[2:] != o.external_ref]
    costs = {code: simulate_route(p, by_code[code], routes[code]).cost for code in routes}
    used: dict[str, int] = {}
    rooms = SlotRooms(exception.organization_id, clock.now())
    moves, total = [], 0.0
    for o in affected:
        po = p.orders[o.external_ref]
        options = []
        for c in p.carriers:
            if carrier_can_take(p, c, po) and used.get(c.id, 0) < c.capacity:
                eta = max(po.window[0], p.now_min + c.lead_min + p.minutes(p.km(p.hubs[po.hub].at, po.at)))
                if rooms.find(db.carrier_of[c.id][0], o, db.day0 + timedelta(minutes=eta)) is None:
                    continue  # no reported capacity left in that zone and window
                options.append((carrier_order_cost(p, c, po), "carrier", c.id, eta, None))
        vans = sorted((v for v in p.vehicles if po.requires <= v.skills), key=lambda v: p.km(v.start, po.at))[:VAN_CANDIDATES]
        for v in vans:
            best_v = None
            for _, route in _insertions(p, routes[v.id], po.id, v.start, POSITIONS):
                r = simulate_route(p, v, route)
                if r.feasible and (best_v is None or r.cost < best_v[0]):
                    best_v = (r.cost, route, r.delivery_starts.get(po.id))
            if best_v:
                options.append((best_v[0] - costs[v.id], "van", v.id, best_v[2], best_v[1]))
        options.sort(key=lambda x: x[0])
        current_kind = "van" if o.vehicle_id else "carrier" if o.carrier_id else None
        current_code = o.vehicle.code if o.vehicle_id else o.carrier.code if o.carrier_id else None
        before_cost = float(o.bookings.filter(status="confirmed").values_list("price", flat=True).first() or 0.0) if o.carrier_id else 0.0
        if not options:
            moves.append({"order": o.external_ref, "from": _option_label(current_kind, current_code) if current_kind else None,
                          "to": {"kind": "unserved", "code": None}, "cost_delta": round(po.unserved_penalty, 2),
                          "sla_before": o.risk, "sla_after": "late", "eta": None, "alternatives": []})
            total += po.unserved_penalty
            continue
        cost, kind, pid, eta, route = options[0]
        if kind == "van":
            routes[pid], costs[pid] = route, costs[pid] + cost
            code = pid
        else:
            used[pid] = used.get(pid, 0) + 1
            code = db.carrier_of[pid][0]
            slot = rooms.find(code, o, db.day0 + timedelta(minutes=eta))
            if isinstance(slot, list):
                slot[1] -= 1
        sla_after = "on_time" if eta is not None and eta <= po.window[1] + 1e-6 else "late"
        alternatives = [{"kind": k, "code": db.carrier_of[i][0] if k == "carrier" else i, "cost": round(c, 2),
                         "risk": round(carrier_risk(by_pid[i], po), 2) if k == "carrier" else 0.0,
                         "price": round(c - (carrier_risk(by_pid[i], po) if k == "carrier" else 0.0), 2),
                         "eta": (db.day0 + timedelta(minutes=e)).isoformat() if e is not None else None}
                        for c, k, i, e, _ in options[1:4]]
        moves.append({"order": o.external_ref, "from": _option_label(current_kind, current_code) if current_kind else None,
                      "to": {"kind": kind, "code": code}, "cost_delta": round(cost - before_cost, 2), "sla_before": o.risk,
                      "risk": round(carrier_risk(by_pid[pid], po), 2) if kind == "carrier" else 0.0,
                      "sla_after": sla_after, "eta": (db.day0 + timedelta(minutes=eta)).isoformat() if eta is not None else None,
                      "route": route if kind == "van" else None, "alternatives": alternatives})
        total += cost - before_cost
    if stranded:
        handed, cost = _hand_over(db, exception, stranded, routes, costs)
        moves += handed
        total += cost
    if not moves:
        return None
    rank = {"on_time": 0, "at_risk": 1, "late": 2}
    worse = sum(1 for m in moves if rank.get(m["sla_after"], 2) > rank.get(m["sla_before"], 0))
    better = sum(1 for m in moves if rank.get(m["sla_after"], 2) < rank.get(m["sla_before"], 0))

    return decision_create(exception=exception, moves=moves, cost_delta=round(total, 2), sla_improved=better, sla_worsened=worse,
                           problem=replay_snapshot(db))



def _stranded(exception: OrderException) -> list[Order]:
    """Orders on board a van that can no longer deliver them (it broke down or its driver is gone):
    they need another van to meet it and take them over."""
    if exception.vehicle_id is None or exception.vehicle.lat is None:
        return []
    return list(exception.orders.filter(status__in=ON_BOARD, vehicle_id=exception.vehicle_id)
                .select_related("hub", "vehicle", "carrier").order_by("window_end", "id"))


def _hand_over(db: DbProblem, exception: OrderException, stranded: list[Order], routes: dict, costs: dict) -> tuple[list[dict], float]:
    """The van that takes the stranded orders over: each candidate near the broken van gets all of
    them (one meeting: picked up where the broken van stands, then delivered), each inserted where
    the planner's evaluator finds it cheapest; the cheapest van wins. Moves in the decision's form,
    each with the meeting point; none when no van can take them (the call list is what is left)."""
    p = db.problem
    broken = exception.vehicle
    meet = pm.Point(broken.lat, broken.lon)
    refs = [o.external_ref for o in stranded]
    need_kg = sum(p.orders[r].weight_kg for r in refs)
    need_skills = frozenset().union(*(p.orders[r].requires for r in refs))
    candidates = sorted((v for v in p.vehicles if v.id != broken.code and need_skills <= v.skills and v.capacity_kg >= need_kg),
                        key=lambda v: p.km(v.start, meet))[:VAN_CANDIDATES]
    best = None
    for v in candidates:
        route, added = list(routes[v.id]), 0.0
        for ref in refs:
            options = [(simulate_route(p, v, r), r) for _, r in _insertions(p, route, ref, v.start, POSITIONS)]
            options = [(res.cost, r, res) for res, r in options if res.feasible]
            if not options:
                break
            cost, route, result = min(options, key=lambda x: x[0])
        else:
            added = simulate_route(p, v, route).cost - costs[v.id]
            if best is None or added < best[0]:
                best = (added, v.id, route, simulate_route(p, v, route))
    if best is None:
        return [], 0.0
    added, code, route, result = best
    routes[code], costs[code] = route, costs[code] + added
    moves = []
    for o in stranded:
        po = p.orders[o.external_ref]
        start = result.delivery_starts.get(po.id)
        sla_after = "on_time" if start is not None and start <= po.window[1] + 1e-6 else "late"
        moves.append({"order": o.external_ref, "from": _option_label("van", broken.code), "to": {"kind": "van", "code": code},
                      "handover": {"from": broken.code, "lat": broken.lat, "lon": broken.lon},
                      "cost_delta": round(added / len(stranded), 2), "sla_before": o.risk, "risk": 0.0, "sla_after": sla_after,
                      "eta": (db.day0 + timedelta(minutes=start)).isoformat() if start is not None else None,
                      "route": route, "alternatives": []})
    return moves, added


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
