"""Facts a lower layer records and a higher layer reacts to, through handlers registered at start-up
(AppConfig.ready). The domain core says "this order changed status" or "this booking was released";
the carrier integration, which it must not import, registers what to do about it (tell subscribers,
cancel with the carrier). Handlers run in the caller's transaction, in registration order."""

from __future__ import annotations

from collections.abc import Callable

FACTS = {
    "integrator.event": "An event for integrators' webhook subscriptions: organization_id, event_type, data",
    "booking.released": "An order's carrier booking is no longer its home: booking_id, actor",
}

_handlers: dict[str, list[Callable]] = {}


def on(fact: str, handler: Callable) -> None:
    if fact not in FACTS:
        raise ValueError(f"Undeclared fact {fact!r}")
    if handler not in _handlers.setdefault(fact, []):
        _handlers[fact].append(handler)


def emit(fact: str, **data) -> None:
    if fact not in FACTS:
        raise ValueError(f"Undeclared fact {fact!r}")
    for handler in _handlers.get(fact, []):
        handler(**data)
