"""Every declared event type, produced by the code that really produces it, matches its declaration."""

import json

import pytest
from django.utils import timezone

from carriers.live_events import carrier_changed
from carriers.services import carrier_set_health
from dispatch.live_events import order_changed, vehicle_changed, vehicle_snapshot
from dispatch.services import ActorRef
from infra import bus
from tests.factories import CarrierFactory, OrderFactory, VehicleFactory
from web.live.present import order_payload

pytestmark = pytest.mark.django_db


def test_payload_builders_match_their_declarations(hub):
    order, vehicle, carrier = OrderFactory(hub=hub), VehicleFactory(fleet__hub=hub), CarrierFactory(organization=hub.organization)
    vehicle.position_at = timezone.now()

    bus.validate("order.changed", order_changed(order))
    bus.validate("vehicles.moved", {"vehicles": [vehicle_snapshot(vehicle)]})
    bus.validate("vehicle.changed", vehicle_changed(vehicle))
    bus.validate("carrier.changed", carrier_changed(carrier))


def test_a_live_screen_receives_the_facts_with_their_presentation(hub, monkeypatch, django_capture_on_commit_callbacks):
    order = OrderFactory(hub=hub)
    sent = []
    monkeypatch.setattr(bus, "_call", lambda send, group, message: sent.append(message))

    with django_capture_on_commit_callbacks(execute=True):
        bus.publish(hub.organization_id, "order.changed", order_changed(order))

    shown = json.loads(sent[0]["data_json"])
    assert shown == order_payload(order)
    assert {"status_label", "colour", "risk_colour"} <= set(shown)


def test_an_undeclared_event_or_a_wrong_payload_is_refused():
    with pytest.raises(ValueError):
        bus.publish(1, "order.teleported", {})
    with pytest.raises(ValueError):
        bus.validate("vehicle.changed", {"id": 1})


def test_events_are_published_only_after_commit(hub, django_capture_on_commit_callbacks, monkeypatch):
    carrier = CarrierFactory(organization=hub.organization)
    sent = []
    monkeypatch.setattr(bus, "_send", lambda org, event_type, payload: sent.append(event_type))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        carrier_set_health(carrier_id=carrier.id, health="down", reason="test", actor=ActorRef.system())
        assert sent == []
    for callback in callbacks:
        callback()

    assert "carrier.changed" in sent
