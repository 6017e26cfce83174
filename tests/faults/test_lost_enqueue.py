"""Work accepted but not yet handed on: the web process killed right after its commit and before
its enqueue, then Redis (the broker) killed while orders keep arriving. Every order the API
accepted is there and is planned once the beat's safety net runs with Redis back; no request
hangs; a client retrying with its Idempotency-Key gets the original answer. Real daphne processes,
a Celery worker, and a redis-server of the test's own on another port."""

import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from dispatch.models import Assignment, Order
from tests.conftest import (
    ROOT,
    child_env,
    free_port,
    process_log,
    stop_process,
    wait_for_http,
)
from tests.factories import HubFactory, OrganizationFactory, VehicleFactory, api_token
from tests.faults import in_three_hours, order_body, start_daphne
from tests.faults.test_redis_restart import start_redis

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def test_an_order_committed_before_a_crash_or_a_broker_outage_is_planned_once_redis_is_back(settings):
    port = free_port()
    redis = start_redis(port)
    org = OrganizationFactory(auto_plan=True)
    hub = HubFactory(organization=org, code="HUB1")
    VehicleFactory(fleet__hub=hub, code="SAFE1", lat=hub.lat, lon=hub.lon, capacity_kg=5000)
    token = api_token(org)
    env = {**child_env(settings), "REDIS_URL": f"redis://127.0.0.1:{port}/0", "CELERY_TASK_ALWAYS_EAGER": "false",
           "REDIS_CONNECT_TIMEOUT": "1"}
    headers = {"Authorization": f"Token {token}"}
    start = in_three_hours()
    procs = []
    try:
        # 1. The web process dies between the commit and the enqueue of the planning task.
        web, base, out = start_daphne({**env, "CT_FAILPOINTS": "before-enqueue:dispatch.tasks.plan_new_orders"}, "crash-daphne")
        procs.append((web, out))
        wait_for_http(base + "/login/", proc=web)
        key = uuid.uuid4().hex
        with pytest.raises(httpx.TransportError):  # no answer: the process is gone
            httpx.post(base + "/api/orders/", json=order_body("LOST-1", start), headers={**headers, "Idempotency-Key": key},
                       timeout=20)
        assert web.wait(10) == -signal.SIGKILL
        assert Order.objects.get(organization=org, external_ref="LOST-1").status == "created"  # committed, never handed on

        # 2. The client retries with its key against the restarted web process: the original answer.
        web, base, out = start_daphne(env, "after-crash-daphne")
        procs.append((web, out))
        wait_for_http(base + "/login/", proc=web)
        again = httpx.post(base + "/api/orders/", json=order_body("LOST-1", start), headers={**headers, "Idempotency-Key": key},
                           timeout=20)
        assert again.status_code == 201 and again.json()["external_ref"] == "LOST-1"
        assert Order.objects.filter(organization=org, external_ref="LOST-1").count() == 1

        # 3. The broker goes away while orders keep arriving: accepted from the database, quickly.
        redis.send_signal(signal.SIGKILL)
        redis.wait(10)
        accepted = {"LOST-1"}
        with httpx.Client(base_url=base, headers=headers, timeout=15) as api:
            for i in range(5):
                began = time.monotonic()
                r = api.post("/api/orders/", json=order_body(f"DARK-{i}", start), headers={"Idempotency-Key": uuid.uuid4().hex})
                assert r.status_code == 201, r.text[:300]
                assert time.monotonic() - began < 10  # no request hangs on the missing broker
                accepted.add(f"DARK-{i}")
        assert not Order.objects.filter(organization=org, status__in=["planned", "assigned"]).exists()

        # 4. Redis is back; the beat's safety net runs (as it does every minute) on a worker.
        redis = start_redis(port)
        wout = process_log("safety-worker")
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "controltower", "worker", "-Q", "default,planner", "--pool",
                                   "solo", "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
                                  cwd=ROOT, env=env, stdout=wout, stderr=subprocess.STDOUT)
        procs.append((worker, wout))
        subprocess.run([sys.executable, "-m", "celery", "-A", "controltower", "call", "dispatch.tasks.plan_pending_everywhere"],
                       cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 60
        while Order.objects.filter(organization=org, status="assigned").count() < len(accepted):
            assert time.monotonic() < deadline, list(Order.objects.filter(organization=org).values_list("external_ref", "status"))
            assert worker.poll() is None, "the worker died"
            time.sleep(0.3)
    finally:
        for proc, log in reversed(procs):
            stop_process(proc, log)
        redis.kill()

    stored = set(Order.objects.filter(organization=org).values_list("external_ref", flat=True))
    assert stored == accepted
    for ref in accepted:
        assert Assignment.objects.filter(order__organization=org, order__external_ref=ref).count() == 1  # planned once
