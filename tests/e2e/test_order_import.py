"""A dispatcher brings a shop's orders in from a file on the Import orders page: the template
downloaded, a file with a mistake checked (its row and column named, nothing created), corrected,
checked again and imported, and the orders then on the live page. Under the product's content
security policy, as a user's browser has it."""

import csv
import io
from pathlib import Path

import pytest
from django.utils import timezone

from tests.factories import HubFactory, UserFactory, VehicleFactory

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def test_a_dispatcher_checks_a_file_corrects_it_and_imports_it_whole(daphne_server, browser, tmp_path):
    from dispatch.models import Order

    hub = HubFactory(code="WEST", lat=41.88, lon=-87.70)
    user = UserFactory(organization=hub.organization)
    VehicleFactory(fleet__hub=hub, code="VANW", lat=41.88, lon=-87.70, position_at=timezone.now())
    page = browser.strict_page(viewport={"width": 1280, "height": 900})
    login(page, daphne_server, user.username)

    page.click("nav >> text=Import orders")
    page.wait_for_selector("#import-form")
    with page.expect_download() as download:
        page.click("text=Download the template")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows[0]["hub"] == "WEST"  # the example names one of the organization's hubs
    example = rows[0]

    def file_of(lats: list[str]) -> Path:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(example), lineterminator="\n")
        writer.writeheader()
        for i, lat in enumerate(lats, start=1):
            writer.writerow({**example, "external_ref": f"SHOP-{i}", "lat": lat, "lon": str(-87.70 + 0.01 * i)})
        path = tmp_path / "shop.csv"
        path.write_text(out.getvalue())
        return path

    page.set_input_files("input[name=file]", str(file_of(["41.90", "95", "41.92"])))
    page.click("button[value=check]")
    page.wait_for_selector('#import-errors tr[data-row="3"]')
    assert "lat" in page.inner_text('#import-errors tr[data-row="3"]')
    assert page.locator("#import-orders tr[data-ref]").count() == 2
    assert not Order.objects.filter(organization=hub.organization).exists()

    page.set_input_files("input[name=file]", str(file_of(["41.90", "41.91", "41.92"])))
    page.click("button[value=check]")
    page.wait_for_selector("#import-report >> text=All 3 rows can be imported")
    page.click("button[value=import]")
    page.wait_for_selector('#import-report [data-imported="3"]')
    assert sorted(Order.objects.filter(organization=hub.organization).values_list("external_ref", flat=True)) == ["SHOP-1", "SHOP-2", "SHOP-3"]

    page.click("#import-report >> text=live page")
    page.wait_for_selector('#orders-table tr[data-ref="SHOP-2"]', timeout=15000)
