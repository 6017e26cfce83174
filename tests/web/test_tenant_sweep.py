"""Every URL the project serves, generated from the URL configuration (a new endpoint is covered
without editing this file), requested by each role of one organization and by its API token with
another organization's ids: never another tenant's data, never a change to it."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from carriers.models import WebhookDelivery, WebhookSubscription
from dispatch.models import Decision, Order, OrderException, TravelFactor
from dispatch.status import Role
from integrations.models import ShopConnection, ShopWebhookReceipt
from tests.factories import (
    CarrierFactory,
    DriverFactory,
    HubFactory,
    OrderFactory,
    OrganizationFactory,
    UserFactory,
    VehicleFactory,
    api_token,
)

pytestmark = pytest.mark.django_db

MARK = "FOREIGNX"  # every identifier of the other tenant carries it
SKIP = {
    "track",          # public by design: the unguessable token is the credential, and it shows one order
    "api-schema", "api-docs", "metrics", "login", "logout",
}


def patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for p in resolver.url_patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            if route.startswith("admin/"):
                continue  # the admin has its own tenant tests (test_tenant_admin.py)
            yield from patterns(p, route)
        elif isinstance(p, URLPattern):
            yield p.name, route


@pytest.fixture
def foreign():
    """Another organization with one of everything, all named with MARK."""
    theirs = OrganizationFactory(name=f"{MARK} Inc", slug=f"{MARK.lower()}-inc")
    hub = HubFactory(organization=theirs, code=f"{MARK}HUB")
    VehicleFactory(fleet__hub=hub, code=f"{MARK}1")
    DriverFactory(organization=theirs, code=f"{MARK}1")
    carrier = CarrierFactory(organization=theirs, code=f"{MARK}1", name=f"{MARK} Carrier")
    order = OrderFactory(hub=hub, external_ref=f"{MARK}-ORDER", customer_name=f"{MARK} Customer")
    exc = OrderException.objects.create(organization=theirs, kind="carrier_outage", cause_key="x", title=f"{MARK} outage",
                                        carrier=carrier, detected_at=order.created_at)
    exc.orders.add(order)
    decision = Decision.objects.create(organization=theirs, exception=exc, summary=f"{MARK} plan",
                                       moves=[{"order": order.external_ref, "to": {"kind": "carrier", "code": carrier.code}}])
    sub = WebhookSubscription.objects.create(organization=theirs, url="http://93.184.215.14/h", secret="s" * 16)
    delivery = WebhookDelivery.objects.create(subscription=sub, event_id="e1", event_type="order.status", payload={"m": MARK})
    travel = TravelFactor.objects.create(organization=theirs, hub=hub, hour=9, factor=1.3, legs=5)
    shop = ShopConnection.objects.create(organization=theirs, platform="shopify", name=f"{MARK} store", shop_url="https://foreignx.example",
                                         hub=hub, webhook_secret_sealed="")
    ShopWebhookReceipt.objects.create(connection=shop, webhook_id="w1", topic="orders/create", shop_order_id="1",
                                      raw_body=f'{{"id": 1, "note": "{MARK}"}}', status="needs_attention",
                                      result={"problem": f"Cannot place {MARK}"})
    return {"org": theirs, "order": order, "decision": decision, "delivery": delivery, "carrier": carrier, "travel": travel,
            "shop": shop}


def concrete(name: str, route: str, f: dict) -> str:
    values = {"ref": f["order"].external_ref, "code": f"{MARK}1", "slug": f["org"].slug, "org_slug": f["org"].slug,
              "action": "approve", "shop": str(f["shop"].id)}

    def fill(match):
        param = match.group(2)
        if param == "pk":
            if "travel" in (name or ""):
                return str(f["travel"].id)
            return str(f["delivery"].id if "webhook" in (name or "") else f["decision"].id)
        return values.get(param, f"{MARK}1")

    path = re.sub(r"<(?:(\w+):)?(\w+)>", fill, route)
    return "/" + path.lstrip("^").rstrip("$")


def state_of(org):
    return (sorted(Order.objects.filter(organization=org).values_list("external_ref", "status", "carrier_id", "version")),
            sorted(Decision.objects.filter(organization=org).values_list("id", "state", "version")),
            sorted(WebhookDelivery.objects.filter(subscription__organization=org).values_list("id", "attempts", "status")),
            sorted(ShopWebhookReceipt.objects.filter(connection__organization=org).values_list("id", "status", "attempts")),
            sorted(ShopConnection.objects.filter(organization=org).values_list("id", "name", "shop_url", "active")))


def test_no_role_and_no_token_reaches_another_tenants_data(foreign):
    mine = OrganizationFactory()
    HubFactory(organization=mine)
    clients = {}
    for role in Role.values:
        c = Client()
        c.force_login(UserFactory(organization=mine, role=role, is_staff=role == Role.ADMIN))
        clients[role] = c
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {api_token(mine)}")
    clients["token"] = token
    before = state_of(foreign["org"])
    urls = [(n, concrete(n, r, foreign)) for n, r in patterns() if n not in SKIP]
    assert len(urls) >= 25  # the sweep really walks the configuration

    leaks = []
    for who, client in clients.items():
        for name, url in urls:
            for method in ("get", "post"):
                kwargs = {"format": "json"} if who == "token" else {}
                response = getattr(client, method)(url, {}, **kwargs)
                raw = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
                body = raw.decode(errors="replace")
                if MARK in body:
                    leaks.append((who, method, url, response.status_code))
                assert response.status_code < 500, (who, method, url, response.status_code, body[:300])

    assert leaks == []
    assert state_of(foreign["org"]) == before
