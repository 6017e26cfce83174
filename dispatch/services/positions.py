"""Vehicle positions from telematics feeds."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from infra import bus
from dispatch.live_events import vehicle_snapshot
from dispatch.errors import ValidationFailed
from dispatch.models import Vehicle, VehiclePosition

from .routes import routes_request_recompute


@transaction.atomic
def positions_ingest(*, organization_id: int, pings: list[dict]) -> dict:
    """Store every ping; move a vehicle only to a ping newer than the one it stands on, so a late,
    out-of-order ping is kept for the record but never moves a vehicle backwards."""
    codes = {p["vehicle"] for p in pings}
    vehicles = {
        v.code: v
        for v in Vehicle.objects.select_for_update().filter(organization_id=organization_id, code__in=codes).order_by("id")
    }
    unknown = sorted(codes - vehicles.keys())
    if unknown:
        raise ValidationFailed(
            "Unknown vehicle", errors={"vehicle": [f"No vehicle with code {c!r} in this organization" for c in unknown]}
        )
    _store_pings(vehicles, pings)
    moved: dict[str, Vehicle] = {}
    stale = 0
    for ping in sorted(pings, key=lambda p: p["timestamp"]):
        vehicle = vehicles[ping["vehicle"]]
        if vehicle.position_at is not None and ping["timestamp"] <= vehicle.position_at:
            stale += 1
            continue
        vehicle.lat, vehicle.lon = ping["lat"], ping["lon"]
        vehicle.speed_kmh, vehicle.heading = ping.get("speed"), ping.get("heading")
        vehicle.position_at = ping["timestamp"]
        moved[vehicle.code] = vehicle
    if moved:
        _store_positions(list(moved.values()))
        bus.publish(organization_id, "vehicles.moved", {"vehicles": [vehicle_snapshot(v) for v in moved.values()]})
        # ETAs and risk follow off the request path (coalesced per organization).
        routes_request_recompute(organization_id=organization_id)
    return {"accepted": len(pings), "moved": sorted(moved), "stale": stale}


def _store_pings(vehicles: dict[str, Vehicle], pings: list[dict]) -> None:
    """Keep every ping, in one statement. On PostgreSQL an INSERT from unnested arrays (bulk_create
    builds a model instance and a parameter per field and row: a third of a large batch's time)."""
    if connection.vendor != "postgresql":
        VehiclePosition.objects.bulk_create(
            VehiclePosition(vehicle=vehicles[p["vehicle"]], lat=p["lat"], lon=p["lon"], recorded_at=p["timestamp"],
                            speed_kmh=p.get("speed"), heading=p.get("heading"))
            for p in pings
        )
        return
    table = VehiclePosition._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (vehicle_id, lat, lon, recorded_at, speed_kmh, heading, received_at) "
            "SELECT unnest(%s::bigint[]), unnest(%s::float8[]), unnest(%s::float8[]), unnest(%s::timestamptz[]), "
            "unnest(%s::float8[]), unnest(%s::float8[]), %s",
            [[vehicles[p["vehicle"]].id for p in pings], [p["lat"] for p in pings], [p["lon"] for p in pings],
             [p["timestamp"] for p in pings], [p.get("speed") for p in pings], [p.get("heading") for p in pings], timezone.now()],
        )


def _store_positions(vehicles: list[Vehicle]) -> None:
    """Move many vans in one statement. On PostgreSQL an UPDATE from unnested arrays (Django's
    bulk_update builds a CASE per row and field, which costs more than the rest of the ingest)."""
    if connection.vendor != "postgresql":
        Vehicle.objects.bulk_update(vehicles, ["lat", "lon", "speed_kmh", "heading", "position_at"])
        return
    table = Vehicle._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS v SET lat = d.lat, lon = d.lon, speed_kmh = d.speed, heading = d.heading, position_at = d.at "
            "FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::float8[]) AS lat, unnest(%s::float8[]) AS lon, "
            "unnest(%s::float8[]) AS speed, unnest(%s::float8[]) AS heading, unnest(%s::timestamptz[]) AS at) AS d "
            "WHERE v.id = d.id",
            [[v.id for v in vehicles], [v.lat for v in vehicles], [v.lon for v in vehicles], [v.speed_kmh for v in vehicles],
             [v.heading for v in vehicles], [v.position_at for v in vehicles]],
        )
