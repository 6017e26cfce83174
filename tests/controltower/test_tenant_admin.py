"""An organization's admin uses the admin pages for its own organization only; the platform's
operators (superusers) see every tenant."""

import pytest
from django.test import Client

from dispatch.models import ApiToken, Order, User
from dispatch.status import Role
from tests.factories import (
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
    my_order = OrderFactory(hub=HubFactory(organization=mine), external_ref="MINE-1")
    their_order = OrderFactory(hub=HubFactory(organization=theirs), external_ref="THEIRS-1")
    api_token(theirs)
    client = Client()
    client.force_login(admin)
    return client, admin, their_user, my_order, their_order


def test_an_organizations_admin_is_not_a_superuser_in_the_demo(db, tmp_path):
    import io

    from django.core.management import call_command

    call_command("seed_demo", "--orders", "10", "--token-file", str(tmp_path / "token"), stdout=io.StringIO())

    admin = User.objects.get(role=Role.ADMIN)
    assert admin.is_staff and not admin.is_superuser


def test_an_admin_lists_only_its_own_organizations_orders_users_and_tokens(two_tenants):
    client, admin, their_user, my_order, their_order = two_tenants

    orders = client.get("/admin/dispatch/order/")
    users = client.get("/admin/dispatch/user/")
    tokens = client.get("/admin/dispatch/apitoken/")

    assert orders.status_code == 200 and b"MINE-1" in orders.content and b"THEIRS-1" not in orders.content
    assert users.status_code == 200 and b"my-admin" in users.content and b"their-dispatcher" not in users.content
    assert tokens.status_code == 200 and b"Theirs" not in tokens.content


def test_an_admin_cannot_open_or_change_another_tenants_rows(two_tenants):
    client, admin, their_user, my_order, their_order = two_tenants

    assert client.get(f"/admin/dispatch/order/{their_order.id}/change/").status_code in (302, 404)
    assert client.get(f"/admin/dispatch/user/{their_user.id}/change/").status_code in (302, 404)
    response = client.post(f"/admin/dispatch/order/{their_order.id}/delete/", {"post": "yes"})
    assert response.status_code in (302, 404)
    assert Order.objects.filter(pk=their_order.id).exists()


def test_choices_in_admin_forms_offer_only_the_tenants_own_rows(two_tenants):
    client, admin, their_user, my_order, their_order = two_tenants

    page = client.get(f"/admin/dispatch/order/{my_order.id}/change/")

    assert page.status_code == 200
    assert f'value="{their_order.hub_id}"'.encode() not in page.content
    assert b'name="organization"' not in page.content


def test_an_admin_cannot_make_anyone_a_superuser(two_tenants):
    client, admin, *_ = two_tenants
    colleague = UserFactory(organization=admin.organization, username="colleague")

    client.post(f"/admin/dispatch/user/{colleague.id}/change/",
                {"username": "colleague", "is_active": "on", "role": Role.ADMIN, "is_superuser": "on"})

    colleague.refresh_from_db()
    assert colleague.role == Role.ADMIN and colleague.is_staff and not colleague.is_superuser


def test_dispatchers_and_ops_managers_do_not_get_into_the_admin(db):
    for role in (Role.DISPATCHER, Role.OPS_MANAGER):
        client = Client()
        client.force_login(UserFactory(role=role, is_staff=True))
        assert client.get("/admin/dispatch/order/").status_code == 302


def test_a_superuser_sees_every_tenant(two_tenants):
    *_, my_order, their_order = two_tenants
    client = Client()
    client.force_login(User.objects.create_superuser("ops", password="x" * 12))

    page = client.get("/admin/dispatch/order/")

    assert b"MINE-1" in page.content and b"THEIRS-1" in page.content
    assert ApiToken.objects.count() == 1
