"""Orders from a file, as a shop's export arrives: a CSV checked row by row (every error with its row
and column), then imported all together or not at all; the same through the API and the page."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from dispatch.api import order_files
from dispatch.api.order_files import COLUMNS
from dispatch.models import Event, Order
from tests.factories import HubFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

START = (timezone.now() + timedelta(hours=4)).replace(microsecond=0)


def row(ref, hub="HUB1", **over):
    cells = {"external_ref": ref, "hub": hub, "address": "10 W Elm St", "lat": "41.9", "lon": "-87.63",
             "window_start": START.isoformat(), "window_end": (START + timedelta(hours=2)).isoformat(),
             "service_level": "same_day", "weight_kg": "4.5", "customer_name": "Jo Doe", "customer_email": "jo@example.com"}
    cells.update(over)
    return cells


def csv_of(rows, columns=COLUMNS) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    return out.getvalue().encode()


def errors_of(report) -> set:
    return {(e["row"], e["column"]) for e in report["errors"]}


def test_a_dry_run_names_every_bad_row_and_column_and_creates_nothing(api, hub):
    OrderFactory(hub=hub, external_ref="TAKEN-1")
    body = csv_of([
        row("OK-1", requires="cold;bulky"),
        row("BAD-SKILL", requires="cold;teleport"),
        row("BAD-LAT", lat="95"),
        row("NO-HUB", hub="NOWHERE"),
        row("OK-1"),                                   # the same reference as line 2
        row("TAKEN-1"),
        row("BACKWARDS", window_end=(START - timedelta(hours=1)).isoformat()),
        row("NO-NAME", customer_name=""),
        row("BAD-EMAIL", customer_email="not-an-address"),
        row("OK-2", weight_kg="2"),
    ])

    response = api.post("/api/orders/import/?dry_run=true", body, content_type="text/csv")

    assert response.status_code == 200, response.content
    report = response.json()
    assert report["rows"] == 10 and report["valid"] == 2
    # the header is line 1: the first order is on line 2, as a spreadsheet numbers it
    assert errors_of(report) == {(3, "requires"), (4, "lat"), (5, "hub"), (6, "external_ref"), (7, "external_ref"),
                                 (8, "window_end"), (9, "customer_name"), (10, "customer_email")}
    assert next(e for e in report["errors"] if e["row"] == 6)["message"] == "OK-1 is on row 2 already; each order needs its own reference."
    assert [o["external_ref"] for o in report["orders"]] == ["OK-1", "OK-2"]
    assert Order.objects.count() == 1  # only the one there before


def test_an_import_with_one_bad_row_creates_nothing_and_says_which(api, hub):
    response = api.post("/api/orders/import/", csv_of([row("A-1"), row("A-2", service_level="teleport"), row("A-3")]),
                        content_type="text/csv")

    assert response.status_code == 400
    body = response.json()
    assert "nothing was imported" in body["error"]["message"]
    assert errors_of(body["report"]) == {(3, "service_level")}
    assert not Order.objects.exists()


def test_a_clean_file_is_imported_whole_and_importing_it_again_creates_nothing_twice(api, hub):
    body = csv_of([row("S-1", requires="cold", customer_phone="+13125550101"), row("S-2", service_level="next_day",
                                                                                     window_start=(START + timedelta(days=1)).isoformat(),
                                                                                     window_end=(START + timedelta(days=1, hours=3)).isoformat())])

    first = api.post("/api/orders/import/", body, content_type="text/csv")

    assert first.status_code == 201, first.content
    assert first.json()["created"] == 2
    s1 = Order.objects.get(external_ref="S-1")
    assert (s1.hub.code, s1.customer_name, s1.customer_phone, s1.weight_kg) == ("HUB1", "Jo Doe", "+13125550101", 4.5)
    assert "cold" in s1.requires
    assert Event.objects.filter(kind="order.created", order=s1).exists()

    again = api.post("/api/orders/import/", body, content_type="text/csv")
    assert again.status_code == 400
    assert errors_of(again.json()["report"]) == {(2, "external_ref"), (3, "external_ref")}
    assert Order.objects.count() == 2


def test_json_in_the_apis_order_shape_is_read_as_a_file_is(api, hub):
    from tests.dispatch.test_api_orders import order_body

    response = api.post("/api/orders/import/?dry_run=true", {"orders": [order_body(ref="J-1"), order_body(ref="J-2", lat=0, lon=0), {"x": 1}]},
                        format="json")

    assert response.status_code == 200, response.content
    found = errors_of(response.json())
    assert {r for r, _ in found} == {2, 3} and (2, "lat") in found and (3, "external_ref") in found and (3, "customer") in found
    assert response.json()["valid"] == 1
    as_a_file = order_files.read_rows(json.dumps([order_body(ref="J-4")]).encode(), "shop.json")  # the page's upload
    assert as_a_file[0][1]["external_ref"] == "J-4"
    with pytest.raises(order_files.FileRefused, match="cannot be read"):
        order_files.read_rows(b"[1, 2", "shop.json")
    not_orders = api.post("/api/orders/import/?dry_run=true", {"orders": [order_body(ref="J-3"), 7]}, format="json")
    assert not_orders.status_code == 400


@pytest.mark.parametrize("content, says", [
    (b"", "carries no orders"),
    ("external_ref,hub\nX,HUB1\n".encode(), "missing columns: address"),
    (csv_of([row("X-1")], columns=[*COLUMNS, "colour"]), "unknown column: colour"),
    ("external_ref;hub\n".encode("utf-16"), "not UTF-8"),
    (csv_of([]), "no orders"),
    (b'[{"external_ref": "J-1"}]', "unknown column"),  # a CSV body is read as CSV, whatever it looks like
])
def test_a_file_that_is_not_orders_is_refused_as_a_whole_with_what_to_change(api, hub, content, says):
    response = api.post("/api/orders/import/", content, content_type="text/csv")

    assert response.status_code == 400, response.content
    assert says in response.json()["error"]["message"]
    assert not Order.objects.exists()


def test_the_downloaded_template_imports_once_its_example_is_kept(api, hub):
    template = api.get("/api/orders/import/template.csv")

    assert template.status_code == 200 and template["Content-Type"].startswith("text/csv")
    response = api.post("/api/orders/import/", b"".join(template), content_type="text/csv")
    assert response.status_code == 201, response.content
    assert Order.objects.get(external_ref="Q-1001").hub == hub


def test_another_organizations_hub_is_no_hub_of_yours(api, hub):
    HubFactory(code="THEIRS")  # another organization's

    response = api.post("/api/orders/import/?dry_run=true", csv_of([row("T-1", hub="THEIRS")]), content_type="text/csv")

    assert errors_of(response.json()) == {(2, "hub")}


def test_a_dispatcher_checks_then_imports_on_the_page_and_an_ops_manager_may_not(client, org, hub):
    dispatcher = UserFactory(organization=org)
    client.force_login(dispatcher)
    body = csv_of([row("P-1"), row("P-2")])

    page = client.get("/orders/import/")
    assert page.status_code == 200 and b"Download the template" in page.content
    checked = client.post("/orders/import/", {"action": "check", "file": SimpleUploadedFile("p.csv", body)}, HTTP_HX_REQUEST="true")
    assert checked.status_code == 200
    assert b'data-valid="2"' in checked.content and b'data-ref="P-2"' in checked.content
    assert not Order.objects.exists()
    imported = client.post("/orders/import/", {"action": "import", "file": SimpleUploadedFile("p.csv", body)})
    assert imported.status_code == 200 and b'data-imported="2"' in imported.content
    assert Order.objects.filter(external_ref__in=["P-1", "P-2"]).count() == 2
    missing = client.post("/orders/import/", {"action": "check"})
    assert missing.status_code == 400 and b"Choose a file first" in missing.content

    client.force_login(UserFactory(organization=org, role="ops_manager"))
    refused = client.post("/orders/import/", {"action": "import", "file": SimpleUploadedFile("p.csv", json.dumps([]).encode())})
    assert refused.status_code == 403

