"""The bridge between the database and planning: the only code that turns database state into
a planning problem and a plan into assignments.

plan_new_orders places orders that have no assignment yet, one by one in order of urgency, on
the cheapest of: a carrier that can take it, the end of an on-duty van's route from the
order's hub, or nothing (it stays for the next run). It is the construction step that runs as
orders arrive; re-optimization across the network is the planner's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q

from carriers.adapters import CarrierError
from carriers.booking import book_order
from carriers.models import Carrier
from dispatch import clock
from dispatch.errors import Conflict
from dispatch.geo import haversine_km, road_km, travel_minutes
from dispatch.models import Order, Stop, Vehicle
from dispatch.reports import lane_reliability
from dispatch.selectors import service_rules
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.services.settlement import db_rate_price
from dispatch.status import CarrierHealth, DutyStatus, OrderStatus, StopKind

VAN_SPEED_KMH = 28.0


@dataclass
class VanTail:
    vehicle: Vehicle
    hub_id: int
    lat: float
    lon: float
    at: datetime
    load_kg: float
    stops: int


@dataclass
class CarrierOffer:
    carrier: Carrier
    zones: list = field(default_factory=list)
    rates: dict = field(default_factory=dict)
    room: int | None = None
    record: dict = field(default_factory=dict)  # its scorecard: lane -> (p_late, p_fail), and "default"


def _late_cost(eta: datetime, order: Order, rules: dict) -> float:
    """The organization's late penalty for its service level, if the ETA is past the window."""
    late = (eta - order.window_end).total_seconds() / 60
    rule = rules[order.service_level]
    return 0.0 if late <= 0 else float(rule.late_fixed) + float(rule.late_per_min) * late


def _van_tails(organization_id: int, now: datetime) -> list[VanTail]:
    vans = Vehicle.objects.filter(organization_id=organization_id, status=DutyStatus.ON_DUTY).select_related("fleet__hub")
    open_stops = (Stop.objects.filter(route__vehicle__in=vans, route__active=True, completed_at__isnull=True)
                  .select_related("order").order_by("route__vehicle_id", "route_id", "sequence"))
    by_vehicle: dict[int, list[Stop]] = {}
    for stop in open_stops:
        by_vehicle.setdefault(stop.route.vehicle_id, []).append(stop)
    tails = []
    for van in vans:
        stops = by_vehicle.get(van.id, [])
        hub = van.fleet.hub
        lat, lon = (van.lat, van.lon) if van.lat is not None else (hub.lat, hub.lon)
        at = now
        if stops:
            last = stops[-1]
            lat, lon = last.lat, last.lon
            at = max(now, last.eta or now)
        load = sum(s.order.weight_kg for s in stops if s.kind == StopKind.DELIVERY)
        tails.append(VanTail(van, hub.id, lat, lon, at, load, len(stops)))
    return tails


def _carrier_offers(organization_id: int) -> list[CarrierOffer]:
    open_statuses = [OrderStatus.BOOKED, OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY]
    carriers = (Carrier.objects.filter(organization_id=organization_id, health=CarrierHealth.UP)
                .annotate(used=Count("orders", filter=Q(orders__status__in=open_statuses)))
                .prefetch_related("zones", "rates", "capacity_slots"))
    records = lane_reliability(organization_id=organization_id)
    offers = []
    for c in carriers:
        capacity = sum(s.capacity for s in c.capacity_slots.all())
        offers.append(CarrierOffer(c, list(c.zones.all()), {r.service_level: r for r in c.rates.all()},
                                   None if not capacity else max(0, capacity - c.used), records.get(c.id, {})))
    return offers


def _track_record_cost(offer: CarrierOffer, order: Order, rules: dict) -> float:
    """The expected cost of the carrier's record on the order's lane (as dispatch.planner.pricing.carrier_risk)."""
    p_late, p_fail = offer.record.get(f"{order.zone}|{order.service_level}", offer.record.get("default", (0.0, 0.0)))
    rule = rules[order.service_level]
    return p_late * float(rule.late_fixed) + p_fail * float(rule.reattempt_cost)


def _carrier_quote(offer: CarrierOffer, order: Order, now: datetime, rules: dict):
    c = offer.carrier
    rate = offer.rates.get(order.service_level)
    if rate is None or order.service_level not in c.service_levels or offer.room == 0:
        return None
    if not set(order.requires) <= set(c.skills):
        return None
    if clock.now().astimezone(order.window_start.tzinfo).time() > c.pickup_cutoff and now.date() >= order.window_start.date():
        return None
    if not any(haversine_km(z.lat, z.lon, order.lat, order.lon) <= z.radius_km for z in offer.zones):
        return None
    km = road_km(order.hub.lat, order.hub.lon, order.lat, order.lon)
    promised = max(order.window_start, now + timedelta(minutes=c.lead_min + travel_minutes(km)))
    price = db_rate_price(rate, offer.zones, order, km, promised)
    return price + _late_cost(promised, order, rules) + _track_record_cost(offer, order, rules), price, promised


def _van_quote(tail: VanTail, order: Order, rules: dict):
    van = tail.vehicle
    if tail.hub_id != order.hub_id or not set(order.requires) <= set(van.skills):
        return None
    if tail.load_kg + order.weight_kg > van.capacity_kg:
        return None
    km_hub = road_km(tail.lat, tail.lon, order.hub.lat, order.hub.lon)
    km_drop = road_km(order.hub.lat, order.hub.lon, order.lat, order.lon)
    arrive = tail.at + timedelta(minutes=travel_minutes(km_hub + km_drop, VAN_SPEED_KMH) + order.hub.load_min_per_order)
    eta = max(arrive, order.window_start)
    hours = (eta - tail.at).total_seconds() / 3600 + order.service_min / 60
    cost = van.cost_per_km * (km_hub + km_drop) + van.cost_per_hour * hours
    return cost + _late_cost(eta, order, rules), eta


def plan_new_orders(*, organization_id: int, limit: int = 500) -> dict:
    """Give every order that has no assignment yet its cheapest feasible home."""
    now = clock.now()
    actor = ActorRef.system("planner:construction")
    rules = service_rules(organization_id)
    orders = list(Order.objects.filter(organization_id=organization_id, status__in=[OrderStatus.CREATED, OrderStatus.PLANNED])
                  .select_related("hub").order_by("window_end", "id")[:limit])
    orders.sort(key=lambda o: (rules[o.service_level].priority, o.window_end, o.id))  # the service level's priority first
    if not orders:
        return {"vans": 0, "carriers": 0, "left": 0}
    tails = _van_tails(organization_id, now)
    offers = _carrier_offers(organization_id)
    placed = {"vans": 0, "carriers": 0, "left": 0}
    for order in orders:
        best = None
        for tail in tails:
            q = _van_quote(tail, order, rules)
            if q and (best is None or q[0] < best[0]):
                best = (q[0], "van", tail, q[1])
        for offer in offers:
            q = _carrier_quote(offer, order, now, rules)
            if q and (best is None or q[0] < best[0]):
                best = (q[0], "carrier", offer, q)
        if best is None:
            placed["left"] += 1
            continue
        if best[1] == "van":
            with transaction.atomic():
                locked = Order.objects.select_for_update(of=("self",)).select_related("hub", "vehicle", "carrier").get(pk=order.pk)
                if locked.status not in (OrderStatus.CREATED, OrderStatus.PLANNED):
                    continue
                tail = best[2]
                assignment_to_vehicle(order=locked, vehicle=tail.vehicle, actor=actor, reason=f"cheapest option ({best[0]:.2f})")
                tail.lat, tail.lon, tail.at = locked.lat, locked.lon, best[3] + timedelta(minutes=locked.service_min)
                tail.load_kg += locked.weight_kg
                placed["vans"] += 1
        else:
            offer = best[2]
            try:  # no transaction open: the carrier is asked without holding the order's lock
                book_order(order=order, carrier_code=offer.carrier.code, actor=actor, key=f"plan:{order.pk}:v{order.version}",
                           allowed=(OrderStatus.CREATED, OrderStatus.PLANNED))
            except CarrierError:
                offer.room = 0  # refused or unreachable: not offered again in this run; the order waits for the next
                placed["left"] += 1
                continue
            except Conflict:
                continue  # it changed meanwhile (someone else placed it)
            if offer.room is not None:
                offer.room -= 1
            placed["carriers"] += 1
    return placed
