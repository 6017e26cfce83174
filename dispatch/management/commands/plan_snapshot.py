import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from planner import hybrid
from planner.evaluate import evaluate
from planner.snapshot import load_problem, SnapshotError


class Command(BaseCommand):
    help = "Plan a controltower-snapshot/1 file with the production planner and write the plan as JSON."

    def add_arguments(self, parser):
        parser.add_argument("snapshot")
        parser.add_argument("--time-limit", type=float, default=10.0, help="Seconds, including reading and writing")
        parser.add_argument("--out", required=True)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **o):
        started = time.monotonic()
        if o["time_limit"] <= 1:
            raise CommandError("--time-limit must be more than 1 second")
        try:
            problem = load_problem(o["snapshot"])
        except (OSError, SnapshotError) as exc:
            raise CommandError(str(exc)) from exc
        budget = o["time_limit"] - (time.monotonic() - started) - 0.3
        plan = hybrid.solve(problem, hybrid.Options(time_limit=budget, seed=o["seed"]))
        Path(o["out"]).write_text(json.dumps(plan.to_json()))
        ev = evaluate(problem, plan)
        self.stdout.write(
            f"{problem.name}: cost {ev.cost:.2f} (vans {ev.vans:.2f}, carriers {ev.carriers:.2f}, unserved {ev.unserved:.2f}); "
            f"{ev.counts['vans']} on vans, {ev.counts['carriers']} with carriers, {ev.counts['unserved']} unserved; "
            f"{'feasible' if ev.feasible else 'INFEASIBLE'}; {time.monotonic() - started:.1f}s -> {o['out']}"
        )
