"""Every read that views, consumers, reports and the planner need, scoped to one organization."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, F, Q, QuerySet
from django.shortcuts import get_object_or_404

from carriers.models import Carrier
from dispatch.models import Driver, Hub, Order, Stop, Vehicle
from dispatch.status import OPEN_ORDER_STATUSES, OrderStatus, Risk


def orders_for(*, organization_id: int, status: list[str] | None = None, service_level: str | None = None,
               hub: str | None = None, carrier: str | None = None, window_from: datetime | None = None,
               window_to: datetime | None = None, risk: str | None = None, search: str | None = None) -> QuerySet[Order]:
    qs = Order.objects.filter(organization_id=organization_id).select_related("hub", "vehicle", "carrier")
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
    return qs.order_by("window_end", "id")


def order_get(*, organization_id: int, ref: str) -> Order:
    return get_object_or_404(Order.objects.select_related("hub", "vehicle", "carrier"), organization_id=organization_id, external_ref=ref)


def order_by_tracking_token(*, token: str) -> Order:
    return get_object_or_404(Order.objects.select_related("hub", "carrier", "vehicle"), tracking_token=token)


def vehicle_get(*, organization_id: int, code: str) -> Vehicle:
    return get_object_or_404(Vehicle, organization_id=organization_id, code=code)


def driver_get(*, organization_id: int, code: str) -> Driver:
    return get_object_or_404(Driver, organization_id=organization_id, code=code)


def carrier_get(*, organization_id: int, code: str) -> Carrier:
    return get_object_or_404(Carrier, organization_id=organization_id, code=code)


def vehicles_for(*, organization_id: int) -> QuerySet[Vehicle]:
    return Vehicle.objects.filter(organization_id=organization_id).select_related("fleet").order_by("code")


def hubs_for(*, organization_id: int) -> QuerySet[Hub]:
    return Hub.objects.filter(organization_id=organization_id).order_by("code")


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
    return [
        {"order": s.order.external_ref, "kind": s.kind, "lat": s.lat, "lon": s.lon, "eta": s.eta,
         "window_start": s.order.window_start, "window_end": s.order.window_end, "service_min": s.order.service_min,
         "status": s.order.status}
        for s in stops
    ]


def exceptions_live(*, organization_id: int):
    from dispatch.models import OrderException
    from dispatch.status import LIVE_EXCEPTION_STATES

    return (OrderException.objects.filter(organization_id=organization_id, state__in=LIVE_EXCEPTION_STATES)
            .select_related("carrier", "vehicle").prefetch_related("decisions").order_by("-detected_at"))


def exception_get(*, organization_id: int, exception_id: int):
    from dispatch.models import OrderException

    return get_object_or_404(OrderException, organization_id=organization_id, pk=exception_id)


def decision_get(*, organization_id: int, decision_id: int):
    from dispatch.models import Decision

    return get_object_or_404(Decision.objects.select_related("exception"), organization_id=organization_id, pk=decision_id)


def decision_current(exception):
    from dispatch.status import DecisionState

    return exception.decisions.filter(state=DecisionState.PROPOSED).order_by("-id").first()


def exception_queue(*, organization_id: int) -> list[dict]:
    """The dispatcher's queue: live exceptions with their current proposal and presentation."""
    from dispatch.status import ExceptionKind, Severity

    items = []
    for exc in exceptions_live(organization_id=organization_id):
        decision = decision_current(exc)
        items.append({
            "exception": exc, "decision": decision,
            "severity_colour": Severity.colour(exc.severity), "kind_label": ExceptionKind(exc.kind).label,
            "order_count": exc.orders.count(),
            "needs_handover": decision is None and exc.orders.filter(status__in=[OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY]).exists(),
        })
    return items
