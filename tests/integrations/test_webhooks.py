"""Outbound webhooks for integrators, to a real local HTTP receiver."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from carriers.models import WebhookDelivery, WebhookSubscription
from integrations.webhooks import redeliver
from carriers.signing import verify
from dispatch.services import ActorRef
from dispatch.services.orders import order_cancel
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    def __init__(self, secret: str):
        self.secret, self.fail, self.received = secret, False, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail:
                    self.send_response(503)
                else:
                    verify(body, self.headers.get("Webhook-Signature"), [receiver.secret])
                    receiver.received.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver("sub-secret")
    yield r
    r.close()


def test_our_events_reach_subscribers_signed(receiver, org, hub):
    WebhookSubscription.objects.create(organization=org, url=receiver.url, secret="sub-secret", event_types=["order.status"])
    order = OrderFactory(hub=hub)

    order_cancel(organization_id=org.id, order_id=order.id, actor=ActorRef.system("tests"))

    assert [e["type"] for e in receiver.received] == ["order.status"]
    assert receiver.received[0]["data"] == {"order": order.external_ref, "from": "created", "to": "cancelled", "eta": None}
    assert WebhookDelivery.objects.get().status == "delivered"


def test_a_failing_subscriber_is_retried_with_every_attempt_logged_and_can_be_redelivered_by_hand(receiver, org, hub):
    WebhookSubscription.objects.create(organization=org, url=receiver.url, secret="sub-secret")
    receiver.fail = True
    order = OrderFactory(hub=hub)

    order_cancel(organization_id=org.id, order_id=order.id, actor=ActorRef.system("tests"))

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.next_attempt_at is not None
    assert list(delivery.attempt_log.values_list("status_code", flat=True)) == [503]

    receiver.fail = False
    assert redeliver(delivery_id=delivery.id) == "delivered"
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert [a.manual for a in delivery.attempt_log.order_by("id")] == [False, True]
    assert receiver.received[0]["id"] == delivery.event_id


def test_subscriptions_only_get_the_event_types_they_asked_for(receiver, org, hub):
    WebhookSubscription.objects.create(organization=org, url=receiver.url, secret="sub-secret", event_types=["decision.applied"])

    order_cancel(organization_id=org.id, order_id=OrderFactory(hub=hub).id, actor=ActorRef.system("tests"))

    assert receiver.received == [] and not WebhookDelivery.objects.exists()


def test_integrators_manage_subscriptions_and_redeliver_through_the_api(receiver, api, org, hub, other_org):
    bad = api.post("/api/webhook-subscriptions/", {"url": "not a url", "secret": "short"}, format="json")
    created = api.post("/api/webhook-subscriptions/", {"url": receiver.url, "secret": "sub-secret-long-enough"}, format="json")
    receiver.secret = "sub-secret-long-enough"
    order_cancel(organization_id=org.id, order_id=OrderFactory(hub=hub).id, actor=ActorRef.system("tests"))
    log = api.get("/api/webhook-deliveries/").json()["results"]
    again = api.post(f"/api/webhook-deliveries/{log[0]['id']}/redeliver/")
    theirs = WebhookDelivery.objects.create(
        subscription=WebhookSubscription.objects.create(organization=other_org, url=receiver.url, secret="x" * 16),
        event_id="e", event_type="order.status", payload={})

    assert bad.status_code == 400 and {"url", "secret"} <= set(bad.json()["error"]["fields"])
    assert created.status_code == 201 and "secret" not in created.json()
    assert log[0]["status"] == "delivered" and len(log[0]["attempt_log"]) == 1
    assert again.status_code == 200 and len(again.json()["attempt_log"]) == 2
    assert api.post(f"/api/webhook-deliveries/{theirs.id}/redeliver/").status_code == 404


def test_integrators_hear_once_when_the_van_heads_for_an_order_from_its_pings(receiver, api, org, hub):
    from django.utils import timezone

    from dispatch.services.assignments import assignment_to_vehicle
    from dispatch.services.orders import order_set_status
    from tests.factories import VehicleFactory

    WebhookSubscription.objects.create(organization=org, url=receiver.url, secret="sub-secret", event_types=["order.arriving"])
    van = VehicleFactory(fleet__hub=hub, code="VAN1", lat=hub.lat, lon=hub.lon)
    first, second = OrderFactory(hub=hub, external_ref="NEXT-1", lat=41.90, lon=-87.64), OrderFactory(hub=hub, external_ref="NEXT-2")
    for order in (first, second):
        assignment_to_vehicle(order=order, vehicle=van, actor=ActorRef.system("tests"))
        order_set_status(organization_id=org.id, order_id=order.id, status="picked_up", actor=ActorRef.system("tests"))

    for minutes in (2, 1):  # two pings on the way: the ETAs are recomputed from each
        at = (timezone.now() - timezone.timedelta(minutes=minutes)).isoformat()
        r = api.post("/api/vehicle-positions/", {"pings": [{"vehicle": "VAN1", "lat": 41.89, "lon": -87.635, "timestamp": at}]},
                     format="json")
        assert r.status_code in (200, 202), r.content

    arriving = [e for e in receiver.received if e["type"] == "order.arriving"]
    assert [e["data"]["order"] for e in arriving] == ["NEXT-1"]  # the van's next stop, once
