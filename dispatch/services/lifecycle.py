"""An order's lifecycle: the one place its status changes (the rules are in dispatch.status)."""

from __future__ import annotations

from datetime import datetime

from dispatch import clock, ports
from dispatch.errors import InvalidTransition
from dispatch.facts import IntegratorEvent, OrderStatusChanged
from dispatch.live_events import order_changed
from dispatch.models import Order
from dispatch.status import FailureReason, OrderStatus, Risk, can_transition
from infra import bus, facts

from . import ActorRef
from .log import event_record
from .proof import check_on_delivery
from .settlement import settle


def order_transition(*, order: Order, status: str, actor: ActorRef, reason: str = "",
                     failure_reason: str = "", at: datetime | None = None, data: dict | None = None) -> Order:
    """Move an order along its lifecycle. Must run inside a transaction holding the order's lock."""
    if status not in OrderStatus.values:
        raise InvalidTransition(f"Unknown status {status!r}", field="status")
    if order.status == status and status not in (OrderStatus.ASSIGNED, OrderStatus.BOOKED):
        return order  # repeating the current status changes nothing
    if not can_transition(order.status, status):
        raise InvalidTransition(
            f"Order {order.external_ref} is {OrderStatus(order.status).label.lower()} and cannot become "
            f"{OrderStatus(status).label.lower()}",
            field="status", current=order.status,
        )
    previous = order.status
    order.status = status
    order.version += 1
    if status == OrderStatus.DELIVERED:
        order.delivered_at = at or clock.now()
        order.eta = order.delivered_at
        order.risk = Risk.ON_TIME if order.delivered_at <= order.window_end else Risk.LATE
        check_on_delivery(order)
    if status == OrderStatus.FAILED:
        order.failure_reason = failure_reason or FailureReason.OTHER
    settle(order, status)
    order.save()
    event_record(organization_id=order.organization_id, kind="order.status", actor=actor, order=order,
                 vehicle=order.vehicle, carrier=order.carrier,
                 data={"from": previous, "to": status, "reason": reason, "failure_reason": order.failure_reason if status == OrderStatus.FAILED else "", **(data or {})})
    bus.publish(order.organization_id, "order.changed", order_changed(order))
    facts.record(OrderStatusChanged(order=order))
    facts.record(IntegratorEvent(organization_id=order.organization_id, event_type="order.status",
                                 data={"order": order.external_ref, "from": previous, "to": status,
                                       "eta": order.eta.isoformat() if order.eta else None}))
    if status == OrderStatus.FAILED:
        order_id = order.id
        ports.DETECT_ORDER_FAILURE.start(order_id)
    return order
