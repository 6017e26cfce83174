"""Customer updates over real SMTP, to a local aiosmtpd server."""

import email
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from dispatch.models import CustomerMessage, MessageTemplate, Order
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.engine.messages import notify_eta
from dispatch.services.orders import order_set_status
from tests.conftest import free_port
from tests.factories import CarrierFactory, OrderFactory, VehicleFactory

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

    order.eta += timedelta(minutes=5)  # the route's estimate is saved, then the customer's side hears of it
    order.save(update_fields=["eta"])
    notify_eta(order=order, tolerance_min=15)
    order.eta += timedelta(minutes=30)
    order.save(update_fields=["eta"])
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

    from dispatch.engine.messages import message_send, notify

    message = notify(order=order, kind="booked", key="x")  # the in-process attempt fails quietly after commit
    message.refresh_from_db()
    assert message.status == "pending" and message.attempts == 1
    assert message_send(message_id=message.id) == "retry"
    message.refresh_from_db()
    assert message.status == "pending" and message.attempts == 2 and message.error


@pytest.fixture
def window(settings):
    """A 30-second change window on the product clock, which the tests move on by hand."""
    from dispatch import clock

    settings.CUSTOMER_MESSAGE_WINDOW_S = 30
    start = timezone.now().replace(microsecond=0)
    clock.anchor(sim_at=start, speed=0.0)

    def move_on(seconds):
        nonlocal start
        start += timedelta(seconds=seconds)
        clock.anchor(sim_at=start, speed=0.0)
        return start
    return move_on


def subjects_and_bodies(smtp):
    return [(email.message_from_string(c)["Subject"], email.message_from_string(c).get_payload()) for _, c in smtp.messages]


def test_what_happens_within_the_window_is_one_message_with_the_final_state(smtp, hub, org, window):
    """Assigned to a van, a new ETA, then booked with a carrier, all within the window: one e-mail,
    naming the carrier and the final estimate; nothing before the window ends."""
    from carriers.services import booking_record_confirmed
    from dispatch.engine.messages import messages_send_due

    carrier = CarrierFactory(organization=org, code="FOLD", name="Fold Couriers")
    now = window(0)
    order = OrderFactory(hub=hub, customer_email="fay@example.com", window_start=now + timedelta(hours=1),
                         window_end=now + timedelta(hours=4))
    assignment_to_vehicle(order=order, vehicle=VehicleFactory(fleet__hub=hub), actor=SYSTEM)
    order.refresh_from_db()
    order.eta = now + timedelta(hours=3)
    order.save(update_fields=["eta"])
    notify_eta(order=order, tolerance_min=15)
    window(10)
    booking_record_confirmed(order=order, carrier=carrier, external_id="F1", price=9, promised_at=now + timedelta(hours=2, minutes=7),
                             idempotency_key="fold-1", actor=SYSTEM)
    assert messages_send_due() == {} and smtp.messages == []  # the window is still open
    window(25)
    assert messages_send_due() == {"sent": 1}
    assert wait_for(lambda: len(smtp.messages) == 1)
    [(subject, body)] = subjects_and_bodies(smtp)
    order.refresh_from_db()
    assert subject == f"Your order {order.external_ref} is scheduled"
    assert "Fold Couriers" in body and timezone.localtime(order.eta).strftime("%H:%M") in body
    assert CustomerMessage.objects.filter(order=order, status="sent").count() == 1
    assert messages_send_due() == {}  # and never again


def test_a_waiting_message_that_would_contradict_is_not_sent(smtp, hub, org, window):
    """Told 12:00; the ETA slips 40 minutes, then comes back within the tolerance before the window
    ends: nothing is sent (the customer's last word still holds)."""
    from dispatch.engine.messages import messages_send_due

    now = window(0)
    order = OrderFactory(hub=hub, customer_email="gil@example.com", window_start=now, window_end=now + timedelta(hours=5))
    assignment_to_vehicle(order=order, vehicle=VehicleFactory(fleet__hub=hub), actor=SYSTEM)
    Order.objects.filter(pk=order.pk).update(eta=now + timedelta(hours=2))  # the route's estimate before the window ends
    window(31)
    assert messages_send_due() == {"sent": 1}
    told = CustomerMessage.objects.get(order=order, status="sent").eta
    assert told == now + timedelta(hours=2)  # the message states the estimate as it was when it went
    order.refresh_from_db()
    order.eta = told + timedelta(minutes=40)
    notify_eta(order=order, tolerance_min=15)
    order.eta = told + timedelta(minutes=5)
    order.save(update_fields=["eta"])
    window(31)
    assert messages_send_due() == {}
    skipped = CustomerMessage.objects.get(order=order, kind="new_eta")
    assert skipped.status == "skipped" and "back to what the customer was told" in skipped.error
    assert wait_for(lambda: len(smtp.messages) == 1) and len(smtp.messages) == 1


def test_the_customer_is_told_when_another_carrier_takes_the_delivery(smtp, hub, org):
    """An outage decision moves a booked order to another carrier at the same time: the customer
    hears who delivers it now (before, nothing was sent: the status stayed 'booked')."""
    from carriers.services import booking_record_confirmed

    first = CarrierFactory(organization=org, code="GONE", name="Gone Express")
    second = CarrierFactory(organization=org, code="NEXT", name="Next Day Riders")
    order = OrderFactory(hub=hub, customer_email="hal@example.com")
    promised = order.window_start + timedelta(minutes=30)
    booking_record_confirmed(order=order, carrier=first, external_id="G1", price=9, promised_at=promised, idempotency_key="g1", actor=SYSTEM)
    booking_record_confirmed(order=order, carrier=second, external_id="N1", price=9, promised_at=promised, idempotency_key="n1", actor=SYSTEM)
    order.refresh_from_db()
    assignment_to_vehicle(order=order, vehicle=VehicleFactory(fleet__hub=hub), actor=SYSTEM)
    assignment_to_vehicle(order=order, vehicle=VehicleFactory(fleet__hub=hub), actor=SYSTEM)  # van to van: not news
    assert wait_for(lambda: len(smtp.messages) == 3)
    bodies = [b for _, b in subjects_and_bodies(smtp)]
    assert "Gone Express" in bodies[0] and "Next Day Riders" in bodies[1] and "our own delivery team" in bodies[2]
    assert CustomerMessage.objects.filter(order=order).count() == 3


def test_customers_hear_once_when_the_van_is_a_few_stops_away(smtp, hub, org):
    """Four orders on board a van; its ping makes the route's ETAs recompute: the three whose stop
    is at most two deliveries away are told (how many stops, how far), once; the fourth is not."""
    from dispatch.services.positions import positions_ingest

    van = VehicleFactory(fleet__hub=hub, code="NEAR1", lat=hub.lat, lon=hub.lon)
    orders = [OrderFactory(hub=hub, customer_email=f"n{i}@example.com", lat=hub.lat + 0.01 * (i + 1), lon=hub.lon,
                           window_end=timezone.now() + timedelta(hours=6)) for i in range(4)]
    for o in orders:
        assignment_to_vehicle(order=o, vehicle=van, actor=SYSTEM)
        for status in ("picked_up", "out_for_delivery"):
            order_set_status(organization_id=org.id, order_id=o.id, status=status, actor=SYSTEM)
    assert wait_for(lambda: len(smtp.messages) == 8)  # scheduled and out for delivery, for each
    smtp.messages.clear()

    for _ in range(2):  # pinging again tells nobody twice
        positions_ingest(organization_id=org.id, pings=[{"vehicle": "NEAR1", "lat": hub.lat + 0.002, "lon": hub.lon,
                                                         "timestamp": timezone.now()}])
    assert wait_for(lambda: len(smtp.messages) == 3)
    time.sleep(0.5)
    told = sorted((rcpt[0], email.message_from_string(c).get_payload()) for rcpt, c in smtp.messages)
    assert [r for r, _ in told] == ["n0@example.com", "n1@example.com", "n2@example.com"]
    assert "you as the next stop" in told[0][1] and "2 stop(s) before yours" in told[2][1] and "km away" in told[1][1]
    assert CustomerMessage.objects.filter(kind="nearby").count() == 3


def test_a_long_piece_of_work_counts_its_window_from_when_it_began(smtp, hub, org, window):
    """A decision's bookings made one after another: the customer booked 40 s into applying it is
    told at once (the 30 s window counted from when applying began), the first one 30 s after
    the start, and a change outside any such work waits its own window."""
    from carriers.services import booking_record_confirmed
    from dispatch.engine.messages import messages_send_due, messages_window_from

    carrier = CarrierFactory(organization=org, code="LONG", name="Long Haul")
    start = window(0)
    orders = [OrderFactory(hub=hub, customer_email=f"w{i}@example.com", window_start=start + timedelta(hours=1),
                           window_end=start + timedelta(hours=4)) for i in range(3)]
    with messages_window_from(start):
        booking_record_confirmed(order=orders[0], carrier=carrier, external_id="L0", price=9, promised_at=start + timedelta(hours=2),
                                 idempotency_key="long-0", actor=SYSTEM)
        window(40)
        booking_record_confirmed(order=orders[1], carrier=carrier, external_id="L1", price=9, promised_at=start + timedelta(hours=2),
                                 idempotency_key="long-1", actor=SYSTEM)
    booking_record_confirmed(order=orders[2], carrier=carrier, external_id="L2", price=9, promised_at=start + timedelta(hours=2),
                             idempotency_key="long-2", actor=SYSTEM)

    due = {m.order_id: m.send_after for m in CustomerMessage.objects.filter(order__in=orders)}
    assert due[orders[0].id] == start + timedelta(seconds=30)
    assert due[orders[1].id] == start + timedelta(seconds=40)  # at once
    assert due[orders[2].id] == start + timedelta(seconds=70)  # its own window
    messages_send_due()
    sent = set(CustomerMessage.objects.filter(order__in=orders, status="sent").values_list("order_id", flat=True))
    assert sent == {orders[0].id, orders[1].id}  # the third still waits for its window


def test_an_estimate_is_told_once_it_has_held_and_never_twice_within_the_quiet_period(smtp, hub, org, window, settings):
    """Over an hour a van's estimate swings with every re-plan. The customer hears of a change only
    once it has held ten minutes, at most once in thirty, and what they hear is true when it goes:
    a swing that came back is not told, a delay that turned into a new time in the window is told as
    that time."""
    from dispatch.engine.messages import messages_send_due

    settings.ESTIMATE_SETTLE_S, settings.ESTIMATE_QUIET_S = 600, 1800
    now = window(0)
    order = OrderFactory(hub=hub, customer_email="ash@example.com", window_start=now, window_end=now + timedelta(hours=3))
    assignment_to_vehicle(order=order, vehicle=VehicleFactory(fleet__hub=hub), actor=SYSTEM)
    Order.objects.filter(pk=order.pk).update(eta=now + timedelta(hours=1))
    window(31)
    assert messages_send_due() == {"sent": 1}  # scheduled, expected in an hour
    told = now + timedelta(hours=1)

    def estimate(minutes_from_told):
        order.refresh_from_db()
        order.eta = told + timedelta(minutes=minutes_from_told)
        order.save(update_fields=["eta"])
        notify_eta(order=order, tolerance_min=15)

    estimate(40)                       # a re-plan pushes it 40 minutes...
    window(180)
    estimate(5)                        # ...and the next brings it back
    window(480)
    assert messages_send_due() == {}
    assert CustomerMessage.objects.get(order=order, kind="new_eta").status == "skipped"
    estimate(45)                       # pushed again, and this time it holds
    window(300)
    estimate(47)
    assert messages_send_due() == {}
    window(300)
    assert messages_send_due() == {"sent": 1}
    second_told = told + timedelta(minutes=47)
    estimate(3 * 60 + 20)              # past the window's end: late...
    window(900)
    assert messages_send_due() == {}   # ...but the customer was told of a new time 15 minutes ago
    estimate(80)                       # and by the time it may go, it is a new time in the window again
    window(900)
    assert messages_send_due() == {"sent": 1}

    sent = list(CustomerMessage.objects.filter(order=order, status="sent").order_by("sent_at").values_list("kind", "eta"))
    assert sent == [("booked", told), ("new_eta", second_told), ("new_eta", told + timedelta(minutes=80))]
    assert wait_for(lambda: len(smtp.messages) == 3)
