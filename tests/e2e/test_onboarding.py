"""An admin of a new, empty organization gets to a planned day only through the pages and the
sample files they offer: the first-run notice, the sample network (Excel) checked and imported,
a test day of orders downloaded, checked and imported, and the plan. The test counts the pages
it loaded and the actions it took (clicks and files chosen) and prints them."""

from datetime import datetime, time
from pathlib import Path

import pytest
from django.utils import timezone

from tests.factories import OrganizationFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def test_from_an_empty_organization_to_a_planned_day_through_the_pages(daphne_server, browser, request):
    from dispatch import clock
    from dispatch.models import ClockAnchor, Order, Vehicle

    # the day plays from 10:00, whenever the suite runs: the sample drivers never start their shifts
    # (their vans are not on duty), so the test day goes to the sample courier, and after its 18:00
    # pickup cutoff nothing can take it (seen failing in a run after 18:00)
    ten = timezone.make_aware(datetime.combine(timezone.localdate(), time(10)))
    ClockAnchor.objects.create(pk=1, real_at=timezone.now(), sim_at=ten, speed=1.0)
    clock.reset_cache()
    request.addfinalizer(clock.reset_cache)  # the next test reads the real clock
    org = OrganizationFactory(name="Fresh Goods")
    admin = UserFactory(organization=org, role="admin", is_staff=True)
    page = browser.strict_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    loads = []
    page.on("load", lambda p: loads.append(p.url))
    actions = 0

    def act(fn, *args, **kwargs):
        nonlocal actions
        actions += 1
        return fn(*args, **kwargs)

    page.goto(daphne_server + "/")
    page.fill("input[name=username]", admin.username)
    page.fill("input[name=password]", "pw-for-tests")
    act(page.click, "button[type=submit]")
    page.wait_for_selector("[data-first-run]")
    act(page.click, "[data-first-run] >> text=Get started")
    page.wait_for_selector('[data-step="network"][data-done="no"]')

    with page.expect_download() as network:
        act(page.click, "text=download a sample network")
    workbook = Path(network.value.path())
    act(page.click, '[data-go="network-import"]')
    act(page.set_input_files, "input[name=files]", files=[{"name": "sample-network.xlsx", "mimeType": "application/octet-stream",
                                                            "buffer": workbook.read_bytes()}])
    act(page.click, "button[value=check]")
    page.wait_for_selector('table[data-table="counts"] tr[data-kind="vehicles"]')
    assert not Vehicle.objects.filter(organization=org).exists()  # a dry run
    act(page.set_input_files, "input[name=files]", files=[{"name": "sample-network.xlsx", "mimeType": "application/octet-stream",
                                                            "buffer": workbook.read_bytes()}])
    act(page.click, "button[value=import]")
    page.wait_for_selector("[data-imported]")
    assert Vehicle.objects.filter(organization=org).count() == 3

    act(page.click, "nav >> text=Get started")
    page.wait_for_selector('[data-step="network"][data-done="yes"]')
    assert page.get_attribute('[data-step="carriers"]', "data-done") == "yes"
    with page.expect_download() as day:
        act(page.click, "text=Download a test day")
    orders_file = Path(day.value.path())
    act(page.click, '[data-go="order-import"]')
    page.wait_for_selector("#import-form")
    act(page.set_input_files, "input[name=file]", files=[{"name": "test-day.csv", "mimeType": "text/csv", "buffer": orders_file.read_bytes()}])
    act(page.click, "button[value=check]")
    page.wait_for_selector("#import-report >> text=All 24 rows can be imported")
    act(page.click, "button[value=import]")
    page.wait_for_selector('#import-report [data-imported="24"]')

    act(page.click, "nav >> text=Get started")
    page.wait_for_selector('[data-step="test_day"][data-done="yes"]')
    act(page.click, '[data-go="plan"]')
    page.wait_for_selector("[data-planned]")
    placed = Order.objects.filter(organization=org, status__in=["assigned", "booked"]).count()
    assert placed >= 20 and int(page.get_attribute("[data-planned]", "data-planned")) == placed
    assert page.get_attribute('[data-step="plan"]', "data-done") == "yes"
    page.wait_for_selector("[data-all-done]")
    act(page.click, "[data-all-done] + a")
    page.wait_for_selector("#orders-table tr[data-ref]", timeout=15000)

    print(f"\nFrom an empty organization to a planned day: {len(loads)} pages loaded, {actions} actions "
          f"(clicks and files chosen), {placed} of 24 orders placed")
    assert len(loads) <= 12 and actions <= 20
