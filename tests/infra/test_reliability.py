"""Tasks survive their workers and never do their effect twice; what cannot be done is kept
where people see it."""

import os
import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import timezone

from infra import jobs, redis_client
from controltower.celery import app
from infra.models import DeadLetter
from dispatch.models import CustomerMessage
from dispatch.status import Role
from tests.conftest import start_worker, stop_process
from tests.factories import (
    OrderFactory,
    OrganizationFactory,
    UserFactory,
    VehicleFactory,
)


def test_celery_runs_with_late_acks_reject_on_loss_prefetch_1_and_bounded_countdowns():
    from infra.reliable_tasks import MAX_COUNTDOWN_S

    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    longest = max([settings.CELERY_TASK_TIME_LIMIT] + [t.time_limit or 0 for t in app.tasks.values()])
    assert visibility > longest
    assert MAX_COUNTDOWN_S < visibility
    for task in app.tasks.values():
        assert (getattr(task, "retry_backoff_max", 0) or 0) <= MAX_COUNTDOWN_S, task.name


def test_redis_runs_with_noeviction():
    import redis

    assert redis.Redis.from_url(settings.REDIS_URL).config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_a_task_that_kills_every_worker_it_reaches_ends_in_the_dead_letter_table(settings):
    org = OrganizationFactory()
    proc, out = start_worker(settings, "poison-worker", queues="default", extra=("--concurrency", "1", "--include", "tests.poison_tasks"))
    try:
        app.send_task("tests.poison_tasks.poison", args=[org.id], queue="default")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not DeadLetter.objects.filter(task_name="tests.poison_tasks.poison").exists():
            assert proc.poll() is None, "the worker itself died"
            time.sleep(0.3)
        letter = DeadLetter.objects.get(task_name="tests.poison_tasks.poison")
        assert letter.reason == "redelivery_cap" and letter.deliveries == 6
        assert letter.organization_id == org.id and letter.args == [org.id]
    finally:
        stop_process(proc, out, 20)


@pytest.mark.django_db
def test_dead_letters_are_shown_to_their_organizations_dispatchers_and_admins_only():
    org, other = OrganizationFactory(), OrganizationFactory()
    DeadLetter.objects.create(organization=org, task_name="dispatch.tasks.propose_decision", task_id="a", args=[1],
                              reason="failed", error="ValueError: boom")
    DeadLetter.objects.create(organization=other, task_name="dispatch.tasks.propose_decision", task_id="b", args=[2],
                              reason="failed", error="KeyError: theirs")
    pages = {}
    for role in (Role.DISPATCHER, Role.ADMIN, Role.OPS_MANAGER):
        client = Client()
        client.force_login(UserFactory(organization=org, role=role))
        pages[role] = client.get("/dead-letters/")

    assert pages[Role.DISPATCHER].status_code == 200 and b"boom" in pages[Role.DISPATCHER].content
    assert b"theirs" not in pages[Role.DISPATCHER].content
    assert pages[Role.ADMIN].status_code == 200
    assert pages[Role.OPS_MANAGER].status_code == 403


@pytest.mark.django_db
def test_a_dead_letter_can_be_retried_and_runs_again(org, hub):
    from dispatch.services import ActorRef
    from dispatch.services.orders import order_cancel

    order = OrderFactory(hub=hub)
    letter = DeadLetter.objects.create(organization=org, task_name="dispatch.tasks.detect_order_failure", task_id="c",
                                       args=[order.id], reason="failed", error="boom")
    client = Client()
    client.force_login(UserFactory(organization=org))

    response = client.post("/dead-letters/", {"id": letter.id, "action": "retry"})

    assert response.status_code == 200 and b"queued again" in response.content
    letter.refresh_from_db()
    assert letter.retried_at is not None
    order_cancel(organization_id=org.id, order_id=order.id, actor=ActorRef.system("t"))



def test_a_dead_letter_of_a_task_this_version_no_longer_has_is_refused_with_what_to_do(org):
    letter = DeadLetter.objects.create(organization=org, task_name="carriers.tasks.deliver_webhook", task_id="gone",
                                       args=[1], reason="failed", error="boom")
    client = Client()
    client.force_login(UserFactory(organization=org))

    response = client.post("/dead-letters/", {"id": letter.id, "action": "retry"})

    assert response.status_code == 409 and b"not a task of this version" in response.content
    letter.refresh_from_db()
    assert letter.retried_at is None

@pytest.mark.django_db(transaction=True)
def test_a_notification_whose_worker_died_after_the_provider_accepted_it_is_never_sent_twice(org, hub, monkeypatch, settings):
    from django.core.mail import EmailMessage

    from dispatch.tasks import send_customer_message

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    order = OrderFactory(hub=hub, customer_email="c@example.com")
    message = CustomerMessage.objects.create(organization=org, order=order, kind="booked", key="k", to="c@example.com",
                                             subject="Booked", body="On its way")
    original = EmailMessage.send

    def accepted_then_killed(self, *a, **kw):
        original(self, *a, **kw)
        raise SystemExit("SIGKILL")  # the process ends here: nothing after this line runs

    monkeypatch.setattr(EmailMessage, "send", accepted_then_killed)
    with pytest.raises(SystemExit):
        send_customer_message.run(message.id)
    monkeypatch.setattr(EmailMessage, "send", original)

    again = send_customer_message.run(message.id)  # the broker delivers the task again
    third = send_customer_message.run(message.id)

    assert len(mail.outbox) == 1
    assert again == "unconfirmed" and third == "unconfirmed"
    message.refresh_from_db()
    assert message.status == "unconfirmed"


@pytest.mark.django_db(transaction=True)
def test_pings_update_etas_off_the_request_and_the_van_records_what_they_are_based_on(org, hub):
    from dispatch.services import ActorRef
    from dispatch.services.assignments import assignment_to_vehicle
    from dispatch.services.positions import positions_ingest

    van = VehicleFactory(fleet__hub=hub, code="ETA1", position_at=timezone.now() - timedelta(hours=1))
    order = OrderFactory(hub=hub, lat=hub.lat + 0.05, lon=hub.lon)
    assignment_to_vehicle(order=order, vehicle=van, actor=ActorRef.system("t"))
    at = timezone.now().replace(microsecond=0)

    positions_ingest(organization_id=org.id, pings=[{"vehicle": "ETA1", "lat": hub.lat + 0.04, "lon": hub.lon, "timestamp": at}])

    van.refresh_from_db()
    order.refresh_from_db()
    assert van.etas_at == at
    assert order.eta is not None and order.eta >= at


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_customer_messages_are_not_held_up_behind_a_backlog_of_bulk_carrier_work(settings):
    """After a decision moves many orders, the old carrier is told of each cancellation (bulk work
    at a lower priority): a customer's message enqueued after 80 of those is sent before them, and
    the queue age the metrics report counts the bulk tasks waiting."""
    from carriers.models import BookingStatus, CarrierBooking
    from infra.metrics import queue_ages
    from tests.factories import CarrierFactory

    org = OrganizationFactory()
    order = OrderFactory(organization=org, customer_email="first@example.com")
    carrier = CarrierFactory(organization=org)
    booking = CarrierBooking.objects.create(organization=org, carrier=carrier, order=order, idempotency_key="bulk-1",
                                            status=BookingStatus.CANCELLED)  # no carrier id: its cancellation is quick
    CustomerMessage.objects.create(organization=org, order=order, kind="booked", key="k", channel="email", to=order.customer_email,
                                   subject="s", body="b", send_after=timezone.now() - timedelta(seconds=1))
    cancel, send = jobs.task("carriers.tasks.cancel_with_carrier"), jobs.task("dispatch.tasks.send_due_messages")
    # queues of this test's own on the shared Redis: only its worker reads them, and nothing an
    # earlier test left in the process's queues runs before or among its tasks
    own = f"ct-test-{uuid.uuid4().hex[:12]}:"
    options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": own}
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = options  # what queue_ages reads
    eager, app.conf.task_always_eager = app.conf.task_always_eager, False  # to the broker, as a worker gets them
    try:
        with app.connection_for_write(transport_options=options) as connection:
            for _ in range(80):
                cancel.apply_async(args=[booking.id], connection=connection)
            send.apply_async(connection=connection)
    finally:
        app.conf.task_always_eager = eager
    time.sleep(1.1)
    assert queue_ages()["default"] >= 1.0
    def worker():
        return start_worker(settings, "priority-worker", queues="default", loglevel="INFO", extra=("--concurrency", "1"),
                            env_extra={"CELERY_BROKER_PREFIX": own})

    def said(out) -> str:
        with open(out.name, errors="replace") as f:
            return f.read()

    def broker() -> str:
        """What Redis holds under the test's prefix, and who is blocked reading it: shown when the
        test fails, to tell a worker that reads nothing from tasks that are no longer there."""
        client = redis_client.client()
        lists = {key.decode(errors="replace"): client.llen(key) for key in client.keys(own + "*") if client.type(key) == b"list"}
        readers = [line for line in client.execute_command("CLIENT", "LIST").decode(errors="replace").splitlines() if "cmd=brpop" in line]
        return f"lists: {lists}\nclients in BRPOP: {len(readers)}"

    def finished(out) -> int:
        return said(out).count("succeeded")

    print("--- before the worker ---\n" + broker())
    # Seen in 3 of about 10 runs of the whole suite on both cores: a worker that reports itself
    # ready and then takes nothing from the queue, the tasks still waiting. Cause not found yet
    # (#24's note); such a worker is replaced once, and it is said when it happens.
    logs, (proc, out) = [], worker()
    try:
        started, replaced = time.monotonic(), False
        deadline = started + 180  # a worker on a machine busy with other tests takes longer; it ends when done
        while time.monotonic() < deadline and finished(out) < 81:  # every task's result, not an empty queue: the last ones run after it
            assert proc.poll() is None, "the worker died"
            if not replaced and time.monotonic() - started > 45 and "received" not in said(out):
                print("--- the first worker took nothing in 45 s; replaced ---\n" + broker())
                stop_process(proc, out, 20)
                logs.append(said(out))
                os.unlink(out.name)
                proc, out = worker()
                replaced = True
            time.sleep(0.2)
        print("--- after the worker ---\n" + broker())
    finally:
        stop_process(proc, out, 20)
    logs.append(said(out))
    log = logs[-1]
    print("--- the worker's log, last part ---\n" + "\n---\n".join(text[-3000:] for text in logs))  # shown when the test failed
    os.unlink(out.name)
    done = [line for line in log.splitlines() if "succeeded" in line]
    order_of_work = [("send" if "send_due_messages" in line else "cancel") for line in done]
    assert "send" in order_of_work and order_of_work.count("cancel") == 80, order_of_work
    assert order_of_work.index("send") < 10, order_of_work  # at most the few taken before it arrived in the worker


@pytest.mark.django_db
def test_a_moving_van_has_its_etas_recomputed_once_per_refresh_and_its_last_ping_is_not_forgotten(
        org, hub, django_capture_on_commit_callbacks):
    """With workers, a van pinging every 5 s has its ETAs recomputed at most every ETA_REFRESH_S of
    position time; a ping inside that is left for a run scheduled when it is due, and a van with no
    open stop only has its mark moved."""
    from dispatch.services import ActorRef
    from dispatch.services.assignments import assignment_to_vehicle
    from dispatch.services.routes import routes_recompute_pending

    refresh = timedelta(seconds=30)
    start = timezone.now().replace(microsecond=0)
    van = VehicleFactory(fleet__hub=hub, code="ETA2", lat=hub.lat + 0.04, lon=hub.lon, position_at=start, etas_at=None)
    idle = VehicleFactory(fleet__hub=hub, code="IDLE", lat=hub.lat, lon=hub.lon, position_at=start, etas_at=None)
    assignment_to_vehicle(order=OrderFactory(hub=hub, lat=hub.lat + 0.05, lon=hub.lon), vehicle=van, actor=ActorRef.system("t"))

    def ping(vehicle, seconds):
        type(vehicle).objects.filter(pk=vehicle.pk).update(position_at=start + timedelta(seconds=seconds))

    with django_capture_on_commit_callbacks() as scheduled:
        assert routes_recompute_pending(organization_id=org.id, refresh=refresh) == 2  # first: both
    assert not scheduled
    ping(van, 10)
    ping(idle, 10)
    with django_capture_on_commit_callbacks() as scheduled:
        routes_recompute_pending(organization_id=org.id, refresh=refresh)
    van.refresh_from_db()
    idle.refresh_from_db()
    assert van.etas_at == start  # 10 s of movement: not recomputed yet ...
    assert len(scheduled) == 1  # ... but a run is asked for when it is due
    assert idle.etas_at == start + timedelta(seconds=10)
    ping(van, 30)
    with django_capture_on_commit_callbacks() as scheduled:
        assert routes_recompute_pending(organization_id=org.id, refresh=refresh) == 1
    van.refresh_from_db()
    assert van.etas_at == start + timedelta(seconds=30) and not scheduled
