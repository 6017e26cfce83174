"""Orders: creation, the one place status transitions are enforced, cancellation."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from controltower import events, jobs
from controltower.payloads import order_payload
from dispatch import clock
from dispatch.errors import InvalidTransition, ValidationFailed
from dispatch.models import Hub, Order, Organization
from dispatch.status import OrderStatus, StopKind

from . import ActorRef
from .lifecycle import order_transition
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
        jobs.enqueue("dispatch.tasks.plan_new_orders", organization_id)
    return created


def _lock(order_id: int) -> Order:
    return Order.objects.select_for_update(of=("self",)).select_related("hub", "vehicle", "carrier").get(pk=order_id)


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
