"""Carrier health judged from what the carrier does and does not tell us: silence is one rule
(carriers.health), applied by the beat to every carrier, with an API or without one."""

from datetime import timedelta

import pytest
from django.utils import timezone

from carriers.services import booking_record_confirmed
from carriers.tasks import check_carrier_health
from dispatch import clock
from dispatch.models import OrderException
from dispatch.services import ActorRef
from tests.factories import CarrierFactory, OrderFactory

pytestmark = pytest.mark.django_db


def _booked(hub, carrier):
    order = OrderFactory(hub=hub)
    booking_record_confirmed(order=order, carrier=carrier, external_id=f"X{order.pk}", price=9.5,
                             promised_at=order.window_start + timedelta(minutes=30), idempotency_key=f"t-{order.pk}",
                             actor=ActorRef.system())
    order.refresh_from_db()
    return order


@pytest.fixture
def carrier(org):
    return CarrierFactory(organization=org, code="FAST")  # no API: it reports through /api/carrier-events/


def _report(api, order, status, event_id):
    response = api.post("/api/carrier-events/", {"events": [
        {"carrier": "FAST", "event_id": event_id, "order": order.external_ref, "status": status}]}, format="json")
    assert response.status_code == 202, response.content


def test_a_carrier_silent_past_the_policy_with_deliveries_under_way_is_degraded_and_its_waiting_orders_get_an_outage(
        api, org, hub, carrier, django_capture_on_commit_callbacks):
    out = _booked(hub, carrier)
    waiting = _booked(hub, carrier)
    _report(api, out, "picked_up", "e1")
    _report(api, out, "out_for_delivery", "e2")

    check_carrier_health()  # heard from just now
    carrier.refresh_from_db()
    assert carrier.health == "up"

    clock.anchor(sim_at=timezone.now() + timedelta(minutes=31), speed=1.0)  # the policy allows 30 min
    with django_capture_on_commit_callbacks(execute=True):  # the health change starts the engine's detector at commit
        check_carrier_health()

    carrier.refresh_from_db()
    assert carrier.health == "degraded"
    assert carrier.health_reason.startswith("Not heard from for 31 min")
    outage = OrderException.objects.get(cause_key=f"carrier:{carrier.id}:outage", state__in=["open", "proposed"])
    assert list(outage.orders.values_list("id", flat=True)) == [waiting.id]


def test_our_own_records_about_a_carrier_do_not_count_as_hearing_from_it(api, org, hub, carrier):
    out = _booked(hub, carrier)
    _report(api, out, "picked_up", "e1")
    clock.anchor(sim_at=timezone.now() + timedelta(minutes=20), speed=1.0)
    start = timezone.now() + timedelta(hours=1)
    told = api.post(f"/api/carriers/{carrier.code}/availability/", {"capacity": [  # the shipper's staff record it, not the carrier
        {"window_start": start.isoformat(), "window_end": (start + timedelta(hours=2)).isoformat(), "capacity": 10}]}, format="json")
    assert told.status_code == 200 and told.json()["capacity_slots"] == 1, told.content

    clock.anchor(sim_at=timezone.now() + timedelta(minutes=31), speed=1.0)
    check_carrier_health()

    carrier.refresh_from_db()
    assert carrier.health == "degraded"


def test_a_quiet_carrier_holding_only_bookings_not_yet_collected_stays_up(api, org, hub, carrier):
    _booked(hub, carrier)
    clock.anchor(sim_at=timezone.now() + timedelta(hours=3), speed=1.0)

    check_carrier_health()

    carrier.refresh_from_db()
    assert carrier.health == "up"

