"""One cause answers for an order: a van that went silent, seen first as orders running late, is one
live exception with one proposal, and no two open proposals move the same order. Driven from the
van's pings and the passing of time."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch import clock
from dispatch.engine.detectors import detect_silent_vehicles, detect_sla_risk
from dispatch.models import Decision, Order, OrderException, Policy
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from tests.factories import OrderFactory, VehicleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def ping(api, code, lat, lon):
    response = api.post("/api/vehicle-positions/", {"pings": [
        {"vehicle": code, "lat": lat, "lon": lon, "timestamp": clock.now().isoformat()}]}, format="json")
    assert response.status_code in (200, 202), response.content


def open_proposals_per_order(org) -> dict[str, int]:
    counts: dict[str, int] = {}
    for d in Decision.objects.filter(organization=org, state="proposed"):
        for m in d.moves:
            counts[m["order"]] = counts.get(m["order"], 0) + 1
    return counts


def test_a_van_running_late_then_silent_is_one_live_exception_and_its_orders_are_moved_by_one_proposal(api, org, hub):
    Policy.objects.create(organization=org, auto_apply=False, vehicle_silence_min=10)
    VehicleFactory(fleet__hub=hub, code="SPARE", lat=hub.lat, lon=hub.lon, position_at=None)
    van = VehicleFactory(fleet__hub=hub, code="N01", lat=hub.lat, lon=hub.lon, position_at=None)
    soon = timezone.now() + timedelta(minutes=40)
    orders = [OrderFactory(hub=hub, lat=hub.lat + 0.01 * (i + 1), lon=hub.lon, window_start=soon - timedelta(hours=1),
                           window_end=soon) for i in range(3)]
    for o in orders:
        assignment_to_vehicle(order=Order.objects.get(pk=o.pk), vehicle=van, actor=ActorRef.system("tests"))
    ping(api, "SPARE", hub.lat, hub.lon)
    ping(api, "N01", hub.lat + 0.45, hub.lon + 0.45)  # stuck 60 km out: its ETAs pass the windows

    detect_sla_risk(organization_id=org.id)
    risk = OrderException.objects.get(kind="sla_at_risk", state__in=["open", "proposed"])
    assert risk.orders.count() == 3

    clock.anchor(sim_at=timezone.now() + timedelta(minutes=12), speed=1.0)
    ping(api, "SPARE", hub.lat, hub.lon)  # N01 says nothing more
    detect_silent_vehicles(organization_id=org.id)
    detect_sla_risk(organization_id=org.id)  # the sweep sees the late orders again

    live = OrderException.objects.filter(organization=org, state__in=["open", "proposed"])
    assert [e.kind for e in live] == ["vehicle_breakdown"]
    assert live[0].orders.count() == 3
    risk.refresh_from_db()
    assert risk.state == "resolved" and not risk.decisions.filter(state="proposed").exists()
    assert set(open_proposals_per_order(org).values()) == {1}
    assert set(open_proposals_per_order(org)) == {o.external_ref for o in orders}


def test_a_symptom_seen_after_its_cause_takes_none_of_the_causes_orders(org, hub):
    from dispatch.services.exceptions import exception_raise

    orders = [OrderFactory(hub=hub) for _ in range(2)]
    breakdown, _ = exception_raise(organization_id=org.id, kind="vehicle_breakdown", cause_key="vehicle:1:down", title="down",
                                   order_ids=[o.id for o in orders], propose=False)
    extra = OrderFactory(hub=hub)

    late, _ = exception_raise(organization_id=org.id, kind="sla_at_risk", cause_key="vehicle:1:sla", title="late",
                              order_ids=[o.id for o in orders] + [extra.id], propose=False)
    only_theirs, _ = exception_raise(organization_id=org.id, kind="sla_at_risk", cause_key="vehicle:2:sla", title="late",
                                     order_ids=[orders[0].id], propose=False)

    assert list(late.orders.values_list("id", flat=True)) == [extra.id]
    assert breakdown.orders.count() == 2
    assert only_theirs is None
