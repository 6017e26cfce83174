"""Van routes: stops, their completion, and ETAs from the vehicle's live position."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q

from dispatch import clock, ports
from dispatch.facts import OrderEtaChanged, VanApproaching
from dispatch.live_events import order_changed
from dispatch.models import Order, Route, Stop, Vehicle
from dispatch.selectors import one_policy_read, organization_zone, policy_for, service_rules
from dispatch.selectors.travel import area_factor, area_factors, learned_factor, travel_factors, travel_model, van_pace
from dispatch.status import OrderStatus, Risk, StopKind
from infra import bus, facts


ETA_PUBLISH_TOLERANCE = timedelta(minutes=3)
# A stop's stored ETA moves when the estimate moves by this much: every ping shifts every ETA on
# the route by seconds, and rewriting each stop on each ping is most of what a busy fleet costs.
STOP_ETA_STEP = timedelta(seconds=30)


def risk_for(eta: datetime | None, window_end: datetime, margin_min: float) -> str:
    """On time, at risk (the ETA within the service level's at-risk margin of the window's end) or late."""
    if eta is None:
        return Risk.ON_TIME
    if eta > window_end:
        return Risk.LATE
    if eta > window_end - timedelta(minutes=margin_min):
        return Risk.AT_RISK
    return Risk.ON_TIME


def route_active_for(*, vehicle: Vehicle, day) -> Route:
    route = Route.objects.filter(vehicle=vehicle, active=True).order_by("-id").first()
    if route is None:
        route = Route.objects.create(organization_id=vehicle.organization_id, vehicle=vehicle, service_date=day)
    return route


def route_append_order(*, route: Route, order: Order, pickup: bool = True, pickup_at: tuple[float, float] | None = None) -> None:
    """Add the order's stops to the end of the route: its pickup (at its hub, or where another van
    hands it over) unless it is on board already, then its delivery."""
    # The last sequence is read once per Route instance (a decision appending 150 orders to a few
    # routes passes the same instances; see VanWork), then counted on.
    last = getattr(route, "_last_sequence", None)
    if last is None:
        last = route.stops.aggregate(m=Max("sequence"))["m"] or 0
    stops = []
    if pickup:
        last += 1
        lat, lon = pickup_at or (order.hub.lat, order.hub.lon)
        stops.append(Stop(route=route, order=order, kind=StopKind.PICKUP, sequence=last, lat=lat, lon=lon))
    stops.append(Stop(route=route, order=order, kind=StopKind.DELIVERY, sequence=last + 1, lat=order.lat, lon=order.lon))
    Stop.objects.bulk_create(stops)
    route._last_sequence = last + 1
    bus.van_changed(route.vehicle_id)


def route_remove_order(*, order: Order) -> None:
    """Take the order's open stops off its van's route (the order still names that van)."""
    Stop.objects.filter(order=order, completed_at__isnull=True).delete()
    bus.van_changed(order.vehicle_id)


def stop_complete_for_order(*, order: Order, kind: str, at: datetime) -> None:
    Stop.objects.filter(order=order, kind=kind, completed_at__isnull=True).update(completed_at=at)
    bus.van_changed(order.vehicle_id)


RUSH = 1.25  # a learned factor from which a dispatcher reads "rush hour"


def _why(extra: float, slowest: tuple[float, str, int, str] | None) -> str:
    """What the learned traffic does to an ETA, in words a dispatcher reads beside the risk ("" when
    it changes it by less than a minute): how much it adds and where the slowest leg goes, by the
    road it mostly takes when the travel model knows the roads ("rush hour on Ring Road North")."""
    if abs(extra) < 1:
        return ""
    if extra < 0:
        return f"Traffic learned from your vans: {abs(extra):.0f} min quicker than the travel model on the way here."
    if not slowest:
        return f"Traffic learned from your vans: +{extra:.0f} min on the way here."
    factor, hub, hour, road = slowest
    road = road[:60]
    what = "Rush hour" if factor >= RUSH else "Slow traffic"
    if road:
        return f"{what} on {road}: +{extra:.0f} min on the way here ({hour:02d}:00 around hub {hub}, {factor:.2f}x the model)."
    return f"{what} around hub {hub} at {hour:02d}:00: +{extra:.0f} min on the way here ({factor:.2f}x the model)."


def route_recompute_etas(*, vehicle: Vehicle, now: datetime | None = None) -> list[Order]:
    """Walk the vehicle's remaining stops from where it is now; store each stop's ETA and each
    order's ETA and risk. Publishes the orders whose risk changed or whose ETA moved by more
    than the tolerance. Returns the changed orders."""
    if vehicle.lat is None:
        return []
    now = now or clock.now()
    stops = list(
        Stop.objects.filter(route__vehicle=vehicle, route__active=True, completed_at__isnull=True)
        .select_related("order", "order__hub", "order__vehicle", "order__carrier")
        .order_by("route_id", "sequence")
    )
    t = max(now, vehicle.position_at or now, vehicle.resumes_at or now)  # a driver on a break drives on after it
    lat, lon = vehicle.lat, vehicle.lon
    rules = service_rules(vehicle.organization_id) if stops else {}
    # What the fleet taught the product about travel around each hub at each hour (services.travel)
    factors = travel_factors(organization_id=vehicle.organization_id) if stops else {}
    areas = area_factors(organization_id=vehicle.organization_id) if factors else {}  # and in each area, on top
    pace = van_pace(organization_id=vehicle.organization_id).get(vehicle.id, 1.0) if stops else 1.0  # the van's own today
    zone = organization_zone(vehicle.organization_id) if factors else None
    changed: list[Order] = []
    deliveries_before = 0
    moved_stops = []
    extra = 0.0  # minutes the learned traffic adds (or takes) on the van's way so far
    slowest = None  # the leg's (factor, hub code, local hour, road) that slows it most
    # The drive of each leg from the van's position through its stops, as the travel model has it
    model_of = travel_model()
    way = [(lat, lon)] + [(s.lat, s.lon) for s in stops]
    drives = [m for _, m in model_of.legs(way)] if stops else []
    roads: list[str] | None = None  # the roads of each leg, asked once the first slow leg is found
    for i, (stop, model) in enumerate(zip(stops, drives)):
        order = stop.order
        hour = t.astimezone(zone).hour if factors else 0
        learned = (learned_factor(factors, order.hub_id, hour) * area_factor(areas, order.hub, stop.lat, stop.lon)
                   if factors else 1.0) * pace
        t += timedelta(minutes=model * learned)
        extra += model * (learned - 1)
        if learned > 1 and (slowest is None or learned > slowest[0]):
            roads = model_of.via(way) if roads is None else roads
            slowest = (learned, order.hub.code, hour, roads[i] if i < len(roads) else "")
        lat, lon = stop.lat, stop.lon
        if stop.kind == StopKind.DELIVERY:
            t = max(t, order.window_start)
        if stop.eta is None or abs(stop.eta - t) >= STOP_ETA_STEP:
            stop.eta = t
            moved_stops.append(stop)
        if stop.kind == StopKind.DELIVERY:
            if order.status not in (OrderStatus.DELIVERED, OrderStatus.FAILED, OrderStatus.CANCELLED):
                new_risk = risk_for(t, order.window_end, rules[order.service_level].at_risk_margin_min)
                moved = order.eta is None or abs(order.eta - t) > ETA_PUBLISH_TOLERANCE
                if new_risk != order.risk or moved:
                    order.eta, order.risk, order.eta_why = t, new_risk, _why(extra, slowest)
                    changed.append(order)
            extra += order.service_min * (learned - 1)
            t += timedelta(minutes=order.service_min * learned)
            facts.record(VanApproaching(order=order, stops_before=deliveries_before))
            deliveries_before += 1
        else:
            t += timedelta(minutes=order.hub.load_min_per_order)
    Stop.objects.bulk_update(moved_stops, ["eta"])  # only the stops whose ETA changed
    if changed:
        Order.objects.bulk_update(changed, ["eta", "risk", "eta_why"])
        tolerance = policy_for(vehicle.organization_id).eta_tolerance_min
        for order in changed:
            bus.publish(order.organization_id, "order.changed", order_changed(order))
            facts.record(OrderEtaChanged(order=order, tolerance_min=tolerance))
    return changed


def route_resequence(*, vehicle: Vehicle, keys: list[str]) -> None:
    """Order the van's open stops as the planner did ("P:ref"/"D:ref"); stops it does not name keep
    their relative order after the named ones."""
    stops = list(Stop.objects.filter(route__vehicle=vehicle, route__active=True, completed_at__isnull=True)
                 .select_related("order").order_by("route_id", "sequence"))
    rank = {k: i for i, k in enumerate(keys)}
    key = lambda s: ("P:" if s.kind == StopKind.PICKUP else "D:") + s.order.external_ref  # noqa: E731
    ordered = sorted(stops, key=lambda s: (rank.get(key(s), len(rank)), s.sequence))
    if [s.pk for s in ordered] == [s.pk for s in stops]:
        return  # already in that order: nothing to write
    base = max((s.sequence for s in stops), default=0) + 1
    for i, s in enumerate(ordered):
        s.sequence = base + i
    Stop.objects.bulk_update(ordered, ["sequence"])
    bus.van_changed(vehicle.id)


ETA_COALESCE_S = 1


def routes_request_recompute(*, organization_id: int) -> None:
    """After commit, have the vans that moved recompute their ETAs off the request path: one task
    per organization per second however many pings arrive (in-process tasks run at once)."""

    if settings.CELERY_TASK_ALWAYS_EAGER:
        ports.RECOMPUTE_ETAS.start(organization_id)
        return

    def schedule():
        try:
            due = cache.add(f"eta-scheduled:{organization_id}", 1, timeout=ETA_COALESCE_S)
        except Exception:
            due = True  # the cache is away: rather one task too many than stale ETAs
        if due:
            ports.RECOMPUTE_ETAS.start(organization_id, countdown=ETA_COALESCE_S)

    transaction.on_commit(schedule)


def routes_recompute_pending(*, organization_id: int, refresh: timedelta | None = None) -> int:
    """Recompute ETAs for the vans whose position is newer than their ETAs (the database says
    which), each at most once per `refresh` of position time (settings.ETA_REFRESH_S): a van
    pinging every 5 s moves its ETAs by seconds, and recomputing them on every ping was most of
    what a busy fleet cost. A van with an open stop left waiting gets a run when it is due (its
    last ping is not forgotten). Vans with no open stop only have the mark moved, in one statement.
    Changes to a route (a stop added, done, re-sequenced) recompute that van at once, elsewhere."""
    if refresh is None:
        refresh = timedelta(seconds=0 if settings.CELERY_TASK_ALWAYS_EAGER else settings.ETA_REFRESH_S)
    open_stop = Stop.objects.filter(route__vehicle=OuterRef("pk"), route__active=True, completed_at__isnull=True)
    moved = (Vehicle.objects.filter(organization_id=organization_id, position_at__isnull=False)
             .filter(Q(etas_at__isnull=True) | Q(etas_at__lt=F("position_at"))).annotate(busy=Exists(open_stop)))
    due = list(moved.filter(busy=True).filter(Q(etas_at__isnull=True) | Q(etas_at__lte=F("position_at") - refresh)))
    with one_policy_read():  # the rules once for the whole pass
        for vehicle in due:
            with transaction.atomic():
                route_recompute_etas(vehicle=vehicle)
                Vehicle.objects.filter(pk=vehicle.pk).update(etas_at=vehicle.position_at)
    if refresh and moved.filter(busy=True).exists():  # vans with open stops still behind their position: not due yet
        wait = max(1, int(refresh.total_seconds()))  # the vans left waiting are due within this
        ports.RECOMPUTE_ETAS.start(organization_id, countdown=wait,
                     once_per=f"{organization_id}:{int(clock.now().timestamp()) // wait}")
    return len(due) + moved.filter(busy=False).update(etas_at=F("position_at"))
