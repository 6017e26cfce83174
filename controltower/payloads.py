"""Live-feed payloads: the JSON the dashboard receives for each declared event type."""

from __future__ import annotations

from dispatch.status import CarrierHealth, DutyStatus, OrderStatus, Risk


def _iso(value):
    return value.isoformat() if value else None


def order_payload(order) -> dict:
    return {
        "id": order.id,
        "ref": order.external_ref,
        "status": order.status,
        "status_label": OrderStatus(order.status).label,
        "colour": OrderStatus.colour(order.status),
        "risk": order.risk,
        "risk_colour": Risk.colour(order.risk),
        "lat": order.lat,
        "lon": order.lon,
        "eta": _iso(order.eta),
        "window_end": _iso(order.window_end),
        "service_level": order.service_level,
        "vehicle": order.vehicle.code if order.vehicle_id else None,
        "carrier": order.carrier.code if order.carrier_id else None,
        "hub": order.hub.code,
    }


def vehicle_snapshot(vehicle) -> dict:
    return {
        "id": vehicle.id,
        "code": vehicle.code,
        "lat": vehicle.lat,
        "lon": vehicle.lon,
        "speed_kmh": vehicle.speed_kmh,
        "heading": vehicle.heading,
        "at": _iso(vehicle.position_at),
        "status": vehicle.status,
        "fleet": vehicle.fleet_id,
    }


def vehicle_payload(vehicle) -> dict:
    return {"id": vehicle.id, "code": vehicle.code, "status": vehicle.status, "colour": DutyStatus.colour(vehicle.status),
            "fleet": vehicle.fleet_id}


def carrier_payload(carrier) -> dict:
    return {
        "id": carrier.id,
        "code": carrier.code,
        "health": carrier.health,
        "colour": CarrierHealth.colour(carrier.health),
        "reason": carrier.health_reason,
    }
