"""A carrier with a REST API and webhooks, described by an admin in its configuration."""

from __future__ import annotations

from datetime import datetime

from ..base import Adapter, BookingResult, CarrierError, register
from . import mapping
from .client import GenericClient

OPERATION_ENDPOINTS = {"book": "book", "cancel": "cancel", "track": "track", "health_check": "health"}


@register
class GenericAdapter(Adapter):
    name = "generic"

    def __init__(self, carrier):
        super().__init__(carrier)
        self.config = carrier.config or {}
        self.client = GenericClient(carrier)
        endpoints = self.config.get("endpoints", {})
        self.supports = frozenset({op for op, ep in OPERATION_ENDPOINTS.items() if ep in endpoints}
                                  | ({"parse_webhook"} if self.config.get("webhook") else set()))

    def _need(self, operation: str) -> None:
        if operation not in self.supports:
            self._unsupported(operation)

    def book(self, *, order, key: str, now: datetime) -> BookingResult:
        self._need("book")
        r = self.client.call("book", json=mapping.booking_request(self.config, order, key))
        if r.status_code not in (200, 201):
            raise CarrierError(f"{self.carrier.name} refused the booking (HTTP {r.status_code}): {r.text[:200]}", code="booking_rejected")
        external_id, price, promised = mapping.booking_result(self.config, r.json())
        return BookingResult(external_id=external_id, price=price, promised_at=promised)

    def cancel(self, *, booking) -> None:
        self._need("cancel")
        r = self.client.call("cancel", external_id=booking.external_id)
        if r.status_code not in (200, 202, 204, 404):
            raise CarrierError(f"{self.carrier.name} would not cancel (HTTP {r.status_code})", code="cancel_refused")

    def track(self, *, booking) -> dict:
        self._need("track")
        return self.client.call("track", external_id=booking.external_id).json()

    def parse_webhook(self, *, body: dict):
        self._need("parse_webhook")
        return mapping.webhook_events(self.config, body)

    def webhook_event_id(self, *, body: dict) -> str:
        return mapping.webhook_event_id(self.config, body)

    def health_check(self) -> bool:
        self._need("health_check")
        return self.client.call("health").status_code == 200
