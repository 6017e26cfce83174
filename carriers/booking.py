"""The one way the product books an order with a carrier: through the carrier's adapter, and
never while holding a lock. Three steps: reserve (the order's row lock, briefly: a 'requested'
booking under the idempotency key), call the carrier (no transaction open), record (the lock
again: confirmed if the order did not change meanwhile, otherwise released and cancelled at the
carrier). A worker that dies between the steps leaves a 'requested' booking; booking again with
the same key is idempotent at the carrier and finishes it."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from dispatch import clock
from dispatch.errors import Conflict
from dispatch.models import Order
from dispatch.services import ActorRef

from .adapters import CarrierError, adapter_for
from .health import refresh
from .models import BookingStatus, Carrier, CarrierBooking
from .services import booking_mark_cancelled, booking_record_confirmed


def _reserve(order_id: int, carrier_code: str, key: str, allowed: tuple | None,
             existing: CarrierBooking | None) -> tuple[Order, Carrier, CarrierBooking, int]:
    with transaction.atomic():
        order = Order.objects.select_for_update(of=("self",)).select_related("hub", "vehicle", "carrier").get(pk=order_id)
        if allowed is not None and order.status not in allowed:
            raise Conflict(f"{order.external_ref} is {order.get_status_display().lower()} now; it was not booked.", current=order.status)
        carrier = Carrier.objects.get(organization_id=order.organization_id, code=carrier_code)
        if existing is None:  # the usual case: no read first
            try:
                with transaction.atomic():
                    existing = CarrierBooking.objects.create(idempotency_key=key, organization_id=order.organization_id,
                                                             carrier=carrier, order=order, status=BookingStatus.REQUESTED)
            except IntegrityError:  # a concurrent call with the same key reserved it first
                existing = CarrierBooking.objects.get(idempotency_key=key)
        return order, carrier, existing, order.version


def book_order(*, order, carrier_code: str, actor: ActorRef, key: str, allowed: tuple | None = None) -> CarrierBooking:
    """Book one order with a carrier. Idempotent on `key`: a retry returns the same booking. Raises
    CarrierError when the carrier refuses or cannot be reached, Conflict when the order changed
    while the carrier was being asked (the booking is then released and cancelled at the carrier) or
    is no longer in one of the `allowed` statuses."""
    existing = CarrierBooking.objects.filter(idempotency_key=key).select_related("carrier").first()
    if existing is not None and existing.status in (BookingStatus.CONFIRMED, BookingStatus.COMPLETED):
        return existing
    if existing is not None and existing.status == BookingStatus.REJECTED:
        raise CarrierError(f"{existing.carrier.name} refused this booking", code="booking_rejected")
    if existing is not None and existing.status == BookingStatus.CANCELLED:
        raise Conflict("This booking was released; book again with a new key.", current=existing.status)
    snapshot, carrier, booking, version = _reserve(order.pk, carrier_code, key, allowed, existing)
    try:
        result = adapter_for(carrier).book(order=snapshot, key=key, now=clock.now())
    except CarrierError:
        CarrierBooking.objects.filter(pk=booking.pk, status=BookingStatus.REQUESTED).update(status=BookingStatus.REJECTED)
        refresh(carrier)  # a failing carrier may now be degraded or down
        raise
    with transaction.atomic():
        locked = Order.objects.select_for_update(of=("self",)).select_related("hub", "vehicle", "carrier").get(pk=order.pk)
        if locked.version != version:
            booking = CarrierBooking.objects.select_for_update().get(pk=booking.pk)
            booking.external_id, booking.price = result.external_id, round(result.price, 2)
            booking.save(update_fields=["external_id", "price", "updated_at"])
            booking_mark_cancelled(booking=booking)
            raise Conflict(f"{locked.external_ref} changed while {carrier.name} was being asked; the booking was released.",
                           current=locked.status)
        confirmed = booking_record_confirmed(order=locked, carrier=carrier, external_id=result.external_id, price=result.price,
                                             promised_at=result.promised_at, idempotency_key=key, actor=actor, order_locked=True)
    order.__dict__.update({k: v for k, v in locked.__dict__.items() if not k.startswith("_")})
    return confirmed
