"""The demo as `make demo` runs it (carrier sandbox, daphne with the beat in-process, the city
simulator) with every disruption kind injected at once: the dispatcher's screen shows each one's
exception, noticed by the tower from the raw signals the simulator sends (pings that stop, a
carrier's API that fails, orders arriving, customers not home), never set by hand."""

import json
import subprocess
import sys
import time as clock_time
from datetime import time

import pytest

from tests.conftest import (
    ROOT,
    child_env,
    free_port,
    process_log,
    stop_process,
    wait_for_http,
)

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.processes, pytest.mark.django_db(transaction=True)]

# Every kind the simulator can inject, with the exception the tower must raise for it. S02's driver
# goes after the van pinged from the hub for ten minutes (the review's case): its silence is seen.
DISRUPTIONS = {
    "demand_spike:90/CHI-S@1": "demand_spike",
    "driver_no_show:W02@0": "driver_no_show",
    "driver_no_show:S02@10": "silent:S02",
    "not_home:1.0@0": "failed_delivery",
    "vehicle_breakdown:N01@4": "vehicle_breakdown",
    "carrier_outage:GIG@6+600": "carrier_outage",
}


def _start(args, name, env):
    log = process_log(name)
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log


def test_each_demo_disruption_shows_its_exception_on_the_dispatchers_screen(settings, browser, tmp_path):
    from dispatch.simulation.city import CITIES
    from dispatch.simulation.seed import seed_city

    sandbox_port, web_port = free_port(), free_port()
    sandbox, web = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{web_port}"
    result = seed_city(city=CITIES["chicago"], seed=7, vans_per_hub=3, orders=40, start=time(10, 0),
                       speed=60, password="pw-for-tests", sandbox_url=sandbox, public_url=web)
    (tmp_path / "sandbox.json").write_text(json.dumps(result["sandbox"]))
    (tmp_path / "token").write_text(result["token"])
    # as seed_demo leaves them: the vans' drivers sign in to the driver app, and the simulator drives through it
    (tmp_path / "demo-drivers.json").write_text(json.dumps({"password": "pw-for-tests", "drivers": result["drivers"]}))
    # The beat four times as often: at 60x the product clock its minute is an hour of the day.
    env = {**child_env(settings), "CT_TICKER": "1", "CT_TICKER_SCALE": "0.25", "PUBLIC_BASE_URL": web}
    procs = []
    try:
        procs.append(_start([sys.executable, "-m", "carriers.sandbox", "--port", str(sandbox_port), "--config",
                             str(tmp_path / "sandbox.json")], "sandbox", env))
        wait_for_http(sandbox + "/health", proc=procs[-1][0])
        procs.append(_start([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port), "controltower.asgi:application"],
                            "daphne", env))
        wait_for_http(web + "/login/", proc=procs[-1][0])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        login(page, web, "dispatcher")
        sim = [sys.executable, "manage.py", "simulate", "--base-url", web, "--sandbox-url", sandbox, "--token-file",
               str(tmp_path / "token"), "--duration", "240", "--tick", "0.5"]
        for spec in DISRUPTIONS:
            sim += ["--disrupt", spec]
        procs.append(_start(sim, "simulate", env))

        wanted, seen = set(DISRUPTIONS.values()), set()
        deadline = clock_time.monotonic() + 240
        while clock_time.monotonic() < deadline and not wanted <= seen:
            seen |= set(page.evaluate("""() => [
                ...[...document.querySelectorAll('#exceptions [data-kind]')].map(e => e.dataset.kind),
                ...[...document.querySelectorAll('#exceptions [data-kind]')].filter(e => e.textContent.includes('Van S02 silent'))
                    .map(() => 'silent:S02'),
                ...[...document.querySelectorAll('#activity [data-exception-kind]')].map(e => e.dataset.exceptionKind)]"""))
            assert all(p.poll() is None for p, _ in procs[:2]), "the sandbox or daphne stopped"
            clock_time.sleep(0.5)
        assert wanted <= seen, f"never shown: {sorted(wanted - seen)}; shown: {sorted(seen)}"
        # the vans' drivers worked through the driver app: the van's check, pickups and attempts
        from dispatch.models import Decision, Event

        assert Event.objects.filter(kind="shift.started").count() >= 5  # every van but the two no-shows'
        tapped = Event.objects.filter(kind="order.status", data__reason="driver app", data__to="failed")
        while not tapped.exists() and clock_time.monotonic() < deadline:  # a van's first delivery attempt, not home
            clock_time.sleep(0.5)
        assert tapped.exists()
        # and the answer to a van out of the plan never gives work back to it

        for d in Decision.objects.filter(exception__vehicle__code__in=["W02", "S02"]):
            assert not any(m["to"]["kind"] == "van" and m["to"].get("code") in ("W02", "S02") for m in d.moves), d.summary
    finally:
        for proc, log in reversed(procs):
            stop_process(proc, log, 10)
