"""Reading the controltower-snapshot/1 format into a Problem."""

from __future__ import annotations

import json
from pathlib import Path

from .model import Carrier, Hub, Order, Point, Problem, Slot, Vehicle, Zone
from .travel import RoadMatrix

FORMAT = "controltower-snapshot/1"


class SnapshotError(ValueError):
    pass


def _pt(d: dict | None) -> Point | None:
    return None if d is None else Point(float(d["lat"]), float(d["lon"]))


def problem_from_snapshot(data: dict) -> Problem:
    if data.get("format") != FORMAT:
        raise SnapshotError(f"Not a {FORMAT} snapshot (format is {data.get('format')!r})")
    try:
        travel = data["travel"]
        metric = travel.get("metric", "haversine")
        if metric not in ("haversine", "matrix"):
            raise SnapshotError(f"Unsupported travel metric {metric!r}")
        roads = RoadMatrix.from_json(travel) if metric == "matrix" else None
        now = float(data["now_min"])
        hubs = {h["id"]: Hub(h["id"], Point(h["lat"], h["lon"]), float(h.get("load_min_per_order", 0.0)),
                             carrier_pickup=bool(h.get("carrier_pickup", True))) for h in data["hubs"]}
        vehicles = [
            Vehicle(
                id=v["id"], start=_pt(v["start"]), end=_pt(v.get("end")),
                available_from_min=float(v.get("available_from_min", now)), shift_end_min=float(v["shift_end_min"]),
                capacity_kg=float(v["capacity_kg"]), fixed_cost=float(v.get("fixed_cost", 0.0)),
                cost_per_km=float(v.get("cost_per_km", 0.0)), cost_per_hour=float(v.get("cost_per_hour", 0.0)),
                skills=frozenset(v.get("skills", [])), committed=tuple(v.get("committed", [])),
            )
            for v in data["vehicles"]
        ]
        carriers = [
            Carrier(
                id=c["id"], available=bool(c.get("available", True)), service_levels=frozenset(c.get("service_levels", [])),
                skills=frozenset(c.get("skills", [])), zones=tuple(Zone(Point(z["lat"], z["lon"]), float(z["radius_km"])) for z in c.get("zones", [])),
                base=float(c.get("price", {}).get("base", 0.0)), per_kg=float(c.get("price", {}).get("per_kg", 0.0)),
                per_km=float(c.get("price", {}).get("per_km", 0.0)), lead_min=float(c.get("lead_min", 0.0)),
                pickup_cutoff_min=float(c.get("pickup_cutoff_min", float("inf"))), capacity=int(c.get("capacity", 10**9)),
                pool=str(c.get("pool", "")),
                slots=tuple(Slot(Zone(Point(sl["zone"]["lat"], sl["zone"]["lon"]), float(sl["zone"]["radius_km"])) if sl.get("zone") else None,
                                 float(sl["window"][0]), float(sl["window"][1]), int(sl["room"])) for sl in c.get("slots", [])),
            )
            for c in data["carriers"]
        ]
        orders = {
            o["id"]: Order(
                id=o["id"], hub=o["hub"], at=Point(o["lat"], o["lon"]), window=(float(o["window"][0]), float(o["window"][1])),
                service_min=float(o.get("service_min", 0.0)), weight_kg=float(o["weight_kg"]), service_level=o.get("service_level", ""),
                requires=frozenset(o.get("requires", [])), late_penalty=float(o.get("late_penalty", 0.0)),
                late_penalty_per_min=float(o.get("late_penalty_per_min", 0.0)), unserved_penalty=float(o.get("unserved_penalty", 0.0)),
            )
            for o in data["orders"]
        }
        problem = Problem(data.get("name", ""), now, float(travel.get("detour_factor", 1.0)),
                          float(travel["speed_kmh"]) if roads is None else float(travel.get("speed_kmh", 28.0)),
                          hubs, vehicles, carriers, orders, travel=roads)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SnapshotError):
            raise
        raise SnapshotError(f"Malformed snapshot: {type(exc).__name__}: {exc}") from exc
    unknown_hubs = {o.hub for o in problem.orders.values()} - problem.hubs.keys()
    if unknown_hubs:
        raise SnapshotError(f"Orders refer to unknown hubs {sorted(unknown_hubs)}")
    for v in problem.vehicles:
        missing = [c for c in v.committed if c not in problem.orders]
        if missing:
            raise SnapshotError(f"Vehicle {v.id} carries unknown orders {missing}")
    if problem.travel is not None:
        places = ([(f"hub {h.id}", h.at) for h in problem.hubs.values()] + [(f"order {o.id}", o.at) for o in problem.orders.values()]
                  + [(f"vehicle {v.id} {end}", pt) for v in problem.vehicles for end, pt in (("start", v.start), ("end", v.end)) if pt])
        outside = [name for name, pt in places if (round(pt.lat, 6), round(pt.lon, 6)) not in problem.travel.index]
        if outside:
            raise SnapshotError(f"The travel matrix has no row for {len(outside)} point(s): {', '.join(outside[:5])}")
    return problem


def load_problem(path: str | Path) -> Problem:
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{path}: not JSON ({exc})") from exc
    return problem_from_snapshot(data)


def _inf_to_none(value: float) -> float | None:
    return None if value == float("inf") else value


def snapshot_from_problem(problem: Problem, *, day_start: str, current_plan: dict | None = None) -> dict:
    """The problem as a Track B snapshot (controltower-snapshot/1), so a decision can be replayed
    with `manage.py plan_snapshot` and kept as a benchmark case. `current_plan` (the routes and
    bookings in force when it was taken) extends the format; readers ignore keys they do not know."""
    data = {
        "format": FORMAT, "name": problem.name, "day_start": day_start, "now_min": problem.now_min,
        "travel": ({"metric": "haversine", "detour_factor": problem.detour_factor, "speed_kmh": problem.speed_kmh}
                   if problem.travel is None else problem.travel.to_json()),
        "hubs": [{"id": h.id, "lat": h.at.lat, "lon": h.at.lon, "load_min_per_order": h.load_min_per_order,
                  **({} if h.carrier_pickup else {"carrier_pickup": False})} for h in problem.hubs.values()],
        "vehicles": [{
            "id": v.id, "start": {"lat": v.start.lat, "lon": v.start.lon},
            "end": {"lat": v.end.lat, "lon": v.end.lon} if v.end else None,
            "available_from_min": v.available_from_min, "shift_end_min": v.shift_end_min, "capacity_kg": v.capacity_kg,
            "fixed_cost": v.fixed_cost, "cost_per_km": v.cost_per_km, "cost_per_hour": v.cost_per_hour,
            "skills": sorted(v.skills), "committed": list(v.committed),
        } for v in problem.vehicles],
        "carriers": [{
            "id": c.id, "available": c.available, "service_levels": sorted(c.service_levels), "skills": sorted(c.skills),
            "zones": [{"lat": z.at.lat, "lon": z.at.lon, "radius_km": z.radius_km} for z in c.zones],
            "price": {"base": c.base, "per_kg": c.per_kg, "per_km": c.per_km}, "lead_min": c.lead_min,
            **({"pickup_cutoff_min": c.pickup_cutoff_min} if _inf_to_none(c.pickup_cutoff_min) is not None else {}),
            "capacity": c.capacity,
            # Extensions the checker does not read: a shared capacity pool, and capacity per zone and window.
            **({"pool": c.pool} if c.pool else {}),
            **({"slots": [{"zone": {"lat": sl.zone.at.lat, "lon": sl.zone.at.lon, "radius_km": sl.zone.radius_km} if sl.zone else None,
                           "window": [sl.start_min, sl.end_min], "room": sl.room} for sl in c.slots]} if c.slots else {}),
        } for c in problem.carriers],
        "orders": [{
            "id": o.id, "hub": o.hub, "lat": o.at.lat, "lon": o.at.lon, "window": [o.window[0], o.window[1]],
            "service_min": o.service_min, "weight_kg": o.weight_kg, "service_level": o.service_level, "requires": sorted(o.requires),
            "late_penalty": o.late_penalty, "late_penalty_per_min": o.late_penalty_per_min, "unserved_penalty": o.unserved_penalty,
        } for o in problem.orders.values()],
    }
    if current_plan is not None:
        data["current_plan"] = current_plan
    return data
