"""A large approval from the screen: the carrier bookings are made by a task, the dispatcher gets an
answer at once and the status line follows the bookings until the decision is applied."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.engine import decisions
from dispatch.models import Decision, OrderException, Policy
from tests.factories import CarrierFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

N = 12


def test_a_large_approval_answers_at_once_and_its_status_follows_the_bookings(org, hub, client, monkeypatch,
                                                                               django_capture_on_commit_callbacks):
    monkeypatch.setattr(decisions, "BOOKING_THREADS", 4)  # more bookings than one round of threads: booked by a task
    Policy.objects.create(organization=org, auto_apply=False)
    CarrierFactory(organization=org, code="SPARE")
    now = timezone.now()
    exc = OrderException.objects.create(organization=org, kind="carrier_outage", cause_key="k", title="t", detected_at=now)
    for i in range(N):
        exc.orders.add(OrderFactory(hub=hub, external_ref=f"B-{i:02d}", window_start=now + timedelta(hours=1)))
    d = Decision.objects.create(organization=org, exception=exc,
                                moves=[{"order": f"B-{i:02d}", "to": {"kind": "carrier", "code": "SPARE"}} for i in range(N)])
    user = UserFactory(organization=org, role="dispatcher")
    client.force_login(user)
    progress = f"/live/decisions/{d.id}/progress/"

    with django_capture_on_commit_callbacks(execute=False) as after_commit:  # the worker has not started on it yet
        answer = client.post(f"/live/decisions/{d.id}/approve/", {"version": d.version})
    assert answer.status_code == 200
    assert f"Decision {d.id} is being applied: 0 of {N} carrier bookings made" in answer.text
    assert f'hx-get="{progress}" hx-trigger="every 1s"' in answer.text  # the status line asks again
    assert "being applied: 12 carrier bookings to make" in answer.text and 'class="approve"' not in answer.text
    again = client.post(f"/live/decisions/{d.id}/approve/", {"version": d.version})
    assert again.status_code == 409 and "Someone is applying this decision right now" in again.text
    assert 'hx-trigger="every 1s"' in client.get(progress).text

    for callback in after_commit:  # the enqueue after commit: the task runs (in-process here)
        callback()

    done = client.get(progress)
    assert done.status_code == 200 and f"Decision {d.id} applied: {N} orders moved." in done.text
    assert "hx-trigger" not in done.text  # finished: it stops asking
    d.refresh_from_db()
    assert (d.state, d.decided_by) == ("applied", user.username)
    assert decisions.decision_finish(decision_id=d.id, actor=decisions.ActorRef.system("t")) is None  # redelivered: nothing to do


def test_a_small_approval_is_applied_within_the_request(org, hub, client):
    Policy.objects.create(organization=org, auto_apply=False)
    CarrierFactory(organization=org, code="SPARE")
    now = timezone.now()
    exc = OrderException.objects.create(organization=org, kind="carrier_outage", cause_key="k", title="t", detected_at=now)
    exc.orders.add(OrderFactory(hub=hub, external_ref="S-1", window_start=now + timedelta(hours=1)))
    d = Decision.objects.create(organization=org, exception=exc, moves=[{"order": "S-1", "to": {"kind": "carrier", "code": "SPARE"}}])
    client.force_login(UserFactory(organization=org, role="dispatcher"))

    answer = client.post(f"/live/decisions/{d.id}/approve/", {"version": d.version})

    assert f"Decision {d.id} applied: 1 order moved." in answer.text and "hx-trigger" not in answer.text.split("</div>")[0]
