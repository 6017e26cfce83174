"""Savings in money: a closed day as it happened against the static-rule baseline (what an
automation-only shipper runs: planner.baseline) on the same orders, vans and carriers,
both priced by the planner's own evaluator (planner.evaluate)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from carriers.models import Carrier
from dispatch.models import DailySavings, Event, Order, Shift, Vehicle
from planner import baseline, model as pm
from planner.evaluate import evaluate
from planner.travel import DETOUR_FACTOR, SPEED_KMH
from dispatch.selectors import service_rules
from dispatch.selectors.travel import travel_model
from dispatch.services.settlement import money
from dispatch.status import CarrierHealth, OrderStatus

from .bridge import _min, _order, planner_carrier

COUNTED = [OrderStatus.DELIVERED, OrderStatus.FAILED, OrderStatus.RETURNED]


def day_problem(*, organization_id: int, day: date) -> tuple[pm.Problem, pm.Plan] | None:
    """The day's orders that reached an outcome, the vans that worked it and the carriers (a carrier
    that went down that day is unavailable), with the plan that was actually carried out."""
    tz = timezone.get_current_timezone()
    day0 = datetime.combine(day, time(0), tzinfo=tz)
    orders = list(Order.objects.filter(organization_id=organization_id, service_date=day, status__in=COUNTED)
                  .select_related("hub", "carrier", "vehicle").order_by("delivered_at", "id"))
    if not orders:
        return None
    rules = service_rules(organization_id)
    p_orders = {o.external_ref: _order(o, day0, rules) for o in orders}
    hubs = {o.hub.code: pm.Hub(o.hub.code, pm.Point(o.hub.lat, o.hub.lon), o.hub.load_min_per_order) for o in orders}
    shifts = {}
    for sh in Shift.objects.filter(vehicle__organization_id=organization_id, starts_at__lt=day0 + timedelta(days=1), ends_at__gt=day0):
        a, b = shifts.get(sh.vehicle_id, (sh.starts_at, sh.ends_at))
        shifts[sh.vehicle_id] = (min(a, sh.starts_at), max(b, sh.ends_at))
    used = {o.vehicle_id for o in orders if o.vehicle_id and not o.carrier_id}
    vans = list(Vehicle.objects.filter(organization_id=organization_id, id__in=used | set(shifts)).select_related("fleet__hub"))
    vehicles = []
    for v in vans:
        hub = v.fleet.hub
        hubs.setdefault(hub.code, pm.Hub(hub.code, pm.Point(hub.lat, hub.lon), hub.load_min_per_order))
        start, end = shifts.get(v.id, (day0 + timedelta(hours=7), day0 + timedelta(hours=19)))
        vehicles.append(pm.Vehicle(id=v.code, start=pm.Point(hub.lat, hub.lon), end=pm.Point(hub.lat, hub.lon),
                                   available_from_min=max(0.0, _min(start, day0)), shift_end_min=_min(end, day0),
                                   capacity_kg=v.capacity_kg, fixed_cost=v.fixed_cost, cost_per_km=v.cost_per_km,
                                   cost_per_hour=v.cost_per_hour, skills=frozenset(v.skills)))
    down = set(Event.objects.filter(organization_id=organization_id, kind="carrier.health", created_at__gte=day0,
                                    created_at__lt=day0 + timedelta(days=1), data__to=CarrierHealth.DOWN)
               .values_list("carrier_id", flat=True))
    carriers = []
    for c in Carrier.objects.filter(organization_id=organization_id).prefetch_related("zones", "rates", "capacity_slots"):
        slots = [s for s in c.capacity_slots.all() if s.window_start < day0 + timedelta(days=1) and s.window_end > day0]
        cutoff = _min(datetime.combine(day, c.pickup_cutoff, tzinfo=tz), day0)
        for rate in c.rates.all():
            carriers.append(planner_carrier(c, rate, available=c.id not in down, cutoff_min=cutoff,
                                            capacity=sum(s.capacity for s in slots) if slots else 10**6, pool=c.code))
    problem = pm.Problem(f"day-{day}", 0.0, DETOUR_FACTOR, SPEED_KMH, hubs, vehicles, carriers, p_orders)
    problem.travel = travel_model().matrix(problem.points())  # None on the straight line
    return problem, actual_plan(problem, orders)


def actual_plan(problem: pm.Problem, orders: list[Order]) -> pm.Plan:
    """What happened as a plan: carrier orders with their carrier, van orders in the order they were
    delivered (each trip loads at the hub what fits), the rest unserved."""
    plan = pm.Plan()
    known = {c.id for c in problem.carriers}
    by_van: dict[str, list[str]] = {}
    for o in orders:
        if o.status != OrderStatus.DELIVERED:
            plan.unserved.append(o.external_ref)
        elif o.carrier_id and f"{o.carrier.code}|{o.service_level}" in known:
            plan.carriers.setdefault(f"{o.carrier.code}|{o.service_level}", []).append(o.external_ref)
        elif o.vehicle_id:
            by_van.setdefault(o.vehicle.code, []).append(o.external_ref)
        else:
            plan.unserved.append(o.external_ref)
    capacity = {v.id: v.capacity_kg for v in problem.vehicles}
    for code, refs in by_van.items():
        stops, trip, load = [], [], 0.0
        for ref in refs:
            w = problem.orders[ref].weight_kg
            if trip and load + w > capacity.get(code, float("inf")):
                stops += [f"P:{r}" for r in trip] + [f"D:{r}" for r in trip]
                trip, load = [], 0.0
            trip.append(ref)
            load += w
        stops += [f"P:{r}" for r in trip] + [f"D:{r}" for r in trip]
        plan.routes[code] = stops
    return plan


def savings_for_day(*, organization_id: int, day: date) -> DailySavings | None:
    built = day_problem(organization_id=organization_id, day=day)
    if built is None:
        DailySavings.objects.filter(organization_id=organization_id, day=day).delete()
        return None
    problem, actual = built
    base_plan = baseline.solve(problem)
    actual_cost, base = evaluate(problem, actual), evaluate(problem, base_plan)
    row, _ = DailySavings.objects.update_or_create(
        organization_id=organization_id, day=day,
        defaults={"orders": len(problem.orders), "actual": money(actual_cost.cost), "baseline": money(base.cost),
                  "baseline_unserved": len(base_plan.unserved)})
    return row


def savings_of(row: DailySavings) -> Decimal:
    return Decimal(row.baseline) - Decimal(row.actual)
