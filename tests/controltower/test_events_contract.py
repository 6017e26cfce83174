"""Every declared event type, produced by the code that really produces it, matches its declaration."""

import pytest
from django.utils import timezone

from carriers.services import carrier_set_health
from controltower import events
from controltower.payloads import (
    carrier_payload,
    order_payload,
    vehicle_payload,
    vehicle_snapshot,
)
from dispatch.services import ActorRef
from tests.factories import CarrierFactory, OrderFactory, VehicleFactory

pytestmark = pytest.mark.django_db


def test_payload_builders_match_their_declarations(hub):
    order, vehicle, carrier = OrderFactory(hub=hub), VehicleFactory(fleet__hub=hub), CarrierFactory(organization=hub.organization)
    vehicle.position_at = timezone.now()

    events.validate("order.changed", order_payload(order))
    events.validate("vehicles.moved", {"vehicles": [vehicle_snapshot(vehicle)]})
    events.validate("vehicle.changed", vehicle_payload(vehicle))
    events.validate("carrier.changed", carrier_payload(carrier))


def test_an_undeclared_event_or_a_wrong_payload_is_refused():
    with pytest.raises(ValueError):
        events.publish(1, "order.teleported", {})
    with pytest.raises(ValueError):
        events.validate("vehicle.changed", {"id": 1})


def test_events_are_published_only_after_commit(hub, django_capture_on_commit_callbacks, monkeypatch):
    carrier = CarrierFactory(organization=hub.organization)
    sent = []
    monkeypatch.setattr(events, "_send", lambda org, event_type, payload: sent.append(event_type))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        carrier_set_health(carrier_id=carrier.id, health="down", reason="test", actor=ActorRef.system())
        assert sent == []
    for callback in callbacks:
        callback()

    assert "carrier.changed" in sent
