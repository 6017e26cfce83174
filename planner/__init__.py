"""The planner: pure code, plain data in and out, no Django and no database.

- model: the problem and plan dataclasses (the shape of the controltower-snapshot/1 format)
- snapshot: reading and writing snapshot and plan JSON
- evaluate: exact cost and feasibility of a plan (the benchmark checker's semantics)
- offers: carriers as alternatives: eligibility, prices and the capacity-aware carrier assignment
- greedy: urgency-ordered construction (cheapest of carrier, insertion into a van, unserved)
- hybrid: the production planner (PyVRP for own-fleet routes, carriers as priced alternatives)
- vrptw: classic VRPTW (Solomon) solving with the same routing engine
- travel: the travel model (distances and travel times) every part of the product uses
"""

from .model import Plan, Problem  # noqa: F401
