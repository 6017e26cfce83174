"""An ops manager's look at Performance in Chromium, under the product's content security policy:
the charts are drawn (plotly from the plotly package), a filter changes the page and stays in its
URL, and a table downloads as CSV."""

import csv
import io

import pytest

from dispatch.reporting.rollups import rollups_refresh
from dispatch.status import Role
from tests.dispatch.test_reports import _at, _book, _day, _deliver, _order
from tests.factories import CarrierFactory, HubFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def test_ops_manager_sees_charts_filters_and_downloads_a_csv(daphne_server, browser, tmp_path):
    hub = HubFactory(code="PERF")
    org = hub.organization
    carrier = CarrierFactory(organization=org, code="REX")
    for back in (0, 1):
        day = _day(back)
        for i in range(4):
            o = _order(hub, day, f"E{back}-{i}", level=["same_day", "express"][i % 2])
            _book(o, carrier, 9 + i, f"e{back}-{i}")
            _deliver(o, _at(day, 13 + i, 0))
    rollups_refresh()
    user = UserFactory(organization=org, role=Role.OPS_MANAGER)

    page = browser.strict_page(accept_downloads=True)
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(daphne_server + "/login/?next=/performance/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_selector('#chart-on_time[data-drawn="1"] .main-svg', timeout=20000)
    assert page.locator('[data-table="resources"] tbody tr').first.inner_text().split("\t")[2].strip() == "8"

    page.select_option("select[name=service_level]", "express")
    page.click("#report-filters button[type=submit]")
    page.wait_for_url("**service_level=express**")
    page.wait_for_selector('#chart-on_time[data-drawn="1"] .main-svg', timeout=20000)
    assert page.locator('[data-table="resources"] tbody tr').first.inner_text().split("\t")[2].strip() == "4"

    with page.expect_download() as info:
        page.click('[data-export="resources"]')
    rows = list(csv.reader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
    assert rows[0][:3] == ["Carrier or fleet", "Kind", "Orders"] and rows[1][2] == "4"
    assert violations == []
