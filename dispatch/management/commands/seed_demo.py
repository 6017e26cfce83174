import json
from datetime import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dispatch.engine.placement import plan_new_orders
from dispatch.simulation.city import CITIES
from dispatch.simulation.seed import seed_city


class Command(BaseCommand):
    help = "Create (or reset) the demo organization for a simulated city day and print its login."

    def add_arguments(self, parser):
        parser.add_argument("--city", default="chicago", choices=sorted(CITIES))
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--vans-per-hub", type=int, default=6)
        parser.add_argument("--orders", type=int, default=150)
        parser.add_argument("--start", default="12:00", help="Local time the simulated day starts at")
        parser.add_argument("--speed", type=float, default=60.0, help="Simulated seconds per real second")
        parser.add_argument("--password", default=None)
        parser.add_argument("--token-file", default=str(settings.VAR_DIR / "demo-token"))
        parser.add_argument("--sandbox-url", default="", help="Where the carrier sandbox runs; sandbox carriers are configured for it")
        parser.add_argument("--public-url", default="http://127.0.0.1:8000", help="Where carriers send webhooks")

    def handle(self, *args, **o):
        if o["speed"] <= 0:
            raise CommandError("--speed must be positive")
        result = seed_city(city=CITIES[o["city"]], seed=o["seed"], vans_per_hub=o["vans_per_hub"], orders=o["orders"],
                           start=time.fromisoformat(o["start"]), speed=o["speed"], password=o["password"],
                           sandbox_url=o["sandbox_url"], public_url=o["public_url"])
        (settings.VAR_DIR / "sandbox.json").write_text(json.dumps(result["sandbox"], indent=1))
        org = result["organization"]
        if not o["sandbox_url"]:  # with sandbox carriers, the control tower plans once the sandbox answers
            plan_new_orders(organization_id=org.id)
        placed = {
            "vans": org.orders.filter(vehicle__isnull=False).count(),
            "carriers": org.orders.filter(carrier__isnull=False).count(),
            "left": org.orders.filter(vehicle__isnull=True, carrier__isnull=True).count(),
        }
        token_file = Path(o["token_file"])
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.write_text(result["token"])
        token_file.chmod(0o600)
        # The simulator's drivers use the driver app, as a phone does: their logins, beside the token.
        drivers_file = token_file.parent / "demo-drivers.json"
        drivers_file.write_text(json.dumps({"password": result["password"], "drivers": result["drivers"]}))
        drivers_file.chmod(0o600)
        where = (f"{placed['vans']} on vans, {placed['carriers']} with carriers, {placed['left']} waiting" if not o["sandbox_url"]
                 else "planned by the control tower as soon as it and the carrier sandbox are up")
        self.stdout.write(
            f"Seeded {result['organization'].name}: {result['vehicles']} vans, {o['orders']} orders ({where}).\n"
            f"Simulated day starts {result['sim_start']:%H:%M %Z} at {o['speed']:g}x.\n"
            f"\n  Log in at {o['public_url']}  user: dispatcher  password: {result['password']}\n"
            f"  (also 'ops' and 'admin' with the same password; each van's driver as d-<van>, e.g. d-n01, on a phone at "
            f"{o['public_url']}/driver/)\n"
        )
