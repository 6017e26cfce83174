"""Redis killed with -9 while orders keep arriving, then started again: a Redis of the test's own
on another port (never the shared one), a real daphne in front. Orders are accepted from the
database alone (no 500, no hang); none is lost; the dashboard's state source answers 503 while
Redis is away and the full state once it is back, which is what the page reloads from."""

import signal
import subprocess
import time
import uuid

import httpx
import pytest

from tests.conftest import child_env, free_port, wait_for_http
from tests.factories import HubFactory, OrganizationFactory, UserFactory, api_token
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
