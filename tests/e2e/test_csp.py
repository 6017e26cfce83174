"""The product's pages work under their own content security policy: no inline script, no eval,
nothing from another origin."""

import pytest

from tests.factories import HubFactory, OrderFactory, UserFactory, VehicleFactory

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def test_the_live_dashboard_runs_with_no_policy_violation(daphne_server, browser):
    hub = HubFactory(code="CSP")
    user = UserFactory(organization=hub.organization)
    VehicleFactory(fleet__hub=hub, code="VANCSP")
    OrderFactory(hub=hub, external_ref="CSP-1")
    page = browser.strict_page()
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    login(page, daphne_server, user.username)
    page.wait_for_selector('#live-state:has-text("live")')
    page.wait_for_selector('#orders-table tr[data-ref="CSP-1"]')
    page.goto(daphne_server + "/api/docs/")
    page.wait_for_selector(".swagger-ui .info", timeout=15000)

    assert violations == []
