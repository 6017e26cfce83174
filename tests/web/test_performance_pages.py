"""The Performance page and scorecards as ops managers use them: roles, filters kept in the URL,
clear errors for bad filters, and CSV exports whose numbers are the page's."""

import csv
import io
import re
from html import unescape

import pytest
from django.test import Client

from dispatch.reporting.rollups import rollups_refresh
from dispatch.status import Role
from tests.dispatch.test_reports import _at, _book, _day, _deliver, _order, _status
from tests.factories import CarrierFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def day_of_work(org, hub):
    carrier = CarrierFactory(organization=org, code="REX")
    day = _day(0)
    for i in range(6):
        o = _order(hub, day, f"P{i}", level=["same_day", "express"][i % 2])
        _book(o, carrier, 10 + i, f"p{i}")
        if i == 5:
            _status(o, "failed", reason="refused")
        else:
            _deliver(o, _at(day, 13 + i // 2, 10 * i))
    rollups_refresh()
    return carrier


def client_for(org, role):
    c = Client()
    c.force_login(UserFactory(organization=org, role=role))
    return c


def table(html: str, name: str) -> list[list[str]]:
    block = re.search(rf'<table class="grid report" data-table="{name}">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", block.split("<tbody>")[1], re.S)
    return [[unescape(re.sub(r"<[^>]+>", "", c)).replace("–", "") for c in re.findall(r"<td>(.*?)</td>", r, re.S)] for r in rows]


def test_ops_manager_sees_performance_and_every_csv_has_the_pages_numbers(org, day_of_work):
    c = client_for(org, Role.OPS_MANAGER)
    page = c.get("/performance/", {"period": "7d", "service_level": "express"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="fig-on_time"' in html and "plotly/plotly.min.js" in html
    assert "data-as-of>Figures as of " in html  # the moment it shows, beside the period
    for name in ("resources", "trend", "failures", "lateness", "exceptions", "savings"):
        on_page = table(html, name)
        response = c.get(f"/performance/export/{name}.csv", {"period": "7d", "service_level": "express"})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        exported = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))[1:]
        assert exported == [r for r in on_page if r], name  # an empty table shows one "nothing" row
    [rex] = table(html, "resources")
    assert "REX" in rex[0] and rex[1] == "carrier" and rex[2] == "3"  # three express orders in the filter


def test_orders_export_streams_the_period(org, day_of_work):
    response = client_for(org, Role.ADMIN).get("/performance/export/orders.csv", {"period": "today"})
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "external_ref" and len(rows) == 7


def test_scorecard_per_lane(org, hub, day_of_work):
    c = client_for(org, Role.OPS_MANAGER)
    html = c.get("/performance/carrier/REX/", {"period": "7d"}).content.decode()
    lanes = table(html, "scorecard")
    assert {tuple(r[:2]) for r in lanes} == {(f"{hub.code}/NW", "same_day"), (f"{hub.code}/NW", "express")}
    csv_rows = list(csv.reader(io.StringIO(b"".join(c.get("/performance/carrier/REX/", {"period": "7d", "format": "csv"})
                                                    .streaming_content).decode())))[1:]
    assert csv_rows == lanes


def test_dispatchers_get_a_reason_and_bad_filters_a_clear_400(org, day_of_work, other_org):
    refused = client_for(org, Role.DISPATCHER).get("/performance/")
    assert refused.status_code == 403 and "ops managers and admins" in refused.content.decode()
    dispatcher = client_for(org, Role.DISPATCHER)
    for table in ("resources", "trend", "failures", "lateness", "exceptions", "savings", "orders"):
        assert dispatcher.get(f"/performance/export/{table}.csv").status_code == 403
    assert dispatcher.get("/performance/carrier/REX/").status_code == 403
    assert dispatcher.get("/performance/carrier/REX/", {"format": "csv"}).status_code == 403
    c = client_for(org, Role.OPS_MANAGER)
    bad = c.get("/performance/", {"period": "fortnight"})
    assert bad.status_code == 400 and "Use one of today, 7d, 30d, 90d, custom" in bad.content.decode()
    bad = c.get("/performance/", {"period": "custom", "from": "2026-05-01", "to": "2026-04-01"})
    assert bad.status_code == 400 and "ends before it starts" in bad.content.decode()
    assert c.get("/performance/export/passwords.csv").status_code == 404
    CarrierFactory(organization=other_org, code="THEIRS")
    assert c.get("/performance/carrier/THEIRS/").status_code == 404


def test_the_page_counts_orders_finished_a_moment_ago_and_its_orders_export_is_of_the_pages_moment(org, hub, day_of_work, settings):
    """The demo's afternoon: orders finish every few seconds and the beat's roll-up has not run yet.
    The page counts them all the same, says the moment it shows, and the CSV of every order linked
    from it has exactly the page's orders, even when more finished before the download."""
    from dispatch import clock
    from django.utils import timezone as tz
    from datetime import timedelta

    clock.anchor(sim_at=tz.now(), speed=1.0)
    today = _day(0)
    def finish(ref, at):
        order = _order(hub, today, ref)
        _book(order, day_of_work, 12, ref)
        _deliver(order, at)

    for i in range(3):  # finished since the last roll-up
        finish(f"Q{i}", clock.now() - timedelta(minutes=5 - i))
    c = client_for(org, Role.OPS_MANAGER)
    html = c.get("/performance/", {"period": "today"}).content.decode()
    clock.anchor(sim_at=clock.now() + timedelta(seconds=20), speed=1.0)
    finish("LATER", clock.now())  # after the page was read, before the download
    link = unescape(re.search(r'<a href="([^"]+)" download data-orders-export>', html).group(1))
    response = c.get(link)

    on_page = int(re.search(r'<b data-kpi="orders">([\d,]+)</b>', html).group(1).replace(",", ""))
    assert on_page == 9  # the day's six and the three finished a moment ago
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))[1:]
    assert len(rows) == on_page and "LATER" not in {r[0] for r in rows}
    assert "_as-of-" in response["Content-Disposition"]
    assert c.get("/performance/export/orders.csv", {"period": "today", "as_of": "yesterday"}).status_code == 400
