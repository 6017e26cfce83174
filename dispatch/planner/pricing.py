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


def carrier_price(problem: Problem, carrier, order) -> float:
    """The rate card's price plus the late penalty at the carrier's promised time."""
    hub = problem.hubs[order.hub]
    d = problem.km(hub.at, order.at)
    eta = max(order.window[0], problem.now_min + carrier.lead_min + problem.minutes(d))
    return carrier.base + carrier.per_kg * order.weight_kg + carrier.per_km * d + problem.late_cost(order, eta)


def carrier_risk(carrier, order) -> float:
    """Expected cost of the carrier's track record on this order's lane: the probability it is late
    times the late penalty, plus the probability the delivery fails times the re-attempt cost."""
    p_late, p_fail = carrier.reliability.get(order.zone, carrier.default_reliability)
    return p_late * order.late_penalty + p_fail * order.reattempt_cost


def carrier_order_cost(problem: Problem, carrier, order) -> float:
    """Price, late penalty and expected cost of its track record, of giving one order to one carrier
    (eligibility not checked)."""
    return carrier_price(problem, carrier, order) + carrier_risk(carrier, order)
