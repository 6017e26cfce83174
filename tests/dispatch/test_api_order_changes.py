"""Post-checkout changes: an integrator (or the shop for its customer) changes an order not yet
picked up; the change is validated, logged with a field-level diff, re-planned through the engine,
and the customer is told once. Deleting is only possible before pickup."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.models import CustomerMessage, Event, Order
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from tests.factories import OrderFactory, VehicleFactory

pytestmark = pytest.mark.django_db(transaction=True)
SYSTEM = ActorRef.system("tests")


def test_a_new_window_and_instructions_are_applied_logged_and_replanned(api, hub):
    van = VehicleFactory(fleet__hub=hub, code="PV1")
    order = OrderFactory(hub=hub, external_ref="CH-1", customer_email="c@example.com")
    assignment_to_vehicle(order=order, vehicle=van, actor=SYSTEM)
    order.refresh_from_db()
    start = (timezone.now() + timedelta(hours=6)).replace(microsecond=0)

    response = api.patch("/api/orders/CH-1/", {"version": order.version, "window_start": start.isoformat(),
                                               "window_end": (start + timedelta(hours=2)).isoformat(),
                                               "instructions": "Leave it with the concierge"}, format="json")

    assert response.status_code == 200, response.content
    order.refresh_from_db()
    assert order.window_start == start and order.instructions == "Leave it with the concierge"
    change = Event.objects.get(order=order, kind="order.updated")
    assert set(change.data["changes"]) == {"window_start", "window_end", "instructions"}
    assert change.data["changes"]["instructions"] == ["", "Leave it with the concierge"]
    assert CustomerMessage.objects.filter(order=order, kind="updated").count() == 1


def test_a_change_with_a_stale_version_is_a_409_and_changes_nothing(api, hub):
    order = OrderFactory(hub=hub, external_ref="CH-2")

    response = api.patch("/api/orders/CH-2/", {"version": order.version + 5, "address": "2 Other St"}, format="json")

    assert response.status_code == 409
    assert "version" in response.json()["error"]["message"]
    order.refresh_from_db()
    assert order.address != "2 Other St"


def test_an_order_already_picked_up_cannot_be_changed_or_deleted(api, hub):
    order = OrderFactory(hub=hub, external_ref="CH-3")
    Order.objects.filter(pk=order.pk).update(status="picked_up")

    changed = api.patch("/api/orders/CH-3/", {"address": "3 Late St"}, format="json")
    deleted = api.delete("/api/orders/CH-3/")

    assert changed.status_code == 409 and "picked up" in changed.json()["error"]["message"]
    assert deleted.status_code == 409
    assert Order.objects.get(pk=order.pk).status == "picked_up"


def test_an_impossible_change_is_a_400_with_the_field(api, hub):
    OrderFactory(hub=hub, external_ref="CH-4")

    response = api.patch("/api/orders/CH-4/", {"window_end": "2020-01-01T00:00:00Z"}, format="json")

    assert response.status_code == 400 and "window_end" in response.json()["error"]["fields"]


def test_deleting_before_pickup_cancels_the_order_and_keeps_its_record(api, hub):
    order = OrderFactory(hub=hub, external_ref="CH-5")

    response = api.delete("/api/orders/CH-5/")

    assert response.status_code == 204
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert Event.objects.filter(order=order, kind="order.status", data__to="cancelled").exists()


def test_another_organizations_order_cannot_be_changed(api, other_org):
    from tests.factories import HubFactory

    theirs = OrderFactory(hub=HubFactory(organization=other_org), external_ref="THEIRS-9")

    assert api.patch("/api/orders/THEIRS-9/", {"address": "x"}, format="json").status_code == 404
    assert api.delete("/api/orders/THEIRS-9/").status_code == 404
    assert Order.objects.get(pk=theirs.pk).status == "created"
