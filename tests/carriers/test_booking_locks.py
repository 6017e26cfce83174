"""A carrier is never asked while the order's row is locked: the booking is reserved, the carrier
called with no transaction open, then recorded. Proven by another connection locking the order
(NOWAIT) from inside the carrier's call, for placement and for an approved decision."""

import threading
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.utils import timezone

from carriers.adapters.base import _REGISTRY, Adapter, BookingResult
from carriers.models import BookingStatus, CarrierBooking
from dispatch.engine.decisions import decision_approve
from dispatch.engine.placement import plan_new_orders
from dispatch.models import Decision, OrderException, Policy
from dispatch.services import ActorRef
from tests.factories import CarrierFactory, OrderFactory

pytestmark = pytest.mark.django_db(transaction=True)
SEEN: list[str] = []


def _lock_from_elsewhere(order_id: int) -> str:
    db = settings.DATABASES["default"]
    out = {}

    def run():
        with psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"],
                             password=db.get("PASSWORD") or None, autocommit=False) as conn:
            try:
                conn.execute("SELECT id FROM dispatch_order WHERE id = %s FOR UPDATE NOWAIT", [order_id])
                out["r"] = "free"
            except psycopg.errors.LockNotAvailable:
                out["r"] = "locked"
            conn.rollback()

    t = threading.Thread(target=run)
    t.start()
    t.join(10)
    return out.get("r", "timeout")


class ProbeAdapter(Adapter):
    name = "probe"

    def book(self, *, order, key, now):
        SEEN.append(_lock_from_elsewhere(order.pk))
        return BookingResult(external_id=f"P-{order.pk}", price=7.5, promised_at=order.window_start)


@pytest.fixture
def probe_carrier(org):
    _REGISTRY["probe"] = ProbeAdapter
    SEEN.clear()
    carrier = CarrierFactory(organization=org, code="PROBE")
    carrier.adapter = "probe"
    carrier.save(update_fields=["adapter"])
    yield carrier
    _REGISTRY.pop("probe", None)


def test_placement_books_with_no_lock_held(org, hub, probe_carrier):
    OrderFactory(hub=hub, external_ref="L-1")
    placed = plan_new_orders(organization_id=org.id)
    assert placed["carriers"] == 1 and SEEN == ["free"]
    assert CarrierBooking.objects.get().status == BookingStatus.CONFIRMED


def test_an_approved_decision_books_with_no_lock_held(org, hub, probe_carrier):
    Policy.objects.create(organization=org, auto_apply=False)
    now = timezone.now()
    o = OrderFactory(hub=hub, external_ref="L-2", window_start=now + timedelta(hours=1))
    exc = OrderException.objects.create(organization=org, kind="carrier_outage", cause_key="k", title="t", detected_at=now)
    exc.orders.add(o)
    d = Decision.objects.create(organization=org, exception=exc, moves=[{"order": "L-2", "to": {"kind": "carrier", "code": "PROBE"}}])
    decided = decision_approve(decision_id=d.id, version=d.version, actor=ActorRef.system("t"))
    assert decided.state == "applied" and SEEN == ["free"]
    o.refresh_from_db()
    assert o.status == "booked" and o.carrier_id == probe_carrier.id


def test_an_approval_that_stopped_half_way_is_finished_by_approving_again(org, hub, probe_carrier):
    """The first step committed (database moves applied, carrier moves pending) and the process died
    before booking: the dispatcher sees the new version, approves again, and each order is moved once."""
    from django.db import transaction

    from dispatch.engine.decisions import _apply_local, _locked
    from dispatch.models import Order
    from tests.factories import VehicleFactory

    Policy.objects.create(organization=org, auto_apply=False)
    now = timezone.now()
    VehicleFactory(fleet__hub=hub, code="HALF")
    a = OrderFactory(hub=hub, external_ref="H-A", window_start=now + timedelta(hours=1))
    b = OrderFactory(hub=hub, external_ref="H-B", window_start=now + timedelta(hours=1))
    exc = OrderException.objects.create(organization=org, kind="carrier_outage", cause_key="k2", title="t", detected_at=now)
    exc.orders.add(a, b)
    d = Decision.objects.create(organization=org, exception=exc, moves=[{"order": "H-A", "to": {"kind": "carrier", "code": "PROBE"}},
                                                                        {"order": "H-B", "to": {"kind": "van", "code": "HALF"}}])
    with transaction.atomic():
        decision, locked = _locked(d.id, d.version)
        _apply_local(decision, [(m, True) for m in decision.moves], {o.external_ref: o for o in locked}, ActorRef.system("t"))
    d.refresh_from_db()
    assert [bool(m.get("pending")) for m in d.moves] == [True, False] and d.state == "proposed"
    finished = decision_approve(decision_id=d.id, version=d.version, actor=ActorRef.system("t"))
    assert finished.state == "applied" and SEEN == ["free"]
    assert Order.objects.get(pk=a.pk).status == "booked" and Order.objects.get(pk=b.pk).vehicle.code == "HALF"
    assert b.assignments.count() == 1 and CarrierBooking.objects.filter(order=a).count() == 1


def test_the_outbox_sweep_finishes_an_approval_that_stopped_half_way(org, hub, probe_carrier):
    from django.db import transaction

    from dispatch import clock
    from dispatch.engine.decisions import _apply_local, _locked
    from dispatch.models import Order
    from dispatch.tasks import sweep_outbox

    Policy.objects.create(organization=org, auto_apply=False)
    now = timezone.now()
    a = OrderFactory(hub=hub, external_ref="S-A", window_start=now + timedelta(hours=1))
    exc = OrderException.objects.create(organization=org, kind="carrier_outage", cause_key="k3", title="t", detected_at=now)
    exc.orders.add(a)
    d = Decision.objects.create(organization=org, exception=exc, moves=[{"order": "S-A", "to": {"kind": "carrier", "code": "PROBE"}}])
    with transaction.atomic():
        decision, locked = _locked(d.id, d.version)
        _apply_local(decision, [(m, True) for m in decision.moves], {o.external_ref: o for o in locked}, ActorRef.system("t"))
    assert sweep_outbox()["decisions_resumed"] == 0  # too fresh: an approval may still be under way
    clock.anchor(sim_at=timezone.now() + timedelta(minutes=3), speed=1.0)
    assert sweep_outbox()["decisions_resumed"] == 1
    d.refresh_from_db()
    assert d.state == "applied" and d.decided_by == "outbox" and Order.objects.get(pk=a.pk).status == "booked"
    assert sweep_outbox()["decisions_resumed"] == 0
