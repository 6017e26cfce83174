"""The project's carrier sandbox, native JSON dialect (python -m carriers.sandbox)."""

from __future__ import annotations

from datetime import datetime

from dispatch.selectors import required_proof

from ..base import Adapter, BookingResult, CarrierError, Quote, register
from . import mapping
from .client import SandboxClient


@register
class SandboxAdapter(Adapter):
    name = "sandbox"
    supports = frozenset({"quote", "book", "cancel", "track", "parse_webhook", "health_check"})

    def __init__(self, carrier):
        super().__init__(carrier)
        self.client = SandboxClient(carrier)

    def _maps(self):
        cfg = self.carrier.config or {}
        return cfg.get("status_map", {}), cfg.get("reason_map", {})

    def quote(self, *, order, now: datetime) -> Quote:
        r = self.client.quote(mapping.booking_request(order))
        if r.status_code != 200:
            raise CarrierError(f"{self.carrier.name} would not quote: {r.json().get('error', r.status_code)}", code="quote_refused")
        price, promised = mapping.quote_result(r.json())
        return Quote(price=price, promised_at=promised)

    def book(self, *, order, key: str, now: datetime) -> BookingResult:
        r = self.client.book(mapping.booking_request(order, required_proof(order)), key)
        if r.status_code not in (200, 201):
            reason = r.json().get("error", r.status_code) if r.headers.get("content-type", "").startswith("application/json") else r.status_code
            raise CarrierError(f"{self.carrier.name} refused the booking: {reason}", code="booking_rejected")
        external_id, price, promised = mapping.booking_result(r.json())
        return BookingResult(external_id=external_id, price=price, promised_at=promised)

    def cancel(self, *, booking) -> None:
        r = self.client.cancel(booking.external_id)
        if r.status_code not in (200, 404):
            raise CarrierError(f"{self.carrier.name} would not cancel {booking.external_id}: {r.json().get('error')}", code="cancel_refused")

    def track(self, *, booking) -> dict:
        return self.client.get(booking.external_id).json()

    def parse_webhook(self, *, body: dict):
        return mapping.webhook_events(body, *self._maps())

    def webhook_event_id(self, *, body: dict) -> str:
        return mapping.webhook_event_id(body)

    def health_check(self) -> bool:
        return self.client.health().status_code == 200
