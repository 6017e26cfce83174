"""An order's log as a person reads it: a sentence per event, on the product's clock, instead of the
event's kind and its raw data."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from dispatch import clock
from dispatch.status import FailureReason, OrderStatus, ProofKind, ServiceLevel

FIELDS = {"window_start": "window from", "window_end": "window until", "instructions": "instructions", "address": "address",
          "lat": "latitude", "lon": "longitude", "sla_deadline": "deadline", "customer_phone": "phone", "customer_email": "e-mail"}


def _label(choices, value) -> str:
    try:
        return choices(value).label.lower()
    except ValueError:
        return str(value or "–")


def _when(value) -> str:
    """An ISO time from the log as a person reads it (the date only when not today)."""
    try:
        local = timezone.localtime(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)
    today = timezone.localtime(clock.now()).date()
    return f"{local:%H:%M}" if local.date() == today else f"{local:%a} {local.day} {local:%b} {local:%H:%M}"


def _value(field: str, value) -> str:
    if field in ("window_start", "window_end", "sla_deadline"):
        return _when(value)
    return f"“{value}”" if isinstance(value, str) else str(value)


def sentence(event) -> str:
    d = event.data or {}
    kind = event.kind
    if kind == "order.created":
        return f"Order received ({_label(ServiceLevel, d.get('service_level'))})"
    if kind == "order.status":
        text = f"{_label(OrderStatus, d.get('from')).capitalize()} → {_label(OrderStatus, d.get('to'))}"
        if d.get("carrier"):
            text += f" ({d['carrier']})"
        elif event.vehicle_id and d.get("to") in ("assigned", "picked_up", "out_for_delivery", "delivered", "failed"):
            text += f" ({event.vehicle.code})"
        if d.get("failure_reason"):
            text += f": {_label(FailureReason, d['failure_reason'])}"
        return text
    if kind == "order.updated":
        changes = d.get("changes") or {}
        parts = [f"{FIELDS.get(f, f.replace('_', ' '))} {_value(f, old)} → {_value(f, new)}" for f, (old, new) in changes.items()]
        return "Changed: " + "; ".join(parts) if parts else "Changed"
    if kind == "order.proof":
        text = f"Proof of delivery: {_label(ProofKind, d.get('kind'))}"
        if d.get("kind") in (ProofKind.PIN, ProofKind.AGE_CHECK):
            text += " (checked)" if d.get("verified") else " (did not match)"
        return text + (f", from {d['source']}" if d.get("source") else "")
    if kind == "assignment.released":
        return "Taken off its van or carrier"
    if kind == "assignment.handover":
        return f"Handed over to van {event.vehicle.code}" if event.vehicle_id else "Handed over to another van"
    return kind.replace(".", " ").replace("_", " ").capitalize()


def why(event) -> str:
    return str((event.data or {}).get("reason") or "")


def timeline(events) -> list[dict]:
    return [{"event": e, "what": sentence(e), "why": why(e)} for e in events]
