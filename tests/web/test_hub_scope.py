"""A dispatcher scoped to hubs sees and acts on those hubs' orders, vans and exceptions only: on
every page, partial, API call with a session, action and live socket message."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils import timezone

from dispatch.models import Decision, OrderException
from dispatch.services import ActorRef
from dispatch.services.orders import order_update
from dispatch.status import Role
from tests.web.test_live_socket import next_event, session_cookie, socket
from tests.factories import (
    CarrierFactory,
    HubFactory,
    OrderFactory,
    OrganizationFactory,
    UserFactory,
    VehicleFactory,
)


@pytest.fixture
def two_hubs(db):
    org = OrganizationFactory()
    north, south = HubFactory(organization=org, code="NORTH"), HubFactory(organization=org, code="SOUTH", lat=41.80)
    VehicleFactory(fleet__hub=north, code="VN"), VehicleFactory(fleet__hub=south, code="VS")
    n, s = OrderFactory(hub=north, external_ref="N-1"), OrderFactory(hub=south, external_ref="S-1", lat=41.81)
    carrier = CarrierFactory(organization=org, code="CX")
    exc = OrderException.objects.create(organization=org, kind="carrier_outage", cause_key="c", title="South outage",
                                        carrier=carrier, detected_at=timezone.now())
    exc.orders.add(s)
    decision = Decision.objects.create(organization=org, exception=exc, moves=[{"order": "S-1", "to": {"kind": "van", "code": "VS"}}])
    scoped = UserFactory(organization=org, role=Role.DISPATCHER, username="north-only")
    scoped.hubs.add(north)
    return {"org": org, "north": north, "south": south, "scoped": scoped, "decision": decision, "exception": exc, "carrier": carrier,
            "orders": (n, s)}


def login(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.mark.django_db
def test_pages_partials_and_the_api_show_their_hubs_only(two_hubs):
    c = login(two_hubs["scoped"])
    state = c.get("/live/state/").json()
    assert [o["ref"] for o in state["orders"]] == ["N-1"]
    assert {v["code"] for v in state["vehicles"]} == {"VN"} and {h["code"] for h in state["hubs"]} == {"NORTH"}
    table = c.get("/live/orders/").content.decode()
    assert "N-1" in table and "S-1" not in table
    assert c.get("/orders/S-1/").status_code == 404 and c.get("/orders/N-1/").status_code == 200
    assert c.get("/vehicles/VS/").status_code == 404 and c.get("/vehicles/VN/").status_code == 200
    assert "South outage" not in c.get("/live/exceptions/").content.decode()
    assert [o["external_ref"] for o in c.get("/api/orders/").json()["results"]] == ["N-1"]
    everyone = login(UserFactory(organization=two_hubs["org"], role=Role.DISPATCHER))
    assert "South outage" in everyone.get("/live/exceptions/").content.decode()
    assert everyone.get("/orders/S-1/").status_code == 200


@pytest.mark.django_db
def test_actions_outside_the_scope_are_refused_with_a_reason(two_hubs):
    c = login(two_hubs["scoped"])
    d = two_hubs["decision"]
    refused = c.post(f"/live/decisions/{d.id}/approve/", {"version": d.version})
    assert refused.status_code == 403 and "outside your scope" in refused.content.decode()
    assert c.post(f"/live/exceptions/{two_hubs['exception'].id}/claim/").status_code == 404
    d.refresh_from_db()
    assert d.state == "proposed"


@pytest.mark.django_db(transaction=True)
def test_the_live_socket_tells_only_their_hubs(two_hubs):
    cookie = session_cookie(two_hubs["scoped"])
    north_order, south_order = two_hubs["orders"]
    actor = ActorRef.system("t")

    async def scenario():
        ws = socket(cookie)
        connected, _ = await ws.connect()
        assert connected
        await sync_to_async(order_update)(organization_id=two_hubs["org"].id, order_id=south_order.id, changes={"instructions": "gate 2"},
                                          actor=actor)
        hidden = await next_event(ws)
        await sync_to_async(order_update)(organization_id=two_hubs["org"].id, order_id=north_order.id, changes={"instructions": "door"},
                                          actor=actor)
        shown = await next_event(ws)
        await ws.disconnect()
        return hidden, shown

    hidden, shown = asyncio.run(scenario())
    assert hidden["type"] == "skip" and "data" not in hidden
    assert shown["type"] == "order.changed" and shown["data"]["hub"] == "NORTH" and shown["seq"] == hidden["seq"] + 1


@pytest.mark.django_db
def test_an_admin_scopes_a_dispatcher(two_hubs):
    admin = login(UserFactory(organization=two_hubs["org"], role=Role.ADMIN))
    other = UserFactory(organization=two_hubs["org"], role=Role.DISPATCHER, username="to-scope")
    assert admin.post("/settings/users/", {"action": "hubs", "user": other.id, "hubs": [two_hubs["south"].id]}).status_code == 200
    assert list(other.hubs.values_list("code", flat=True)) == ["SOUTH"]
    foreign = HubFactory(code="THEIRS")
    assert admin.post("/settings/users/", {"action": "hubs", "user": other.id, "hubs": [foreign.id]}).status_code == 400
    assert login(other).get("/orders/N-1/").status_code == 404
