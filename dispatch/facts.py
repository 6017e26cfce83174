"""The facts the domain core records for the layers above it to act on (infra.facts): each is a
typed dataclass with exactly one subscriber, named here so that a reader finds it from the record.

| fact | recorded by | its one subscriber |
|---|---|---|
| OrderStatusChanged | services.lifecycle | the engine's customer messages (engine.messages.on_status_changed) |
| OrderEtaChanged | services.routes, services.assignments | engine.messages.on_eta_changed |
| VanApproaching | services.routes | engine.messages.on_van_approaching |
| OrderDetailsChanged | services.orders | engine.messages.on_details_changed |
| IntegratorEvent | services, the engine | integrations.webhooks.on_integrator_event |
| BookingReleased | services.assignments | carriers.services.on_booking_released |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from infra.facts import Fact

if TYPE_CHECKING:
    from dispatch.models import Order
    from dispatch.services import ActorRef


@dataclass(frozen=True)
class OrderStatusChanged(Fact):
    """An order's status changed (saved, in the caller's transaction): its customer may be told."""

    order: Order


@dataclass(frozen=True)
class OrderEtaChanged(Fact):
    """An order's ETA moved: its customer is told when it moved beyond `tolerance_min` from what they
    were told, or when it will miss its window."""

    order: Order
    tolerance_min: int


@dataclass(frozen=True)
class VanApproaching(Fact):
    """The van carrying an order has `stops_before` delivery stops before it."""

    order: Order
    stops_before: int


@dataclass(frozen=True)
class OrderDetailsChanged(Fact):
    """The customer or the shop changed an order's window, address or instructions (version saved)."""

    order: Order


@dataclass(frozen=True)
class IntegratorEvent(Fact):
    """An event for the organization's integrators' webhook subscriptions."""

    organization_id: int
    event_type: str
    data: dict


@dataclass(frozen=True)
class BookingReleased(Fact):
    """An order's carrier booking is no longer its home: the carrier is to be told."""

    booking_id: int
    actor: ActorRef
