"""Inbound carrier webhooks: the signature matrix, deduplication, concurrency, unknown codes."""

import json
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from carriers.models import CarrierAlert, WebhookReceipt
from carriers.services import booking_record_confirmed
from carriers.signing import sign
from dispatch.models import Event, Order
from dispatch.services import ActorRef
from dispatch.status import Role
from tests.factories import OrderFactory, UserFactory

from .conftest import make_carrier

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def booked(org, hub):
    carrier = make_carrier(org, code="FAST", secrets=("whsec-current", "whsec-previous"))
    order = OrderFactory(hub=hub, external_ref="ORD-1001")
    booking_record_confirmed(order=order, carrier=carrier, external_id="FAST-1", price=9, promised_at=order.window_start,
                             idempotency_key="wh-1", actor=ActorRef.system())
    return carrier, order


def webhook(status="COLLECTED", event_id="evt_1", ref="ORD-1001", code=None) -> bytes:
    return json.dumps({"id": event_id, "type": "booking.status", "created": int(time.time()),
                       "data": {"booking_id": "FAST-1", "reference": ref, "status": status, "exception_code": code,
                                "occurred_at": "2026-11-20T15:00:00-06:00"}}).encode()


def post(org, body: bytes, signature: str | None):
    headers = {"HTTP_WEBHOOK_SIGNATURE": signature} if signature is not None else {}
    return Client().post(f"/webhooks/carriers/{org.slug}/FAST/", data=body, content_type="application/json", **headers)


@pytest.mark.parametrize(
    "make_signature, status",
    [
        (lambda b: sign(b, "whsec-current"), 202),
        (lambda b: sign(b, "whsec-previous"), 202),  # the other secret during a rotation
        (lambda b: sign(b, "some-other-secret"), 401),
        (lambda b: sign(b[:-2] + b"x}", "whsec-current"), 401),  # signed a different body (one byte changed)
        (lambda b: None, 401),
        (lambda b: sign(b, "whsec-current", int(time.time()) - 330), 401),
        (lambda b: sign(b, "whsec-current", int(time.time()) + 330), 401),
        (lambda b: "t=abc,v1=00", 401),
        (lambda b: "v1=00", 401),
    ],
    ids=["valid", "rotated-secret", "wrong-secret", "one-byte-changed", "missing-header", "stale", "future", "bad-timestamp", "no-timestamp"],
)
def test_the_signature_matrix(org, booked, make_signature, status):
    body = webhook()

    response = post(org, body, make_signature(body))

    assert response.status_code == status, response.content
    assert response.json().get("message") or status == 202
    assert WebhookReceipt.objects.count() == (1 if status == 202 else 0)


def test_a_replayed_webhook_is_acknowledged_once_and_changes_nothing_more(org, booked):
    body = webhook()
    first = post(org, body, sign(body, "whsec-current"))
    again = post(org, body, sign(body, "whsec-current"))

    assert first.status_code == 202 and again.status_code == 200 and again.json()["duplicate"] is True
    assert WebhookReceipt.objects.count() == 1
    assert Event.objects.filter(kind="order.status", data__to="picked_up").count() == 1
    assert Order.objects.get(external_ref="ORD-1001").status == "picked_up"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", json.dumps({"no": "id"}).encode()])
def test_a_malformed_body_is_refused_and_nothing_stored(org, booked, body):
    response = post(org, body, sign(body, "whsec-current"))

    assert response.status_code == 400 and response.json()["message"]
    assert WebhookReceipt.objects.count() == 0


def test_the_raw_payload_is_kept_for_audit(org, booked):
    body = webhook(status="OUT_FOR_DELIVERY", event_id="evt_audit")

    post(org, body, sign(body, "whsec-current"))

    receipt = WebhookReceipt.objects.get(event_id="evt_audit")
    assert receipt.raw_body == body.decode() and receipt.status == "processed"
    assert receipt.headers["Webhook-Signature"].startswith("t=")


def test_concurrent_duplicate_webhooks_make_exactly_one_state_change(org, booked):
    body = webhook(status="OUT_FOR_DELIVERY", event_id="evt_race")
    barrier, codes = threading.Barrier(4), []

    def deliver():
        barrier.wait()
        codes.append(post(org, body, sign(body, "whsec-current")).status_code)
        connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(codes) == [200, 200, 200, 202]
    assert WebhookReceipt.objects.filter(event_id="evt_race").count() == 1
    assert Event.objects.filter(kind="order.status", data__to="out_for_delivery").count() == 1


def test_an_unknown_status_raises_an_alert_and_is_processed_once_mapped(org, booked):
    carrier, order = booked
    body = webhook(status="HELD_AT_DEPOT", event_id="evt_unknown")

    response = post(org, body, sign(body, "whsec-current"))

    assert response.status_code == 202
    alert = CarrierAlert.objects.get(carrier=carrier)
    assert "HELD_AT_DEPOT" in alert.message
    assert WebhookReceipt.objects.get(event_id="evt_unknown").status == "needs_mapping"

    # what the organization's admin does, on the product's own pages (the Django admin is the operators')
    admin, dispatcher = Client(), Client()
    admin.force_login(UserFactory(organization=org, role=Role.ADMIN))
    dispatcher.force_login(UserFactory(organization=org, role=Role.DISPATCHER))
    page = admin.get("/carriers/FAST/").content.decode()
    assert "1 webhook waits for a status or reason mapping" in page and "HELD_AT_DEPOT" in page
    assert 'action="/carriers/FAST/reprocess/"' in page
    assert 'action="/carriers/FAST/reprocess/"' not in dispatcher.get("/carriers/FAST/").content.decode()
    assert dispatcher.post("/carriers/FAST/reprocess/").status_code == 403
    carrier.config = {**carrier.config, "status_map": {"HELD_AT_DEPOT": "picked_up"}}
    carrier.save()  # (Settings → Network → the carrier's configuration)

    done = admin.post("/carriers/FAST/reprocess/")

    assert done.status_code == 302 and done.url == "/carriers/FAST/?reprocessed=1"
    assert WebhookReceipt.objects.get(event_id="evt_unknown").status == "processed"
    assert Order.objects.get(pk=order.pk).status == "picked_up"
    after = admin.get(done.url).content.decode()
    assert "1 webhook processed again" in after and "HELD_AT_DEPOT" not in after
