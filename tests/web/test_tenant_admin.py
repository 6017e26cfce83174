"""The Django admin is the platform operators' tool (superusers) only; an organization's admins
configure it under /settings/ (network, costs, rules, people), every choice and save scoped to it."""

import pytest
from django.test import Client

from carriers.models import CarrierZone
from dispatch.models import ApiToken, Fleet, Hub, User, Vehicle
from dispatch.status import Role
from tests.factories import (
    CarrierFactory,
    FleetFactory,
    HubFactory,
    OrderFactory,
    OrganizationFactory,
    UserFactory,
    api_token,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_tenants():
    mine, theirs = OrganizationFactory(name="Mine"), OrganizationFactory(name="Theirs")
    admin = UserFactory(organization=mine, role=Role.ADMIN, is_staff=True, username="my-admin")
    their_user = UserFactory(organization=theirs, username="their-dispatcher")
    my_order = OrderFactory(hub=HubFactory(organization=mine, code="MH"), external_ref="MINE-1")
    their_order = OrderFactory(hub=HubFactory(organization=theirs, code="TH"), external_ref="THEIRS-1")
    api_token(theirs)
    client = Client()
    client.force_login(admin)
    return client, admin, their_user, my_order, their_order


def test_an_organizations_admin_is_not_a_superuser_in_the_demo(db, tmp_path):
    import io

    from django.core.management import call_command

    call_command("seed_demo", "--orders", "10", "--token-file", str(tmp_path / "token"), stdout=io.StringIO())

    admin = User.objects.get(role=Role.ADMIN)
    assert not admin.is_superuser


def test_no_tenant_role_gets_into_the_django_admin(db):
    for role in Role.values:
        client = Client()
        client.force_login(UserFactory(role=role, is_staff=True))
        assert client.get("/admin/dispatch/order/").status_code == 302, role
        assert client.get("/admin/").status_code == 302, role


def test_a_superuser_sees_every_tenant(two_tenants):
    *_, my_order, their_order = two_tenants
    client = Client()
    client.force_login(User.objects.create_superuser("ops", password="x" * 12))

    page = client.get("/admin/dispatch/order/")

    assert b"MINE-1" in page.content and b"THEIRS-1" in page.content
    assert ApiToken.objects.count() == 1


def test_an_admin_builds_its_network_under_settings_with_its_own_rows_only(two_tenants):
    client, admin, their_user, my_order, their_order = two_tenants
    assert client.get("/settings/network/").status_code == 200
    assert client.post("/settings/network/hubs/add/", {"code": "NEW", "name": "New hub", "lat": "41.9", "lon": "-87.7",
                                                        "load_min_per_order": "1"}).status_code == 302
    hub = Hub.objects.get(code="NEW")
    assert hub.organization_id == admin.organization_id
    duplicate = client.post("/settings/network/hubs/add/", {"code": "NEW", "name": "Again", "lat": "41.9", "lon": "-87.7",
                                                             "load_min_per_order": "1"})
    assert duplicate.status_code == 400
    their_fleet = FleetFactory(hub=their_order.hub)
    refused = client.post("/settings/network/fleets/add/", {"name": "Sneaky", "hub": their_order.hub_id})
    assert refused.status_code == 400 and not Fleet.objects.filter(name="Sneaky").exists()
    assert client.post("/settings/network/fleets/add/", {"name": "New vans", "hub": hub.id}).status_code == 302
    fleet = Fleet.objects.get(name="New vans")
    page = client.get("/settings/network/vehicles/add/").content.decode()
    assert f'value="{fleet.id}"' in page and f'value="{their_fleet.id}"' not in page
    assert client.post("/settings/network/vehicles/add/", {"code": "NV1", "fleet": fleet.id, "capacity_kg": "500", "capacity_m3": "8",
                                                            "skills": "[]", "cost_per_km": "0.5", "cost_per_hour": "25",
                                                            "fixed_cost": "0"}).status_code == 302
    assert Vehicle.objects.get(code="NV1").organization_id == admin.organization_id
    assert client.post("/settings/network/carriers/add/", {"code": "LOC", "name": "Local", "adapter": "manual", "config": "{}",
                                                            "service_levels": '["same_day", "teleport"]', "skills": "[]",
                                                            "lead_min": "60", "pickup_cutoff": "18:00"}).status_code == 400
    their_carrier = CarrierFactory(organization=their_order.organization)
    zone = CarrierZone.objects.get(carrier=their_carrier)
    assert client.get(f"/settings/network/zones/{zone.id}/").status_code == 404
    assert client.get(f"/settings/network/hubs/{their_order.hub_id}/").status_code == 404
    assert client.get("/settings/network/passwords/").status_code == 404
    dispatcher = Client()
    dispatcher.force_login(UserFactory(organization=admin.organization, role=Role.DISPATCHER))
    assert dispatcher.get("/settings/network/hubs/").status_code == 403


def test_the_network_page_adds_a_van_with_checked_first_costs_and_leaves_every_later_cost_change_to_the_versioned_costs_page(
        two_tenants):
    client, admin, *_ = two_tenants
    fleet = FleetFactory(hub=HubFactory(organization=admin.organization))
    van = {"code": "NV2", "fleet": fleet.id, "capacity_kg": "500", "capacity_m3": "8", "skills": "[]", "cost_per_hour": "25",
           "fixed_cost": "0"}

    refused = client.post("/settings/network/vehicles/add/", {**van, "cost_per_km": "-3"})
    added = client.post("/settings/network/vehicles/add/", {**van, "cost_per_km": "0.7"})

    assert refused.status_code == 400 and "Between 0 and 1000" in refused.content.decode()
    created = Vehicle.objects.get(code="NV2")
    assert created.cost_per_km == 0.7 and added.status_code == 302
    first = created.history.get()
    assert (first.history_type, first.history_user, first.cost_per_km) == ("+", admin, 0.7)
    page = client.get(f"/settings/network/vehicles/{created.id}/").content.decode()
    assert 'name="cost_per_km"' not in page and "data-costs-elsewhere" in page
    edited = client.post(f"/settings/network/vehicles/{created.id}/", {**van, "capacity_kg": "650", "cost_per_km": "9"})
    created.refresh_from_db()
    assert edited.status_code == 302 and (created.capacity_kg, created.cost_per_km) == (650, 0.7)
