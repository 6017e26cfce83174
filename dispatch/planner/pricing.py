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


def carrier_order_cost(problem: Problem, carrier, order) -> float:
    """Price plus late penalty of giving one order to one carrier (eligibility not checked)."""
    hub = problem.hubs[order.hub]
    d = problem.km(hub.at, order.at)
    eta = max(order.window[0], problem.now_min + carrier.lead_min + problem.minutes(d))
    return carrier.base + carrier.per_kg * order.weight_kg + carrier.per_km * d + problem.late_cost(order, eta)
