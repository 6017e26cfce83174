"""Orders: creation, the one place status transitions are enforced, cancellation."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from dispatch import clock

from controltower import events
from controltower.payloads import order_payload
from dispatch.errors import InvalidTransition, ValidationFailed
from dispatch.models import Hub, Order, Organization
from dispatch.status import FailureReason, OrderStatus, Risk, StopKind, can_transition

from . import ActorRef
from .log import event_record

ORDER_FIELDS = (
    "external_ref", "address", "lat", "lon", "window_start", "window_end", "sla_deadline", "service_level",
    "weight_kg", "volume_m3", "requires", "service_min", "customer_name", "customer_email", "customer_phone",
)


def _build(organization_id: int, hubs: dict[str, Hub], data: dict) -> Order:
    hub = hubs[data["hub"]]
    fields = {k: data[k] for k in ORDER_FIELDS if k in data}
    fields.setdefault("sla_deadline", data["window_end"])
    return Order(organization_id=organization_id, hub=hub, **fields)


@transaction.atomic
def orders_create(*, organization_id: int, orders: list[dict], actor: ActorRef) -> list[Order]:
    """Create a batch of already-validated orders in one transaction (all or nothing)."""
    codes = {o["hub"] for o in orders}
    hubs = {h.code: h for h in Hub.objects.filter(organization_id=organization_id, code__in=codes)}
    unknown = sorted(codes - hubs.keys())
    if unknown:
        raise ValidationFailed("Unknown hub", errors={"hub": [f"No hub with code {c!r}" for c in unknown]})
    refs = [o["external_ref"] for o in orders]
    if len(set(refs)) != len(refs):
        raise ValidationFailed("The batch repeats an external_ref", errors={"external_ref": ["Each order in a batch needs its own external_ref"]})
    taken = set(Order.objects.filter(organization_id=organization_id, external_ref__in=refs).values_list("external_ref", flat=True))
    if taken:
        raise ValidationFailed(
            "An order with this external_ref exists already",
            errors={"external_ref": [f"{r!r} exists already" for r in sorted(taken)]},
        )
    created = Order.objects.bulk_create([_build(organization_id, hubs, o) for o in orders])
    # bulk_create returns primary keys on PostgreSQL and SQLite >= 3.35.
    for order in created:
        event_record(organization_id=organization_id, kind="order.created", actor=actor, order=order,
                     data={"ref": order.external_ref, "service_level": order.service_level})
        events.publish(organization_id, "order.changed", order_payload(order))
    if Organization.objects.filter(pk=organization_id, auto_plan=True).exists():
        from dispatch.tasks import plan_new_orders, enqueue

        enqueue(plan_new_orders, organization_id)
    return created


def _lock(order_id: int) -> Order:
    return Order.objects.select_for_update(of=("self",)).select_related("hub", "vehicle", "carrier").get(pk=order_id)


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
    if status == OrderStatus.FAILED:
        order.failure_reason = failure_reason or FailureReason.OTHER
    order.save()
    event_record(organization_id=order.organization_id, kind="order.status", actor=actor, order=order,
                 vehicle=order.vehicle, carrier=order.carrier,
                 data={"from": previous, "to": status, "reason": reason, "failure_reason": order.failure_reason if status == OrderStatus.FAILED else "", **(data or {})})
    events.publish(order.organization_id, "order.changed", order_payload(order))
    from carriers.outbound import emit

    from .notifications import notify_status

    notify_status(order=order)
    emit(organization_id=order.organization_id, event_type="order.status",
         data={"order": order.external_ref, "from": previous, "to": status, "eta": order.eta.isoformat() if order.eta else None})
    if status == OrderStatus.FAILED:
        from dispatch.tasks import detect_order_failure, enqueue

        order_id = order.id
        enqueue(detect_order_failure, order_id)
    return order


@transaction.atomic
def order_set_status(*, organization_id: int, order_id: int, status: str, actor: ActorRef,
                     reason: str = "", failure_reason: str = "", at: datetime | None = None) -> Order:
    order = _lock(order_id)
    if order.organization_id != organization_id:
        raise InvalidTransition("Order belongs to another organization")
    order = order_transition(order=order, status=status, actor=actor, reason=reason, failure_reason=failure_reason, at=at)
    if status in (OrderStatus.PICKED_UP, OrderStatus.DELIVERED, OrderStatus.FAILED):
        from .routes import stop_complete_for_order

        stop_complete_for_order(order=order, kind=StopKind.PICKUP if status == OrderStatus.PICKED_UP else StopKind.DELIVERY,
                                at=at or clock.now())
    return order


@transaction.atomic
def order_cancel(*, organization_id: int, order_id: int, actor: ActorRef, reason: str = "") -> Order:
    order = _lock(order_id)
    order = order_transition(order=order, status=OrderStatus.CANCELLED, actor=actor, reason=reason or "cancelled")
    from .assignments import assignment_release

    assignment_release(order=order, actor=actor, reason="order cancelled")
    return order
