"""The customer's tracking page tells the truth about one order and follows it live."""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from controltower.asgi import application
from dispatch.models import Order
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from tests.factories import OrderFactory, VehicleFactory

SYSTEM = ActorRef.system("tests")


@pytest.mark.django_db
def test_a_late_order_says_it_is_late_by_how_much_and_what_the_customer_can_do(hub):
    order = OrderFactory(hub=hub, customer_name="Robin Late")
    Order.objects.filter(pk=order.pk).update(status="assigned", eta=order.window_end + timedelta(minutes=47), risk="late")
    other = OrderFactory(hub=hub, customer_name="Someone Else")

    page = Client().get(f"/track/{order.tracking_token}/").content.decode()

    assert "Running late." in page and "47 minutes after your window" in page
    assert "arrange another day" in page
    assert other.customer_name not in page and other.external_ref not in page


@pytest.mark.django_db
def test_when_the_van_is_a_few_stops_away_the_page_says_how_many(hub):
    van = VehicleFactory(fleet__hub=hub, code="NEAR")
    orders = [OrderFactory(hub=hub, lat=hub.lat + 0.01 * i, lon=hub.lon) for i in range(1, 4)]
    for o in orders:
        assignment_to_vehicle(order=o, vehicle=van, actor=SYSTEM)

    first = Client().get(f"/track/{orders[0].tracking_token}/").content.decode()
    third = Client().get(f"/track/{orders[2].tracking_token}/").content.decode()

    assert "You are the driver's next stop." in first
    assert "The driver has 2 stops before yours." in third


@pytest.mark.django_db(transaction=True)
def test_the_tracking_page_hears_its_own_order_change_and_no_other(hub):
    from dispatch.services.orders import order_cancel

    mine, theirs = OrderFactory(hub=hub), OrderFactory(hub=hub)
    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]

    async def scenario():
        ws = WebsocketCommunicator(application, f"/ws/track/{mine.tracking_token}/", headers=headers)
        assert (await ws.connect())[0]
        await sync_to_async(order_cancel)(organization_id=hub.organization_id, order_id=theirs.id, actor=SYSTEM)
        silent = await ws.receive_nothing(timeout=1.0)
        await sync_to_async(order_cancel)(organization_id=hub.organization_id, order_id=mine.id, actor=SYSTEM)
        hint = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        bad = WebsocketCommunicator(application, "/ws/track/not-a-token/", headers=headers)
        connected, code = await bad.connect()
        return silent, hint, connected, code

    silent, hint, connected, code = asyncio.run(scenario())

    assert silent and hint == {"changed": True}
    assert not connected and code == 4404
