"""What a live screen receives: the facts the domain publishes (dispatch.live_events,
carriers.live_events) with their presentation added, the status labels and colours."""

from __future__ import annotations

from carriers.live_events import carrier_changed
from dispatch.live_events import order_changed, vehicle_changed
from dispatch.status import CarrierHealth, DutyStatus, OrderStatus, Risk
from infra import bus


def present_order(facts: dict) -> dict:
    return {**facts, "status_label": OrderStatus(facts["status"]).label, "colour": OrderStatus.colour(facts["status"]),
            "risk_colour": Risk.colour(facts["risk"])}


def present_vehicle(facts: dict) -> dict:
    return {**facts, "colour": DutyStatus.colour(facts["status"])}


def present_carrier(facts: dict) -> dict:
    return {**facts, "colour": CarrierHealth.colour(facts["health"])}


def register() -> None:
    """Every live event goes out with its presentation (called when the web edge starts)."""
    bus.present("order.changed", present_order)
    bus.present("vehicle.changed", present_vehicle)
    bus.present("carrier.changed", present_carrier)


def order_payload(order) -> dict:
    return present_order(order_changed(order))


def vehicle_payload(vehicle) -> dict:
    return present_vehicle(vehicle_changed(vehicle))


def carrier_payload(carrier) -> dict:
    return present_carrier(carrier_changed(carrier))

