"""A driver on a phone (a phone's viewport, touch, under the product's content security policy):
signs in, lands on their stops, picks up and delivers one order with the customer's PIN, and
records the other as not delivered with a reason."""

import pytest

from tests.factories import DriverFactory, HubFactory, OrderFactory, ShiftFactory, UserFactory, VehicleFactory

pytestmark = [pytest.mark.browser, pytest.mark.processes, pytest.mark.django_db(transaction=True)]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 3}


def test_a_driver_works_their_stops_from_a_phone(daphne_server, browser):
    from dispatch.models import Order
    from dispatch.services import ActorRef
    from dispatch.services.assignments import assignment_to_vehicle
    from dispatch.status import Role

    hub = HubFactory(code="EAST", lat=41.88, lon=-87.60)
    van = VehicleFactory(fleet__hub=hub, code="VAN-E")
    me = DriverFactory(organization=hub.organization, name="Kim Driver")
    ShiftFactory(driver=me, vehicle=van)
    for ref, proof in (("E-1", ["pin"]), ("E-2", [])):
        order = OrderFactory(hub=hub, external_ref=ref, proof_required=proof, delivery_pin="2468")
        assignment_to_vehicle(order=order, vehicle=van, actor=ActorRef.system("tests"))
    user = UserFactory(organization=hub.organization, role=Role.DRIVER, driver=me)

    page = browser.strict_page(**PHONE)
    page.goto(daphne_server + "/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_selector("#stops")
    assert page.url.endswith("/driver/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone

    page.tap('li[data-order="E-1"][data-kind="pickup"] button')
    page.wait_for_selector("#driver-message >> text=E-1 picked up.")
    page.fill('li[data-order="E-1"][data-kind="delivery"] input[name=pin]', "2468")
    page.tap('li[data-order="E-1"][data-kind="delivery"] form.deliver button')
    page.wait_for_selector("#driver-message >> text=E-1 delivered.")
    assert page.locator('li[data-order="E-1"]').count() == 0

    page.tap('li[data-order="E-2"][data-kind="pickup"] button')
    page.wait_for_selector("#driver-message >> text=E-2 picked up.")
    page.select_option('li[data-order="E-2"] form.fail select', "not_home")
    page.tap('li[data-order="E-2"] form.fail button')
    page.wait_for_selector("#driver-message >> text=not delivered (customer not home)")
    assert dict(Order.objects.filter(organization=hub.organization).values_list("external_ref", "status")) == {
        "E-1": "delivered", "E-2": "failed"}
