"""Outbound calls never reach private, loopback or link-local addresses unless an operator allows
the network: the API refuses such subscriptions, and a delivery to one is refused without a
connection being made (so the delivery log cannot be used as a port scanner)."""

import pytest

from carriers.egress import UnsafeURL, check_url
from carriers.models import WebhookDelivery, WebhookSubscription
from dispatch.services import ActorRef
from dispatch.services.orders import order_cancel
from tests.integrations.test_webhooks import Receiver
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

PRIVATE = [
    "http://127.0.0.1:5432/",
    "http://localhost:6379/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.8/hook",
    "http://192.168.1.1/",
    "http://[::1]:8000/",
    "http://[::ffff:127.0.0.1]/",
    "http://0.0.0.0:8000/",
    "http://2130706433/",  # 127.0.0.1 as one number
]


@pytest.fixture
def no_allow_list(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []


@pytest.mark.parametrize("url", PRIVATE)
def test_a_subscription_to_a_private_address_is_refused_with_the_reason(api, no_allow_list, url):
    response = api.post("/api/webhook-subscriptions/", {"url": url, "secret": "x" * 20}, format="json")

    assert response.status_code == 400, response.content
    reason = " ".join(response.json()["error"]["fields"]["url"])
    assert "OUTBOUND_ALLOWED_NETWORKS" in reason or "valid URL" in reason
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http://user:pw@example.com/"])
def test_only_plain_http_urls_without_credentials_are_accepted(no_allow_list, url):
    with pytest.raises(UnsafeURL):
        check_url(url)


def test_a_public_address_is_allowed(no_allow_list):
    check_url("http://93.184.215.14/hook")


def test_an_operator_can_allow_an_internal_network(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.1.2.0/24"]

    check_url("http://10.1.2.3/hook")
    with pytest.raises(UnsafeURL):
        check_url("http://10.1.3.3/hook")


@pytest.mark.django_db(transaction=True)
def test_a_delivery_to_an_address_that_became_private_is_refused_without_connecting(org, hub, settings):
    receiver = Receiver("sub-secret")
    try:
        WebhookSubscription.objects.create(organization=org, url=receiver.url, secret="sub-secret")
        settings.OUTBOUND_ALLOWED_NETWORKS = []  # e.g. the operator withdrew the allowance

        order_cancel(organization_id=org.id, order_id=OrderFactory(hub=hub).id, actor=ActorRef.system("tests"))

        delivery = WebhookDelivery.objects.get()
        attempt = delivery.attempt_log.get()
        assert receiver.received == []
        assert delivery.status == "failed"
        assert attempt.status_code is None and attempt.error.startswith("Refused:")
    finally:
        receiver.close()


@pytest.mark.django_db(transaction=True)
def test_a_subscriber_that_answers_with_a_redirect_is_not_followed(org, hub):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits = []

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            hits.append(self.path)
            self.send_response(307)
            self.send_header("Location", "http://169.254.169.254/latest/")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        WebhookSubscription.objects.create(organization=org, url=f"http://127.0.0.1:{server.server_address[1]}/h", secret="s" * 16)
        order_cancel(organization_id=org.id, order_id=OrderFactory(hub=hub).id, actor=ActorRef.system("tests"))

        delivery = WebhookDelivery.objects.get()
        assert hits == ["/h"]
        assert delivery.status == "pending"
        assert delivery.attempt_log.get().status_code == 307
    finally:
        server.shutdown()
