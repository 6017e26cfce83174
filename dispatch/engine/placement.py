"""Placing new orders: the orders that have no home yet are answered like any disruption, by
the production planner from the plan in force (planner.repair through the bridge): each goes to
the cheapest of a carrier with room in its zone and window, a place in a nearby van's route, or
nothing yet (it stays for the next run), and the routes of the vans near them may be re-ordered
to fit them. Bookings are made after the database work commits, with no row lock held.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from carriers.adapters import CarrierError
from carriers.booking import book_order
from carriers.models import Carrier
from dispatch import clock
from dispatch.engine.bridge import plan_changes, problem_from_db
from dispatch.errors import Conflict
from dispatch.models import Order, Organization, Vehicle
from planner.model import Plan
from planner.repair import budget_for, repair
from dispatch.selectors import service_rules
from dispatch.selectors.availability import vans_unavailable
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.services.routes import route_recompute_etas, route_resequence
from dispatch.status import CarrierHealth, DutyStatus, OrderStatus

OPEN = (OrderStatus.CREATED, OrderStatus.PLANNED)


def plan_new_orders(*, organization_id: int, limit: int = 500) -> dict:
    """Give every order that has no assignment yet its cheapest feasible home (the service level's
    priority first, then the earliest window end)."""
    actor = ActorRef.system("planner:placement")
    rules = service_rules(organization_id)
    orders = list(Order.objects.filter(organization_id=organization_id, status__in=OPEN, vehicle__isnull=True, carrier__isnull=True)
                  .select_related("hub", "vehicle", "carrier").order_by("window_end", "id")[:limit])
    orders.sort(key=lambda o: (rules[o.service_level].priority, o.window_end, o.id))
    if not orders:
        return {"vans": 0, "carriers": 0, "left": 0}
    db = problem_from_db(organization_id=organization_id, extra_orders=orders, rules=rules, near=[(o.lat, o.lon, frozenset(o.requires)) for o in orders])
    result = repair(db.problem, Plan(routes={code: list(stops) for code, stops in db.routes.items()}),
                    [o.external_ref for o in orders], time_limit=budget_for(len(orders), settings.PLACEMENT_REOPTIMIZE_S), ordered=True)
    changes = plan_changes(db, result.plan, orders)
    new = {o.pk for o in orders}
    placed = {"vans": 0, "carriers": 0, "left": 0}
    touched = {c.code for c in changes if c.kind == "van"} | {c.was[1] for c in changes if c.was[0] == "van"}
    vans = {v.code: v for v in Vehicle.objects.filter(organization_id=organization_id, code__in=touched)}
    reason = f"cheapest option ({result.method})"
    for code in sorted(vans):
        mine = [c for c in changes if c.kind == "van" and c.code == code]
        with transaction.atomic():
            locked = {o.pk: o for o in Order.objects.select_for_update(of=("self",)).select_related("hub", "vehicle", "carrier")
                      .filter(pk__in=[c.order.pk for c in mine]).order_by("pk")}
            for c in mine:
                o = locked[c.order.pk]
                if (o.status in OPEN and o.vehicle_id is None and o.carrier_id is None) if c.order.pk in new else \
                        (o.status == OrderStatus.ASSIGNED and o.vehicle_id and o.vehicle.code == c.was[1]):
                    assignment_to_vehicle(order=o, vehicle=vans[code], actor=actor, reason=reason)
                    placed["vans"] += c.order.pk in new
            route_resequence(vehicle=vans[code], keys=result.plan.routes.get(code, []))
            route_recompute_etas(vehicle=vans[code])
    for c in changes:
        if c.kind == "carrier":
            try:  # no transaction open: the carrier is asked without holding the order's lock
                book_order(order=c.order, carrier_code=c.code, actor=actor, key=f"plan:{c.order.pk}:v{c.order.version}",
                           allowed=OPEN + ((OrderStatus.ASSIGNED,) if c.order.pk not in new else ()))
            except CarrierError:
                placed["left"] += c.order.pk in new  # refused or unreachable: the order waits for the next run
                continue
            except Conflict:
                continue  # it changed meanwhile (someone else placed it)
            placed["carriers"] += c.order.pk in new
        elif c.kind == "unserved":
            placed["left"] += c.order.pk in new  # another order the plan would drop keeps its place
    return placed


def why_nothing_placed(*, organization_id: int) -> list[str]:
    """What kept the planner from placing any order now, in the words an admin acts on: no van on
    duty or available, and each carrier past its pickup cutoff or not up."""
    now = timezone.localtime(clock.now(), clock.zone_of(Organization.objects.get(pk=organization_id)))
    why = []
    vans = Vehicle.objects.filter(organization_id=organization_id)
    on_duty = set(vans.filter(status=DutyStatus.ON_DUTY).values_list("pk", flat=True))
    away = vans_unavailable(organization_id=organization_id)
    if not on_duty:
        why.append(f"None of your {vans.count()} vans is on duty: a van goes on duty when its driver starts the shift "
                   f"in the driver app (or your system sets it through the API: POST /api/vehicles/<code>/status/).")
    elif on_duty <= away.keys():
        why.append("Every van on duty is unavailable now: " + "; ".join(f"{u.code}: {u.why}" for u in away.values() if u.vehicle_id in on_duty) + ".")
    for c in Carrier.objects.filter(organization_id=organization_id).order_by("name"):
        if c.health != CarrierHealth.UP:
            why.append(f"{c.name} is {c.get_health_display().lower()}.")
        elif now.time() > c.pickup_cutoff:
            why.append(f"{c.name} collects until {c.pickup_cutoff:%H:%M}; it is {now:%H:%M}, so it takes no more orders today.")
    return why or ["No van or carrier could take these orders in their windows (their zones, service levels, capacity or hours)."]
