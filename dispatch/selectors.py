"""Every read that views, consumers, reports and the planner need, scoped to one organization."""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DecimalField,
    F,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from carriers.models import CapacitySlot, Carrier, CarrierBooking, CarrierCall
from dispatch import clock
from dispatch.errors import Forbidden, NotFound
from dispatch.models import (
    Assignment,
    CustomerMessage,
    Decision,
    Driver,
    Event,
    Hub,
    Order,
    OrderException,
    Policy,
    ScheduledChange,
    ServiceLevelRule,
    Shift,
    Stop,
    User,
    Vehicle,
)
from dispatch.status import (
    DEFAULT_SERVICE_RULES,
    LIVE_EXCEPTION_STATES,
    OPEN_ORDER_STATUSES,
    Actor,
    CarrierHealth,
    DecisionState,
    DutyStatus,
    ExceptionKind,
    OrderStatus,
    Risk,
    Role,
    Severity,
)
from planner.travel import haversine_km

# --- Hub scope -------------------------------------------------------------------------------
# A dispatcher scoped to hubs sees and acts on those hubs' orders, vans and exceptions only. The
# request's scope is set once (web.middleware.HubScopeMiddleware, the live socket) and
# every read below applies it; None means every hub of the organization.
_hub_scope: contextvars.ContextVar[frozenset[int] | None] = contextvars.ContextVar("hub_scope", default=None)


def user_hub_ids(user) -> frozenset[int] | None:
    """The hubs a user is scoped to (dispatchers only; ops managers and admins see every hub)."""

    if getattr(user, "role", None) != Role.DISPATCHER or not getattr(user, "pk", None):
        return None
    ids = frozenset(user.hubs.values_list("id", flat=True))
    return ids or None


@contextmanager
def hub_scope(hub_ids: frozenset[int] | None):
    token = _hub_scope.set(hub_ids)
    try:
        yield
    finally:
        _hub_scope.reset(token)


def scope_hub_ids() -> frozenset[int] | None:
    return _hub_scope.get()


def in_scope(order: Order) -> bool:
    scope = _hub_scope.get()
    return scope is None or order.hub_id in scope


def orders_for(*, organization_id: int, status: list[str] | None = None, service_level: str | None = None,
               hub: str | None = None, carrier: str | None = None, window_from: datetime | None = None,
               window_to: datetime | None = None, risk: str | None = None, search: str | None = None,
               open_only: bool = False, sort: str | None = None) -> QuerySet[Order]:
    qs = Order.objects.filter(organization_id=organization_id).select_related("hub", "vehicle", "carrier")
    if _hub_scope.get() is not None:
        qs = qs.filter(hub_id__in=_hub_scope.get())
    if open_only:
        qs = qs.exclude(status__in=CLOSED_STATUSES)
    if status:
        qs = qs.filter(status__in=status)
    if service_level:
        qs = qs.filter(service_level=service_level)
    if hub:
        qs = qs.filter(hub__code=hub)
    if carrier:
        qs = qs.filter(carrier__code=carrier)
    if window_from:
        qs = qs.filter(window_end__gte=window_from)
    if window_to:
        qs = qs.filter(window_start__lte=window_to)
    if risk:
        qs = qs.filter(risk=risk)
    if search:
        qs = qs.filter(Q(external_ref__icontains=search) | Q(customer_name__icontains=search) | Q(address__icontains=search))
    field = ORDER_SORTS.get((sort or "").lstrip("-"))
    if field:
        descending = (sort or "").startswith("-")
        return qs.order_by(F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True), "id")
    return qs.order_by("window_end", "id")


# Orders that need nobody any more; the dashboard's table shows the rest unless asked.
CLOSED_STATUSES = [OrderStatus.DELIVERED, OrderStatus.CANCELLED, OrderStatus.RETURNED]
def _one(queryset, what: str, **lookup):
    """The row of `queryset` matching `lookup`, or NotFound (which the edge answers with a 404)."""
    try:
        return queryset.get(**lookup)
    except queryset.model.DoesNotExist:
        raise NotFound(f"No such {what} in your organization.") from None


ORDER_SORTS = {"ref": "external_ref", "status": "status", "risk": "risk", "level": "service_level",
               "window_end": "window_end", "eta": "eta", "customer": "customer_name"}


def order_get(*, organization_id: int, ref: str) -> Order:
    qs = Order.objects.select_related("hub", "vehicle", "carrier")
    if _hub_scope.get() is not None:
        qs = qs.filter(hub_id__in=_hub_scope.get())
    return _one(qs, "order", organization_id=organization_id, external_ref=ref)


def order_by_tracking_token(*, token: str) -> Order:
    return _one(Order.objects.select_related("hub", "carrier", "vehicle"), "order", tracking_token=token)


def vehicle_get(*, organization_id: int, code: str) -> Vehicle:
    return _one(vehicles_for(organization_id=organization_id), "van", code=code)


def driver_get(*, organization_id: int, code: str) -> Driver:
    return _one(Driver.objects, "driver", organization_id=organization_id, code=code)


def carrier_get(*, organization_id: int, code: str) -> Carrier:
    return _one(Carrier.objects, "carrier", organization_id=organization_id, code=code)


def vehicles_for(*, organization_id: int) -> QuerySet[Vehicle]:
    qs = Vehicle.objects.filter(organization_id=organization_id).select_related("fleet")
    if _hub_scope.get() is not None:
        qs = qs.filter(fleet__hub_id__in=_hub_scope.get())
    return qs.order_by("code")


def hubs_for(*, organization_id: int) -> QuerySet[Hub]:
    qs = Hub.objects.filter(organization_id=organization_id)
    if _hub_scope.get() is not None:
        qs = qs.filter(id__in=_hub_scope.get())
    return qs.order_by("code")


def carriers_with_load(*, organization_id: int) -> list[Carrier]:
    """Carriers with how many open orders they hold now and their reported capacity."""
    open_statuses = [OrderStatus.BOOKED, OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY]
    carriers = list(
        Carrier.objects.filter(organization_id=organization_id)
        .annotate(used=Count("orders", filter=Q(orders__status__in=open_statuses)))
        .prefetch_related("capacity_slots")
        .order_by("code")
    )
    for carrier in carriers:
        carrier.capacity_total = sum(s.capacity for s in carrier.capacity_slots.all()) or None
    return carriers


def kpis_for(*, organization_id: int) -> dict:
    orders = Order.objects.filter(organization_id=organization_id)
    if _hub_scope.get() is not None:
        orders = orders.filter(hub_id__in=_hub_scope.get())
    by_status = dict(orders.values_list("status").annotate(n=Count("id")).order_by())
    delivered = orders.filter(status=OrderStatus.DELIVERED)
    delivered_n = delivered.count()
    on_time_n = delivered.filter(delivered_at__lte=F("window_end")).count()
    at_risk = orders.filter(status__in=OPEN_ORDER_STATUSES, risk__in=[Risk.AT_RISK, Risk.LATE]).count()
    return {
        "by_status": [
            {"value": p["value"], "label": p["label"], "colour": p["colour"], "count": by_status.get(p["value"], 0)}
            for p in OrderStatus.presentation()
        ],
        "total": sum(by_status.values()),
        "open": sum(n for s, n in by_status.items() if s in OPEN_ORDER_STATUSES),
        "delivered": delivered_n,
        "on_time_rate": round(100.0 * on_time_n / delivered_n, 1) if delivered_n else None,
        "at_risk": at_risk,
    }


def manifest_for(*, vehicle: Vehicle) -> list[dict]:
    """The vehicle's remaining stops, in order, as the driver app sees them."""
    stops = (Stop.objects.filter(route__vehicle=vehicle, route__active=True, completed_at__isnull=True)
             .select_related("order").order_by("route_id", "sequence"))
    rules = service_rules(vehicle.organization_id)
    return [
        {"order": s.order.external_ref, "kind": s.kind, "lat": s.lat, "lon": s.lon, "eta": s.eta,
         "window_start": s.order.window_start, "window_end": s.order.window_end, "service_min": s.order.service_min,
         "status": s.order.status, "proof_required": required_proof(s.order, rules) if s.kind == "delivery" else []}
        for s in stops
    ]


def exceptions_live(*, organization_id: int):


    # Most urgent first: by severity, then the longest waiting.
    rank = Case(*[When(severity=s, then=Value(i)) for i, s in enumerate(reversed(Severity.values))], output_field=IntegerField())
    qs = _exceptions_in_scope(OrderException.objects.filter(organization_id=organization_id, state__in=LIVE_EXCEPTION_STATES))
    return qs.select_related("carrier", "vehicle").prefetch_related("decisions").order_by(rank, "detected_at", "id")


def exception_get(*, organization_id: int, exception_id: int):

    return _one(_exceptions_in_scope(OrderException.objects.all()), "exception", organization_id=organization_id, pk=exception_id)


def _exceptions_in_scope(qs):
    """Exceptions about an order or a van of the hubs in scope (all of them with no scope)."""
    scope = _hub_scope.get()
    if scope is None:
        return qs
    return qs.model.objects.filter(pk__in=qs.filter(Q(orders__hub_id__in=scope) | Q(vehicle__fleet__hub_id__in=scope)).values("pk"))


def decision_get(*, organization_id: int, decision_id: int):

    decision = _one(Decision.objects.select_related("exception"), "decision", organization_id=organization_id, pk=decision_id)
    if _hub_scope.get() is not None:
        hubs = set(Order.objects.filter(organization_id=organization_id, external_ref__in=[m["order"] for m in decision.moves])
                   .values_list("hub_id", flat=True))
        if not hubs <= _hub_scope.get():
            raise Forbidden("This decision moves orders of hubs outside your scope; a dispatcher of those hubs or an "
                                   "admin decides it.")
    return decision


def decision_current(exception):

    return exception.decisions.filter(state=DecisionState.PROPOSED).defer("problem").order_by("-id").first()


def exception_queue(*, organization_id: int, kind: str | None = None, severity: str | None = None, hub: str | None = None,
                    holder: str | None = None, user_id: int | None = None, snoozed: bool = False) -> list[dict]:
    """The dispatcher's queue: live exceptions, most urgent first, with their current proposal and
    presentation, filtered by kind, severity, hub and holder ("me", "nobody" or a username);
    snoozed ones only when asked. A proposal's moves are all there, grouped by where they go."""

    qs = exceptions_live(organization_id=organization_id).select_related("holder")
    if kind:
        qs = qs.filter(kind=kind)
    if severity:
        qs = qs.filter(severity=severity)
    if hub:
        qs = qs.filter(Q(orders__hub__code=hub) | Q(vehicle__fleet__hub__code=hub)).distinct()
    if holder == "me":
        qs = qs.filter(holder_id=user_id)
    elif holder == "nobody":
        qs = qs.filter(holder__isnull=True)
    elif holder:
        qs = qs.filter(holder__username=holder)
    now = clock.now()
    if snoozed:
        qs = qs.filter(snoozed_until__gt=now)
    else:
        qs = qs.filter(Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now))
    items = []
    for exc in qs:
        decision = decision_current(exc)
        on_board = exc.orders.filter(status__in=[OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY]).exists()
        items.append({
            "exception": exc, "decision": decision,
            "severity_colour": Severity.colour(exc.severity), "kind_label": ExceptionKind(exc.kind).label,
            "order_count": exc.orders.count(),
            "needs_handover": decision is None and on_board,
            "calls": call_list_size(exc) if on_board or exc.kind in CALL_KINDS else 0,
            "groups": move_groups(decision.moves) if decision else [],
            "has_alternatives": bool(decision) and any(m.get("alternatives") for m in decision.moves),
        })
    return items


# Exceptions where people must be phoned: a van or driver is out with customers' orders.
CALL_KINDS = (ExceptionKind.VEHICLE_BREAKDOWN, ExceptionKind.DRIVER_NO_SHOW)
CALL_OPEN = [OrderStatus.CREATED, OrderStatus.PLANNED, OrderStatus.ASSIGNED, OrderStatus.BOOKED, OrderStatus.PICKED_UP,
             OrderStatus.OUT_FOR_DELIVERY, OrderStatus.FAILED]


def _call_orders(exc):
    qs = exc.orders.filter(status__in=CALL_OPEN)
    if _hub_scope.get() is not None:
        qs = qs.filter(hub_id__in=_hub_scope.get())
    return qs.select_related("vehicle", "carrier").order_by("window_end", "id")


def call_list_size(exc) -> int:
    return _call_orders(exc).count()


def call_list(*, organization_id: int, exception_id: int) -> dict:
    """Whom a dispatcher calls about an exception: the driver of its van, and every customer whose
    order it still holds up, most urgent window first, with what to tell them."""
    exc = _one(_exceptions_in_scope(OrderException.objects.filter(organization_id=organization_id)).select_related("vehicle"),
               "exception", pk=exception_id)
    driver = None
    if exc.vehicle_id:
        shift = (Shift.objects.filter(vehicle=exc.vehicle, starts_at__lte=clock.now() + timedelta(hours=12))
                 .select_related("driver").order_by("-starts_at").first())
        driver = shift.driver if shift else None
    rows = []
    for o in _call_orders(exc):
        holder = o.vehicle.code if o.vehicle_id else o.carrier.name if o.carrier_id else "nobody yet"
        rows.append({"order": o, "holder": holder, "on_board": o.status in (OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY),
                     "late": bool(o.eta and o.eta > o.window_end)})
    return {"exception": exc, "driver": driver, "rows": rows}


def move_groups(moves: list[dict]) -> list[dict]:
    """Moves grouped by destination, each group with its order count and cost change."""
    groups: dict[str, dict] = {}
    for m in moves:
        to = m.get("to") or {}
        label = f"{to.get('kind', '')} {to.get('code') or ''}".strip() or "unserved"
        g = groups.setdefault(label, {"destination": label, "key": label.replace(" ", "-"), "moves": [], "cost_delta": 0.0})
        g["moves"].append(m)
        g["cost_delta"] += float(m.get("cost_delta") or 0.0)
    return sorted(groups.values(), key=lambda g: (-len(g["moves"]), g["destination"]))


def order_story(*, organization_id: int, ref: str) -> dict:
    """Everything that happened to one order and why: the event log (who or what did it), where it
    was meant to go over time, the decisions that touched it, what the customer was told."""

    order = order_get(organization_id=organization_id, ref=ref)
    events = list(Event.objects.filter(order=order).order_by("created_at", "id"))
    decisions = []
    for d in (Decision.objects.filter(organization_id=organization_id, exception__orders=order)
              .select_related("exception").order_by("created_at", "id").distinct()):
        move = next((m for m in d.moves if m.get("order") == order.external_ref), None)
        if move is not None:
            decisions.append({"decision": d, "move": move})
    return {
        "order": order,
        "events": events,
        "assignments": list(Assignment.objects.filter(order=order).select_related("vehicle", "booking__carrier").order_by("version")),
        "bookings": list(CarrierBooking.objects.filter(order=order).select_related("carrier").order_by("created_at", "id")),
        "decisions": decisions,
        "messages": list(CustomerMessage.objects.filter(order=order).order_by("created_at", "id")),
        "exceptions": list(order.exceptions.order_by("-detected_at")),
        "proofs": list(order.proofs.order_by("received_at", "id")),
        "proof_required": required_proof(order),
    }


def slot_bookings(*, slot, statuses) -> list[Order]:
    """The orders that count against one carrier capacity slot: the carrier's orders in the given
    statuses, delivered inside the slot's zone (any, for a slot without one) within its window
    (by ETA, or the window's start before an ETA is known)."""


    orders = list(Order.objects.filter(carrier_id=slot.carrier_id, status__in=statuses)
                  .annotate(delivery_at=Coalesce("eta", "window_start"))
                  .filter(delivery_at__gte=slot.window_start, delivery_at__lt=slot.window_end)
                  .only("id", "lat", "lon", "window_start", "window_end", "eta"))
    if slot.zone_id:
        zone = slot.zone
        orders = [o for o in orders if haversine_km(zone.lat, zone.lon, o.lat, o.lon) <= zone.radius_km]
    return orders


def planned_capacity(*, organization_id: int, hub_id: int, start: datetime, end: datetime, van_orders_per_hour: float) -> float:
    """Deliveries planned for a hub's area in [start, end): its on-duty vans on shift then, at the
    policy's deliveries per van-hour, plus what carriers reported for slots covering the hub."""

    hours = max(0.0, (end - start).total_seconds() / 3600)
    vans = Vehicle.objects.filter(organization_id=organization_id, fleet__hub_id=hub_id, status=DutyStatus.ON_DUTY)
    on_shift = set(Shift.objects.filter(vehicle__in=vans, starts_at__lt=end, ends_at__gt=start).values_list("vehicle_id", flat=True))
    without_shifts = set(vans.exclude(shifts__isnull=False).values_list("id", flat=True))
    capacity = len(on_shift | without_shifts) * van_orders_per_hour * hours
    hub = Hub.objects.get(pk=hub_id)
    for slot in (CapacitySlot.objects.filter(carrier__organization_id=organization_id, window_start__lt=end, window_end__gt=start)
                 .exclude(carrier__health=CarrierHealth.DOWN).select_related("zone")):
        if slot.zone_id and haversine_km(slot.zone.lat, slot.zone.lon, hub.lat, hub.lon) > slot.zone.radius_km:
            continue
        overlap = (min(end, slot.window_end) - max(start, slot.window_start)).total_seconds()
        capacity += slot.capacity * overlap / max(1.0, (slot.window_end - slot.window_start).total_seconds())
    return capacity


def colleagues(*, organization_id: int):
    """Active people of the organization who act on exceptions (to hand one to)."""

    return User.objects.filter(organization_id=organization_id, is_active=True, role__in=[Role.DISPATCHER, Role.ADMIN]).order_by("username")


# --- The organization's rules in force (one read per decision) ----------------------------

_policy_scope: contextvars.ContextVar[dict | None] = contextvars.ContextVar("policy_scope", default=None)


@contextmanager
def one_policy_read():
    """Inside this block (one decision applied to many orders) the organization's rules are read
    once: the policy, the service rules and whatever else is read through `scoped`."""
    token = _policy_scope.set({})
    try:
        yield
    finally:
        _policy_scope.reset(token)


def scoped(key: tuple, read):
    """`read()`, once per key inside `one_policy_read`; every time outside it. For settings that
    one piece of work should see as they were when it began (the result is shared: not mutated)."""
    scope = _policy_scope.get()
    if scope is None:
        return read()
    if key not in scope:
        scope[key] = read()
    return scope[key]


def policy_for(organization_id: int):
    scope = _policy_scope.get()
    if scope is not None and organization_id in scope:
        return scope[organization_id]

    policy = Policy.objects.get_or_create(organization_id=organization_id)[0]
    for change in due_changes(organization_id, ScheduledChange.Target.POLICY):
        for field, value in change.values.items():
            setattr(policy, field, value)
    if scope is not None:
        scope[organization_id] = policy
    return policy


def service_rules(organization_id: int) -> dict:
    """The organization's rule for every service level, in force now: what it configured, and the
    product's defaults for a level it has not."""
    scope = _policy_scope.get()
    if scope is not None and ("rules", organization_id) in scope:
        return dict(scope[("rules", organization_id)])
    rules = {r.service_level: r for r in ServiceLevelRule.objects.filter(organization_id=organization_id)}
    for level, defaults in DEFAULT_SERVICE_RULES.items():
        rules.setdefault(level, ServiceLevelRule(organization_id=organization_id, service_level=level, **defaults))
    for change in due_changes(organization_id, ScheduledChange.Target.SERVICE_RULE):
        rule = rules.get(change.key)
        if rule is not None:
            for field, value in change.values.items():
                setattr(rule, field, Decimal(str(value)) if isinstance(rule._meta.get_field(field), DecimalField) else value)
    if scope is not None:
        scope[("rules", organization_id)] = rules
    return dict(rules)


def required_proof(order: Order, rules: dict | None = None) -> list[str]:
    """Proof of delivery an order needs: its service level's and its own."""
    rules = rules or service_rules(order.organization_id)
    rule = rules.get(order.service_level)
    return sorted(set(order.proof_required or []) | set(getattr(rule, "proof_required", None) or []))


def due_changes(organization_id: int, target: str) -> list[ScheduledChange]:
    """Scheduled changes whose moment has come but that the beat has not written yet: in force now."""
    return list(ScheduledChange.objects.filter(organization_id=organization_id, target=target, applied_at__isnull=True,
                                               cancelled_at__isnull=True, effective_at__lte=clock.now()).order_by("effective_at", "id"))


ACTIVITY_KINDS = ["decision.applied", "decision.partially_applied", "decision.rejected", "decision.undone", "exception.raised",
                  "exception.resolved", "exception.dismissed", "exception.reopened", "exception.claimed", "exception.handed",
                  "exception.released", "carrier.health"]


def activity_for(*, organization_id: int, limit: int = 40) -> list[dict]:
    """What the tower decided by itself and what people decided, newest first: each entry with who or
    what did it, a sentence, and the cost and SLA effect of decisions."""

    qs = Event.objects.filter(organization_id=organization_id, kind__in=ACTIVITY_KINDS)
    if _hub_scope.get() is not None:  # what concerns their hubs' orders or vans, and the organization's own (carriers)
        qs = qs.filter(Q(order__hub_id__in=_hub_scope.get()) | Q(vehicle__fleet__hub_id__in=_hub_scope.get())
                       | Q(order__isnull=True, vehicle__isnull=True))
    events = list(qs.select_related("carrier", "vehicle").order_by("-created_at", "-id")[:limit])
    decision_ids = {e.data.get("decision") for e in events if e.kind.startswith("decision.")} - {None}
    decisions = {d.id: d for d in Decision.objects.filter(organization_id=organization_id, id__in=decision_ids)
                 .select_related("exception")}
    entries = []
    for e in events:
        d = decisions.get(e.data.get("decision"))
        who = {"system": "the tower", "api": e.actor}.get(e.actor_type, e.actor)
        if e.actor == "policy":
            who = "the tower (within policy)"
        entry = {"event": e, "who": who, "decision": d, "undoable": False, "text": e.kind.replace(".", " ")}
        if e.kind in ("decision.applied", "decision.partially_applied") and d is not None:
            moved = sum(1 for m in d.moves if m.get("applied"))
            entry["text"] = f"{'Applied' if e.kind == 'decision.applied' else 'Partly applied'} decision {d.id} for “{d.exception.title}”: {moved} orders moved"
            entry["cost"] = d.cost_delta
            entry["sla"] = (d.sla_improved, d.sla_worsened)
        elif e.kind == "decision.rejected" and d is not None:
            entry["text"] = f"Rejected decision {d.id} for “{d.exception.title}”"
        elif e.kind == "decision.undone":
            entry["text"] = f"Undid decision {e.data.get('decision')}: {len(e.data.get('orders', []))} orders back where they were"
        elif e.kind == "carrier.health":
            entry["text"] = f"{e.carrier.name if e.carrier else 'A carrier'} is {e.data.get('to', e.data.get('health', '?'))}" + (
                f": {e.data.get('reason')}" if e.data.get("reason") else "")
        elif e.kind.startswith("exception."):
            entry["text"] = f"Exception {e.data.get('exception')} {e.kind.split('.', 1)[1]}" + (
                f" ({e.data.get('kind')}, {e.data.get('orders')} orders)" if e.kind == "exception.raised" else "") + (
                f": {e.data.get('note')}" if e.data.get("note") else "") + (
                f" by {e.data.get('holder')}" if e.data.get("holder") else "")
        entries.append(entry)
    return entries


def van_nearness(order) -> tuple[int, float] | None:
    """(delivery stops the van has before this order, km from the van to it), for an order on a
    van's active route; None otherwise."""
    if not order.vehicle_id or order.status in CLOSED_STATUSES:
        return None
    mine = Stop.objects.filter(order=order, kind="delivery", completed_at__isnull=True, route__active=True).first()
    van = Vehicle.objects.filter(pk=order.vehicle_id).values_list("lat", "lon").first()
    if mine is None or van is None or van[0] is None:
        return None
    before = Stop.objects.filter(route_id=mine.route_id, completed_at__isnull=True, kind="delivery", sequence__lt=mine.sequence).count()
    return before, haversine_km(van[0], van[1], order.lat, order.lon)


def tracking_view(*, token: str) -> dict:
    """What the customer's public page says about one order, and nothing else: its status, whether
    it is late or at risk and by how much, the current estimate, why (the last change), how many
    stops the van has before it, and what the customer can do."""

    order = order_by_tracking_token(token=token)
    open_order = order.status not in (OrderStatus.DELIVERED, OrderStatus.CANCELLED, OrderStatus.RETURNED, OrderStatus.FAILED)
    late_by = None
    if open_order and order.eta and order.eta > order.window_end:
        late_by = int((order.eta - order.window_end).total_seconds() // 60)
    near = van_nearness(order) if open_order else None
    stops_before, distance_km = near if near else (None, None)
    last_change = (Event.objects.filter(order=order, kind__in=["assignment.vehicle", "assignment.booking", "order.status"])
                   .order_by("-created_at", "-id").first())
    moved_by_decision = bool(last_change and str(last_change.data.get("reason", "")).startswith("decision"))
    return {
        "order": order, "open": open_order, "late_by_min": late_by,
        "at_risk": open_order and late_by is None and order.risk == Risk.AT_RISK,
        "stops_before": stops_before, "near": stops_before is not None and stops_before <= 3,
        "distance_km": round(distance_km, 1) if distance_km is not None else None,
        "carrier_name": order.carrier.name if order.carrier_id else None,
        "moved_by_decision": moved_by_decision,
    }


def customer_changes_since(*, order, hours: int) -> int:
    """How many changes the customer made to their order in the last hours (the tracking page's limit)."""

    return Event.objects.filter(order=order, kind="order.updated", actor_type=Actor.CUSTOMER,
                                created_at__gte=clock.now() - timedelta(hours=hours)).count()


def carrier_story(*, organization_id: int, code: str) -> dict:
    """One carrier as a dispatcher needs it: health over time with reasons, open bookings, reported
    capacity per zone and window against what is booked there, recent failed calls and deliveries."""

    carrier = _one(Carrier.objects, "carrier", organization_id=organization_id, code=code)
    now = clock.now()
    slots = []
    for slot in CapacitySlot.objects.filter(carrier=carrier, window_end__gt=now).select_related("zone").order_by("window_start"):
        booked = len(slot_bookings(slot=slot, statuses=[OrderStatus.BOOKED, OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY]))
        slots.append({"slot": slot, "booked": booked, "left": slot.capacity - booked})
    return {
        "carrier": carrier,
        "health": list(Event.objects.filter(carrier=carrier, kind="carrier.health").order_by("-created_at")[:30]),
        "bookings": list(CarrierBooking.objects.filter(carrier=carrier, status__in=["requested", "confirmed"])
                         .select_related("order").order_by("order__window_end")[:300]),
        "slots": slots,
        "failed_calls": list(CarrierCall.objects.filter(carrier=carrier, ok=False).order_by("-at")[:20]),
        "failed_deliveries": list(Order.objects.filter(carrier=carrier, status=OrderStatus.FAILED).order_by("-updated_at")[:20]),
    }


def vehicle_story(*, organization_id: int, code: str) -> dict:
    """One van: its route in stop order with planned and live ETAs, driver and shift, load against
    capacity, and how old its last ping is."""

    vehicle = _one(vehicles_for(organization_id=organization_id).select_related("fleet__hub"), "van", code=code)
    now = clock.now()
    stops = list(Stop.objects.filter(route__vehicle=vehicle, route__active=True)
                 .select_related("order").order_by("route_id", "sequence"))
    on_board = [s.order for s in stops if s.kind == "delivery" and s.completed_at is None]
    shift = (Shift.objects.filter(vehicle=vehicle, starts_at__lte=now, ends_at__gt=now).select_related("driver").first()
             or Shift.objects.filter(vehicle=vehicle, ends_at__gt=now).select_related("driver").order_by("starts_at").first())
    load_kg = sum(o.weight_kg for o in on_board)
    return {
        "vehicle": vehicle, "stops": stops, "shift": shift,
        "load_kg": load_kg, "load_share": load_kg / vehicle.capacity_kg if vehicle.capacity_kg else None,
        "ping_age_min": int((now - vehicle.position_at).total_seconds() // 60) if vehicle.position_at else None,
        "path": [[vehicle.lat, vehicle.lon]] + [[s.lat, s.lon] for s in stops if s.completed_at is None] if vehicle.lat is not None else [],
    }
