"""The carrier sandbox as a real process over real HTTP."""

import time

import httpx
import pytest
from django.utils import timezone

from carriers.adapters import CarrierError, adapter_for
from carriers.booking import book_order
from carriers.http import CircuitOpen, circuit_reset
from carriers.models import CarrierCall
from carriers.tasks import check_carrier_health
from dispatch.models import Order, OrderException, Policy
from dispatch.services import ActorRef
from tests.factories import CarrierFactory, OrderFactory

from .conftest import make_carrier

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]
SYSTEM = ActorRef.system("tests")


def sandbox_carriers(webhook_base: str = "", org_slug: str = "") -> list[dict]:
    url = (lambda code: f"{webhook_base}/webhooks/carriers/{org_slug}/{code}/") if webhook_base else (lambda code: "")
    zone = [{"lat": 41.88, "lon": -87.63, "radius_km": 40}]
    return [
        {"code": "SBX", "api_key": "key-sbx", "dialect": "native", "webhook_url": url("SBX"), "webhook_secret": "whsec-current",
         "zones": zone, "capacity_per_hour": 50, "reliability": 1.0, "lead_min": 1},
        {"code": "OLD", "api_key": "key-old", "dialect": "legacy", "webhook_url": url("OLD"), "webhook_secret": "whsec-current",
         "zones": zone, "capacity_per_hour": 50, "reliability": 1.0, "lead_min": 1},
    ]


@pytest.fixture(autouse=True)
def _fresh_breakers():
    yield
    from carriers.models import Carrier

    for c in Carrier.objects.all():
        circuit_reset(c)


def test_booking_through_both_dialects_is_idempotent_on_its_key(sandbox_factory, org, hub):
    sb = sandbox_factory(sandbox_carriers())
    native = make_carrier(org, code="SBX", base_url=sb.base, api_key="key-sbx")
    legacy = make_carrier(org, code="OLD", adapter="generic", base_url=sb.base, api_key="key-old")
    a, b = OrderFactory(hub=hub), OrderFactory(hub=hub)

    first = book_order(order=a, carrier_code="SBX", actor=SYSTEM, key="k-a")
    # our retry after a lost answer: the carrier recognises the key and returns the same booking
    again = adapter_for(native).book(order=Order.objects.get(pk=a.pk), key="k-a", now=timezone.now())
    via_generic = book_order(order=b, carrier_code="OLD", actor=SYSTEM, key="k-b")

    assert again.external_id == first.external_id
    assert via_generic.external_id.startswith("OLD-") and via_generic.price > 0
    assert httpx.get(f"{sb.base}/_control/SBX/bookings").json()[first.external_id]["reference"] == a.external_ref
    assert Order.objects.get(pk=b.pk).carrier == legacy and native.health == "up"


def test_rejections_and_capacity_are_the_carriers_answers_and_errors_open_the_circuit(sandbox_factory, org, hub):
    sb = sandbox_factory(sandbox_carriers())
    carrier = make_carrier(org, code="SBX", base_url=sb.base, api_key="key-sbx")

    sb.faults("SBX", reject=True)
    with pytest.raises(CarrierError, match="rejected"):
        book_order(order=OrderFactory(hub=hub), carrier_code="SBX", actor=SYSTEM, key="r-1")
    sb.faults("SBX", reject=False, capacity_exhausted=True)
    with pytest.raises(CarrierError, match="capacity_exhausted"):
        book_order(order=OrderFactory(hub=hub), carrier_code="SBX", actor=SYSTEM, key="r-2")
    assert CarrierCall.objects.filter(carrier=carrier, rejected=True).count() == 2

    sb.faults("SBX", capacity_exhausted=False, error_rate=1.0)
    with pytest.raises(CarrierError):
        book_order(order=OrderFactory(hub=hub), carrier_code="SBX", actor=SYSTEM, key="r-3")
    with pytest.raises(CarrierError):
        book_order(order=OrderFactory(hub=hub), carrier_code="SBX", actor=SYSTEM, key="r-4")
    started = time.monotonic()
    with pytest.raises(CircuitOpen):
        book_order(order=OrderFactory(hub=hub), carrier_code="SBX", actor=SYSTEM, key="r-5")
    assert time.monotonic() - started < 0.5  # an open circuit answers at once
    carrier.refresh_from_db()
    assert carrier.health == "down"


def test_a_slow_carrier_times_out_instead_of_stalling(sandbox_factory, org, hub, monkeypatch):
    """The organization's carrier timeout (an admin setting) bounds the call."""
    import carriers.http as carrier_http
    from dispatch.models import Policy

    Policy.objects.create(organization=org, carrier_timeout_s=0.5)
    monkeypatch.setattr(carrier_http, "RETRIES", 0)
    sb = sandbox_factory(sandbox_carriers())
    make_carrier(org, code="SBX", base_url=sb.base, api_key="key-sbx")
    sb.faults("SBX", slow_ms=3000)

    started = time.monotonic()
    with pytest.raises(CarrierError, match="Timeout"):
        book_order(order=OrderFactory(hub=hub), carrier_code="SBX", actor=SYSTEM, key="s-1")
    assert time.monotonic() - started < 2


def test_signed_webhooks_from_the_sandbox_carry_orders_to_delivered(sandbox_factory, daphne_server, org, hub):
    sb = sandbox_factory(sandbox_carriers(daphne_server, org.slug), speed=3600)
    make_carrier(org, code="SBX", base_url=sb.base, api_key="key-sbx")
    make_carrier(org, code="OLD", adapter="generic", base_url=sb.base, api_key="key-old")
    native, legacy = OrderFactory(hub=hub), OrderFactory(hub=hub)
    book_order(order=native, carrier_code="SBX", actor=SYSTEM, key="w-1")
    book_order(order=legacy, carrier_code="OLD", actor=SYSTEM, key="w-2")

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and set(Order.objects.filter(pk__in=[native.pk, legacy.pk]).values_list("status", flat=True)) != {"delivered"}:
        time.sleep(0.3)

    assert Order.objects.get(pk=native.pk).status == "delivered"
    assert Order.objects.get(pk=legacy.pk).status == "delivered"


def test_a_sandbox_taken_down_mid_test_is_marked_down_and_its_orders_move(sandbox_factory, org, hub):
    Policy.objects.create(organization=org, auto_apply=True, max_cost_increase=10_000)
    sb = sandbox_factory(sandbox_carriers())
    carrier = make_carrier(org, code="SBX", base_url=sb.base, api_key="key-sbx")
    CarrierFactory(organization=org, code="BACKUP", adapter="manual")
    orders = [OrderFactory(hub=hub) for _ in range(5)]
    for i, o in enumerate(orders):
        book_order(order=o, carrier_code="SBX", actor=SYSTEM, key=f"d-{i}")
    check_carrier_health()
    carrier.refresh_from_db()
    assert carrier.health == "up"

    sb.stop()
    check_carrier_health()  # the beat's next round

    carrier.refresh_from_db()
    assert carrier.health == "down"
    assert OrderException.objects.filter(kind="carrier_outage", carrier=carrier).exists()
    assert not Order.objects.filter(pk__in=[o.pk for o in orders], carrier=carrier).exists()
    assert Order.objects.filter(pk__in=[o.pk for o in orders], carrier__code="BACKUP").count() == 5


def test_a_carrier_collects_the_required_proof_and_sends_it_with_the_delivery(sandbox_factory, daphne_server, org, hub, settings, tmp_path):
    """The booking tells the carrier what proof to collect (and the PIN); its delivered webhook
    carries the proof, kept before the delivery is applied: no missing-proof exception."""
    from dispatch.models import ProofOfDelivery, ServiceLevelRule

    ServiceLevelRule.objects.create(organization=org, service_level="same_day", late_fixed=12, late_per_min="0.15", unserved=70,
                                    proof_required=["pin", "signature"])
    sb = sandbox_factory(sandbox_carriers(daphne_server, org.slug), speed=3600)
    make_carrier(org, code="SBX", base_url=sb.base, api_key="key-sbx")
    order = OrderFactory(hub=hub)
    book_order(order=order, carrier_code="SBX", actor=SYSTEM, key="pod-1")

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Order.objects.get(pk=order.pk).status != "delivered":
        time.sleep(0.3)
    order.refresh_from_db()
    assert order.status == "delivered" and order.proof_missing is False
    proofs = {p.kind: p for p in ProofOfDelivery.objects.filter(order=order)}
    assert set(proofs) == {"pin", "signature"} and all(p.verified and p.source == "carrier:SBX" for p in proofs.values())
    assert proofs["signature"].content_type == "image/png" and proofs["signature"].size > 0
    assert not OrderException.objects.filter(kind="missing_proof").exists()
