"""Detectors: notice where reality left the plan and raise exceptions. Each reads current state
and calls exceptions.exception_raise; running one twice changes nothing new."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from carriers.models import CapacitySlot, Carrier
from dispatch import clock
from dispatch.models import (
    Order,
    OrderException,
    Shift,
    Vehicle,
    VehiclePosition,
)
from dispatch.selectors import (  # noqa: F401 (read through the selector)
    one_policy_read,
    planned_capacity,
    policy_for,
    slot_bookings,
)
from dispatch.selectors.availability import shifts_not_started, vans_unavailable
from dispatch.services import ActorRef
from dispatch.services.exceptions import (
    exception_close,
    exception_escalate,
    exception_raise,
)
from dispatch.status import (
    LIVE_EXCEPTION_STATES,
    RESPONSE_SLA_MIN,
    CarrierHealth,
    DutyStatus,
    ExceptionKind,
    ExceptionState,
    OrderStatus,
    Risk,
    Severity,
)

WAITING_FOR_CARRIER = [OrderStatus.BOOKED]
CARRIER_OPEN = [OrderStatus.BOOKED, OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY]
VAN_OPEN = [OrderStatus.ASSIGNED, OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY]


def _severity(n: int) -> str:
    return Severity.CRITICAL if n >= 50 else Severity.HIGH if n >= 10 else Severity.MEDIUM


def detect_carrier_outage(*, carrier: Carrier) -> None:
    """A carrier that is down or degraded: the orders it has not collected yet need a new home.
    A carrier that is back up resolves its outage exception."""
    if carrier.health == CarrierHealth.UP:

        for exc in OrderException.objects.filter(cause_key=f"carrier:{carrier.id}:outage", state__in=LIVE_EXCEPTION_STATES):
            exception_close(exception_id=exc.id, state=ExceptionState.RESOLVED, actor=ActorRef.system("health"), note="carrier recovered")
        return
    orders = list(Order.objects.filter(carrier=carrier, status__in=WAITING_FOR_CARRIER).values_list("id", flat=True))
    state = "down" if carrier.health == CarrierHealth.DOWN else "degraded"
    exception_raise(
        organization_id=carrier.organization_id, kind=ExceptionKind.CARRIER_OUTAGE, cause_key=f"carrier:{carrier.id}:outage",
        title=f"{carrier.name} is {state}: {len(orders)} orders not yet collected",
        cause=carrier.health_reason or f"Carrier reported {state}", severity=Severity.CRITICAL if state == "down" else _severity(len(orders)),
        order_ids=orders, carrier=carrier, propose=bool(orders),
    )


def detect_failed_delivery(*, order: Order) -> None:
    if order.status != OrderStatus.FAILED:
        return
    exception_raise(
        organization_id=order.organization_id, kind=ExceptionKind.FAILED_DELIVERY, cause_key=f"order:{order.id}:failed",
        title=f"Delivery of {order.external_ref} failed ({order.get_failure_reason_display().lower()})",
        cause="Re-attempt by van or carrier, or return to sender", severity=Severity.MEDIUM,
        order_ids=[order.id], vehicle=order.vehicle, carrier=order.carrier,
    )


def detect_vehicle_unavailable(*, vehicle: Vehicle) -> None:
    """A van taken off the road (breakdown): its orders not yet delivered need a new home."""
    if vehicle.status != DutyStatus.UNAVAILABLE:
        return
    orders = list(Order.objects.filter(vehicle=vehicle, status__in=VAN_OPEN).values_list("id", flat=True))
    exception_raise(
        organization_id=vehicle.organization_id, kind=ExceptionKind.VEHICLE_BREAKDOWN, cause_key=f"vehicle:{vehicle.id}:down",
        title=f"Van {vehicle.code} is off the road: {len(orders)} orders affected", cause="Vehicle reported unavailable",
        severity=_severity(len(orders)) if orders else Severity.LOW, order_ids=orders, vehicle=vehicle, propose=bool(orders),
    )


def detect_no_shows(*, organization_id: int, now: datetime | None = None) -> int:
    """Shifts that started more than the grace period ago with no duty change by their driver and
    no ping from their van since (dispatch.selectors.availability: the van is out of every plan
    meanwhile); the exception resolves when the driver or the van is heard from."""
    now = now or clock.now()
    not_started = shifts_not_started(organization_id=organization_id, now=now)
    for shift in not_started:
        orders = list(Order.objects.filter(vehicle=shift.vehicle, status__in=VAN_OPEN).values_list("id", flat=True))
        exception_raise(
            organization_id=organization_id, kind=ExceptionKind.DRIVER_NO_SHOW, cause_key=f"shift:{shift.id}:no_show",
            title=f"{shift.driver.name} has not started (van {shift.vehicle.code})",
            cause=f"Shift began {timezone.localtime(shift.starts_at):%H:%M}; no duty change and no pings from the van since. "
                  "The van is out of every plan until one of them is heard from",
            severity=_severity(len(orders)) if orders else Severity.LOW, order_ids=orders, vehicle=shift.vehicle,
            propose=bool(orders),
        )
    _resolve_heard_from(organization_id, ExceptionKind.DRIVER_NO_SHOW, ":no_show",
                        still={f"shift:{s.id}:no_show" for s in not_started},
                        note="the driver or the van was heard from, or the shift is over")
    return len(not_started)


def detect_silent_vehicles(*, organization_id: int, now: datetime | None = None) -> int:
    """Vans on duty whose telemetry went quiet (dispatch.selectors.availability: out of every plan
    until they ping again): a possible breakdown nobody reported when the van holds orders, and a van
    a dispatcher should know is out of the plan when it is on a shift with none. A van that never
    pinged since its shift began is a no-show, not this. The exception resolves with the next ping."""
    now = now or clock.now()
    silent = [u for u in vans_unavailable(organization_id=organization_id, now=now).values() if u.kind == "silent"]
    pinged = set(VehiclePosition.objects.filter(vehicle_id__in=[u.vehicle_id for u in silent]).values_list("vehicle_id", flat=True)
                 .distinct())
    on_shift = set(Shift.objects.filter(vehicle_id__in=[u.vehicle_id for u in silent], starts_at__lte=now, ends_at__gt=now)
                   .values_list("vehicle_id", flat=True))
    raised = set()
    for u in silent:
        if u.vehicle_id not in pinged:
            continue
        orders = list(Order.objects.filter(vehicle_id=u.vehicle_id, status__in=VAN_OPEN).values_list("id", flat=True))
        if not orders and u.vehicle_id not in on_shift:
            continue  # parked after its shift: nobody expects it to speak
        vehicle = Vehicle.objects.get(pk=u.vehicle_id)
        silent_min = int((now - u.since).total_seconds() // 60)
        if orders:
            title = f"Van {u.code} silent for {silent_min} min: possible breakdown, {len(orders)} orders affected"
            cause = f"No position since {timezone.localtime(u.since):%H:%M} with stops still open; call the driver"
        else:
            title = f"Van {u.code} silent for {silent_min} min: out of the plan until it is heard from"
            cause = f"No position since {timezone.localtime(u.since):%H:%M} during its shift; no new work goes to it. Call the driver"
        exception_raise(
            organization_id=organization_id, kind=ExceptionKind.VEHICLE_BREAKDOWN, cause_key=f"vehicle:{u.vehicle_id}:silent",
            title=title, cause=cause, severity=_severity(len(orders)) if orders else Severity.LOW, order_ids=orders, vehicle=vehicle,
            propose=bool(orders),
        )
        raised.add(f"vehicle:{u.vehicle_id}:silent")
    _resolve_heard_from(organization_id, ExceptionKind.VEHICLE_BREAKDOWN, ":silent", still=raised,
                        note="the van pinged again, or its shift is over with nothing on board")
    return len(raised)


def _resolve_heard_from(organization_id: int, kind: str, suffix: str, *, still: set[str], note: str) -> None:
    """Live exceptions of a cause that no longer holds (the van or driver was heard from) are resolved."""
    for exc in OrderException.objects.filter(organization_id=organization_id, kind=kind, cause_key__endswith=suffix,
                                             state__in=LIVE_EXCEPTION_STATES).exclude(cause_key__in=still):
        exception_close(exception_id=exc.id, state=ExceptionState.RESOLVED, actor=ActorRef.system("detector"), note=note)


def detect_sla_risk(*, organization_id: int) -> int:
    """Orders whose ETA (van position and remaining stops, or the carrier's promise) misses the
    window, grouped by the van or carrier carrying them (orders a van's breakdown or a carrier's
    outage answers for stay with that cause: services.exceptions.CAUSE_RANK). A group whose orders
    are no longer at risk is resolved."""
    at_risk = Order.objects.filter(organization_id=organization_id, risk__in=[Risk.AT_RISK, Risk.LATE],
                                   status__in=VAN_OPEN + WAITING_FOR_CARRIER).select_related("vehicle", "carrier")
    groups: dict[str, dict] = {}
    for order in at_risk:
        holder = order.vehicle or order.carrier
        if holder is None:
            continue
        key = f"{'vehicle' if order.vehicle_id else 'carrier'}:{holder.id}:sla"
        g = groups.setdefault(key, {"holder": holder, "orders": [], "late": 0, "is_van": bool(order.vehicle_id)})
        g["orders"].append(order.id)
        g["late"] += order.risk == Risk.LATE
    for key, g in groups.items():
        name = f"van {g['holder'].code}" if g["is_van"] else g["holder"].name
        exception_raise(
            organization_id=organization_id, kind=ExceptionKind.SLA_AT_RISK, cause_key=key,
            title=f"{len(g['orders'])} orders at risk on {name}", cause=f"{g['late']} expected late, the rest close to their window end",
            severity=Severity.HIGH if g["late"] else Severity.MEDIUM, order_ids=g["orders"],
            vehicle=g["holder"] if g["is_van"] else None, carrier=None if g["is_van"] else g["holder"],
        )
    for exc in OrderException.objects.filter(organization_id=organization_id, kind=ExceptionKind.SLA_AT_RISK,
                                             state__in=LIVE_EXCEPTION_STATES).exclude(cause_key__in=list(groups)):
        exception_close(exception_id=exc.id, state=ExceptionState.RESOLVED, actor=ActorRef.system("detector"),
                        note="none of its orders is at risk any more")
    return len(groups)


def detect_capacity_gaps(*, organization_id: int, now: datetime | None = None) -> int:
    """Bookings beyond what a carrier can take in a zone and window: only orders inside the slot's
    zone (and window) count against it."""

    now = now or clock.now()
    found = 0
    for slot in CapacitySlot.objects.filter(carrier__organization_id=organization_id, window_end__gt=now).select_related("carrier", "zone"):
        booked = slot_bookings(slot=slot, statuses=WAITING_FOR_CARRIER)
        n = len(booked)
        if n > slot.capacity:
            over = [o.id for o in sorted(booked, key=lambda o: (o.window_end, o.id), reverse=True)[: n - slot.capacity]]
            where = f" in {slot.zone.name}" if slot.zone else ""
            exception_raise(
                organization_id=organization_id, kind=ExceptionKind.CARRIER_CAPACITY, cause_key=f"slot:{slot.id}:gap",
                title=f"{slot.carrier.name} is {n - slot.capacity} over capacity{where} "
                      f"{timezone.localtime(slot.window_start):%H:%M}-{timezone.localtime(slot.window_end):%H:%M}",
                cause=f"{n} booked, {slot.capacity} available", severity=_severity(n - slot.capacity), order_ids=over, carrier=slot.carrier,
            )
            found += 1
    return found


def detect_missed_cutoffs(*, organization_id: int, now: datetime | None = None) -> int:
    """Booked orders a carrier has not collected although its pickup cut-off has passed today."""
    local = timezone.localtime(now or clock.now())
    found = 0
    for carrier in Carrier.objects.filter(organization_id=organization_id):
        if local.time() <= carrier.pickup_cutoff:
            continue
        orders = list(Order.objects.filter(carrier=carrier, status__in=WAITING_FOR_CARRIER,
                                           window_start__date__lte=local.date()).values_list("id", flat=True))
        if orders:
            exception_raise(
                organization_id=organization_id, kind=ExceptionKind.MISSED_CUTOFF, cause_key=f"carrier:{carrier.id}:cutoff:{local.date()}",
                title=f"{carrier.name} missed its {carrier.pickup_cutoff:%H:%M} pickup cut-off for {len(orders)} orders",
                cause="Orders still waiting for collection after the cut-off", severity=_severity(len(orders)),
                order_ids=orders, carrier=carrier,
            )
            found += 1
    return found


# Hours ahead that demand is compared with plan (later hours are not planned yet), and the fewest
# orders in one hub-hour that can be a spike (two orders are not a surge, whatever the plan).
SPIKE_HORIZON = timedelta(hours=6)


def detect_demand_spikes(*, organization_id: int, now: datetime | None = None) -> int:
    """Demand for a hub's area and an hour's window beyond the policy factor times the capacity
    planned for it: the hub's vans on shift then (at the policy's deliveries per van-hour) plus
    the capacity carriers reported for slots that cover the hub and overlap that hour."""

    now = now or clock.now()
    policy = policy_for(organization_id)
    pending = [OrderStatus.CREATED, OrderStatus.PLANNED, OrderStatus.ASSIGNED, OrderStatus.BOOKED]
    demand: dict[tuple[int, datetime], list[int]] = {}
    for order_id, hub_id, start in (Order.objects.filter(organization_id=organization_id, status__in=pending,
                                                         window_end__gt=now, window_start__lt=now + SPIKE_HORIZON)
                                    .values_list("id", "hub_id", "window_start")):
        hour = max(start, now).replace(minute=0, second=0, microsecond=0)
        demand.setdefault((hub_id, hour), []).append(order_id)
    found = 0
    unavailable = set(vans_unavailable(organization_id=organization_id, now=now)) if demand else set()  # once per sweep
    for (hub_id, hour), orders in sorted(demand.items(), key=lambda kv: kv[0][1]):
        planned = planned_capacity(organization_id=organization_id, hub_id=hub_id, start=hour, end=hour + timedelta(hours=1),
                                   van_orders_per_hour=policy.van_orders_per_hour, unavailable=unavailable)
        if len(orders) >= policy.spike_min_orders and len(orders) > policy.spike_factor * max(planned, 1.0):
            local = timezone.localtime(hour)
            exception_raise(
                organization_id=organization_id, kind=ExceptionKind.DEMAND_SPIKE,
                cause_key=f"hub:{hub_id}:spike:{hour:%Y%m%d%H}",
                title=f"Demand spike: {len(orders)} orders for {local:%H:00}-{local:%H:59} against {planned:.0f} planned",
                cause=f"{len(orders) / max(planned, 1.0):.1f}x the planned capacity of the hub's vans and carriers for that hour",
                severity=Severity.HIGH, order_ids=orders,
            )
            found += 1
    return found


def detect_carriers_still_down(*, organization_id: int) -> int:
    """A carrier that stays down or degraded keeps its outage live for the orders still waiting
    with it (an outage exception is also raised by the health change itself)."""
    found = 0
    for carrier in Carrier.objects.filter(organization_id=organization_id).exclude(health=CarrierHealth.UP):
        if Order.objects.filter(carrier=carrier, status__in=WAITING_FOR_CARRIER).exists():
            detect_carrier_outage(carrier=carrier)
            found += 1
    return found


def detect_overdue_exceptions(*, organization_id: int, now: datetime | None = None) -> int:
    """Live exceptions past their response SLA (by severity, from the organization's policy) that
    nobody resolved: they escalate."""

    now = now or clock.now()
    limits = {**RESPONSE_SLA_MIN, **(policy_for(organization_id).response_sla_min or {})}
    found = 0
    for exc in OrderException.objects.filter(organization_id=organization_id, state__in=LIVE_EXCEPTION_STATES, escalated_at__isnull=True):
        if exc.snoozed_until and exc.snoozed_until > now:
            continue
        waited = (now - exc.detected_at).total_seconds() / 60
        limit = float(limits.get(exc.severity, 60))
        if waited > limit and exception_escalate(exception_id=exc.id, overdue_min=int(waited - limit)):
            found += 1
    return found


def detect_all(*, organization_id: int) -> None:
    """The periodic sweep (beat): everything that is noticed by watching rather than by an event."""
    detect_carriers_still_down(organization_id=organization_id)
    detect_no_shows(organization_id=organization_id)
    detect_silent_vehicles(organization_id=organization_id)
    detect_sla_risk(organization_id=organization_id)
    detect_capacity_gaps(organization_id=organization_id)
    detect_missed_cutoffs(organization_id=organization_id)
    detect_demand_spikes(organization_id=organization_id)
    detect_overdue_exceptions(organization_id=organization_id)
