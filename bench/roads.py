"""The road engine at the sizes the product plans: building the generated city, and full matrices
of 200, 1,000, 2,000 and 5,000 points (durations and distances) from OSRM in-process, with the
multi-level Dijkstra data `build_roads` prepares (MLD), and with contraction hierarchies (CH, --ch);
and a re-plan's matrix, where the engine asks only for the points it did not know.

    python -m bench.roads [--sizes 200,1000,2000,5000] [--size-km 36] [--block-m 250] [--ch]

Writes bench/results/roads.json and roads.md. Target (#24): 5,000 points in at most 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from planner import roads

RESULTS = Path(__file__).resolve().parent / "results"
CENTRE = (41.8781, -87.6298)


def _contract(base: Path) -> None:
    """The same city prepared for CH (osrm-contract) beside the MLD data."""
    subprocess.run([roads._tool("osrm-contract"), str(base)], check=True, capture_output=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="200,1000,2000,5000")
    ap.add_argument("--size-km", type=float, default=36.0)
    ap.add_argument("--block-m", type=float, default=250.0)
    ap.add_argument("--ch", action="store_true", help="Also contraction hierarchies (contracting the grid takes minutes)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ct-bench-roads-"))
    out = {"machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}", "city": {}, "tables": []}
    try:
        t = time.perf_counter()
        made = roads.generate_city(work / "city.osm", centre=CENTRE, size_km=args.size_km, block_m=args.block_m)
        out["city"] = {**made, "generate_s": round(time.perf_counter() - t, 2)}
        t = time.perf_counter()
        base = roads.build(work / "city.osm", work)
        out["city"]["build_mld_s"] = round(time.perf_counter() - t, 2)
        rng = random.Random(1)
        half = args.size_km / 2 * 0.9

        def spread(n):
            return [(CENTRE[0] + rng.uniform(-half, half) / 111.32, CENTRE[1] + rng.uniform(-half, half) / 83.0) for _ in range(n)]

        runs = [("MLD", base)]
        if args.ch:
            ch_dir = work / "ch"
            ch_dir.mkdir()
            for f in work.glob("city.osrm*"):
                if not f.name.startswith("city.osrm.mldgr"):  # CH only: the engine picks MLD when its graph is there
                    shutil.copy(f, ch_dir / f.name)
            t = time.perf_counter()
            _contract(ch_dir / "city.osrm")
            out["city"]["build_ch_extra_s"] = round(time.perf_counter() - t, 2)
            runs.append(("CH", ch_dir / "city.osrm"))
        for algorithm, data in runs:
            for n in [int(x) for x in args.sizes.split(",")]:
                engine = roads.RoadEngine(data)  # a fresh engine: nothing kept from an earlier call
                assert engine.algorithm == algorithm, engine.algorithm
                pts = spread(n)
                t = time.perf_counter()
                m = engine.matrix(pts)
                seconds = time.perf_counter() - t
                row = {"algorithm": algorithm, "points": n, "seconds": round(seconds, 2), "mean_km": round(float(m.km_m.mean()), 2)}
                if n <= 1000:  # a re-plan: the same hubs and doors, the vans (a fifth of the points) somewhere new
                    moved = pts[: n - n // 5] + spread(n // 5)
                    t = time.perf_counter()
                    engine.matrix(moved)
                    row["replan_seconds"] = round(time.perf_counter() - t, 2)
                out["tables"].append(row)
                print(json.dumps(row), flush=True)
                if seconds > 120:
                    break
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "roads.json").write_text(json.dumps(out, indent=1))
    c = out["city"]
    lines = ["# The road engine at the product's sizes\n",
             f"Generated city: {c['size_km']} km across, {c['nodes']} crossings, {c['ways']} streets, {c['bridges']} river crossings; "
             f"written in {c['generate_s']} s, prepared for MLD (extract, partition, customize) in {c['build_mld_s']} s"
             + (f", CH (contract) in {c['build_ch_extra_s']} s more" if "build_ch_extra_s" in c else "") + ".\n",
             "Full matrices, durations and distances, OSRM in-process (`planner.roads.RoadEngine.matrix`, blocks of 1,000 sources):\n",
             "A re-plan asks again with a fifth of the points new (the vans moved): the engine keeps what it answered "
             "(up to 2,500 points) and asks only for the new points' rows and columns.\n",
             "| algorithm | points | full matrix, s | re-plan, s |", "|---|---|---|---|"]
    lines += [f"| {r['algorithm']} | {r['points']:,} | {r['seconds']} | {r.get('replan_seconds', '-')} |" for r in out["tables"]]
    lines.append(f"\nTarget (#24): 5,000 points in at most 5 s. {out['machine']}. `python -m bench.roads`.\n")
    (RESULTS / "roads.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
