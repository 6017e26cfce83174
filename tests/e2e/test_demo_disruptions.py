"""The demo as `make demo` runs it (carrier sandbox, daphne with the beat in-process, the city
simulator) with every disruption kind injected at once: the dispatcher's screen shows each one's
exception, noticed by the tower from the raw signals the simulator sends (pings that stop, a
carrier's API that fails, orders arriving, customers not home), never set by hand."""

import time as clock_time

import pytest

from .conftest import demo_day, login

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


def test_each_demo_disruption_shows_its_exception_on_the_dispatchers_screen(settings, browser, tmp_path):
    with demo_day(settings, tmp_path, disrupt=tuple(DISRUPTIONS)) as (web, procs, simulate):
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        login(page, web, "dispatcher")
        simulate()

        wanted, seen = set(DISRUPTIONS.values()), set()
        deadline = clock_time.monotonic() + 240
        while clock_time.monotonic() < deadline and not wanted <= seen:
            seen |= set(page.evaluate("""() => [
                ...[...document.querySelectorAll('#exceptions [data-kind]')].map(e => e.dataset.kind),
                ...[...document.querySelectorAll('#exceptions [data-kind]')].filter(e => e.textContent.includes('Van S02 silent'))
                    .map(() => 'silent:S02'),
                ...[...document.querySelectorAll('#activity [data-exception-kind]')].map(e => e.dataset.exceptionKind)]"""))
            assert all(p.poll() is None for p in procs[:2]), "the sandbox or daphne stopped"
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

        for d in Decision.objects.filter(exception__vehicle__code__in=["W02", "S02"]).select_related("exception__vehicle"):
            own = d.exception.vehicle.code
            to = sorted({m["to"].get("code") for m in d.moves if m["to"]["kind"] == "van"})
            assert own not in to, (own, d.exception.kind, to, d.summary)
