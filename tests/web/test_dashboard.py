import pytest

from infra import bus
from tests.factories import HubFactory, OrderFactory, UserFactory, VehicleFactory

pytestmark = pytest.mark.django_db


def test_the_dashboard_requires_a_login(client):
    response = client.get("/")

    assert response.status_code == 302 and "/login/" in response["Location"]


def test_live_state_carries_only_the_users_organization(client, hub, other_org):
    user = UserFactory(organization=hub.organization)
    mine = OrderFactory(hub=hub)
    theirs_hub = HubFactory(organization=other_org)
    OrderFactory(hub=theirs_hub)
    VehicleFactory(fleet__hub=theirs_hub, code="THEIRS")
    client.force_login(user)

    state = client.get("/live/state/").json()

    assert [o["ref"] for o in state["orders"]] == [mine.external_ref]
    assert [h["code"] for h in state["hubs"]] == [hub.code]
    assert state["vehicles"] == []
    assert (state["epoch"], state["seq"]) == bus.current_sequence(hub.organization_id)


def test_the_dashboard_and_its_partials_render(client, hub):
    client.force_login(UserFactory(organization=hub.organization))
    OrderFactory(hub=hub, external_ref="VISIBLE-1")

    page = client.get("/")
    kpis = client.get("/live/kpis/")
    table = client.get("/live/orders/", {"status": "created"})
    empty = client.get("/live/orders/", {"status": "delivered"})
    carriers = client.get("/live/carriers/")

    assert page.status_code == 200 and b'id="map"' in page.content
    assert b'data-kpi="open">1<' in kpis.content
    assert b"VISIBLE-1" in table.content
    assert b"VISIBLE-1" not in empty.content
    assert carriers.status_code == 200


def test_the_tracking_page_shows_one_order_by_its_token_only(client, hub):
    order = OrderFactory(hub=hub, customer_name="Private Person")
    OrderFactory(hub=hub, customer_name="Someone Else")

    page = client.get(f"/track/{order.tracking_token}/")
    guess = client.get("/track/not-a-real-token/")

    assert page.status_code == 200
    assert b"Someone Else" not in page.content and b"Private Person" not in page.content
    assert guess.status_code == 404


def test_a_basemap_is_a_setting_and_the_grid_stays_the_default(client, settings, db):
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    default = client.get("/").content.decode()
    settings.MAP_TILE_URL = "https://tiles.example.com/{z}/{x}/{y}.png"
    configured = client.get("/").content.decode()
    policy = subprocess.run([sys.executable, "-c", "import django, json; django.setup(); from django.conf import settings; "
                             "print(json.dumps(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src']))"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "MAP_TILE_URL": "https://tiles.example.com/{z}/{x}/{y}.png"})

    assert '"tileUrl": ""' in default
    assert '"tileUrl": "https://tiles.example.com/{z}/{x}/{y}.png"' in configured
    assert json.loads(policy.stdout) == ["'self'", "data:", "https://tiles.example.com"]
