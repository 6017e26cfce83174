"""What the domain tells live screens: the event types it publishes on the bus (infra.bus) and the
facts each carries. No presentation here: the web edge adds labels and colours (web.live.present)."""

from __future__ import annotations

from infra.bus import EventType, declare

ORDER_KEYS = frozenset({"id", "ref", "status", "risk", "lat", "lon", "eta", "window_end", "service_level", "vehicle",
                        "carrier", "hub"})
VEHICLE_SNAPSHOT_KEYS = frozenset({"id", "code", "lat", "lon", "speed_kmh", "heading", "at", "status", "fleet"})

declare(
    EventType("order.changed", ORDER_KEYS, "An order was created or changed status, risk, ETA or assignment."),
    EventType("vehicles.moved", frozenset({"vehicles"}), "Accepted positions: a list of vehicle snapshots.",
              item_keys=(("vehicles", VEHICLE_SNAPSHOT_KEYS),)),
    EventType("vehicle.changed", frozenset({"id", "code", "status", "fleet"}), "A vehicle's duty status changed."),
    EventType("orders.imported", frozenset({"count", "hubs"}), "Many orders were created at once (a file): read the orders again."),
    EventType("exception.changed", frozenset({"id", "kind", "state", "severity", "title", "hubs"}),
              "An exception was raised or changed state (hubs: of its orders and van)."),
    EventType("decision.changed", frozenset({"id", "state", "exception", "hubs"}),
              "A decision was proposed, applied or rejected (hubs: of the orders it moves)."),
)


def _iso(value):
    return value.isoformat() if value else None


def order_changed(order) -> dict:
    return {
        "id": order.id,
        "ref": order.external_ref,
        "status": order.status,
        "risk": order.risk,
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


def vehicle_changed(vehicle) -> dict:
    return {"id": vehicle.id, "code": vehicle.code, "status": vehicle.status, "fleet": vehicle.fleet_id}
