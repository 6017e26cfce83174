"""The one way the product books an order with a carrier: through the carrier's adapter."""

from __future__ import annotations

from dispatch import clock
from dispatch.services import ActorRef

from .adapters import CarrierError, adapter_for
from .health import refresh
from .models import Carrier, CarrierBooking
from .services import booking_record_confirmed


def book_order(*, order, carrier_code: str, actor: ActorRef, key: str) -> CarrierBooking:
    """Book one order (caller holds its lock). Idempotent on `key`: a retry returns the same booking."""
    existing = CarrierBooking.objects.filter(idempotency_key=key).first()
    if existing:
        return existing
    carrier = Carrier.objects.get(organization_id=order.organization_id, code=carrier_code)
    try:
        result = adapter_for(carrier).book(order=order, key=key, now=clock.now())
    except CarrierError:
        refresh(carrier)  # a failing carrier may now be degraded or down
        raise
    return booking_record_confirmed(order=order, carrier=carrier, external_id=result.external_id, price=result.price,
                                    promised_at=result.promised_at, idempotency_key=key, actor=actor)
