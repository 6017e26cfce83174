"""What the customer's tracking page and messages say about one order."""

from __future__ import annotations

from datetime import timedelta

from dispatch import clock
from dispatch.models import Event, Stop, Vehicle
from dispatch.status import Actor, OrderStatus, Risk
from planner.travel import haversine_km

from .base import CLOSED_STATUSES
from .orders import order_by_tracking_token


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
