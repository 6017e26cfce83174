"""A Celery worker's pool process killed with SIGKILL in the middle of its work: the task is
redelivered (late acknowledgement, reject on worker lost) and its effect happens exactly once. Real
processes throughout: the worker on the real Redis broker, the carrier sandbox over HTTP, an SMTP
server, the test database."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import httpx
import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from carriers.models import CarrierBooking
from controltower.celery import app
from dispatch.models import CustomerMessage, Decision, Order, Policy
from dispatch.services import ActorRef
from tests.carriers.conftest import SandboxProcess, make_carrier
from tests.conftest import ROOT, child_env, free_port, process_log, stop_process
from tests.factories import HubFactory, OrderFactory, OrganizationFactory

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]
SYSTEM = ActorRef.system("tests")


@pytest.fixture
def worker_env(settings):
    return {**child_env(settings), "CELERY_TASK_ALWAYS_EAGER": "false"}


def start_worker(env: dict, queues: str = "default,planner"):
    """A prefork worker with one pool process: killing that process is a worker lost mid-task."""
    out = process_log("kill-worker")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "controltower", "worker", "-Q", queues, "--concurrency", "1",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
    )
    return proc, out


def pool_child(worker: subprocess.Popen, seconds: float = 30) -> int:
    """The pid of the worker's pool process (the one running tasks)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        children = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True).stdout.split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise AssertionError("the worker started no pool process")


@pytest.fixture
def broker_not_eager():
    was = app.conf.task_always_eager
    app.conf.update(task_always_eager=False)
    yield
    app.conf.update(task_always_eager=was)


def test_a_worker_killed_while_it_books_a_decisions_moves_finishes_it_after_redelivery(worker_env, broker_not_eager, tmp_path):
    """A carrier goes down with 5 orders booked; the worker proposes and, within policy, applies the
    move to the other carrier, booking each order over HTTP (slowly). Its pool process is killed
    after the first booking: the redelivered task finishes the same decision. Each order ends booked
    once with the other carrier, at the carrier too; nothing is lost or applied twice."""
    from carriers.services import booking_record_confirmed, carrier_set_health

    org = OrganizationFactory(slug="kill-org")
    hub = HubFactory(organization=org, code="HUB1", lat=41.88, lon=-87.63)
    zone = [{"lat": 41.88, "lon": -87.63, "radius_km": 40}]
    sandbox = SandboxProcess(tmp_path, [{"code": "ALT", "api_key": "key-alt", "dialect": "native", "zones": zone,
                                         "capacity_per_hour": 50, "reliability": 1.0, "lead_min": 1}]).start()
    worker = out = None
    try:
        down = make_carrier(org, code="GONE", adapter="manual")
        alt = make_carrier(org, code="ALT", base_url=sandbox.base, api_key="key-alt")
        Policy.objects.create(organization=org, auto_apply=True, max_cost_increase=100000, require_no_sla_worse=False,
                              carrier_timeout_s=10)
        start = timezone.now() + timedelta(hours=2)
        orders = [OrderFactory(hub=hub, external_ref=f"KILL-{i}", lat=41.88 + 0.01 * i, lon=-87.63, window_start=start,
                               window_end=start + timedelta(hours=4)) for i in range(5)]
        for o in orders:
            booking_record_confirmed(order=o, carrier=down, external_id=o.external_ref, price=9, promised_at=start,
                                     idempotency_key=f"gone-{o.id}", actor=SYSTEM)
        sandbox.faults("ALT", slow_ms=1500)  # each booking takes 1.5 s: the kill lands in the middle
        worker, out = start_worker(worker_env)
        child = pool_child(worker)

        carrier_set_health(carrier_id=down.id, health="down", reason="test outage", actor=SYSTEM)

        deadline = time.monotonic() + 60
        while not CarrierBooking.objects.filter(carrier=alt, status="confirmed").exists():
            assert time.monotonic() < deadline, "no booking with the other carrier"
            assert worker.poll() is None
            time.sleep(0.05)
        os.kill(child, signal.SIGKILL)
        deadline = time.monotonic() + 90
        while Order.objects.filter(organization=org, carrier=alt).count() < 5 or \
                Decision.objects.filter(organization=org, state="proposed").exists():
            assert time.monotonic() < deadline, (
                f"{Order.objects.filter(organization=org, carrier=alt).count()} of 5 moved; "
                f"{list(Decision.objects.filter(organization=org).values_list('state', flat=True))}")
            assert worker.poll() is None, "the worker itself died"
            time.sleep(0.2)
    finally:
        if worker is not None:
            stop_process(worker, out, 20)
        at_carrier = httpx.get(f"{sandbox.base}/_control/ALT/bookings").json()
        sandbox.stop()

    assert set(Order.objects.filter(organization=org).values_list("external_ref", flat=True)) == {o.external_ref for o in orders}
    for o in orders:
        assert CarrierBooking.objects.filter(order=o, carrier=alt, status="confirmed").count() == 1
    assert sorted(b["reference"] for b in at_carrier.values()) == sorted(o.external_ref for o in orders)  # one each, at the carrier
    applied = Decision.objects.filter(organization=org, state="applied")
    assert applied.count() == 1 and not Decision.objects.filter(organization=org, state="partially_applied").exists()
    assert all(m.get("applied") for m in applied.get().moves)


class KillingInbox:
    """An SMTP server that stores the message (the provider has accepted it) and then kills the
    pool process that is sending it, before that process hears the 250."""

    def __init__(self, worker):
        self.worker, self.messages, self.kills = worker, [], 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(envelope.content.decode())
            if self.kills == 0:
                self.kills += 1
                os.kill(pool_child(self.worker), signal.SIGKILL)
        return "250 OK"


def test_a_notification_worker_killed_after_the_provider_accepted_sends_it_once(worker_env, broker_not_eager, settings):
    org = OrganizationFactory()
    hub = HubFactory(organization=org)
    order = OrderFactory(hub=hub, customer_email="once@example.com")
    message = CustomerMessage.objects.create(organization=org, order=order, kind="booked", key="by:fleet:0", to="once@example.com",
                                             subject="Booked", body="On its way", send_after=timezone.now())
    port = free_port()
    env = {**worker_env, "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
           "EMAIL_PORT": str(port)}
    worker, out = start_worker(env, queues="default")
    inbox = KillingInbox(worker)
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        pool_child(worker)
        app.send_task("dispatch.tasks.send_customer_message", args=[message.id], queue="default")
        deadline = time.monotonic() + 60
        while CustomerMessage.objects.get(pk=message.id).status not in ("unconfirmed", "sent"):
            assert time.monotonic() < deadline, CustomerMessage.objects.get(pk=message.id).status
            assert worker.poll() is None, "the worker itself died"
            time.sleep(0.1)
    finally:
        stop_process(worker, out, 20)
        smtp.stop()
    message.refresh_from_db()
    assert inbox.kills == 1 and len(inbox.messages) == 1  # redelivered, and not sent again
    assert message.status == "unconfirmed" and "may have accepted it" in message.error
