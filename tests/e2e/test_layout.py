"""At 1366x768, the laptop most dispatchers and ops managers have, no page scrolls sideways: wide
tables scroll inside themselves, the map, queue and charts fit."""

import pytest

from dispatch.status import Role
from tests.factories import (
    CarrierFactory,
    HubFactory,
    OrderFactory,
    UserFactory,
    VehicleFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.processes, pytest.mark.django_db(transaction=True)]

WIDE = "document.documentElement.scrollWidth - window.innerWidth"


def test_no_page_scrolls_sideways_at_1366x768(daphne_server, browser):
    hub = HubFactory(code="LAYOUT")
    org = hub.organization
    VehicleFactory(fleet__hub=hub, code="LV1")
    CarrierFactory(organization=org, code="LC")
    for i in range(30):
        OrderFactory(hub=hub, external_ref=f"LAY-{i:03d}", customer_name="A customer with a rather long name Esq.")
    pages = {
        Role.DISPATCHER: ["/", "/orders/LAY-001/", "/vehicles/LV1/", "/carriers/LC/", "/dead-letters/"],
        Role.OPS_MANAGER: ["/performance/?period=30d", "/performance/carrier/LC/"],
        Role.ADMIN: ["/settings/", "/settings/service-levels/same_day/", "/settings/policy/", "/settings/costs/", "/settings/users/",
                     "/settings/templates/booked/email/", "/settings/network/vehicles/"],
    }
    overflow = {}
    for role, urls in pages.items():
        user = UserFactory(organization=org, role=role)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(daphne_server + "/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", "pw-for-tests")
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        for url in urls:
            page.goto(daphne_server + url)
            page.wait_for_load_state("networkidle")
            extra = page.evaluate(WIDE)
            if extra > 1:
                overflow[url] = extra
        page.close()
    assert overflow == {}
