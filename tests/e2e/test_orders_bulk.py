"""A dispatcher ticks orders in the table (the ticks survive the table's refresh), asks the planner
for a proposal for them, and the proposal appears in the queue."""

import pytest

from tests.factories import HubFactory, OrderFactory, UserFactory, VehicleFactory

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def test_select_orders_and_ask_the_planner(daphne_server, browser):
    from dispatch.models import Policy

    hub = HubFactory(code="BULK")
    Policy.objects.create(organization=hub.organization, auto_apply=False)
    user = UserFactory(organization=hub.organization)
    VehicleFactory(fleet__hub=hub, code="VB1")
    for i in range(3):
        OrderFactory(hub=hub, external_ref=f"BK-{i}")
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    login(page, daphne_server, user.username)
    page.wait_for_selector('#orders-table tr[data-ref="BK-0"]')
    page.check('#orders-table tr[data-ref="BK-0"] input.bulk-pick')
    page.check('#orders-table tr[data-ref="BK-2"] input.bulk-pick')
    page.wait_for_selector("#bulk-count >> text=2 selected.")
    page.evaluate("htmx.trigger(document.getElementById('order-filters'), 'ct-refresh')")  # the table is fetched again
    page.wait_for_function("""() => document.querySelector('#orders-table tr[data-ref="BK-2"] input.bulk-pick').checked""")
    page.click("#bulk-form button[value=plan]")
    page.wait_for_selector("#bulk-status >> text=2 orders handed to the planner")
    page.wait_for_selector('[data-kind="replan"] tr[data-order="BK-0"]', timeout=15000)
    assert page.locator('[data-kind="replan"] tr[data-order]').count() == 2
    assert page.inner_text("#bulk-count") == "None selected."
