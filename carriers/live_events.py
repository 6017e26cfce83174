"""What the carrier integration tells live screens (infra.bus): a carrier's health changed."""

from __future__ import annotations

from infra.bus import EventType, declare

declare(EventType("carrier.changed", frozenset({"id", "code", "health", "reason"}), "A carrier's health changed."))


def carrier_changed(carrier) -> dict:
    return {"id": carrier.id, "code": carrier.code, "health": carrier.health, "reason": carrier.health_reason}
