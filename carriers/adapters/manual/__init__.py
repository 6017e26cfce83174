"""Carriers dispatched out of band (phone, e-mail, a portal): the booking is priced from the rate
card and recorded here; the carrier reports progress through the carrier-events API."""

from __future__ import annotations

from datetime import datetime, timedelta

from dispatch.selectors.travel import travel_model

from ..base import Adapter, BookingResult, CarrierError, Quote, register


@register
class ManualAdapter(Adapter):
    name = "manual"
    supports = frozenset({"quote", "book", "cancel"})

    def quote(self, *, order, now: datetime) -> Quote:
        rate = self.carrier.rates.filter(service_level=order.service_level).first()
        if rate is None:
            raise CarrierError(f"{self.carrier.name} has no rate for {order.get_service_level_display().lower()}")
        km, drive = travel_model().leg(order.hub.lat, order.hub.lon, order.lat, order.lon)
        promised = max(order.window_start, now + timedelta(minutes=self.carrier.lead_min + drive))
        return Quote(price=round(rate.base + rate.per_kg * order.weight_kg + rate.per_km * km, 2), promised_at=promised)

    def book(self, *, order, key: str, now: datetime) -> BookingResult:
        q = self.quote(order=order, now=now)
        return BookingResult(external_id=f"{self.carrier.code}-{key}", price=q.price, promised_at=q.promised_at)

    def cancel(self, *, booking) -> None:
        return None
