import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from planner import roads


class Command(BaseCommand):
    help = ("Prepare the road engine's data (OSRM, car profile) from an OpenStreetMap extract, or from the "
            "city the project generates (--generate-city), and print the ROADS setting that selects it.")

    def add_arguments(self, parser):
        parser.add_argument("source", nargs="?", help="An OpenStreetMap extract: region.osm.pbf (or .osm, .osm.bz2)")
        parser.add_argument("--generate-city", action="store_true",
                            help="Write and prepare the generated city (grid, arterials, ring road, one-way streets, a river with bridges)")
        parser.add_argument("--size-km", type=float, default=14.0, help="The generated city's width (default 14 km)")
        parser.add_argument("--block-m", type=float, default=200.0, help="The generated city's block (default 200 m)")
        parser.add_argument("--centre", default="41.8781,-87.6298", help="The generated city's centre as lat,lon")
        parser.add_argument("--out", default=None, help="Where the data goes (default var/roads/)")

    def handle(self, *args, **o):
        out = Path(o["out"] or settings.VAR_DIR / "roads")
        source = o["source"]
        if bool(source) == bool(o["generate_city"]):
            raise CommandError("Give an OpenStreetMap file (region.osm.pbf) or --generate-city, not both or neither")
        started = time.monotonic()
        if o["generate_city"]:
            try:
                lat, lon = (float(x) for x in o["centre"].split(","))
            except ValueError:
                raise CommandError(f"--centre must be lat,lon (got {o['centre']!r})") from None
            if not (0.5 <= o["size_km"] <= 40) or not (50 <= o["block_m"] <= 1000):
                raise CommandError("--size-km must be 0.5-40 and --block-m 50-1000")
            out.mkdir(parents=True, exist_ok=True)
            source = out / "city.osm"
            made = roads.generate_city(source, centre=(lat, lon), size_km=o["size_km"], block_m=o["block_m"])
            self.stdout.write(f"Generated {source}: {made['nodes']} crossings, {made['ways']} streets, "
                              f"{made['size_km']} km across, {made['bridges']} river crossings")
        try:
            base = roads.build(source, out, log=lambda line: self.stdout.write(f"  {line}"))
        except roads.RoadsError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Road data ready in {time.monotonic() - started:.1f}s. Select it with:\n  ROADS={base.resolve()}")
