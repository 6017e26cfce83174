"""The network: hubs, vans and their routes, drivers, people to hand work to, carriers and their capacity."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Coalesce

from carriers.models import CapacitySlot, Carrier, CarrierAlert, CarrierBooking, CarrierCall, WebhookReceipt
from dispatch import clock
from dispatch.models import Assignment, Driver, Event, Hub, Order, Shift, ShiftMessage, Stop, User, Vehicle
from dispatch.errors import NotFound
from dispatch.scope import current
from dispatch.status import VEHICLE_CHECKS, CarrierHealth, DutyStatus, OrderStatus, Role
from planner.travel import haversine_km

from .base import one_row
from .travel import travel_model
from .availability import vans_unavailable
from .configuration import required_proof, service_rules


def vehicles_for(*, organization_id: int) -> QuerySet[Vehicle]:
    qs = Vehicle.objects.filter(organization_id=organization_id).select_related("fleet")
    if current().hub_ids is not None:
        qs = qs.filter(fleet__hub_id__in=current().hub_ids)
    return qs.order_by("code")


def vehicle_get(*, organization_id: int, code: str) -> Vehicle:
    return one_row(vehicles_for(organization_id=organization_id), "van", code=code)


def driver_get(*, organization_id: int, code: str) -> Driver:
    return one_row(Driver.objects, "driver", organization_id=organization_id, code=code)


def hubs_for(*, organization_id: int) -> QuerySet[Hub]:
    qs = Hub.objects.filter(organization_id=organization_id)
    if current().hub_ids is not None:
        qs = qs.filter(id__in=current().hub_ids)
    return qs.order_by("code")


def colleagues(*, organization_id: int):
    """Active people of the organization who act on exceptions (to hand one to)."""

    return User.objects.filter(organization_id=organization_id, is_active=True, role__in=[Role.DISPATCHER, Role.ADMIN]).order_by("username")


def manifest_for(*, vehicle: Vehicle) -> list[dict]:
    """The vehicle's remaining stops, in order, as the driver app sees them."""
    stops = (Stop.objects.filter(route__vehicle=vehicle, route__active=True, completed_at__isnull=True)
             .select_related("order").order_by("route_id", "sequence"))
    rules = service_rules(vehicle.organization_id)
    return [
        {"order": s.order.external_ref, "kind": s.kind, "lat": s.lat, "lon": s.lon, "eta": s.eta,
         "window_start": s.order.window_start, "window_end": s.order.window_end, "service_min": s.order.service_min,
         "status": s.order.status, "proof_required": required_proof(s.order, rules) if s.kind == "delivery" else []}
        for s in stops
    ]


def vehicle_story(*, organization_id: int, code: str) -> dict:
    """One van: its route in stop order with planned and live ETAs, driver and shift, load against
    capacity, and how old its last ping is."""

    vehicle = one_row(vehicles_for(organization_id=organization_id).select_related("fleet__hub"), "van", code=code)
    now = clock.now()
    stops = list(Stop.objects.filter(route__vehicle=vehicle, route__active=True)
                 .select_related("order").order_by("route_id", "sequence"))
    on_board = [s.order for s in stops if s.kind == "delivery" and s.completed_at is None]
    shift = (Shift.objects.filter(vehicle=vehicle, starts_at__lte=now, ends_at__gt=now).select_related("driver").first()
             or Shift.objects.filter(vehicle=vehicle, ends_at__gt=now).select_related("driver").order_by("starts_at").first())
    load_kg = sum(o.weight_kg for o in on_board)
    return {
        "vehicle": vehicle, "stops": stops, "shift": shift, "thread": shift_thread(shift) if shift else [],
        "started": shift_started(shift) if shift else False,
        "load_kg": load_kg, "load_share": load_kg / vehicle.capacity_kg if vehicle.capacity_kg else None,
        "ping_age_min": int((now - vehicle.position_at).total_seconds() // 60) if vehicle.position_at else None,
        # the way the van drives through its open stops, as the travel model has it (along the streets in road mode)
        "path": [list(p) for p in travel_model().path([(vehicle.lat, vehicle.lon)] + [(s.lat, s.lon) for s in stops
                                                                                      if s.completed_at is None])]
        if vehicle.lat is not None else [],
    }


def carrier_get(*, organization_id: int, code: str) -> Carrier:
    return one_row(Carrier.objects, "carrier", organization_id=organization_id, code=code)


def carriers_with_load(*, organization_id: int) -> list[Carrier]:
    """Carriers with how many open orders they hold now and their reported capacity."""
    open_statuses = [OrderStatus.BOOKED, OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY]
    carriers = list(
        Carrier.objects.filter(organization_id=organization_id)
        .annotate(used=Count("orders", filter=Q(orders__status__in=open_statuses)))
        .prefetch_related("capacity_slots")
        .order_by("code")
    )
    for carrier in carriers:
        carrier.capacity_total = sum(s.capacity for s in carrier.capacity_slots.all()) or None
    return carriers


def slot_bookings(*, slot, statuses) -> list[Order]:
    """The orders that count against one carrier capacity slot: the carrier's orders in the given
    statuses, delivered inside the slot's zone (any, for a slot without one) within its window
    (by ETA, or the window's start before an ETA is known)."""


    orders = list(Order.objects.filter(carrier_id=slot.carrier_id, status__in=statuses)
                  .annotate(delivery_at=Coalesce("eta", "window_start"))
                  .filter(delivery_at__gte=slot.window_start, delivery_at__lt=slot.window_end)
                  .only("id", "lat", "lon", "window_start", "window_end", "eta"))
    if slot.zone_id:
        zone = slot.zone
        orders = [o for o in orders if haversine_km(zone.lat, zone.lon, o.lat, o.lon) <= zone.radius_km]
    return orders


def planned_capacity(*, organization_id: int, hub_id: int, start: datetime, end: datetime, van_orders_per_hour: float,
                     unavailable: set[int] | None = None) -> float:
    """Deliveries planned for a hub's area in [start, end): its on-duty vans on shift then (those out
    of every plan now, silent or not started, left out; `unavailable` when the caller read them
    already for a sweep over several hubs), at the policy's deliveries per van-hour, plus what
    carriers reported for slots covering the hub."""

    hours = max(0.0, (end - start).total_seconds() / 3600)
    if unavailable is None:
        unavailable = set(vans_unavailable(organization_id=organization_id))
    vans = (Vehicle.objects.filter(organization_id=organization_id, fleet__hub_id=hub_id, status=DutyStatus.ON_DUTY)
            .exclude(pk__in=list(unavailable)))
    on_shift = set(Shift.objects.filter(vehicle__in=vans, starts_at__lt=end, ends_at__gt=start).values_list("vehicle_id", flat=True))
    without_shifts = set(vans.exclude(shifts__isnull=False).values_list("id", flat=True))
    capacity = len(on_shift | without_shifts) * van_orders_per_hour * hours
    hub = Hub.objects.get(pk=hub_id)
    for slot in (CapacitySlot.objects.filter(carrier__organization_id=organization_id, window_start__lt=end, window_end__gt=start)
                 .exclude(carrier__health=CarrierHealth.DOWN).select_related("zone")):
        if slot.zone_id and haversine_km(slot.zone.lat, slot.zone.lon, hub.lat, hub.lon) > slot.zone.radius_km:
            continue
        overlap = (min(end, slot.window_end) - max(start, slot.window_start)).total_seconds()
        capacity += slot.capacity * overlap / max(1.0, (slot.window_end - slot.window_start).total_seconds())
    return capacity


def carrier_story(*, organization_id: int, code: str) -> dict:
    """One carrier as a dispatcher needs it: health over time with reasons, open bookings, reported
    capacity per zone and window against what is booked there, recent failed calls and deliveries."""

    carrier = one_row(Carrier.objects, "carrier", organization_id=organization_id, code=code)
    now = clock.now()
    slots = []
    for slot in CapacitySlot.objects.filter(carrier=carrier, window_end__gt=now).select_related("zone").order_by("window_start"):
        booked = len(slot_bookings(slot=slot, statuses=[OrderStatus.BOOKED, OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY]))
        slots.append({"slot": slot, "booked": booked, "left": slot.capacity - booked})
    return {
        "carrier": carrier,
        "health": list(Event.objects.filter(carrier=carrier, kind="carrier.health").order_by("-created_at")[:30]),
        "bookings": list(CarrierBooking.objects.filter(carrier=carrier, status__in=["requested", "confirmed"])
                         .select_related("order").order_by("order__window_end")[:300]),
        "slots": slots,
        "failed_calls": list(CarrierCall.objects.filter(carrier=carrier, ok=False).order_by("-at")[:20]),
        "failed_deliveries": list(Order.objects.filter(carrier=carrier, status=OrderStatus.FAILED).order_by("-updated_at")[:20]),
        "alerts": list(CarrierAlert.objects.filter(carrier=carrier, resolved=False).order_by("-created_at", "-id")[:50]),
        "waiting_for_mapping": WebhookReceipt.objects.filter(carrier=carrier, status="needs_mapping").count(),
    }


def _driver_shift(driver, now):
    """The driver's shift on now, else their next one (None when they have none ahead)."""
    shifts = Shift.objects.filter(driver=driver).select_related("vehicle")
    return (shifts.filter(starts_at__lte=now, ends_at__gt=now).first()
            or shifts.filter(ends_at__gt=now).order_by("starts_at").first())


SHIFT_EARLY = timedelta(hours=2)  # going on duty this long before a shift begins starts it


def shift_started(shift: Shift) -> bool:
    """The driver began the shift: in the app (the vehicle check), or went on duty some other way
    (a telematics integration, the API) since shortly before it began."""
    driver = shift.driver
    return shift.started_at is not None or (driver.status == DutyStatus.ON_DUTY and driver.status_at is not None
                                            and driver.status_at >= shift.starts_at - SHIFT_EARLY)


def driver_shift(*, driver):
    """The driver's shift on now, else their next one (None when they have none ahead)."""
    return _driver_shift(driver, clock.now())


def driver_day(*, driver) -> dict:
    """What a driver's app shows: the shift on now (else the next one), its van, and the van's
    remaining stops in route order with what each order needs."""
    now = clock.now()
    shift = _driver_shift(driver, now)
    if shift is None:
        return {"shift": None, "vehicle": None, "stops": [], "load_kg": 0.0}
    shift.driver = driver
    vehicle = shift.vehicle
    stops = list(Stop.objects.filter(route__vehicle=vehicle, route__active=True, completed_at__isnull=True)
                 .select_related("order").order_by("route_id", "sequence"))
    rules = service_rules(vehicle.organization_id)
    for s in stops:
        s.proof = required_proof(s.order, rules) if s.kind == "delivery" else []
    on_board = [s.order for s in stops if s.kind == "delivery" and s.order.status in (OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY)]
    pickups = [s for s in stops if s.kind == "pickup"]
    handing_over = _handovers(vehicle, pickups, shift, now)  # marks the pickups from another van (meet)
    return {"shift": shift, "vehicle": vehicle, "stops": stops, "load_kg": sum(o.weight_kg for o in on_board), "now": now,
            "started": shift_started(shift), "checks": VEHICLE_CHECKS, "thread": shift_thread(shift),
            "pickups": sum(1 for s in pickups if getattr(s, "meet", None) is None), "handing_over": handing_over}


def _handovers(vehicle, pickups: list, shift, now) -> list[dict]:
    """Hand-overs between this van and another (a broken-down van's orders): each pickup of this
    van from another van gets `meet` (the van, its driver and their phone: where it stands is the
    stop), and what this van must hand over to another is returned (order, van, driver, phone)."""
    def driver_of(code):
        on = (Shift.objects.filter(vehicle__organization_id=vehicle.organization_id, vehicle__code=code, starts_at__lte=now,
                                   ends_at__gt=now).select_related("driver").first())
        return (on.driver.name, on.driver.phone) if on else ("", "")

    latest = {}
    for e in Event.objects.filter(kind="assignment.handover", order_id__in=[s.order_id for s in pickups]).order_by("id"):
        latest[e.order_id] = e.data
    for s in pickups:
        data = latest.get(s.order_id)
        if data and data.get("to") == vehicle.code and data.get("from"):
            name, phone = driver_of(data["from"])
            s.meet = {"van": data["from"], "driver": name, "phone": phone}
    out = []
    given = (Event.objects.filter(organization_id=vehicle.organization_id, kind="assignment.handover", data__from=vehicle.code,
                                  created_at__gte=shift.starts_at).select_related("order").order_by("id"))
    for e in given:
        to = e.data.get("to")
        waiting = Stop.objects.filter(order_id=e.order_id, kind="pickup", completed_at__isnull=True, route__active=True,
                                      route__vehicle__code=to, route__vehicle__organization_id=vehicle.organization_id).exists()
        if waiting:
            name, phone = driver_of(to)
            out.append({"ref": e.order.external_ref, "van": to, "driver": name, "phone": phone})
    return out


def shift_thread(shift, limit: int = 30) -> list:
    """The latest messages between the shift's driver and dispatch, oldest first."""
    return list(reversed(ShiftMessage.objects.filter(shift=shift).order_by("-created_at", "-id")[:limit]))


def driver_order(*, driver, ref: str) -> Order:
    """An order on the van of the driver's current (or next) shift; NotFound for any other."""
    shift = _driver_shift(driver, clock.now())
    if shift is None:
        raise NotFound("You have no shift, so no stops.")
    order = Order.objects.filter(organization_id=driver.organization_id, external_ref=ref, vehicle_id=shift.vehicle_id).first()
    if order is None:
        raise NotFound(f"{ref} is not on your van.")
    return order


def driver_lost_order(*, driver, ref: str) -> tuple[Order, str] | None:
    """An order that was on the van of the driver's shift and is not any more, with why, in the
    driver's words (what happened, when, and that it is not theirs to deliver); None for an order
    that never was on that van (the driver learns nothing about other vans' orders)."""
    shift = _driver_shift(driver, clock.now())
    if shift is None or not isinstance(ref, str):
        return None
    order = (Order.objects.filter(organization_id=driver.organization_id, external_ref=ref)
             .select_related("vehicle", "carrier", "organization").first())
    if order is None or not Assignment.objects.filter(order=order, vehicle_id=shift.vehicle_id).exists():
        return None
    released = Event.objects.filter(order=order, kind="assignment.released").order_by("-created_at", "-id").first()
    when = f" at {released.created_at.astimezone(clock.zone_of(order.organization)):%H:%M}" if released else ""
    if order.status == OrderStatus.CANCELLED:
        return order, f"{ref} was cancelled{when}: don't deliver it; bring it back to the hub."
    if order.vehicle_id == shift.vehicle_id:  # still this van's, but its stop is done
        return order, f"{ref} is already {OrderStatus(order.status).label.lower()}."
    if order.carrier_id:
        return order, f"{ref} was moved to {order.carrier.name} by dispatch{when}: don't deliver it; dispatch tells you where to leave it."
    if order.vehicle_id:
        return order, f"{ref} was moved to van {order.vehicle.code} by dispatch{when}: don't deliver it; dispatch tells you where to hand it over."
    return order, f"{ref} was taken off your van by dispatch{when}: don't deliver it; ask dispatch what to do with it."
