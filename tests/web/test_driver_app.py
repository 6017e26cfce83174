"""The driver app, as a driver uses it from a phone: their shift, van and stops in route order, and
their actions on them (picked up, delivered with the PIN the order needs, not delivered with a
reason). Only their own van's stops; the rest of the tower is closed to the account."""

import pytest
from django.test import Client
from django.utils import timezone

from dispatch.models import Order, ProofOfDelivery, Stop
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.status import Role
from tests.factories import DriverFactory, OrderFactory, ShiftFactory, UserFactory, VehicleFactory

pytestmark = pytest.mark.django_db
SYSTEM = ActorRef.system("tests")


@pytest.fixture
def day(org, hub):
    mine, theirs = (VehicleFactory(fleet__hub=hub, code=code) for code in ("VAN-A", "VAN-B"))
    me, colleague = DriverFactory(organization=org, name="Sam Driver"), DriverFactory(organization=org)
    ShiftFactory(driver=me, vehicle=mine, started_at=timezone.now())
    ShiftFactory(driver=colleague, vehicle=theirs)
    pin = OrderFactory(hub=hub, external_ref="PIN-1", proof_required=["pin"], delivery_pin="4711", instructions="Ring twice")
    plain = OrderFactory(hub=hub, external_ref="PLAIN-2")
    other = OrderFactory(hub=hub, external_ref="OTHER-3")
    for order, van in ((pin, mine), (plain, mine), (other, theirs)):
        assignment_to_vehicle(order=order, vehicle=van, actor=SYSTEM)
    client = Client()
    client.force_login(UserFactory(organization=org, role=Role.DRIVER, driver=me))
    return client


def status(ref):
    return Order.objects.get(external_ref=ref).status


def test_a_driver_sees_their_own_vans_stops_in_route_order_with_what_each_needs(day):
    page = day.get("/driver/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Van <b>VAN-A</b>" in html and "Sam Driver" in html
    refs = [line.split('data-order="')[1].split('"')[0] for line in html.splitlines() if 'data-order="' in line]
    assert refs == ["PIN-1", "PIN-1", "PLAIN-2", "PLAIN-2"]  # pickup then delivery, in the route's order
    assert "OTHER-3" not in html
    assert "Proof: pin." in html and "Ring twice" in html and 'href="geo:' in html


def test_a_driver_picks_up_and_delivers_with_the_pin_and_a_wrong_pin_is_refused(day):
    assert day.post("/driver/orders/PIN-1/picked_up/").status_code == 302
    assert status("PIN-1") == "out_for_delivery"  # its delivery is the next stop: loaded, it leaves

    missing = day.post("/driver/orders/PIN-1/delivered/", {})
    assert missing.status_code == 400 and "needs the customer&#x27;s PIN" in missing.content.decode()
    wrong = day.post("/driver/orders/PIN-1/delivered/", {"pin": "0000"})
    assert wrong.status_code == 400 and "does not match" in wrong.content.decode()
    assert status("PIN-1") == "out_for_delivery"

    right = day.post("/driver/orders/PIN-1/delivered/", {"pin": "4711"}, follow=True)
    assert right.status_code == 200 and "PIN-1 delivered." in right.content.decode()
    order = Order.objects.get(external_ref="PIN-1")
    assert order.status == "delivered" and not order.proof_missing
    assert ProofOfDelivery.objects.filter(order=order, kind="pin", verified=True).exists()
    assert not Stop.objects.filter(order=order, completed_at__isnull=True).exists()
    assert 'data-order="PIN-1"' not in right.content.decode()  # gone from the stops left


def test_a_failed_attempt_needs_a_reason_and_is_recorded_with_it(day):
    day.post("/driver/orders/PLAIN-2/picked_up/")

    assert day.post("/driver/orders/PLAIN-2/failed/", {"reason": ""}).status_code == 400
    done = day.post("/driver/orders/PLAIN-2/failed/", {"reason": "not_home"}, follow=True)

    assert done.status_code == 200 and "not delivered (customer not home)" in done.content.decode()
    order = Order.objects.get(external_ref="PLAIN-2")
    assert (order.status, order.failure_reason) == ("failed", "not_home")


def test_another_drivers_stop_is_not_found_and_the_tower_is_closed_to_a_driver(day):
    assert day.post("/driver/orders/OTHER-3/picked_up/").status_code == 404
    assert status("OTHER-3") == "assigned"

    live = day.get("/")
    assert live.status_code == 302 and live["Location"] == "/driver/"
    assert day.get("/api/orders/").status_code == 403
    assert day.post("/live/orders/bulk/", {"action": "cancel"}).status_code == 403


def test_an_admin_links_a_drivers_account_and_other_roles_are_refused_the_app(org, hub):
    driver = DriverFactory(organization=org, code="D-77")
    account = UserFactory(organization=org, role=Role.DRIVER)
    admin = Client()
    admin.force_login(UserFactory(organization=org, role=Role.ADMIN, is_staff=True))

    linked = admin.post("/settings/users/", {"action": "driver", "user": account.id, "driver": driver.id})
    assert linked.status_code == 200, linked.content[:300]
    account.refresh_from_db()
    assert account.driver == driver

    unlinked_page = Client()
    unlinked_page.force_login(UserFactory(organization=org, role=Role.DRIVER))
    assert unlinked_page.get("/driver/").status_code == 403
    dispatcher = Client()
    dispatcher.force_login(UserFactory(organization=org))
    assert dispatcher.get("/driver/").status_code == 403
