import json
import subprocess
import sys
from datetime import time
from pathlib import Path

import pytest

from carriers.models import CapacitySlot, Carrier, CarrierZone, RateCard
from carriers.sandbox.legacy import GENERIC_CONFIG
from tests.conftest import ROOT, free_port, process_log, wait_for_http

PAYLOADS = Path(__file__).parent / "payloads"
LEGACY_CONFIG = GENERIC_CONFIG


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


def make_carrier(org, *, code, adapter="sandbox", base_url="", api_key="", secrets=("whsec-current",), extra=None) -> Carrier:
    config = {"base_url": base_url, "api_key": api_key, "webhook_secrets": list(secrets), **(extra or {})}
    if adapter == "generic":
        config = {**config, **LEGACY_CONFIG, "auth": {"type": "header", "name": "X-Api-Key", "value": api_key}}
    carrier = Carrier.objects.create(organization=org, code=code, name=f"{code} Logistics", adapter=adapter, config=config,
                                     service_levels=["express", "same_day", "scheduled"], lead_min=60, pickup_cutoff=time(23, 59, 59))
    zone = CarrierZone.objects.create(carrier=carrier, name="metro", lat=41.88, lon=-87.63, radius_km=30)
    for level in carrier.service_levels:
        RateCard.objects.create(carrier=carrier, service_level=level, base=8, per_kg=0.1, per_km=0.4)
    from datetime import timedelta

    from django.utils import timezone

    CapacitySlot.objects.create(carrier=carrier, zone=zone, window_start=timezone.now() - timedelta(hours=4),
                                window_end=timezone.now() + timedelta(hours=12), capacity=100)
    return carrier


class SandboxProcess:
    def __init__(self, tmp_path: Path, carriers: list[dict], speed: float = 1.0):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.config = tmp_path / "sandbox.json"
        self.config.write_text(json.dumps({"carriers": carriers}))
        self.speed = speed
        self.proc = None

    def start(self):
        self.log = process_log("sandbox")
        self.proc = subprocess.Popen([sys.executable, "-m", "carriers.sandbox", "--port", str(self.port), "--config", str(self.config),
                                      "--speed", str(self.speed)], cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_http(self.base + "/health", proc=self.proc)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def faults(self, code: str, **faults):
        import httpx

        return httpx.post(f"{self.base}/_control/{code}/faults", json=faults).json()


@pytest.fixture
def sandbox_factory(tmp_path):
    started = []

    def start(carriers, speed=1.0):
        sb = SandboxProcess(tmp_path, carriers, speed).start()
        started.append(sb)
        return sb

    yield start
    for sb in started:
        sb.stop()
