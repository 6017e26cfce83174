import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dispatch.simulation.city import CITIES
from dispatch.simulation.disruptions import parse
from dispatch.simulation.simulator import ApiClient, Simulator


class Command(BaseCommand):
    help = "Play a simulated city day against a running control tower, through its API."

    def add_arguments(self, parser):
        parser.add_argument("--city", default="chicago", choices=sorted(CITIES))
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--token-file", default=str(settings.VAR_DIR / "demo-token"))
        parser.add_argument("--sandbox-url", default="", help="The carrier sandbox, for carrier outages at the carrier")
        parser.add_argument("--duration", type=float, default=480.0, help="Simulated minutes to play")
        parser.add_argument("--orders-per-hour", type=float, default=40.0)
        parser.add_argument("--tick", type=float, default=1.0, help="Real seconds between steps")
        parser.add_argument("--disrupt", action="append", default=[], metavar="KIND:TARGET@START[+DURATION]",
                            help="Inject a disruption, e.g. carrier_outage:GIG@60+90 (repeatable)")
        parser.add_argument("--streets", default=settings.ROADS,
                            help="Road data (build_roads' .osrm) the vans drive along (default: the ROADS setting; "
                                 "empty: straight towards each stop)")

    def handle(self, *args, **o):
        try:
            disruptions = [parse(spec) for spec in o["disrupt"]]
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        token_file = Path(o["token_file"])
        if not token_file.exists():
            raise CommandError(f"No API token at {token_file}; run 'manage.py seed_demo' first.")
        client = ApiClient(o["base_url"], token_file.read_text().strip())
        client.wait_until_up()
        drivers_file = token_file.parent / "demo-drivers.json"  # seed_demo's: the vans' drivers use the driver app
        drivers = json.loads(drivers_file.read_text()) if drivers_file.exists() else None
        sim = Simulator(client=client, city=CITIES[o["city"]], seed=o["seed"], orders_per_hour=o["orders_per_hour"],
                        disruptions=disruptions, tick_seconds=o["tick"], sandbox_url=o["sandbox_url"], drivers=drivers,
                        streets=o["streets"])
        stats = sim.run(duration_min=o["duration"])
        self.stdout.write(f"Simulation finished: {stats}")
