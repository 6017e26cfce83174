"""The road engine at the sizes the product plans: building the generated city, and the matrices
(durations and distances) of 200, 1,000, 2,000 and 5,000 points the product asks for
(`RoadEngine.matrix`: every pair exact up to 100 points, sparse above), from OSRM in-process on the
multi-level Dijkstra data `build_roads` prepares (MLD); with, for comparison, full exact matrices
(--exact-sizes, and with contraction hierarchies, --ch); a re-plan's matrix (a fifth of the points
new); and the sparse matrices' error against routes asked one by one.

    python -m bench.roads [--sizes 200,1000,2000,5000] [--exact-sizes 200,1000] [--size-km 36] [--block-m 250] [--ch]

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
    ap.add_argument("--exact-sizes", default="200,1000", help="Full exact matrices for comparison")
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
            for n in [int(x) for x in args.exact_sizes.split(",") if x]:
                engine = roads.RoadEngine(data)  # a fresh engine: nothing kept from an earlier call
                assert engine.algorithm == algorithm, engine.algorithm
                pts = spread(n)
                t = time.perf_counter()
                engine._exact(pts)
                row = {"kind": "exact", "algorithm": algorithm, "points": n, "seconds": round(time.perf_counter() - t, 2)}
                out["tables"].append(row)
                print(json.dumps(row), flush=True)
        for n in [int(x) for x in args.sizes.split(",") if x]:
            Path(f"{base}.anchors.npz").unlink(missing_ok=True)
            pts = spread(n)
            t = time.perf_counter()
            roads.RoadEngine(base).matrix(pts)  # the first ever: the anchors asked too (then kept beside the data)
            first = time.perf_counter() - t
            engine = roads.RoadEngine(base)  # a process starting: the anchors read from disk, nothing else kept
            t = time.perf_counter()
            m = engine.matrix(pts)
            seconds = time.perf_counter() - t
            moved = pts[: n - n // 5] + spread(n // 5)  # a re-plan: the same hubs and doors, the vans somewhere new
            t = time.perf_counter()
            engine.matrix(moved)
            replan = time.perf_counter() - t
            pairs = [(rng.randrange(n), rng.randrange(n)) for _ in range(400)]
            pairs = [(i, j) for i, j in pairs if i != j]
            exact = [engine.legs([pts[i], pts[j]])[0][1] for i, j in pairs]
            err = sorted(abs(float(m.min_m[i, j]) - e) for (i, j), e in zip(pairs, exact))
            row = {"kind": "product", "mode": "sparse" if n > engine.exact_max else "exact", "points": n,
                   "first_seconds": round(first, 2), "seconds": round(seconds, 2), "replan_seconds": round(replan, 2),
                   "error_min_median": round(err[len(err) // 2], 2), "error_min_p90": round(err[int(len(err) * 0.9)], 2),
                   "mean_exact_min": round(sum(exact) / len(exact), 1), "calibration": m.calibration}
            out["tables"].append(row)
            print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "roads.json").write_text(json.dumps(out, indent=1))
    c = out["city"]
    lines = ["# The road engine at the product's sizes\n",
             f"Generated city: {c['size_km']} km across, {c['nodes']} crossings, {c['ways']} streets, {c['bridges']} river crossings; "
             f"written in {c['generate_s']} s, prepared for MLD (extract, partition, customize) in {c['build_mld_s']} s"
             + (f", CH (contract) in {c['build_ch_extra_s']} s more" if "build_ch_extra_s" in c else "") + ".\n",
             "## What the product asks for\n",
             f"`RoadEngine.matrix`: every pair exact up to {roads.EXACT_MAX} points; above, sparse: each point's "
             f"{roads.NEIGHBOURS} nearest exact (one one-to-many query each), every other pair interpolated between "
             f"a lattice of anchors (at most {roads.ANCHORS_PER_SIDE} a side) and scaled by a factor calibrated on {roads.CALIBRATION_PAIRS} exact routes. "
             "First: a fresh engine on data never asked before (the anchors asked too, then kept beside the road data); "
             "cold: a fresh engine (a process starting, the anchors read from disk); "
             "re-plan: the same engine again with a fifth of the points new. "
             "Error: minutes against a route asked for each of 400 random pairs.\n",
             "| points | mode | first, s | cold, s | re-plan, s | error median, min | error p90, min | mean pair, min |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['points']:,} | {r['mode']} | {r['first_seconds']} | {r['seconds']} | {r['replan_seconds']} | {r['error_min_median']} | {r['error_min_p90']} | "
              f"{r['mean_exact_min']} |" for r in out["tables"] if r["kind"] == "product"]
    lines += ["\n## Full exact matrices, for comparison\n",
              "Every pair asked of OSRM's many-to-many table (blocks of 1,000 sources).\n",
              "| algorithm | points | seconds |", "|---|---|---|"]
    lines += [f"| {r['algorithm']} | {r['points']:,} | {r['seconds']} |" for r in out["tables"] if r["kind"] == "exact"]
    lines.append(f"\nTarget (#24): 5,000 points in at most 5 s. {out['machine']}. `python -m bench.roads`.\n")
    (RESULTS / "roads.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
