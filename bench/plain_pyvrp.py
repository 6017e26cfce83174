"""Track A's reference: plain PyVRP with its default settings on one Solomon-format instance, the
way its documentation runs one (`pyvrp.read` with exact rounding, `pyvrp.solve` with a run-time
limit and nothing else). Its plan is costed by the same checker as the product's.

    python -m bench.plain_pyvrp INSTANCE.txt --time-limit 10 --out PLAN.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pyvrp
from pyvrp.stop import MaxRuntime


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("instance")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    started = time.monotonic()
    data = pyvrp.read(args.instance, round_func="exact")
    result = pyvrp.solve(data, stop=MaxRuntime(max(0.1, args.time_limit - (time.monotonic() - started))), seed=args.seed,
                         collect_stats=False)
    # location 0 is the depot; client locations are the customer numbers of the file
    routes = [[int(v) for v in route.visits()] for route in result.best.routes()]
    Path(args.out).write_text(json.dumps({"routes": routes}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
