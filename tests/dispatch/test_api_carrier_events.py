from datetime import timedelta

import pytest
from django.utils import timezone

from carriers.models import CapacitySlot
from carriers.services import booking_record_confirmed
from dispatch.models import Event
from dispatch.services import ActorRef
from tests.factories import CarrierFactory, OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def carrier(org):
    return CarrierFactory(organization=org, code="FAST")


@pytest.fixture
def booked(hub, carrier):
    order = OrderFactory(hub=hub)
    booking_record_confirmed(order=order, carrier=carrier, external_id="X1", price=9.5,
                             promised_at=order.window_start + timedelta(minutes=30), idempotency_key=f"t-{order.pk}",
                             actor=ActorRef.system())
    order.refresh_from_db()
    return order


def event(order, status, event_id, **extra):
    return {"carrier": "FAST", "event_id": event_id, "order": order.external_ref, "status": status, **extra}


def test_carrier_events_progress_a_booked_order_to_delivered(api, booked):
    body = {"events": [event(booked, "picked_up", "e1"), event(booked, "out_for_delivery", "e2"),
                       event(booked, "delivered", "e3", occurred_at=timezone.now().isoformat())]}

    response = api.post("/api/carrier-events/", body, format="json")

    assert response.status_code == 202 and response.json() == {"applied": 3, "duplicates": 0}
    booked.refresh_from_db()
    assert booked.status == "delivered" and booked.delivered_at is not None
    assert Event.objects.filter(order=booked, kind="order.status", actor_type="carrier").count() == 3


def test_a_duplicate_carrier_event_changes_nothing(api, booked):
    api.post("/api/carrier-events/", {"events": [event(booked, "picked_up", "same")]}, format="json")

    response = api.post("/api/carrier-events/", {"events": [event(booked, "picked_up", "same")]}, format="json")

    assert response.json() == {"applied": 0, "duplicates": 1}
    assert Event.objects.filter(order=booked, kind="order.status", data__to="picked_up").count() == 1


def test_a_contradicting_carrier_status_rejects_the_whole_batch(api, booked, hub, carrier):
    cancelled = OrderFactory(hub=hub)
    booking_record_confirmed(order=cancelled, carrier=carrier, external_id="C1", price=9, promised_at=cancelled.window_start,
                             idempotency_key="t-cancelled", actor=ActorRef.system())
    api.post(f"/api/orders/{cancelled.external_ref}/cancel/", {}, format="json")
    body = {"events": [event(booked, "picked_up", "a1"), event(cancelled, "delivered", "a2")]}

    response = api.post("/api/carrier-events/", body, format="json")

    assert response.status_code == 409
    booked.refresh_from_db()
    assert booked.status == "booked"


def test_late_and_skipped_carrier_events_are_reconciled(api, booked):
    delivered = api.post("/api/carrier-events/", {"events": [event(booked, "delivered", "d1")]}, format="json")
    late = api.post("/api/carrier-events/", {"events": [event(booked, "out_for_delivery", "o1")]}, format="json")

    assert delivered.status_code == late.status_code == 202
    booked.refresh_from_db()
    assert booked.status == "delivered"
    steps = list(Event.objects.filter(order=booked, kind="order.status").values_list("data__to", flat=True))
    assert steps == ["booked", "picked_up", "out_for_delivery", "delivered"]


def test_a_carrier_cannot_report_on_an_order_it_does_not_carry(api, hub, carrier):
    order = OrderFactory(hub=hub)

    response = api.post("/api/carrier-events/", {"events": [event(order, "delivered", "z1")]}, format="json")

    assert response.status_code == 409
    order.refresh_from_db()
    assert order.status == "created"


def test_carrier_availability_updates_health_and_capacity(api, carrier):
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    body = {"health": "down", "reason": "API returns 503",
            "capacity": [{"zone": "metro", "window_start": start.isoformat(), "window_end": (start + timedelta(hours=2)).isoformat(), "capacity": 40}]}

    response = api.post("/api/carriers/FAST/availability/", body, format="json")

    assert response.status_code == 200 and response.json()["health"] == "down"
    carrier.refresh_from_db()
    assert carrier.health == "down" and carrier.health_reason == "API returns 503"
    assert CapacitySlot.objects.get(carrier=carrier, window_start=start).capacity == 40
    assert Event.objects.filter(carrier=carrier, kind="carrier.health", data__to="down").exists()


def test_capacity_for_an_unknown_zone_is_refused(api, carrier):
    start = timezone.now()
    body = {"capacity": [{"zone": "mars", "window_start": start.isoformat(), "window_end": (start + timedelta(hours=1)).isoformat(), "capacity": 3}]}

    response = api.post("/api/carriers/FAST/availability/", body, format="json")

    assert response.status_code == 400
    assert "zone" in response.json()["error"]["fields"]


def test_an_unknown_carrier_is_refused(api, booked):
    response = api.post("/api/carrier-events/", {"events": [{**event(booked, "delivered", "q"), "carrier": "NOPE"}]}, format="json")

    assert response.status_code == 400
