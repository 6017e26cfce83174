"""Settings → Shops as an admin uses it: connect a store with the form (errors named by field, the
secret stored sealed and never shown), read the webhook address to paste into the shop, place an
order whose address the shop did not, send a refused update again; other roles are refused."""

import json

import pytest
from django.test import Client

from dispatch.models import Order
from dispatch.status import Role
from integrations.models import ShopConnection, ShopUpdate, ShopWebhookReceipt
from integrations.shops.shopify import sign
from tests.factories import UserFactory

from tests.integrations.fakeshop import shopify_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(org):
    c = Client()
    c.force_login(UserFactory(organization=org, role=Role.ADMIN, is_staff=True))
    return c


FORM = {"platform": "shopify", "name": "Main store", "shop_url": "https://93.184.215.14", "hub": "HUB1", "ref_prefix": "SHOP-",
        "default_service_level": "next_day", "service_levels": "Express delivery = express", "handling": "COLD- = cold",
        "default_item_kg": "1", "webhook_secret": "app-secret-123", "api_credentials": "shpat_abc", "send_back": "on", "active": "on"}


def test_an_admin_connects_a_store_and_reads_where_the_shop_sends_its_webhooks(org, hub, admin):
    refused = admin.post("/settings/shops/", {**FORM, "shop_url": "ftp://x", "service_levels": "express delivery = fastest"})

    assert refused.status_code == 400
    body = refused.content.decode()
    assert 'data-error="shop_url"' in body and "Only http and https" in body
    assert "Line 1: fastest is not one of express" in body and not ShopConnection.objects.exists()

    r = admin.post("/settings/shops/", FORM)

    connection = ShopConnection.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/settings/shops/{connection.id}/?saved=1"
    assert connection.service_levels == {"express delivery": "express"} and connection.handling == {"COLD-": ["cold"]}
    page = admin.get(r["Location"]).content.decode()
    assert f"/webhooks/shops/{org.slug}/{connection.id}/" in page and "orders/create" in page
    assert "app-secret-123" not in page and "shpat_abc" not in page  # sealed, never shown again
    # saving with the secret fields blank keeps what is stored
    admin.post(f"/settings/shops/{connection.id}/", {**FORM, "action": "save", "webhook_secret": "", "api_credentials": "", "name": "Renamed"})
    connection.refresh_from_db()
    assert (connection.name, connection.webhook_secret, connection.api_credentials) == ("Renamed", "app-secret-123", "shpat_abc")


def test_an_order_the_shop_did_not_place_is_placed_from_the_page(org, hub, admin, django_capture_on_commit_callbacks):
    admin.post("/settings/shops/", FORM)
    connection = ShopConnection.objects.get()
    raw = json.dumps(shopify_order(2001, lat=None, lon=None, address="7 Nowhere Ln")).encode()
    with django_capture_on_commit_callbacks(execute=True):
        r = Client().post(f"/webhooks/shops/{org.slug}/{connection.id}/", data=raw, content_type="application/json",
                          HTTP_X_SHOPIFY_TOPIC="orders/create", HTTP_X_SHOPIFY_WEBHOOK_ID="w-2001", **{
                              "HTTP_X_SHOPIFY_HMAC_SHA256": sign(raw, "app-secret-123")["X-Shopify-Hmac-Sha256"]})
    assert r.status_code == 202
    receipt = ShopWebhookReceipt.objects.get()
    page = admin.get(f"/settings/shops/{connection.id}/").content.decode()
    assert "1 needs you" in page and "Cannot place" in page and "Place it" in page

    bad = admin.post(f"/settings/shops/{connection.id}/", {"action": "locate", "receipt": receipt.id, "lat": "north", "lon": "-87"})
    assert bad.status_code == 400 and "as numbers" in bad.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = admin.post(f"/settings/shops/{connection.id}/", {"action": "locate", "receipt": receipt.id, "lat": "41.93", "lon": "-87.66"})

    assert done.status_code == 200 and "Placed" in done.content.decode()
    assert Order.objects.get(external_ref="SHOP-2001").lat == 41.93
    again = admin.post(f"/settings/shops/{connection.id}/", {"action": "locate", "receipt": receipt.id, "lat": "41.93", "lon": "-87.66"})
    assert again.status_code == 409


@pytest.mark.parametrize("role", [Role.DISPATCHER, Role.OPS_MANAGER, Role.DRIVER])
def test_only_admins_connect_stores(org, hub, role):
    c = Client()
    c.force_login(UserFactory(organization=org, role=role))

    r = c.post("/settings/shops/", FORM)

    assert r.status_code in (302, 403) and not ShopConnection.objects.exists()
