"""What an order cost and what its SLA cost, settled as it reaches an outcome, and the day it
counts in marked for the reports' roll-up (in the same transaction as the change)."""

from __future__ import annotations

import math
from decimal import Decimal, ROUND_HALF_UP

from django.utils import timezone

from carriers.models import BookingStatus, CarrierBooking
from dispatch import clock
from planner.travel import haversine_km
from dispatch.models import Order, RollupDirty, Stop
from planner.pricing import rate_price
from dispatch.selectors import service_rules
from dispatch.selectors.travel import travel_model
from dispatch.status import OrderStatus

CENT = Decimal("0.01")
OUTCOMES = {OrderStatus.DELIVERED, OrderStatus.FAILED, OrderStatus.RETURNED, OrderStatus.CANCELLED}


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def carrier_attempt_cost(order: Order) -> Decimal:
    """The price the carrier confirmed for this order (its rate card's, if it never sent one)."""
    booking = (CarrierBooking.objects.filter(order=order, carrier_id=order.carrier_id, price__isnull=False)
               .exclude(status=BookingStatus.CANCELLED).order_by("-created_at").first())
    if booking is not None:
        return money(booking.price)
    rate = order.carrier.rates.filter(service_level=order.service_level).first()
    if rate is None:
        return Decimal("0.00")
    km = travel_model().leg(order.hub.lat, order.hub.lon, order.lat, order.lon)[0]
    return money(db_rate_price(rate, list(order.carrier.zones.all()), order, km, order.delivered_at or clock.now()))


def db_rate_price(rate, zones, order: Order, km: float, at) -> float:
    """A stored rate card's price for an order delivered at `at` (planner.pricing.rate_price)."""
    zone_fee = next((z.surcharge for z in zones if haversine_km(z.lat, z.lon, order.lat, order.lon) <= z.radius_km), 0.0)
    after = rate.after_hours_from is not None and timezone.localtime(at).time() >= rate.after_hours_from
    return rate_price(base=rate.base, per_kg=rate.per_kg, per_km=rate.per_km, weight_kg=order.weight_kg, km=km, fuel_pct=rate.fuel_pct,
                      weight_breaks=tuple((float(o), float(f)) for o, f in rate.weight_breaks or ()), zone_fee=zone_fee,
                      after_hours_fee=rate.after_hours_fee if after else 0.0)


def van_attempt_cost(order: Order) -> Decimal:
    """The van's marginal cost of this stop: the leg from its previous stop (or its hub) at its cost
    per km, and the driving and service time at its cost per hour."""
    van = order.vehicle
    stop = Stop.objects.filter(order=order, kind="delivery", route__vehicle=van).select_related("route").order_by("-id").first()
    lat, lon = van.fleet.hub.lat, van.fleet.hub.lon
    if stop is not None:
        previous = (Stop.objects.filter(route=stop.route, sequence__lt=stop.sequence, completed_at__isnull=False)
                    .order_by("-sequence").first())
        if previous is not None:
            lat, lon = previous.lat, previous.lon
    km, drive = travel_model().leg(lat, lon, order.lat, order.lon)
    hours = (drive + order.service_min) / 60.0
    return money(van.cost_per_km * km + van.cost_per_hour * hours)


def attempt_cost(order: Order) -> Decimal:
    if order.carrier_id:
        return carrier_attempt_cost(order)
    if order.vehicle_id:
        return van_attempt_cost(order)
    return Decimal("0.00")


def late_penalty(rule, late_min: int) -> Decimal:
    return Decimal("0.00") if late_min <= 0 else money(Decimal(rule.late_fixed) + Decimal(rule.late_per_min) * late_min)


def settle(order: Order, status: str) -> None:
    """Update the order's settled figures for the outcome it just reached (before it is saved)."""
    if status not in OUTCOMES:
        return
    rule = service_rules(order.organization_id)[order.service_level]
    if status in (OrderStatus.DELIVERED, OrderStatus.FAILED):
        order.attempts += 1
        order.cost = money(Decimal(order.cost) + attempt_cost(order))
    if status == OrderStatus.DELIVERED:
        late = max(0, math.ceil((order.delivered_at - order.window_end).total_seconds() / 60.0))
        order.late_min = late
        order.penalty = late_penalty(rule, late)
    elif status == OrderStatus.RETURNED:
        order.penalty = money(rule.unserved)
    order.settled_at = clock.now()
    mark_dirty(order.organization_id, order.service_date)


def mark_dirty(organization_id: int, day) -> None:
    if day is not None:
        RollupDirty.objects.update_or_create(organization_id=organization_id, day=day)
