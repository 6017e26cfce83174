"""Planning benchmarks. Every figure is the independent checker's (../shared/tools/check_plan.py).

    python -m bench.run                      # everything
    python -m bench.run --only snapshots     # track B: baseline, greedy, production planner
    python -m bench.run --only solomon       # track A at 10 s per instance, plain PyVRP alongside as the reference
    python -m bench.run --only roads         # track B on roads: the same days on the generated city, in matrix mode

Results: bench/results/planning.json and bench/results/planning.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared"))
RESULTS = ROOT / "bench" / "results"
CHECKER = SHARED / "tools" / "check_plan.py"


def check(track: str, instance: Path, plan: dict, bks: Path | None = None) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(plan, f)
    cmd = [sys.executable, str(CHECKER), track, str(instance), f.name] + (["--bks", str(bks)] if bks else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    os.unlink(f.name)
    return json.loads(out.stdout)


def snapshot_time_limit(orders: int) -> float:
    """10 s up to 1,000 orders, growing with size, 30 s from 3,000 (the target for 5,000)."""
    return min(30.0, max(10.0, orders / 1000 * 10.0)) - 0.5


def run_snapshots(files: list[Path]) -> list[dict]:
    sys.path.insert(0, str(ROOT))
    from planner import baseline, greedy, hybrid
    from planner.snapshot import load_problem

    rows = []
    for path in files:
        started = time.monotonic()
        problem = load_problem(path)
        row = {"snapshot": path.name, "orders": len(problem.orders), "vehicles": len(problem.vehicles), "carriers": len(problem.carriers)}
        for name, make in (("baseline", baseline.solve), ("greedy", greedy.solve)):
            t = time.monotonic()
            plan = make(problem)
            row[name] = {**_brief(check("snapshot", path, plan.to_json())), "seconds": round(time.monotonic() - t, 1)}
        limit = snapshot_time_limit(len(problem.orders))
        t = time.monotonic()
        problem = load_problem(path)  # the planner's clock includes reading the snapshot
        plan = hybrid.solve(problem, hybrid.Options(time_limit=limit - (time.monotonic() - t)))
        seconds = time.monotonic() - t
        row["planner"] = {**_brief(check("snapshot", path, plan.to_json())), "seconds": round(seconds, 1), "time_limit": limit + 0.5}
        row["planner_vs_greedy_pct"] = round(100 * (row["planner"]["cost"] / row["greedy"]["cost"] - 1), 2)
        row["greedy_vs_baseline_pct"] = round(100 * (row["greedy"]["cost"] / row["baseline"]["cost"] - 1), 2)
        rows.append(row)
        print(f"{path.name}: baseline {row['baseline']['cost']} greedy {row['greedy']['cost']} planner {row['planner']['cost']} "
              f"({row['planner_vs_greedy_pct']:+.1f}% vs greedy, {seconds:.1f}s, feasible={row['planner']['feasible']}) "
              f"[{time.monotonic() - started:.0f}s]", flush=True)
    return rows


ROAD_CITY = {"centre": (41.8781, -87.6298), "size_km": 48.0, "block_m": 250.0}  # covers the Chicago snapshots


def run_road_snapshots(files: list[Path]) -> list[dict]:
    """Track B on roads: each snapshot's day on the generated road city (`planner.roads`, 48 km of
    streets at 250 m, a river with bridges, one-way streets, a ring road). The road matrix is the
    product's own (`RoadEngine.matrix`: exact up to EXACT_MAX points, sparse above) and is written into
    the snapshot in the format's matrix mode, so that the checker costs every plan on it. The
    planner's clock includes reading the snapshot and asking the engine for the matrix."""
    sys.path.insert(0, str(ROOT))
    from planner import greedy, hybrid, roads
    from planner.snapshot import load_problem

    work = Path(tempfile.mkdtemp(prefix="ct-bench-road-snapshots-"))
    t = time.monotonic()
    roads.generate_city(work / "city.osm", **ROAD_CITY)
    base = roads.build(work / "city.osm", work)
    print(f"road city built in {time.monotonic() - t:.1f}s", flush=True)
    rows = []
    try:
        for path in files:
            fresh = not Path(f"{base}.anchors.npz").exists()
            engine = roads.RoadEngine(base)  # cold: nothing kept from another day but the anchors beside the data
            limit = snapshot_time_limit(len(json.loads(path.read_text())["orders"]))
            t = time.monotonic()
            problem = load_problem(path)
            problem.travel = engine.matrix(problem.points())
            matrix_s = time.monotonic() - t
            plan = hybrid.solve(problem, hybrid.Options(time_limit=limit - (time.monotonic() - t)))
            seconds = time.monotonic() - t
            road = work / path.name  # the day in matrix mode, for the checker
            road.write_text(json.dumps({**json.loads(path.read_text()), "travel": problem.travel.to_json()}))
            row = {"snapshot": path.name, "orders": len(problem.orders), "points": len(problem.travel),
                   "matrix_seconds": round(matrix_s, 1), "anchors_asked": fresh, "matrix": "sparse" if problem.travel.calibration else "exact"}
            row["planner"] = {**_brief(check("snapshot", road, plan.to_json())), "seconds": round(seconds, 1), "time_limit": limit + 0.5}
            g = time.monotonic()
            row["greedy"] = {**_brief(check("snapshot", road, greedy.solve(load_problem(road)).to_json())),
                             "seconds": round(time.monotonic() - g, 1)}
            row["planner_vs_greedy_pct"] = round(100 * (row["planner"]["cost"] / row["greedy"]["cost"] - 1), 2)
            rows.append(row)
            road.unlink()
            print(f"{path.name} on roads: greedy {row['greedy']['cost']} planner {row['planner']['cost']} "
                  f"({row['planner_vs_greedy_pct']:+.1f}%, {seconds:.1f}s of which matrix {matrix_s:.1f}s, "
                  f"feasible={row['planner']['feasible']})", flush=True)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return rows


def _brief(result: dict) -> dict:
    return {k: result[k] for k in ("feasible", "violation_count", "cost", "cost_breakdown", "counts") if k in result}


def _solve_solomon(cmd: list[str], path: Path, bks: Path) -> dict:
    """Run one solver process on one instance and cost its plan with the checker."""
    t = time.monotonic()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        out = f.name
    proc = subprocess.run(cmd + ["--out", out], capture_output=True, text=True, cwd=ROOT)
    seconds = round(time.monotonic() - t, 1)
    if proc.returncode != 0:
        return {"feasible": False, "error": proc.stderr.strip()[-300:], "seconds": seconds}
    result = check("solomon", path, json.loads(Path(out).read_text()), bks)
    os.unlink(out)
    return {**{k: result.get(k) for k in ("feasible", "vehicles", "distance", "bks_vehicles", "bks_distance", "gap_pct")}, "seconds": seconds}


def run_solomon(files: list[Path], bks: Path, time_limit: float, plain: bool = True) -> list[dict]:
    """The product's solver and, interleaved on the same instance, plain PyVRP with its defaults."""
    rows = []
    for path in files:
        row = {"instance": path.stem, **_solve_solomon([sys.executable, str(ROOT / "manage.py"), "solve_vrptw", str(path),
                                                        "--time-limit", str(time_limit)], path, bks)}
        if plain:
            ref = _solve_solomon([sys.executable, "-m", "bench.plain_pyvrp", str(path), "--time-limit", str(time_limit)], path, bks)
            row["plain_pyvrp"] = {k: ref.get(k) for k in ("feasible", "vehicles", "distance", "gap_pct", "seconds", "error") if k in ref}
        rows.append(row)
        print(f"{path.stem}: {row.get('distance')} vs {row.get('bks_distance')} gap {row.get('gap_pct')}% feasible={row['feasible']} "
              f"({row['seconds']}s)" + (f"; plain PyVRP {row['plain_pyvrp'].get('distance')} gap {row['plain_pyvrp'].get('gap_pct')}%"
                                        if plain else ""), flush=True)
    return rows


# Listed best-known distances this bench does not take at their word (reported beside the mean,
# never tuned towards). R109: the shared bks.json lists 1101.37 with 13 vehicles; the exact
# distance-minimizing optimum reported by Kohl et al. (1999), 1146.9 with distances truncated to
# one decimal, is a lower bound for the same instance in double precision (truncation only
# shortens arcs and widens what time windows allow), so 1101.37 cannot be reached; every solver
# here converges near 1151-1156.
CALLED_OUT = {"R109": "listed 1101.37 is below the reported exact optimum 1146.9 (truncated distances, a lower bound)"}


def solomon_summary(rows: list[dict]) -> dict:
    gaps = [r["gap_pct"] for r in rows if r.get("gap_pct") is not None]
    out = {"mean_gap_pct": round(statistics.mean(gaps), 3) if gaps else None, "worst_gap_pct": max(gaps) if gaps else None,
           "all_feasible": all(r["feasible"] for r in rows)}
    kept = [r for r in rows if r.get("gap_pct") is not None and r["instance"] not in CALLED_OUT]
    if len(kept) < len(gaps):
        out["called_out"] = {r["instance"]: CALLED_OUT[r["instance"]] for r in rows if r["instance"] in CALLED_OUT}
        out["mean_gap_pct_without_called_out"] = round(statistics.mean(r["gap_pct"] for r in kept), 3) if kept else None
        plain = [r["plain_pyvrp"]["gap_pct"] for r in kept if (r.get("plain_pyvrp") or {}).get("gap_pct") is not None]
        if plain and len(plain) == len(kept):
            out["plain_pyvrp_mean_gap_pct_without_called_out"] = round(statistics.mean(plain), 3)
    both = [r for r in rows if r.get("gap_pct") is not None and (r.get("plain_pyvrp") or {}).get("gap_pct") is not None]
    if both:
        out["plain_pyvrp_mean_gap_pct"] = round(statistics.mean(r["plain_pyvrp"]["gap_pct"] for r in both), 3)
        out["product_mean_gap_pct_same_instances"] = round(statistics.mean(r["gap_pct"] for r in both), 3)
        out["better_than_plain"] = sum(1 for r in both if r["distance"] < r["plain_pyvrp"]["distance"] - 1e-6)
        out["worse_than_plain"] = sum(1 for r in both if r["distance"] > r["plain_pyvrp"]["distance"] + 1e-6)
        out["plain_pyvrp_all_feasible"] = all(r["plain_pyvrp"].get("feasible") for r in rows)
    return out


def markdown(results: dict) -> str:
    lines = ["# Planning benchmark results\n", f"Machine: {results['machine']}; run {results['when']}. Figures from `check_plan.py`.\n"]
    if results.get("snapshots"):
        lines += ["## Track B: hybrid re-plan snapshots\n",
                  "| snapshot | orders | baseline | greedy | planner | planner vs greedy | planner time (s) | feasible |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in results["snapshots"]:
            lines.append(f"| {r['snapshot']} | {r['orders']} | {r['baseline']['cost']} | {r['greedy']['cost']} | {r['planner']['cost']} | "
                         f"{r['planner_vs_greedy_pct']:+.1f}% | {r['planner']['seconds']} | {r['planner']['feasible']} |")
        s = results["snapshot_summary"]
        lines.append(f"\nTotal: baseline {s['baseline']}, greedy {s['greedy']} ({s['greedy_vs_baseline_pct']:+.1f}% vs baseline), "
                     f"planner {s['planner']} ({s['planner_vs_greedy_pct']:+.1f}% vs greedy); all feasible: {s['all_feasible']}.\n")
    if results.get("road_snapshots"):
        lines += ["## Track B on roads: the same days on the generated road city\n",
                  f"Matrix mode: the product's road matrix (`planner.roads.RoadEngine.matrix`, exact up to {results['road_exact_max']} points, "
                  "sparse above) "
                  "for a generated 48 km city (250 m streets, a river with bridges, one-way streets, a ring road), written into "
                  "each snapshot, so the checker costs the plans on it. The planner's time includes reading the snapshot and the matrix; "
                  "the first day's matrix also asks for the anchors of the sparse matrix, which are then kept beside the road data.\n",
                  "| snapshot | orders | points | matrix | matrix (s) | greedy | planner | planner vs greedy | planner time (s) | limit (s) | feasible |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in results["road_snapshots"]:
            lines.append(f"| {r['snapshot']} | {r['orders']} | {r['points']} | {r['matrix']}{' (anchors asked)' if r.get('anchors_asked') else ''} | {r['matrix_seconds']} | {r['greedy']['cost']} | "
                         f"{r['planner']['cost']} | {r['planner_vs_greedy_pct']:+.1f}% | {r['planner']['seconds']} | {r['planner']['time_limit']} | "
                         f"{r['planner']['feasible']} |")
        s = results["road_snapshot_summary"]
        lines.append(f"\nTotal: greedy {s['greedy']}, planner {s['planner']} ({s['planner_vs_greedy_pct']:+.1f}% vs greedy); "
                     f"all feasible: {s['all_feasible']}.\n")
    for key, title in (("solomon", "Track A: Solomon VRPTW"), ("homberger", "Track A: Gehring & Homberger 200")):
        rows = results.get(key)
        if rows:
            lines += [f"## {title} ({results['solomon_time_limit']} s per instance)\n",
                      "| instance | vehicles | distance | best known | gap % | feasible | plain PyVRP distance | plain PyVRP gap % |",
                      "|---|---|---|---|---|---|---|---|"]
            for r in rows:
                ref = r.get("plain_pyvrp") or {}
                lines.append(f"| {r['instance']} | {r.get('vehicles')} | {r.get('distance')} | {r.get('bks_distance')} | {r.get('gap_pct')} "
                             f"| {r['feasible']} | {ref.get('distance', '–')} | {ref.get('gap_pct', '–')} |")
            s = results[key + "_summary"]
            lines.append(f"\nMean gap {s['mean_gap_pct']}%, worst {s['worst_gap_pct']}%, all feasible: {s['all_feasible']}."
                         + (f" The product runs one search per core ({results.get('solomon_workers', 1)} here) and keeps the shortest;"
                            f" plain PyVRP with its defaults runs one, same instances and wall-clock limit: mean gap {s['plain_pyvrp_mean_gap_pct']}% "
                            f"(product {s['product_mean_gap_pct_same_instances']}%); the product is better on {s['better_than_plain']} "
                            f"and worse on {s['worse_than_plain']}." if "plain_pyvrp_mean_gap_pct" in s else "")
                         + (" Without the instances whose listed best known is called out ("
                            + "; ".join(f"{k}: {v}" for k, v in s["called_out"].items())
                            + f"): mean gap {s['mean_gap_pct_without_called_out']}%"
                            + (f", plain PyVRP {s['plain_pyvrp_mean_gap_pct_without_called_out']}%"
                               if "plain_pyvrp_mean_gap_pct_without_called_out" in s else "") + "."
                            if "called_out" in s else "") + "\n")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["snapshots", "roads", "solomon"], default=None)
    ap.add_argument("--solomon-time-limit", type=float, default=10.0)
    ap.add_argument("--no-plain", action="store_true", help="skip the plain PyVRP reference on track A")
    args = ap.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controltower.settings")
    results = {"machine": f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}",
               "solomon_workers": len(os.sched_getaffinity(0)),
               "when": time.strftime("%Y-%m-%d %H:%M"), "solomon_time_limit": args.solomon_time_limit}
    previous = RESULTS / "planning.json"
    if previous.exists() and args.only:
        results = {**json.loads(previous.read_text()), **{k: results[k] for k in ("machine", "when", "solomon_workers")}}
        results["solomon_time_limit"] = args.solomon_time_limit
    if args.only in (None, "snapshots"):
        rows = run_snapshots(sorted((SHARED / "data" / "snapshots").glob("*.json")))
        total = {k: round(sum(r[k]["cost"] for r in rows), 2) for k in ("baseline", "greedy", "planner")}
        results["snapshots"] = rows
        results["snapshot_summary"] = {**total, "all_feasible": all(r["planner"]["feasible"] for r in rows),
                                       "planner_vs_greedy_pct": round(100 * (total["planner"] / total["greedy"] - 1), 2),
                                       "greedy_vs_baseline_pct": round(100 * (total["greedy"] / total["baseline"] - 1), 2)}
    if args.only in (None, "roads"):
        rows = run_road_snapshots(sorted((SHARED / "data" / "snapshots").glob("*.json")))
        total = {k: round(sum(r[k]["cost"] for r in rows), 2) for k in ("greedy", "planner")}
        results["road_snapshots"] = rows
        from planner.roads import EXACT_MAX

        results["road_exact_max"] = EXACT_MAX
        results["road_snapshot_summary"] = {**total, "all_feasible": all(r["planner"]["feasible"] for r in rows),
                                            "planner_vs_greedy_pct": round(100 * (total["planner"] / total["greedy"] - 1), 2)}
    if args.only in (None, "solomon"):
        for key, folder in (("solomon", "solomon"), ("homberger", "homberger200")):
            d = SHARED / "data" / folder
            rows = run_solomon(sorted(d.glob("*.txt")), d / "bks.json", args.solomon_time_limit, plain=not args.no_plain)
            results[key] = rows
            results[key + "_summary"] = solomon_summary(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    previous.write_text(json.dumps(results, indent=1))
    (RESULTS / "planning.md").write_text(markdown(results))
    print(f"wrote {RESULTS / 'planning.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
