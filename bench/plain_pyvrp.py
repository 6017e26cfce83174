"""Track A's reference: plain PyVRP with its default settings on one Solomon-format instance, the
way its documentation runs one (`pyvrp.read` with exact rounding, `pyvrp.solve` with a run-time
limit and nothing else). Its plan is costed by the same checker as the product's.

    python -m bench.plain_pyvrp INSTANCE.txt --time-limit 10 --out PLAN.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import pyvrp
import vrplib
from pyvrp.stop import MaxRuntime


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("instance")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    started = time.monotonic()
    # PyVRP reads VRPLIB; the Solomon text is rewritten as VRPLIB by vrplib, PyVRP's own reader library.
    instance = vrplib.read_instance(args.instance, instance_format="solomon")
    with tempfile.NamedTemporaryFile("w", suffix=".vrp", delete=False) as f:
        converted = f.name
    vrplib.write_instance(converted, {"NAME": Path(args.instance).stem, "TYPE": "VRPTW", "DIMENSION": len(instance["demand"]),
                                      "VEHICLES": instance["vehicles"], "CAPACITY": instance["capacity"],
                                      "EDGE_WEIGHT_TYPE": "EUC_2D", "NODE_COORD_SECTION": instance["node_coord"],
                                      "DEMAND_SECTION": instance["demand"], "DEPOT_SECTION": [1],
                                      "SERVICE_TIME_SECTION": instance["service_time"],
                                      "TIME_WINDOW_SECTION": instance["time_window"]})
    data = pyvrp.read(converted, round_func="exact")
    os.unlink(converted)
    result = pyvrp.solve(data, stop=MaxRuntime(max(0.1, args.time_limit - (time.monotonic() - started))), seed=args.seed,
                         collect_stats=False)
    # one depot (location 0): client k (0-based) is customer number k + 1 of the file
    routes = [[a.idx + 1 for a in route.schedule() if a.is_client()] for route in result.best.routes()]
    Path(args.out).write_text(json.dumps({"routes": routes}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
