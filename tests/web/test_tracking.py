"""The customer's tracking page tells the truth about one order and follows it live."""

import asyncio
from datetime import datetime, timedelta

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
    assert "The driver has 2 stops before yours." in third and "The van is about" in third and "km from you" in third


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


@pytest.mark.django_db
def test_the_customer_moves_their_delivery_and_leaves_instructions_from_the_tracking_page(hub, settings):
    """From the public page (CSRF enforced): pick another offered window and write instructions; the
    change is the customer's in the log, the order is placed again, one confirmation goes out. A
    stale form is a 409, a window not offered a 400, and after pickup nothing can be changed."""
    import re

    from django.utils import timezone

    from dispatch import clock
    from dispatch.models import CustomerMessage, Event
    from dispatch.services.orders import order_set_status

    ten = timezone.localtime(timezone.now()).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=1)
    clock.anchor(sim_at=ten, speed=0.0)
    van = VehicleFactory(fleet__hub=hub, code="TRK")
    order = OrderFactory(hub=hub, customer_email="ana@example.com", window_start=ten + timedelta(hours=2),
                         window_end=ten + timedelta(hours=4), service_level="next_day")
    other = OrderFactory(hub=hub)
    assignment_to_vehicle(order=order, vehicle=van, actor=SYSTEM)
    Order.objects.filter(pk=order.pk).update(eta=order.window_start + timedelta(minutes=20))  # the van's estimate
    order.refresh_from_db()
    url = f"/track/{order.tracking_token}/"
    customer = Client(enforce_csrf_checks=True)
    page = customer.get(url).content.decode()
    assert "data-eta" in page
    offered = re.findall(r'name="window" value="([^"]+)"', page)  # the first radio (keep) has no value
    starts = [datetime.fromisoformat(w) for w in offered]
    assert len(starts) == 6 and order.window_start not in starts and all(s >= ten for s in starts)
    token = customer.cookies["csrftoken"].value
    assert customer.post(url, {"window": offered[0], "version": order.version}).status_code == 403  # no CSRF token

    changed = customer.post(url, {"window": offered[1], "instructions": "Ring twice, side door", "version": order.version,
                                  "csrfmiddlewaretoken": token})
    body = changed.content.decode()
    assert changed.status_code == 200 and "We have sent you a confirmation" in body
    order.refresh_from_db()
    assert order.window_start == starts[1] and order.instructions == "Ring twice, side door"
    log = Event.objects.get(order=order, kind="order.updated")
    assert log.actor_type == "customer" and {"window_start", "window_end", "instructions"} <= set(log.data["changes"])
    assert Event.objects.filter(order=order, kind="order.status", data__to="planned").exists()  # taken off the van, placed again
    assert CustomerMessage.objects.filter(order=order, kind="updated").count() == 1
    assert order.eta is None and "data-eta" not in body  # the old van's time is not shown for the new window

    stale = customer.post(url, {"window": offered[2], "version": order.version - 1, "csrfmiddlewaretoken": token})
    assert stale.status_code == 409 and "changed while you were choosing" in stale.content.decode()
    made_up = customer.post(url, {"window": (ten + timedelta(hours=3, minutes=17)).isoformat(), "version": order.version,
                                  "csrfmiddlewaretoken": token})
    assert made_up.status_code == 400 and "not offered" in made_up.content.decode()
    long = customer.post(url, {"instructions": "x" * 501, "version": order.version, "csrfmiddlewaretoken": token})
    assert long.status_code == 400

    order.refresh_from_db()
    assignment_to_vehicle(order=order, vehicle=van, actor=SYSTEM)
    order_set_status(organization_id=order.organization_id, order_id=order.id, status="picked_up", actor=SYSTEM)
    order.refresh_from_db()
    after = customer.get(url).content.decode()
    assert 'id="track-change"' not in after
    refused = customer.post(url, {"instructions": "too late", "version": order.version, "csrfmiddlewaretoken": token})
    assert refused.status_code == 409 and "picked up" in refused.content.decode()
    other.refresh_from_db()
    assert other.instructions == "" and not Event.objects.filter(order=other, kind="order.updated").exists()


@pytest.mark.django_db
def test_the_page_is_the_shops_and_an_estimate_on_another_day_says_which_day(hub):
    from django.utils import timezone

    order = OrderFactory(hub=hub)
    tomorrow = timezone.localtime(timezone.now()).replace(hour=9, minute=30, second=0, microsecond=0) + timedelta(days=1)
    Order.objects.filter(pk=order.pk).update(status="assigned", eta=tomorrow, window_start=tomorrow - timedelta(hours=1),
                                             window_end=tomorrow + timedelta(hours=1))

    page = Client().get(f"/track/{order.tracking_token}/").content.decode()

    assert f'data-brand>{hub.organization.name}<' in page and "Control Tower" not in page
    assert f"{tomorrow:%a} {tomorrow.day} {tomorrow:%b}, 09:30" in page


@pytest.mark.django_db
def test_a_bad_tracking_link_gets_a_page_that_says_what_to_do(hub):
    response = Client().get("/track/not-a-real-token/")

    page = response.content.decode()
    assert response.status_code == 404
    assert "open it again from the e-mail or text message the shop sent you" in page
    assert "Control Tower" not in page and "The requested resource was not found" not in page
