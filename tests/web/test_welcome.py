"""A new organization from the command line to its first-run page: createorganization prints a
one-time password, the live page sends its admin to Get started, whose steps say what is missing,
and whose sample files are in the imports' own formats."""

import csv
import io
import re

import pytest
from django.core.management import call_command
from django.test import Client
from openpyxl import load_workbook

from dispatch.api.order_files import COLUMNS
from dispatch.configuration import network_files
from dispatch.models import Organization, User
from dispatch.status import Role
from tests.factories import HubFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_createorganization_makes_an_empty_organization_whose_admin_is_sent_to_get_started():
    out = io.StringIO()
    call_command("createorganization", "Fresh Goods", "--admin", "fresh.admin", "--email", "a@fresh.example", stdout=out)

    password = re.search(r"one-time password (\S+)", out.getvalue())[1]
    admin = User.objects.get(username="fresh.admin")
    assert admin.role == Role.ADMIN and admin.check_password(password) and admin.organization.slug == "fresh-goods"
    assert "/welcome/" in out.getvalue()
    c = Client()
    c.force_login(admin)
    assert "data-first-run" in c.get("/").content.decode()
    page = c.get("/welcome/").content.decode()
    assert page.count('data-done="no"') == 5
    with pytest.raises(Exception, match="exists already"):
        call_command("createorganization", "Fresh Goods", "--admin", "other.admin")
    assert Organization.objects.filter(slug="fresh-goods").count() == 1


def test_the_sample_files_are_in_the_imports_formats_around_the_organizations_hubs(org):
    HubFactory(organization=org, code="EAST", lat=41.9, lon=-87.6)
    c = Client()
    c.force_login(UserFactory(organization=org, role=Role.ADMIN, is_staff=True))

    book = load_workbook(io.BytesIO(c.get("/welcome/sample-network.xlsx").content))
    orders = list(csv.DictReader(io.StringIO(c.get("/welcome/test-day.csv").content.decode())))

    assert book["hubs"]["A2"].value == "EAST" and book["vehicles"].max_row == 4
    tables = network_files.read_files([("sample.xlsx", c.get("/welcome/sample-network.xlsx").content)])
    assert network_files.check(organization_id=org.id, tables=tables)["errors"] == []
    assert len(orders) == 24 and list(orders[0]) == list(COLUMNS) and {o["hub"] for o in orders} == {"EAST"}


@pytest.mark.parametrize("role", [Role.DISPATCHER, Role.OPS_MANAGER])
def test_get_started_is_for_admins(org, role):
    c = Client()
    c.force_login(UserFactory(organization=org, role=role))

    assert c.get("/welcome/").status_code == 403 and c.post("/welcome/plan/").status_code == 403


def test_when_the_plan_places_nothing_the_page_says_what_kept_it(org):
    """The sample network and a test day tried at 19:00: the sample drivers have started no shift,
    so no van is on duty, and the sample courier collects until 18:00. The planner places nothing,
    and the page says both, in words the admin acts on."""
    from datetime import datetime, time, timedelta

    from django.utils import timezone

    from dispatch import clock
    from tests.factories import OrderFactory

    org.time_zone = "America/Chicago"
    org.save()
    zone = clock.zone_of(org)
    seven = datetime.combine(timezone.now().astimezone(zone).date(), time(19), tzinfo=zone)
    clock.anchor(sim_at=seven, speed=0.0)
    hub = HubFactory(organization=org, code="EAST", lat=41.9, lon=-87.6)
    admin = UserFactory(organization=org, role=Role.ADMIN, is_staff=True)
    c = Client()
    c.force_login(admin)
    tables = network_files.read_files([("sample.xlsx", c.get("/welcome/sample-network.xlsx").content)])
    network_files.import_network(organization_id=org.id, tables=tables, user=admin, files=["sample.xlsx"])
    for i in range(3):
        OrderFactory(organization=org, hub=hub, external_ref=f"LATE-{i}", lat=41.91 + 0.005 * i, lon=-87.61,
                     window_start=seven + timedelta(hours=1), window_end=seven + timedelta(hours=3))

    landed = c.post("/welcome/plan/")
    page = c.get(landed["Location"]).content.decode()

    assert landed["Location"].endswith("planned=0")
    why = page[page.index("data-why-none"):].split("</div>")[0]
    assert "None of your 3 vans is on duty" in why
    assert "Local courier collects until 18:00; it is 19:00, so it takes no more orders today." in why
    assert "data-why-none" not in c.get("/welcome/?planned=3").content.decode()  # said only when nothing was placed
