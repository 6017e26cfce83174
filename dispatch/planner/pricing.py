"""The one price of a carrier for an order, and whether it may take it. Every path that decides
(placement, exception proposals, the network re-plan, the evaluator) uses these."""

from __future__ import annotations

from .model import Carrier, Order, Problem, haversine_km


def carrier_can_take(problem: Problem, carrier: Carrier, order: Order) -> bool:
    return (
        carrier.available
        and problem.now_min <= carrier.pickup_cutoff_min + 1e-6
        and order.service_level in carrier.service_levels
        and order.requires <= carrier.skills
        and any(haversine_km(z.at.lat, z.at.lon, order.at.lat, order.at.lon) <= z.radius_km + 1e-6 for z in carrier.zones)
    )


def rate_price(*, base: float, per_kg: float, per_km: float, weight_kg: float, km: float, fuel_pct: float = 0.0,
               weight_breaks=(), zone_fee: float = 0.0, after_hours_fee: float = 0.0) -> float:
    """A rate card's price for one delivery: base, per kg and per km, the fee of the highest weight
    break it passes, the zone's and the after-hours surcharge, all times the fuel surcharge."""
    weight_fee = max((fee for over, fee in weight_breaks if weight_kg > over), default=0.0)
    return (base + per_kg * weight_kg + per_km * km + weight_fee + zone_fee + after_hours_fee) * (1.0 + fuel_pct / 100.0)


def after_hours(from_min: float | None, at_min: float) -> bool:
    """Whether a delivery at this minute (from any day's midnight) falls in the after-hours period."""
    return from_min is not None and (at_min % 1440.0) >= from_min


def carrier_price(problem: Problem, carrier, order) -> float:
    """The rate card's price plus the late penalty at the carrier's promised time."""
    hub = problem.hubs[order.hub]
    d = problem.km(hub.at, order.at)
    eta = max(order.window[0], problem.now_min + carrier.lead_min + problem.minutes(d))
    zone_fee = next((z.surcharge for z in carrier.zones
                     if haversine_km(z.at.lat, z.at.lon, order.at.lat, order.at.lon) <= z.radius_km + 1e-6), 0.0)
    price = rate_price(base=carrier.base, per_kg=carrier.per_kg, per_km=carrier.per_km, weight_kg=order.weight_kg, km=d,
                       fuel_pct=carrier.fuel_pct, weight_breaks=carrier.weight_breaks, zone_fee=zone_fee,
                       after_hours_fee=carrier.after_hours_fee if after_hours(carrier.after_hours_from_min, eta) else 0.0)
    return price + problem.late_cost(order, eta)


def carrier_risk(carrier, order) -> float:
    """Expected cost of the carrier's track record on this order's lane: the probability it is late
    times the late penalty, plus the probability the delivery fails times the re-attempt cost."""
    p_late, p_fail = carrier.reliability.get(order.zone, carrier.default_reliability)
    return p_late * order.late_penalty + p_fail * order.reattempt_cost


def carrier_order_cost(problem: Problem, carrier, order) -> float:
    """Price, late penalty and expected cost of its track record, of giving one order to one carrier
    (eligibility not checked)."""
    return carrier_price(problem, carrier, order) + carrier_risk(carrier, order)
