"""Carriers as alternatives: who can take an order, at what cost, and the cheapest assignment of
a set of orders to carriers within their capacities (a min-cost flow)."""

from __future__ import annotations

from ortools.graph.python import min_cost_flow

from .model import Carrier, Order, Problem
from .pricing import UNLIMITED, carrier_can_take, carrier_order_cost, carrier_slot

COST_SCALE = 1000  # min-cost flow works in integers: thousandths of a currency unit


def carrier_options(problem: Problem, order: Order) -> list[tuple[float, Carrier]]:
    """(cost, carrier) for every carrier that can take the order, cheapest first."""
    return sorted(((carrier_order_cost(problem, c, order), c) for c in problem.carriers if carrier_can_take(problem, c, order)),
                  key=lambda x: x[0])


def assign_to_carriers(problem: Problem, order_ids: list[str], capacity_left: dict[str, int] | None = None
                       ) -> tuple[dict[str, list[str]], list[str], float]:
    """Cheapest assignment of the given orders to carriers (or unserved) within capacity (per
    pool, and per slot where a carrier reports them; capacity_left by pool). Returns (carrier -> orders, unserved, total cost)."""
    first = {}
    for c in problem.carriers:
        first.setdefault(c.room_key, c)
    capacity = dict(capacity_left) if capacity_left is not None else {key: c.capacity for key, c in first.items()}
    if not order_ids:
        return {}, [], 0.0
    carriers = [c for c in problem.carriers if capacity.get(c.room_key, 0) > 0]
    pools = sorted({c.room_key for c in carriers})
    smcf = min_cost_flow.SimpleMinCostFlow()
    source, sink = 0, 1
    order_node = {oid: 2 + i for i, oid in enumerate(order_ids)}
    pool_node = {key: 2 + len(order_ids) + j for j, key in enumerate(pools)}
    # A carrier reporting capacity per zone and window: each order passes through the slot it counts against.
    slot_node: dict[tuple[str, int], int] = {}
    for key in pools:
        for i, slot in enumerate(first[key].slots):
            slot_node[(key, i)] = n = 2 + len(order_ids) + len(pools) + len(slot_node)
            smcf.add_arc_with_capacity_and_unit_cost(n, pool_node[key], max(0, slot.room), 0)
    arcs: dict[int, tuple[str, str | None]] = {}
    for oid, n in order_node.items():
        o = problem.orders[oid]
        smcf.add_arc_with_capacity_and_unit_cost(source, n, 1, 0)
        arcs[smcf.add_arc_with_capacity_and_unit_cost(n, sink, 1, int(round(o.unserved_penalty * COST_SCALE)))] = (oid, None)
        for c in carriers:
            if carrier_can_take(problem, c, o):
                cost = int(round(carrier_order_cost(problem, c, o) * COST_SCALE))
                i = carrier_slot(problem, c, o)
                to = pool_node[c.room_key] if i == UNLIMITED else slot_node[(c.room_key, i)]
                arcs[smcf.add_arc_with_capacity_and_unit_cost(n, to, 1, cost)] = (oid, c.id)
    for key in pools:
        smcf.add_arc_with_capacity_and_unit_cost(pool_node[key], sink, capacity[key], 0)
    smcf.set_node_supply(source, len(order_ids))
    smcf.set_node_supply(sink, -len(order_ids))
    if smcf.solve() != smcf.OPTIMAL:
        raise RuntimeError("carrier assignment failed")
    by_carrier: dict[str, list[str]] = {}
    unserved: list[str] = []
    total = 0.0
    for arc, (oid, cid) in arcs.items():
        if smcf.flow(arc) > 0:
            total += smcf.unit_cost(arc) / COST_SCALE
            if cid is None:
                unserved.append(oid)
            else:
                by_carrier.setdefault(cid, []).append(oid)
    return by_carrier, unserved, total
