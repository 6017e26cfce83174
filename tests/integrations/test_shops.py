"""Orders from the shop: Shopify's and WooCommerce's webhooks arrive signed over real HTTP at the
live server, become orders by the same rules as the API, are planned onto a van, and what the
driver does goes back to the shop once (a fulfillment with our tracking link, then delivered),
through the shop's own API shapes served by a local shop."""

import json
from datetime import timedelta

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from dispatch import clock
from dispatch.models import Order
from dispatch.status import Role
from integrations.models import ShopConnection, ShopOrderLink, ShopUpdate, ShopWebhookReceipt
from integrations.shops.service import receipt_locate, shop_save, shop_update_send
from tests.factories import DriverFactory, ShiftFactory, UserFactory, VehicleFactory

from .fakeshop import FakeShop, shopify_order, woo_order

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.fixture
def shopify(org, hub, live_server):
    shop = FakeShop("shopify", secret="shpss_app_secret", token="shpat_token")
    connection = shop_save(organization_id=org.id, values={
        "platform": "shopify", "name": "Main store", "shop_url": shop.url, "hub": hub.code, "ref_prefix": "SHOP-",
        "default_service_level": "next_day", "service_levels": "express delivery = express\nlocal delivery = same_day",
        "handling": "COLD- = cold\nBULK- = bulky", "default_item_kg": "1", "webhook_secret": shop.secret,
        "api_credentials": shop.token, "send_back": "on", "active": "on"})
    shop.endpoint = f"{live_server.url}/webhooks/shops/{org.slug}/{connection.id}/"
    yield shop, connection
    shop.close()


@pytest.fixture
def woo(org, hub, live_server):
    shop = FakeShop("woocommerce", secret="wc-webhook-secret", token="ck_abc:cs_def")
    connection = shop_save(organization_id=org.id, values={
        "platform": "woocommerce", "name": "Furniture", "shop_url": shop.url, "hub": hub.code, "ref_prefix": "WC-",
        "default_service_level": "next_day", "service_levels": "same-day courier = same_day", "handling": "BULK- = bulky",
        "webhook_secret": shop.secret, "api_credentials": shop.token, "send_back": "on", "active": "on"})
    shop.endpoint = f"{live_server.url}/webhooks/shops/{org.slug}/{connection.id}/"
    yield shop, connection
    shop.close()


def soon_window(hours=3):
    start = (clock.now() + timedelta(hours=hours)).replace(microsecond=0)
    return [{"name": "delivery_window_start", "value": start.isoformat()},
            {"name": "delivery_window_end", "value": (start + timedelta(hours=2)).isoformat()}]


CASES = [("valid", 202), ("wrong-secret", 401), ("altered-body", 401), ("replayed-id", 200), ("no-signature", 401)]


@pytest.mark.parametrize("platform", ["shopify", "woo"])
def test_the_signature_matrix(request, platform):
    shop, connection = request.getfixturevalue("shopify" if platform == "shopify" else "woo")
    topic = "orders/create" if platform == "shopify" else "order.created"
    made_before = 0
    for n, (case, status) in enumerate(CASES):
        order = shopify_order(1001 + n) if platform == "shopify" else woo_order(727 + n)
        shop.place(order)
        if case == "replayed-id":
            first = shop.webhook(shop.endpoint, topic, order, delivery_id="same-id")
            assert first.status_code == 202
        if case == "no-signature":
            r = httpx.post(shop.endpoint, content=json.dumps(order).encode(), timeout=10,
                           headers={"Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": "x1",
                                    "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Delivery-ID": "x1"})
        else:
            r = shop.webhook(shop.endpoint, topic, order, secret="someone-else" if case == "wrong-secret" else None,
                             delivery_id="same-id" if case == "replayed-id" else None, tamper=case == "altered-body")

        assert r.status_code == status, (case, r.text)
        made = Order.objects.filter(organization=connection.organization).count()
        assert made - made_before == (1 if case in ("valid", "replayed-id") else 0), case
        assert ShopWebhookReceipt.objects.filter(connection=connection).count() == made
        made_before = made
        if status == 401:
            assert "secret" in r.json()["message"] or "Missing" in r.json()["message"]
        if case == "replayed-id":
            assert r.json() == {"duplicate": True, "webhook_id": "same-id"}


def test_a_shopify_order_is_planned_delivered_and_fulfilled_back_once(org, hub, shopify):
    shop, connection = shopify
    org.auto_plan = True
    org.save()
    van = VehicleFactory(fleet__hub=hub, code="VAN-1", lat=hub.lat, lon=hub.lon, capacity_kg=500, skills=["cold"])
    driver = DriverFactory(organization=org)
    ShiftFactory(driver=driver, vehicle=van, started_at=timezone.now())
    phone = Client()
    phone.force_login(UserFactory(organization=org, role=Role.DRIVER, driver=driver))
    order = shopify_order(1001, sku="COLD-MILK", grams=2500, quantity=2, shipping="Local delivery", note_attributes=soon_window(0.5))
    shop.place(order)

    assert shop.webhook(shop.endpoint, "orders/create", order).status_code == 202

    mine = Order.objects.get(organization=org, external_ref="SHOP-1001")
    assert (mine.service_level, mine.weight_kg, mine.address, mine.customer_name) == ("same_day", 5.0, "12 Lake St, 60601 Chicago", "Ana Ruiz")
    assert "cold" in mine.requires and mine.instructions == "Ring twice" and (mine.lat, mine.lon) == (41.9, -87.65)
    assert mine.status == "assigned" and mine.vehicle_id == van.id  # planned onto the van as it arrived
    assert shop.orders[str(order["id"])]["fulfillments"] == []  # nothing goes back before the parcel leaves

    for action in ("picked_up", "delivered"):
        r = phone.post("/driver/api/actions/", json.dumps({"ref": "SHOP-1001", "action": action}), content_type="application/json",
                       HTTP_IDEMPOTENCY_KEY=f"k-{action}")
        assert r.status_code == 200, r.content

    [fulfillment] = shop.orders[str(order["id"])]["fulfillments"]
    mine.refresh_from_db()
    assert fulfillment["tracking_number"] == "SHOP-1001" and fulfillment["notify_customer"] is True
    assert fulfillment["tracking_url"].endswith(f"/track/{mine.tracking_token}/") and fulfillment["tracking_company"] == org.name
    assert fulfillment["events"] == ["delivered"]
    assert set(ShopUpdate.objects.values_list("kind", "status")) == {("shipped", "sent"), ("delivered", "sent")}
    dispatcher = Client()
    dispatcher.force_login(UserFactory(organization=org, role=Role.DISPATCHER))
    page = dispatcher.get("/orders/SHOP-1001/").content.decode()
    assert "Shopify store Main store, order #1001" in page and "fulfillment with tracking link sent" in page and "delivered sent" in page
    # sent once: a second run of each update (a redelivered task) calls the shop no more
    calls = len(shop.calls)
    for update in ShopUpdate.objects.all():
        assert shop_update_send(update_id=update.id) == "sent"
    assert len(shop.calls) == calls and len(shop.orders[str(order["id"])]["fulfillments"]) == 1


def test_a_fulfillment_repeated_after_a_lost_answer_is_found_not_made_twice(org, hub, shopify):
    shop, connection = shopify
    order = shopify_order(1002)
    shop.place(order)
    shop.webhook(shop.endpoint, "orders/create", order)
    link = ShopOrderLink.objects.get(connection=connection)
    update = ShopUpdate.objects.create(link=link, kind="shipped")
    assert shop_update_send(update_id=update.id) == "sent"
    ShopUpdate.objects.filter(pk=update.pk).update(status="pending")  # as if the outcome was never recorded

    assert shop_update_send(update_id=update.id) == "sent"

    assert len(shop.orders[str(order["id"])]["fulfillments"]) == 1
    link.refresh_from_db()
    assert link.remote_fulfillment_id == str(shop.orders[str(order["id"])]["fulfillments"][0]["id"])


def test_the_shops_rate_limit_is_waited_out_not_counted_as_a_failure(org, hub, shopify):
    shop, connection = shopify
    order = shopify_order(1003)
    shop.place(order)
    shop.webhook(shop.endpoint, "orders/create", order)
    update = ShopUpdate.objects.create(link=ShopOrderLink.objects.get(connection=connection), kind="shipped")
    shop.throttle_next = 2  # the bucket is full: the next two calls get 429 with Retry-After

    assert shop_update_send(update_id=update.id) == "sent"
    assert len(shop.orders[str(order["id"])]["fulfillments"]) == 1


def test_credentials_the_shop_refuses_fail_with_a_sentence_and_no_retry(org, hub, shopify):
    shop, connection = shopify
    order = shopify_order(1004)
    shop.place(order)
    shop.webhook(shop.endpoint, "orders/create", order)
    connection.api_credentials = "shpat_revoked"
    connection.save()
    update = ShopUpdate.objects.create(link=ShopOrderLink.objects.get(connection=connection), kind="shipped")

    assert shop_update_send(update_id=update.id) == "failed"
    update.refresh_from_db()
    assert "credentials" in update.error and "Settings → Shops" in update.error


def test_a_next_day_order_without_a_window_gets_the_first_the_level_promises(org, hub, shopify):
    shop, connection = shopify
    shop.webhook(shop.endpoint, "orders/create", shopify_order(1005, shipping="Standard"))

    mine = Order.objects.get(external_ref="SHOP-1005")
    assert mine.service_level == "next_day"
    assert timezone.localtime(mine.window_start).date() > timezone.localtime(clock.now()).date()
    assert mine.window_end - mine.window_start <= timedelta(hours=8) and 8 <= timezone.localtime(mine.window_start).hour


def test_an_address_the_shop_did_not_place_waits_for_a_person_then_becomes_an_order(org, hub, shopify):
    shop, connection = shopify
    r = shop.webhook(shop.endpoint, "orders/create", shopify_order(1006, lat=None, lon=None, address="99 Unknown Rd"))

    assert r.status_code == 202
    receipt = ShopWebhookReceipt.objects.get(connection=connection)
    assert receipt.status == "needs_attention" and "Cannot place" in receipt.result["problem"] and "99 Unknown Rd" in receipt.result["problem"]
    assert not Order.objects.filter(external_ref="SHOP-1006").exists()

    receipt_locate(organization_id=org.id, receipt_id=receipt.id, lat=41.95, lon=-87.7)

    receipt.refresh_from_db()
    assert receipt.status == "processed"
    assert Order.objects.get(external_ref="SHOP-1006").lat == 41.95
    # the next order to that address is placed by what we learned
    shop.webhook(shop.endpoint, "orders/create", shopify_order(1007, lat=None, lon=None, address="99 Unknown Rd"))
    assert Order.objects.get(external_ref="SHOP-1007").lat == 41.95


def test_changes_and_cancellations_from_the_shop_follow_the_order_and_old_news_is_ignored(org, hub, shopify):
    shop, connection = shopify
    shop.webhook(shop.endpoint, "orders/create", shopify_order(1008, updated="2026-12-07T10:00:00Z"))
    shop.webhook(shop.endpoint, "orders/updated", shopify_order(1008, address="1 New Rd", lat=41.8, updated="2026-12-07T10:05:00Z"))
    late = shop.webhook(shop.endpoint, "orders/updated", shopify_order(1008, address="12 Lake St", updated="2026-12-07T10:01:00Z"))

    mine = Order.objects.get(external_ref="SHOP-1008")
    assert late.status_code == 202 and mine.address == "1 New Rd, 60601 Chicago" and mine.lat == 41.8
    assert ShopWebhookReceipt.objects.filter(status="ignored").count() == 1

    shop.webhook(shop.endpoint, "orders/cancelled", shopify_order(1008, cancelled=True, updated="2026-12-07T11:00:00Z"))
    mine.refresh_from_db()
    assert mine.status == "cancelled"


def test_a_woocommerce_order_is_taken_once_paid_changed_completed_and_its_ping_answered(org, hub, woo):
    shop, connection = woo
    ping = httpx.post(shop.endpoint, content=b"webhook_id=12", headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert ping.status_code == 200 and ping.json() == {"ping": True}

    unpaid = woo_order(727, status="pending")
    shop.place(unpaid)
    shop.webhook(shop.endpoint, "order.created", unpaid)
    assert not Order.objects.filter(organization=org).exists()
    assert "not paid yet" in ShopWebhookReceipt.objects.get(status="ignored").result["reason"]

    shop.webhook(shop.endpoint, "order.updated", woo_order(727, modified="2026-12-07T10:05:00"))
    mine = Order.objects.get(external_ref="WC-727")
    assert (mine.service_level, mine.weight_kg, mine.requires, mine.customer_email) == ("same_day", 15.0, ["bulky"], "bo@example.com")
    assert mine.address == "5 Elm Ave, Apt 3, 60602 Chicago" and mine.instructions == "Leave with the concierge"

    van = VehicleFactory(fleet__hub=hub, code="VAN-W", lat=hub.lat, lon=hub.lon, capacity_kg=500)
    from dispatch.services import ActorRef
    from dispatch.services.assignments import assignment_to_vehicle
    from dispatch.services.orders import order_set_status

    assignment_to_vehicle(order=mine, vehicle=van, actor=ActorRef.system("tests"))
    for status in ("picked_up", "delivered"):
        order_set_status(organization_id=org.id, order_id=mine.id, status=status, actor=ActorRef.system("tests"))

    [note] = shop.orders["727"]["notes"]
    assert note["customer_note"] is True and f"/track/{mine.tracking_token}/" in note["note"]
    assert shop.orders["727"]["status"] == "completed"

    shop.webhook(shop.endpoint, "order.deleted", woo_order(728))  # never taken: nothing to cancel
    assert ShopWebhookReceipt.objects.filter(shop_order_id="728", status="ignored").exists()


def test_a_disconnected_store_is_told_so(org, hub, shopify):
    shop, connection = shopify
    ShopConnection.objects.filter(pk=connection.pk).update(active=False)

    r = shop.webhook(shop.endpoint, "orders/create", shopify_order(1009))

    assert r.status_code == 410 and "disconnected" in r.json()["message"]


def test_secrets_are_stored_sealed(org, hub, shopify):
    shop, connection = shopify
    stored = ShopConnection.objects.filter(pk=connection.pk).values_list("webhook_secret_sealed", "api_credentials_sealed").get()

    assert shop.secret not in stored[0] and shop.token not in stored[1]
    assert ShopConnection.objects.get(pk=connection.pk).webhook_secret == shop.secret
