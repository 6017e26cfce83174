"""Writes about carriers: health and capacity they report, booking state, status events."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from django.db import IntegrityError, transaction

from carriers.live_events import carrier_changed
from dispatch import clock, ports
from dispatch.errors import InvalidTransition, ValidationFailed
from dispatch.facts import BookingReleased
from dispatch.live_events import order_changed
from dispatch.models import Order
from dispatch.selectors import service_rules
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_booking
from dispatch.services.log import event_record
from dispatch.services.orders import order_transition
from dispatch.services.proof import proof_record
from dispatch.services.routes import risk_for
from dispatch.status import Actor, OrderStatus
from infra import bus

from .models import (
    BookingStatus,
    CapacitySlot,
    Carrier,
    CarrierAlert,
    CarrierBooking,
    CarrierEventReceipt,
)

# Statuses a carrier may report for an order it carries.
CARRIER_REPORTABLE = {OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY, OrderStatus.DELIVERED,
                      OrderStatus.FAILED, OrderStatus.RETURNED}


def booking_mark_cancelled(*, booking: CarrierBooking) -> None:
    """Cancel our side now; tell the carrier after commit (a task, retried by the carrier's adapter)."""
    if booking.status not in (BookingStatus.CANCELLED, BookingStatus.COMPLETED):
        booking.status = BookingStatus.CANCELLED
        booking.save(update_fields=["status", "updated_at"])
        ports.CANCEL_WITH_CARRIER.start(booking.id)


def on_booking_released(fact: BookingReleased) -> None:
    """The one subscriber of the domain's BookingReleased (CarriersConfig.ready)."""
    booking_mark_cancelled(booking=CarrierBooking.objects.get(pk=fact.booking_id))


@transaction.atomic
def carrier_set_health(*, carrier_id: int, health: str, reason: str, actor: ActorRef) -> Carrier:
    carrier = Carrier.objects.select_for_update().get(pk=carrier_id)
    if carrier.health == health and carrier.health_reason == reason:
        return carrier
    previous = carrier.health
    carrier.health, carrier.health_reason, carrier.health_at = health, reason, clock.now()
    carrier.save(update_fields=["health", "health_reason", "health_at"])
    event_record(organization_id=carrier.organization_id, kind="carrier.health", actor=actor, carrier=carrier,
                 data={"from": previous, "to": health, "reason": reason})
    bus.publish(carrier.organization_id, "carrier.changed", carrier_changed(carrier))
    ports.DETECT_CARRIER.start(carrier_id)  # an outage raises an exception; a recovery resolves it
    return carrier


@transaction.atomic
def carrier_report_capacity(*, carrier_id: int, slots: list[dict], actor: ActorRef) -> int:
    carrier = Carrier.objects.get(pk=carrier_id)
    zones = {z.name: z for z in carrier.zones.all()}
    for slot in slots:
        zone_name = slot.get("zone")
        if zone_name and zone_name not in zones:
            raise ValidationFailed("Unknown zone", errors={"zone": [f"{carrier.code} has no zone {zone_name!r}"]})
    for slot in slots:
        CapacitySlot.objects.update_or_create(
            carrier=carrier, zone=zones.get(slot.get("zone")), window_start=slot["window_start"],
            window_end=slot["window_end"], defaults={"capacity": slot["capacity"]},
        )
    event_record(organization_id=carrier.organization_id, kind="carrier.capacity", actor=actor, carrier=carrier,
                 data={"slots": len(slots)})
    return len(slots)


@transaction.atomic
def booking_record_confirmed(*, order: Order, carrier: Carrier, external_id: str, price: float,
                             promised_at: datetime, idempotency_key: str, actor: ActorRef,
                             order_locked: bool = False) -> CarrierBooking:
    """Record a booking the carrier confirmed and make it the order's assignment. Idempotent on the
    key. `order_locked`: the caller read `order` under its lock in the open transaction."""

    existing = CarrierBooking.objects.select_for_update().filter(idempotency_key=idempotency_key).first()
    if existing and existing.status != BookingStatus.REQUESTED:
        return existing
    if not order_locked:
        order = Order.objects.select_for_update(of=("self",)).select_related("hub", "vehicle", "carrier").get(pk=order.pk)
    if existing:  # reserved before the carrier was called (carriers.booking): now confirmed
        booking = existing
        booking.external_id, booking.status, booking.price, booking.promised_at = (
            external_id, BookingStatus.CONFIRMED, round(price, 2), promised_at)
        booking.save(update_fields=["external_id", "status", "price", "promised_at", "updated_at"])
        if booking.carrier_id == carrier.id:
            booking.carrier = carrier  # known: not read again
    else:
        booking = CarrierBooking.objects.create(
            organization_id=order.organization_id, carrier=carrier, order=order, idempotency_key=idempotency_key,
            external_id=external_id, status=BookingStatus.CONFIRMED, price=round(price, 2), promised_at=promised_at,
        )
    assignment_to_booking(order=order, booking=booking, actor=actor, reason="booked")
    return booking


def carrier_event_apply(*, organization_id: int, carrier: Carrier, event_id: str, order_ref: str, status: str,
                        failure_reason: str = "", occurred_at: datetime | None = None,
                        promised_at: datetime | None = None, proof: tuple | list = ()) -> dict:
    """Apply one status event a carrier sent for an order it carries. Exactly once per event id."""
    if status not in CARRIER_REPORTABLE and status != "eta":
        raise ValidationFailed("Unsupported carrier status", errors={"status": [f"{status!r} is not a status a carrier reports"]})
    actor = ActorRef(Actor.CARRIER, carrier.code)
    with transaction.atomic():
        try:
            with transaction.atomic():
                CarrierEventReceipt.objects.create(carrier=carrier, event_id=event_id)
        except IntegrityError:
            return {"duplicate": True}
        order = (Order.objects.select_for_update(of=("self",)).select_related("hub", "vehicle", "carrier")
                 .filter(organization_id=organization_id, external_ref=order_ref).first())
        if order is None:
            raise ValidationFailed("Unknown order", errors={"order": [f"No order {order_ref!r}"]})
        if order.carrier_id != carrier.id:
            raise InvalidTransition(f"Order {order_ref} is not carried by {carrier.code}", field="order")
        if status == "eta":
            order.eta, order.risk = promised_at, risk_for(promised_at, order.window_end,
                                                                service_rules(order.organization_id)[order.service_level].at_risk_margin_min)
            order.save(update_fields=["eta", "risk", "updated_at"])
            bus.publish(organization_id, "order.changed", order_changed(order))
        else:
            steps = _steps_to(order.status, status)
            if steps is None:
                raise InvalidTransition(f"{carrier.code} reports {order_ref} {status}, but it is {order.status}", field="status",
                                        current=order.status)
            if not steps:  # an older event arriving after a newer one: nothing to do
                return {"duplicate": False, "stale": True}
            for item in proof if status == OrderStatus.DELIVERED else ():  # kept before the delivery, which checks it
                carrier_proof_record(order=order, carrier=carrier, item=item, actor=actor)
            for step in steps:  # a skipped or late-arriving step is implied by a later one
                order_transition(order=order, status=step, actor=actor, failure_reason=failure_reason if step == status else "",
                                 at=occurred_at, data={"event_id": event_id, **({"implied": True} if step != status else {})})
            if status in (OrderStatus.DELIVERED, OrderStatus.RETURNED):
                order.bookings.filter(status=BookingStatus.CONFIRMED).update(status=BookingStatus.COMPLETED)
    return {"duplicate": False}


PROGRESSION = [OrderStatus.BOOKED, OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY]
ENDINGS = {OrderStatus.DELIVERED: [], OrderStatus.FAILED: [], OrderStatus.RETURNED: [OrderStatus.FAILED]}


def _steps_to(current: str, target: str) -> list[str] | None:
    """The statuses to pass through from current to the carrier's reported status: [] if the report
    is older than what we know, None if it contradicts it."""
    if current == target:
        return []
    if target in PROGRESSION:
        if current in PROGRESSION:
            i, j = PROGRESSION.index(current), PROGRESSION.index(target)
            return PROGRESSION[i + 1:j + 1] if j > i else []
        return [] if current in ENDINGS else None
    if target in ENDINGS:
        if current in PROGRESSION:
            if target == OrderStatus.DELIVERED:  # delivered implies collected and out for delivery
                return PROGRESSION[PROGRESSION.index(current) + 1:] + [target]
            return ENDINGS[target] + [target]
        if current == OrderStatus.FAILED and target == OrderStatus.RETURNED:
            return [target]
        return [] if current in ENDINGS else None
    return None


def carrier_proof_record(*, order: Order, carrier: Carrier, item: dict, actor: ActorRef) -> None:
    """One proof a carrier sent with a delivery. Bad proof is kept as unverified, never fatal to the event."""
    raw = b""
    if item.get("data_base64"):
        try:
            raw = base64.b64decode(str(item["data_base64"]), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
    try:
        with transaction.atomic():
            proof_record(order=order, kind=str(item.get("kind", "")), source=f"carrier:{carrier.code}", actor=actor,
                         content_type=str(item.get("content_type", "")), data=raw, filename=f"{item.get('kind', 'proof')}.png",
                         pin=str(item.get("pin") or ""), checked=item.get("checked"), raise_on_mismatch=False)
    except ValidationFailed as exc:
        CarrierAlert.objects.create(carrier=carrier, kind="bad_proof", message=f"{order.external_ref}: {exc.message}"[:300],
                                    payload={"kind": item.get("kind"), "errors": exc.errors})


@transaction.atomic
def carrier_events_apply(*, organization_id: int, events: list[dict]) -> dict:
    """Apply a batch of carrier status events, all or nothing; duplicates are counted, not applied."""
    carriers = {c.code: c for c in Carrier.objects.filter(organization_id=organization_id, code__in={e["carrier"] for e in events})}
    unknown = sorted({e["carrier"] for e in events} - carriers.keys())
    if unknown:
        raise ValidationFailed("Unknown carrier", errors={"carrier": [f"No carrier {c!r} in this organization" for c in unknown]})
    results = [
        carrier_event_apply(organization_id=organization_id, carrier=carriers[e["carrier"]], event_id=e["event_id"],
                            order_ref=e["order"], status=e["status"], failure_reason=e.get("failure_reason", ""),
                            occurred_at=e.get("occurred_at"), promised_at=e.get("eta"))
        for e in events
    ]
    duplicates = sum(r["duplicate"] for r in results)
    return {"applied": len(results) - duplicates, "duplicates": duplicates}
