"""Redis killed with -9 while orders keep arriving, then started again: a Redis of the test's own
on another port (never the shared one), a real daphne in front. Orders are accepted from the
database alone (no 500, no hang); none is lost; the dashboard's state source answers 503 while
Redis is away and the full state once it is back, which is what the page reloads from."""

import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.conftest import child_env, free_port, wait_for_http
from tests.e2e.conftest import browser  # noqa: F401  (fixture)
from tests.factories import api_token, HubFactory, OrganizationFactory, UserFactory
from tests.faults import in_three_hours, order_body, start_daphne

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def start_redis(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--maxmemory-policy", "noeviction"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() != "PONG":
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.1)
    return proc


def test_orders_keep_coming_in_while_redis_is_killed_and_the_dashboard_state_recovers(settings):
    port = free_port()
    redis = start_redis(port)
    org = OrganizationFactory()
    HubFactory(organization=org, code="HUB1")
    user = UserFactory(organization=org)
    token = api_token(org)
    env = {**child_env(settings), "REDIS_URL": f"redis://127.0.0.1:{port}/0", "REDIS_CONNECT_TIMEOUT": "1"}
    web, base, out = start_daphne(env, "redis-fault-daphne")

    start = in_three_hours()

    def body(i):
        return order_body(f"RD-{i}", start)

    accepted = set()
    try:
        wait_for_http(base + "/login/", proc=web)
        session = httpx.Client(base_url=base, timeout=15)
        session.get("/login/")
        session.post("/login/", data={"username": user.username, "password": "pw-for-tests",
                                      "csrfmiddlewaretoken": session.cookies["csrftoken"]}, headers={"Referer": base + "/login/"})
        assert session.get("/live/state/").status_code == 200
        with httpx.Client(base_url=base, headers={"Authorization": f"Token {token}"}, timeout=15) as api:
            for i in range(30):
                if i == 10:
                    redis.send_signal(signal.SIGKILL)
                    redis.wait(10)
                if i == 20:
                    redis = start_redis(port)
                r = api.post("/api/orders/", json=body(i), headers={"Idempotency-Key": uuid.uuid4().hex})
                assert r.status_code in (201, 503), (i, r.status_code, r.text[:300])
                if r.status_code == 201:
                    accepted.add(f"RD-{i}")
                if i == 15:
                    during = session.get("/live/state/")
                    assert during.status_code == 503 and int(during.headers["Retry-After"]) > 0
            assert {f"RD-{i}" for i in range(10, 20)} <= accepted  # accepted from the database alone
            deadline = time.monotonic() + 20
            while (state := session.get("/live/state/")).status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.3)
        shown = {o["ref"] for o in state.json()["orders"]}
    finally:
        web.terminate()
        web.wait(15)
        out.close()
        redis.kill()
    from dispatch.models import Order

    stored = set(Order.objects.filter(organization=org).values_list("external_ref", flat=True))
    assert accepted <= stored and len(stored) == len(accepted)
    assert accepted <= shown


@pytest.mark.browser
def test_pings_under_load_survive_a_redis_restart_and_a_kill_and_the_dashboard_shows_every_van_where_it_is(settings, browser):
    """20 vans ping every quarter second through a real daphne while a dashboard watches; Redis
    (the channel layer, sequence numbers, cache) is restarted, then killed with -9 and started
    again. Every ping the API accepted is stored, and once Redis is back the dashboard, without a
    reload by the user, shows every van at the position the database holds."""
    import threading
    from datetime import datetime, timezone

    from dispatch.models import Vehicle, VehiclePosition
    from tests.e2e.conftest import login
    from tests.factories import VehicleFactory

    port = free_port()
    redis = start_redis(port)
    org = OrganizationFactory()
    hub = HubFactory(organization=org, code="HUB1", lat=41.88, lon=-87.63)
    vans = [VehicleFactory(fleet__hub=hub, code=f"RV{i:02d}", lat=41.88, lon=-87.63 + 0.01 * i) for i in range(20)]
    user = UserFactory(organization=org)
    token = api_token(org)
    env = {**child_env(settings), "REDIS_URL": f"redis://127.0.0.1:{port}/0", "REDIS_CONNECT_TIMEOUT": "1"}
    web, base, out = start_daphne(env, "redis-pings-daphne")
    accepted, refused, stop = [], [], threading.Event()

    def gateway():
        step = 0
        with httpx.Client(base_url=base, headers={"Authorization": f"Token {token}"}, timeout=15) as api:
            while not stop.is_set():
                step += 1
                at = datetime.now(timezone.utc).isoformat()
                pings = [{"vehicle": v.code, "lat": 41.88 + 0.0005 * step, "lon": -87.63 + 0.01 * i, "timestamp": at}
                         for i, v in enumerate(vans)]
                try:
                    r = api.post("/api/vehicle-positions/", json={"pings": pings})
                    (accepted if r.status_code in (200, 202) else refused).append((r.status_code, pings))
                except httpx.TransportError as exc:
                    refused.append((type(exc).__name__, pings))
                time.sleep(0.25)

    try:
        wait_for_http(base + "/login/", proc=web)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        login(page, base, user.username)
        load = threading.Thread(target=gateway)
        load.start()
        time.sleep(5)
        redis.send_signal(signal.SIGTERM)  # a restart
        redis.wait(10)
        redis = start_redis(port)
        time.sleep(5)
        redis.send_signal(signal.SIGKILL)  # and a crash
        redis.wait(10)
        time.sleep(2)
        redis = start_redis(port)
        time.sleep(5)
        stop.set()
        load.join(30)
        assert accepted, refused[:3]
        stored = {(p["vehicle"], datetime.fromisoformat(p["timestamp"])) for _, batch in accepted for p in batch}
        in_db = set(VehiclePosition.objects.filter(vehicle__organization=org).values_list("vehicle__code", "recorded_at"))
        assert stored <= in_db  # every accepted ping is there
        where = {v.code: [v.lat, v.lon] for v in Vehicle.objects.filter(organization=org)}
        page.wait_for_function("""(where) => Object.entries(where).every(([code, [lat, lon]]) => {
            const m = window.ct.vehicles[code]; if (!m) return false;
            const p = m.getLatLng(); return Math.abs(p.lat - lat) < 1e-6 && Math.abs(p.lng - lon) < 1e-6; })""",
                               arg=where, timeout=20000)
    finally:
        stop.set()
        web.terminate()
        web.wait(15)
        out.close()
        redis.kill()


PUBLISHER = """
import asyncio
import sys
import threading

import django
django.setup()
from channels.layers import get_channel_layer
from infra import bus

layer = get_channel_layer()
listening = asyncio.new_event_loop()  # the receiving side: its subscriptions belong to this loop
threading.Thread(target=listening.run_forever, daemon=True).start()


def on_listening(coroutine):
    return asyncio.run_coroutine_threadsafe(coroutine, listening).result(30)


for line in sys.stdin:
    channel = on_listening(layer.new_channel())
    on_listening(layer.group_add("fault-publisher", channel))
    bus._call(layer.group_send, "fault-publisher", {"type": "ct.test", "n": int(line)})  # as a worker publishes
    print(on_listening(layer.receive(channel))["n"], flush=True)
"""


def test_a_worker_keeps_publishing_live_events_after_redis_restarts(settings):
    """A worker process publishes on one kept event loop and connection (not one per message):
    after Redis is killed and started again, its next event still goes out."""
    port = free_port()
    redis = start_redis(port)
    env = {**child_env(settings), "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    child = subprocess.Popen([sys.executable, "-c", PUBLISHER], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        child.stdin.write("1\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "1"
        redis.send_signal(signal.SIGKILL)
        redis.wait(10)
        redis = start_redis(port)
        child.stdin.write("2\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "2"
    finally:
        child.kill()
        child.wait(10)
        redis.kill()
        redis.wait(10)
