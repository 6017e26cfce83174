"""The dispatcher's queue: live exceptions and their proposals, whom to call, what the tower and people decided."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Case, IntegerField, Q, Value, When

from dispatch import clock
from dispatch.errors import Forbidden
from dispatch.models import Decision, Event, Order, OrderException, Shift
from dispatch.scope import current
from dispatch.status import LIVE_EXCEPTION_STATES, DecisionState, ExceptionKind, OrderStatus, Severity

from .base import one_row


def exceptions_live(*, organization_id: int):
    # Most urgent first: by severity, then the longest waiting.
    rank = Case(*[When(severity=s, then=Value(i)) for i, s in enumerate(reversed(Severity.values))], output_field=IntegerField())
    qs = _exceptions_in_scope(OrderException.objects.filter(organization_id=organization_id, state__in=LIVE_EXCEPTION_STATES))
    return qs.select_related("carrier", "vehicle").prefetch_related("decisions").order_by(rank, "detected_at", "id")


def exception_get(*, organization_id: int, exception_id: int):
    return one_row(_exceptions_in_scope(OrderException.objects.all()), "exception", organization_id=organization_id, pk=exception_id)


def _exceptions_in_scope(qs):
    """Exceptions about an order or a van of the hubs in scope (all of them with no scope)."""
    scope = current().hub_ids
    if scope is None:
        return qs
    return qs.model.objects.filter(pk__in=qs.filter(Q(orders__hub_id__in=scope) | Q(vehicle__fleet__hub_id__in=scope)).values("pk"))


def decision_get(*, organization_id: int, decision_id: int):
    decision = one_row(Decision.objects.select_related("exception"), "decision", organization_id=organization_id, pk=decision_id)
    if current().hub_ids is not None:
        hubs = set(Order.objects.filter(organization_id=organization_id, external_ref__in=[m["order"] for m in decision.moves])
                   .values_list("hub_id", flat=True))
        if not hubs <= current().hub_ids:
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
    if current().hub_ids is not None:
        qs = qs.filter(hub_id__in=current().hub_ids)
    return qs.select_related("vehicle", "carrier").order_by("window_end", "id")


def call_list_size(exc) -> int:
    return _call_orders(exc).count()


def call_list(*, organization_id: int, exception_id: int) -> dict:
    """Whom a dispatcher calls about an exception: the driver of its van, and every customer whose
    order it still holds up, most urgent window first, with what to tell them."""
    exc = one_row(_exceptions_in_scope(OrderException.objects.filter(organization_id=organization_id)).select_related("vehicle"),
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


ACTIVITY_KINDS = ["decision.applied", "decision.partially_applied", "decision.rejected", "decision.undone", "decision.withdrawn",
                  "exception.raised",
                  "exception.resolved", "exception.dismissed", "exception.reopened", "exception.claimed", "exception.handed",
                  "exception.released", "carrier.health", "driver.refused", "driver.message"]


def activity_for(*, organization_id: int, limit: int = 40) -> list[dict]:
    """What the tower decided by itself and what people decided, newest first: each entry with who or
    what did it, a sentence, and the cost and SLA effect of decisions."""

    qs = Event.objects.filter(organization_id=organization_id, kind__in=ACTIVITY_KINDS)
    if current().hub_ids is not None:  # what concerns their hubs' orders or vans, and the organization's own (carriers)
        qs = qs.filter(Q(order__hub_id__in=current().hub_ids) | Q(vehicle__fleet__hub_id__in=current().hub_ids)
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
        elif e.kind == "decision.withdrawn" and d is not None:
            entry["text"] = f"Withdrew decision {d.id} for “{d.exception.title}”: {e.data.get('note', '')}"
        elif e.kind == "decision.undone":
            entry["text"] = f"Undid decision {e.data.get('decision')}: {len(e.data.get('orders', []))} orders back where they were"
        elif e.kind == "carrier.health":
            entry["text"] = f"{e.carrier.name if e.carrier else 'A carrier'} is {e.data.get('to', e.data.get('health', '?'))}" + (
                f": {e.data.get('reason')}" if e.data.get("reason") else "")
        elif e.kind == "driver.message":
            entry["text"] = f"{e.data.get('driver', 'A driver')} ({e.vehicle.code if e.vehicle else 'no van'}) writes: “{e.data.get('text', '')}”"
        elif e.kind == "driver.refused":
            entry["text"] = f"{e.data.get('driver', 'A driver')}'s app: {e.data.get('action', '').replace('_', ' ')} refused: {e.data.get('why', '')}"
        elif e.kind.startswith("exception."):
            entry["text"] = f"Exception {e.data.get('exception')} {e.kind.split('.', 1)[1]}" + (
                f" ({e.data.get('kind')}, {e.data.get('orders')} orders)" if e.kind == "exception.raised" else "") + (
                f": {e.data.get('note')}" if e.data.get("note") else "") + (
                f" by {e.data.get('holder')}" if e.data.get("holder") else "")
        entries.append(entry)
    return entries
