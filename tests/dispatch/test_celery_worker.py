"""A real Celery worker process, on the real Redis broker and the test database."""

import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from controltower.celery import app
from dispatch.models import Order
from dispatch.services import ActorRef
from dispatch.services.orders import orders_create
from tests.conftest import start_worker
from tests.factories import HubFactory, OrganizationFactory, VehicleFactory

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(settings):
    proc, out = start_worker(settings, "worker", extra=("--pool", "solo"))
    was_eager = app.conf.task_always_eager
    app.conf.update(task_always_eager=False)
    try:
        yield proc
    finally:
        app.conf.update(task_always_eager=was_eager)
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()


def test_new_orders_are_planned_by_a_worker_after_commit(worker):
    org = OrganizationFactory(auto_plan=True)
    hub = HubFactory(organization=org)
    VehicleFactory(fleet__hub=hub, code="WK1")
    start = timezone.now() + timedelta(hours=1)
    spec = {"hub": hub.code, "address": "x", "lat": hub.lat + 0.01, "lon": hub.lon, "window_start": start,
            "window_end": start + timedelta(hours=3), "service_level": "same_day", "weight_kg": 2, "customer_name": "W"}

    orders_create(organization_id=org.id, orders=[{**spec, "external_ref": f"W-{i}"} for i in range(3)],
                  actor=ActorRef.system("test"))

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Order.objects.filter(organization=org, status="assigned").count() < 3:
        assert worker.poll() is None, "the worker died"
        time.sleep(0.2)
    assert Order.objects.filter(organization=org, status="assigned", vehicle__code="WK1").count() == 3


def test_a_carrier_outage_is_handled_end_to_end_by_the_worker(worker):
    """Outage event through the API -> detector -> planner proposal -> policy applies it, all in
    the worker process; the queued orders end up with other carriers or vans."""
    from rest_framework.test import APIClient

    from carriers.services import booking_record_confirmed
    from dispatch.models import Decision, OrderException, Policy
    from tests.factories import CarrierFactory, OrderFactory, api_token

    org = OrganizationFactory()
    Policy.objects.create(organization=org, auto_apply=True, max_cost_increase=10_000)
    hub = HubFactory(organization=org)
    VehicleFactory(fleet__hub=hub, code="WK2", lat=hub.lat, lon=hub.lon, position_at=timezone.now())
    down = CarrierFactory(organization=org, code="GONE")
    CarrierFactory(organization=org, code="SPARE")
    orders = [OrderFactory(hub=hub, lat=hub.lat + 0.005 * i, lon=hub.lon) for i in range(1, 9)]
    for o in orders:
        booking_record_confirmed(order=o, carrier=down, external_id=o.external_ref, price=9, promised_at=o.window_start,
                                 idempotency_key=f"w-{o.id}", actor=ActorRef.system("test"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token(org)}")

    response = api.post("/api/carriers/GONE/availability/", {"health": "down", "reason": "timeouts"}, format="json")

    assert response.status_code == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Order.objects.filter(carrier=down).exists():
        assert worker.poll() is None, "the worker died"
        time.sleep(0.2)
    assert not Order.objects.filter(carrier=down).exists()
    exc = OrderException.objects.get(organization=org, kind="carrier_outage")
    while time.monotonic() < deadline and exc.state != "resolved":  # the decision records its outcome after the last booking
        time.sleep(0.2)
        exc.refresh_from_db()
    assert exc.state == "resolved"
    assert Decision.objects.get(exception=exc).decided_by == "policy"
