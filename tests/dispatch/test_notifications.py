"""Customer updates over real SMTP, to a local aiosmtpd server."""

import email
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from dispatch.models import CustomerMessage, MessageTemplate
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.services.notifications import notify_eta
from dispatch.services.orders import order_set_status
from tests.conftest import free_port
from tests.factories import OrderFactory, VehicleFactory

pytestmark = pytest.mark.django_db(transaction=True)
SYSTEM = ActorRef.system("tests")


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    # Django's test runner swaps in the in-memory backend; these tests use real SMTP.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    yield inbox
    controller.stop()


def wait_for(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return predicate()


def test_each_status_change_is_mailed_once(smtp, hub):
    van = VehicleFactory(fleet__hub=hub)
    order = OrderFactory(hub=hub, customer_email="pat@example.com")
    assignment_to_vehicle(order=order, vehicle=van, actor=SYSTEM)
    for status in ("picked_up", "out_for_delivery", "delivered"):
        order_set_status(organization_id=order.organization_id, order_id=order.id, status=status, actor=SYSTEM)

    assert wait_for(lambda: len(smtp.messages) == 3)
    subjects = [email.message_from_string(content)["Subject"] for _, content in smtp.messages]
    assert subjects == [f"Your order {order.external_ref} is scheduled", f"Your order {order.external_ref} is out for delivery",
                        f"Delivered: {order.external_ref}"]
    assert all(rcpt == ["pat@example.com"] for rcpt, _ in smtp.messages)
    assert CustomerMessage.objects.filter(order=order, status="sent").count() == 3


def test_a_small_eta_drift_is_not_told_and_a_large_one_is_once(smtp, hub, org):
    order = OrderFactory(hub=hub, customer_email="kim@example.com", window_end=timezone.now() + timedelta(hours=6))
    assignment_to_vehicle(order=order, vehicle=VehicleFactory(fleet__hub=hub), actor=SYSTEM)
    order.refresh_from_db()
    order.eta = timezone.now() + timedelta(hours=2)
    CustomerMessage.objects.filter(order=order).update(eta=order.eta)

    order.eta += timedelta(minutes=5)
    notify_eta(order=order, tolerance_min=15)
    order.eta += timedelta(minutes=30)
    notify_eta(order=order, tolerance_min=15)
    notify_eta(order=order, tolerance_min=15)

    assert CustomerMessage.objects.filter(order=order, kind="new_eta").count() == 1


def test_an_organizations_template_is_used(smtp, hub, org):
    MessageTemplate.objects.create(organization=org, kind="booked", subject="{{ ref }} is coming",
                                   body="Hi {{ name }}, see {{ tracking_url }}")
    order = OrderFactory(hub=hub, customer_email="lee@example.com", customer_name="Lee Park")

    assignment_to_vehicle(order=order, vehicle=VehicleFactory(fleet__hub=hub), actor=SYSTEM)

    assert wait_for(lambda: len(smtp.messages) == 1)
    content = smtp.messages[0][1]
    assert f"Subject: {order.external_ref} is coming" in content and "Hi Lee" in content and order.tracking_token in content


def test_an_smtp_failure_is_retried_not_lost(settings, hub):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    order = OrderFactory(hub=hub, customer_email="ro@example.com")

    from dispatch.services.notifications import message_send, notify

    message = notify(order=order, kind="booked", key="x")  # the in-process attempt fails quietly after commit
    message.refresh_from_db()
    assert message.status == "pending" and message.attempts == 1
    assert message_send(message_id=message.id) == "retry"
    message.refresh_from_db()
    assert message.status == "pending" and message.attempts == 2 and message.error
