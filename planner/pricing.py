"""The one price of a carrier for an order, and whether it may take it. Every path that decides
(placement, exception proposals, the network re-plan, the evaluator) uses these."""

from __future__ import annotations

from .model import Carrier, Order, Problem, haversine_km


def carrier_can_take(problem: Problem, carrier: Carrier, order: Order) -> bool:
    return (
        carrier.available
        and problem.hubs[order.hub].carrier_pickup
        and problem.now_min <= carrier.pickup_cutoff_min + 1e-6
        and order.service_level in carrier.service_levels
        and order.requires <= carrier.skills
        and any(haversine_km(z.at.lat, z.at.lon, order.at.lat, order.at.lon) <= z.radius_km + 1e-6 for z in carrier.zones)
        and carrier_slot(problem, carrier, order) is not None
    )


def carrier_eta(problem: Problem, carrier: Carrier, order: Order) -> float:
    """When the carrier delivers the order (minutes from the day's start): its lead time and the
    drive from the hub after now, not before the window opens."""
    return max(order.window[0], problem.now_min + carrier.lead_min + problem.drive_min(problem.hubs[order.hub].at, order.at))


UNLIMITED = -1


def carrier_slot(problem: Problem, carrier: Carrier, order: Order) -> int | None:
    """Which of the carrier's capacity slots the order counts against: the first covering its
    drop-off and delivery time; UNLIMITED when no slot the carrier reports is for that time (it
    said nothing about it: a slot for this afternoon does not limit tomorrow); None when slots for
    that time exist but none covers the drop-off (no room there)."""
    if not carrier.slots:
        return UNLIMITED
    eta = carrier_eta(problem, carrier, order)
    at_that_time = False
    for i, s in enumerate(carrier.slots):
        if s.start_min <= eta < s.end_min:
            at_that_time = True
            if s.zone is None or haversine_km(s.zone.at.lat, s.zone.at.lon, order.at.lat, order.at.lon) <= s.zone.radius_km + 1e-6:
                return i
    return None if at_that_time else UNLIMITED


class Rooms:
    """What carriers have left, overall and per slot, as orders are given to them (carriers in
    one pool share their room)."""

    def __init__(self, problem: Problem, taken: dict[str, list[str]] | None = None):
        self.p = problem
        self.by_id = {c.id: c for c in problem.carriers}
        self.used: dict[str, int] = {}
        self.slot_used: dict[tuple[str, int], int] = {}
        for cid, oids in (taken or {}).items():
            for oid in oids:
                self.take(self.by_id[cid], problem.orders[oid])

    def fits(self, carrier: Carrier, order: Order) -> bool:
        key = carrier.room_key
        if self.used.get(key, 0) >= carrier.capacity:
            return False
        i = carrier_slot(self.p, carrier, order)
        return i == UNLIMITED or (i is not None and self.slot_used.get((key, i), 0) < carrier.slots[i].room)

    def take(self, carrier: Carrier, order: Order) -> None:
        key = carrier.room_key
        self.used[key] = self.used.get(key, 0) + 1
        i = carrier_slot(self.p, carrier, order)
        if i is not None and i != UNLIMITED:
            self.slot_used[(key, i)] = self.slot_used.get((key, i), 0) + 1

    def over(self) -> list[str]:
        """Carriers and slots given more than they have room for."""
        first = {}
        for c in self.p.carriers:
            first.setdefault(c.room_key, c)
        out = [f"{key} over capacity" for key, n in self.used.items() if n > first[key].capacity]
        out += [f"{key} over capacity in slot {i + 1}" for (key, i), n in self.slot_used.items() if n > first[key].slots[i].room]
        return out


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
    eta = carrier_eta(problem, carrier, order)
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
