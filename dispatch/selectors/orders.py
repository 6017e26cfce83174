"""Orders: the dashboard's table and figures, one order and its whole story."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, F, Q, QuerySet

from carriers.models import CarrierBooking
from dispatch.models import Assignment, CustomerMessage, Decision, Event, Order
from dispatch.scope import current
from dispatch.status import OPEN_ORDER_STATUSES, OrderStatus, ProofKind, Risk

from .base import CLOSED_STATUSES, one_row
from .configuration import required_proof

ORDER_SORTS = {"ref": "external_ref", "status": "status", "risk": "risk", "level": "service_level",
               "window_end": "window_end", "eta": "eta", "customer": "customer_name"}


def orders_for(*, organization_id: int, status: list[str] | None = None, service_level: str | None = None,
               hub: str | None = None, carrier: str | None = None, window_from: datetime | None = None,
               window_to: datetime | None = None, risk: str | None = None, search: str | None = None,
               open_only: bool = False, sort: str | None = None) -> QuerySet[Order]:
    qs = Order.objects.filter(organization_id=organization_id).select_related("hub", "vehicle", "carrier")
    if current().hub_ids is not None:
        qs = qs.filter(hub_id__in=current().hub_ids)
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


def order_get(*, organization_id: int, ref: str) -> Order:
    qs = Order.objects.select_related("hub", "vehicle", "carrier")
    if current().hub_ids is not None:
        qs = qs.filter(hub_id__in=current().hub_ids)
    return one_row(qs, "order", organization_id=organization_id, external_ref=ref)


def order_by_tracking_token(*, token: str) -> Order:
    return one_row(Order.objects.select_related("hub", "carrier", "vehicle"), "order", tracking_token=token)


def kpis_for(*, organization_id: int) -> dict:
    orders = Order.objects.filter(organization_id=organization_id)
    if current().hub_ids is not None:
        orders = orders.filter(hub_id__in=current().hub_ids)
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
        "proofs": (proofs := list(order.proofs.order_by("received_at", "id"))),
        "proof_held": sorted({ProofKind(p.kind).label.lower() for p in proofs if p.verified}),
        "proof_required": required_proof(order),
    }
