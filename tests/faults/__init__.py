"""Fault tests: each starts the server it breaks (its own PostgreSQL cluster or redis-server)."""

import subprocess
import sys
from datetime import datetime, timedelta, timezone

from tests.conftest import ROOT, free_port, process_log


def start_daphne(env: dict, name: str):
    """A real daphne on a free port with `env`; returns (process, base URL, log file)."""
    port = free_port()
    out = process_log(name)
    web = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "controltower.asgi:application"],
                           cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return web, f"http://127.0.0.1:{port}", out


def in_three_hours() -> datetime:
    return (datetime.now(timezone.utc) + timedelta(hours=3)).replace(microsecond=0)


def order_body(ref: str, start: datetime, hub: str = "HUB1") -> dict:
    """An order the API accepts, for a window from `start` (the same start gives the same body:
    retries with one Idempotency-Key must send the same body)."""
    return {"external_ref": ref, "hub": hub, "address": "1 Main St", "lat": 41.9, "lon": -87.6,
            "window_start": start.isoformat(), "window_end": (start + timedelta(hours=2)).isoformat(),
            "service_level": "same_day", "weight_kg": 3, "customer": {"name": "Pat"}}
