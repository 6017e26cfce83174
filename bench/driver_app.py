"""The driver app on an emulated mid-range phone: Chromium with a phone's viewport and touch, its CPU
slowed 4x (DevTools' CPU throttling), a driver with 60 stops on the van, served by daphne on the
embedded database as `make demo` serves it.

- The app's first load over the wire: every byte the page fetched on a cold cache (the page, its
  style, scripts, manifest and service worker), plus what the service worker copies for offline use
  (counted in full: an upper bound, the browser may serve it from its HTTP cache).
- Every tap answered: for each tap (picked up, delivered, not delivered), the time from the touch to
  the next frame painted, as Chromium's Event Timing reports it (what INP measures). The tap's
  answer on screen is the stop marked as done and sending; the tower's answer follows.

    python -m bench.driver_app [--stops 60] [--taps 40]

Writes bench/results/driver_app.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.processes import stop_all

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CHROMIUM = "/usr/bin/chromium"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 3}
TARGETS = {"first_load_kb": 300, "tap_ms": 100}
OBSERVE_TAPS = """
window.__taps = [];
new PerformanceObserver(function (list) {
  list.getEntries().forEach(function (e) { if (e.interactionId) { window.__taps.push([e.interactionId, e.name, e.duration]); } });
}).observe({type: "event", buffered: true, durationThreshold: 16});
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(stops: int) -> tuple[str, str]:
    """A driver whose van holds `stops` stops (half pickups at the hub, half deliveries, a few
    needing a PIN); returns the driver's username and a logged-in session cookie."""
    from django.test import Client
    from django.utils import timezone

    from dispatch.models import Organization
    from dispatch.services import ActorRef
    from dispatch.services.assignments import assignment_to_vehicle
    from dispatch.status import Role
    from tests.factories import DriverFactory, HubFactory, OrderFactory, ShiftFactory, UserFactory, VehicleFactory

    org = Organization.objects.create(name="Driver app bench", slug=f"driver-bench-{int(time.time())}")
    hub = HubFactory(organization=org, code="B")
    van = VehicleFactory(fleet__hub=hub, code="PHONE-1", capacity_kg=5000)
    driver = DriverFactory(organization=org, name="Bench Driver")
    ShiftFactory(driver=driver, vehicle=van, started_at=timezone.now())  # the van's check done
    for k in range(stops // 2):
        order = OrderFactory(hub=hub, external_ref=f"S-{k:03d}", proof_required=["pin"] if k % 5 == 4 else [],
                             instructions="Leave with the neighbour at no. 12 if out" if k % 3 == 0 else "")
        assignment_to_vehicle(order=order, vehicle=van, actor=ActorRef.system("bench"))
    user = UserFactory(organization=org, role=Role.DRIVER, driver=driver)
    client = Client()
    client.force_login(user)
    return user.username, client.cookies["sessionid"].value


def measure(base: str, session: str, taps: int) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(**PHONE)
        context.add_cookies([{"name": "sessionid", "value": session, "url": base}])
        context.add_init_script(OBSERVE_TAPS)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.clearBrowserCache")
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
        wire: dict[str, int] = {}
        urls: dict[str, str] = {}
        cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
        cdp.on("Network.loadingFinished", lambda e: wire.__setitem__(e["requestId"], int(e["encodedDataLength"])))
        started = time.monotonic()
        page.goto(base + "/driver/")
        page.wait_for_selector("#stops li.stop")
        loaded_s = time.monotonic() - started
        page.evaluate("navigator.serviceWorker.ready")
        page.wait_for_load_state("networkidle")
        first_load = {urls.get(k, k).replace(base, ""): v for k, v in wire.items()}
        sw_assets = page.evaluate("""() => caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k).then(c => c.keys()
            .then(rs => Promise.all(rs.map(r => c.match(r).then(m => m.blob()).then(b => [new URL(r.url).pathname, b.size]))))))))""")
        sw_bytes = {path: size for group in sw_assets for path, size in group}

        done = 0
        durations: list[float] = []
        while done < taps:
            stop = page.locator("#stops li.stop:not(.pending)").first
            ref, kind = stop.get_attribute("data-order"), stop.get_attribute("data-kind")
            if kind == "pickup":
                target, text = f'li[data-order="{ref}"][data-kind="pickup"] button', f"{ref} picked up."
            elif stop.locator("input[name=pin]").count():
                target, text = f'li[data-order="{ref}"][data-kind="delivery"] form.fail button', f"{ref} not delivered"
                page.select_option(f'li[data-order="{ref}"][data-kind="delivery"] form.fail select', "not_home")
            else:
                target, text = f'li[data-order="{ref}"][data-kind="delivery"] form.deliver button', f"{ref} delivered."
            page.tap(target)
            page.wait_for_selector(f"#notice >> text={text}")
            done += 1
        page.wait_for_timeout(500)  # the last taps' entries are delivered to the observer
        entries = page.evaluate("window.__taps")
        per_tap: dict[int, float] = {}
        for interaction, name, duration in entries:
            per_tap[interaction] = max(per_tap.get(interaction, 0.0), duration)
        # Interactions under 16 ms are not reported by Event Timing: counted at 16 ms (an upper bound).
        durations = sorted(list(per_tap.values()) + [16.0] * max(0, taps - len(per_tap)))
        browser.close()
    return {
        "first_load_bytes": sum(first_load.values()), "first_load": first_load, "service_worker_copy_bytes": sum(sw_bytes.values()),
        "service_worker_copy": sw_bytes, "first_paint_of_stops_s": round(loaded_s, 2), "taps": taps,
        "taps_reported_over_16ms": len(per_tap), "tap_ms_p50": round(statistics.median(durations), 1),
        "tap_ms_p95": round(durations[min(len(durations) - 1, int(round(0.95 * (len(durations) - 1))))], 1),
        "tap_ms_max": round(max(durations), 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stops", type=int, default=60)
    ap.add_argument("--taps", type=int, default=40)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ct-bench-driver-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER")}
    env.update({"SQLITE_PATH": str(work / "db.sqlite3"), "DJANGO_SETTINGS_MODULE": "controltower.settings", "AXES_ENABLED": "false",
                "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-key-" + "d" * 40), "MEDIA_ROOT": str(work / "media")})
    os.environ.clear()
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    import django

    django.setup()
    username, session = seed(args.stops)
    web = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "controltower.asgi:application"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/login/", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or web.poll() is not None:
                    raise SystemExit("daphne did not start") from None
                time.sleep(0.3)
        result = measure(base, session, args.taps)
    finally:
        stop_all([web])
    result.update({"stops": args.stops, "targets": TARGETS,
                   "machine": f"{os.cpu_count()} cores; Chromium {CHROMIUM} headless, 390x844 phone viewport with touch, CPU throttled 4x"})
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "driver_app.json").write_text(json.dumps(result, indent=1))
    kb = lambda n: f"{n / 1024:.0f} KB"  # noqa: E731
    rows = "".join(f"| `{path}` | {kb(size)} |\n" for path, size in sorted(result["first_load"].items(), key=lambda x: -x[1]))
    (RESULTS / "driver_app.md").write_text(
        f"# The driver app on an emulated mid-range phone ({args.stops} stops, CPU 4x slower)\n\n"
        f"| measure | result | target |\n|---|---|---|\n"
        f"| first load over the wire (cold cache) | {kb(result['first_load_bytes'])} | <= {TARGETS['first_load_kb']} KB |\n"
        f"| ... with the service worker's offline copy counted again in full | {kb(result['first_load_bytes'] + result['service_worker_copy_bytes'])} | |\n"
        f"| tap -> next frame (Event Timing), p50 / p95 / max of {args.taps} taps | {result['tap_ms_p50']} / {result['tap_ms_p95']} / "
        f"{result['tap_ms_max']} ms | every tap <= {TARGETS['tap_ms']} ms |\n"
        f"| page opened -> stops shown | {result['first_paint_of_stops_s']} s | |\n\n"
        f"Taps under 16 ms are not reported by the browser and are counted at 16 ms ({result['taps_reported_over_16ms']} of "
        f"{args.taps} were reported). What the first load fetched:\n\n| file | bytes over the wire |\n|---|---|\n{rows}\n"
        f"{result['machine']}. `python -m bench.driver_app`.\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("first_load", "service_worker_copy")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
