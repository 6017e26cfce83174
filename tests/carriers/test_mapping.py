"""Each adapter's mapping from recorded payloads."""

from datetime import datetime, timedelta, timezone

import pytest

from carriers.adapters import UnsupportedOperation, adapter_for, adapter_names
from carriers.adapters.generic import mapping as generic
from carriers.adapters.sandbox import mapping as sandbox
from carriers.canonical import MalformedPayload, UnknownStatus
from tests.factories import CarrierFactory, OrderFactory

from .conftest import LEGACY_CONFIG, payload


def test_sandbox_webhooks_map_to_canonical_events():
    delivered = sandbox.webhook_events(payload("sandbox_delivered.json"))[0]
    failed = sandbox.webhook_events(payload("sandbox_failed.json"))[0]

    assert (delivered.event_id, delivered.order_ref, delivered.status, delivered.raw_status) == ("evt_4f1c2a9e", "ORD-1001", "delivered", "DELIVERED")
    assert delivered.occurred_at == datetime(2026, 11, 20, 15, 42, 10, tzinfo=timezone(timedelta(hours=-6)))
    assert (failed.status, failed.failure_reason) == ("failed", "not_home")


def test_an_unknown_carrier_status_is_an_error_not_a_drop_and_an_admin_mapping_fixes_it():
    with pytest.raises(UnknownStatus, match="HELD_AT_DEPOT"):
        sandbox.webhook_events(payload("sandbox_unknown.json"))

    event = sandbox.webhook_events(payload("sandbox_unknown.json"), status_map={"HELD_AT_DEPOT": "eta"})[0]
    assert event.status == "eta"


def test_the_generic_adapter_maps_a_legacy_carriers_webhooks_by_configuration():
    ofd = generic.webhook_events(LEGACY_CONFIG, payload("legacy_out_for_delivery.json"))[0]
    nh = generic.webhook_events(LEGACY_CONFIG, payload("legacy_not_home.json"))[0]

    assert (ofd.event_id, ofd.order_ref, ofd.status) == ("5b2f6c1e-1111-4a0e-9d43-2c5f0a7e9b10", "ORD-2002", "out_for_delivery")
    assert ofd.occurred_at == datetime.fromtimestamp(1795255200, tz=timezone.utc)
    assert (nh.status, nh.failure_reason) == ("failed", "not_home")
    with pytest.raises(UnknownStatus):
        generic.webhook_events({**LEGACY_CONFIG, "status_map": {}}, payload("legacy_not_home.json"))
    with pytest.raises(MalformedPayload):
        generic.webhook_events(LEGACY_CONFIG, {"something": "else"})


@pytest.mark.django_db
def test_booking_requests_are_built_from_the_order(hub):
    order = OrderFactory(hub=hub, external_ref="ORD-9", weight_kg=4.5)

    native = sandbox.booking_request(order)
    legacy = generic.booking_request(LEGACY_CONFIG, order, key="k-1")

    assert native["reference"] == "ORD-9" and native["dropoff"] == {"lat": order.lat, "lon": order.lon}
    assert legacy == {"ref": "ORD-9", "kg": 4.5, "level": "same_day", "origin": {"lat": hub.lat, "lng": hub.lon},
                      "dest": {"lat": order.lat, "lng": order.lon}, "from": order.window_start.isoformat(), "dedupe": "k-1"}


@pytest.mark.django_db
def test_adapters_declare_what_they_support_and_refuse_the_rest(org):
    manual = adapter_for(CarrierFactory(organization=org, adapter="manual"))
    bare = adapter_for(CarrierFactory(organization=org, adapter="generic", config={"endpoints": {"book": {"method": "POST", "path": "/x"}}}))

    assert {"sandbox", "generic", "manual"} <= set(adapter_names())
    assert bare.supports == frozenset({"book"})
    with pytest.raises(UnsupportedOperation, match="does not support 'track'"):
        manual.track(booking=None)
    with pytest.raises(UnsupportedOperation):
        bare.parse_webhook(body={})
