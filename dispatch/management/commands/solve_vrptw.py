import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from planner import vrptw


class Command(BaseCommand):
    help = "Solve a Solomon / Gehring & Homberger VRPTW instance with the production routing engine."

    def add_arguments(self, parser):
        parser.add_argument("instance")
        parser.add_argument("--time-limit", type=float, default=10.0)
        parser.add_argument("--out", required=True)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--workers", type=int, default=None,
                            help="independent searches side by side, one per core (default: every core available)")

    def handle(self, *args, **o):
        started = time.monotonic()
        if o["time_limit"] <= 0.5:
            raise CommandError("--time-limit must be more than half a second")
        if o["workers"] is not None and o["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        try:
            instance = vrptw.read_solomon(o["instance"])
        except (OSError, vrptw.InstanceError) as exc:
            raise CommandError(str(exc)) from exc
        budget = o["time_limit"] - (time.monotonic() - started) - 0.2
        try:
            routes = vrptw.solve(instance, time_limit=budget, seed=o["seed"], workers=o["workers"])
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        Path(o["out"]).write_text(json.dumps({"routes": routes}))
        self.stdout.write(f"{instance.name}: {len(routes)} routes; {time.monotonic() - started:.1f}s -> {o['out']}")
