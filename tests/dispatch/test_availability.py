"""Which vans may be given work, from the raw signals a van and its driver send (pings, the driver
going on duty) and the passing of time: a van whose telemetry went silent, or whose driver never
started, is out of every plan and on the dispatcher's queue until it is heard from again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch import clock
from dispatch.engine.bridge import propose
from dispatch.engine.detectors import detect_no_shows, detect_silent_vehicles
from dispatch.models import Order, OrderException, Policy
from dispatch.selectors import planned_capacity, vans_unavailable
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from tests.factories import DriverFactory, OrderFactory, ShiftFactory, VehicleFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def vans(org, hub):
    Policy.objects.create(organization=org, auto_apply=False, vehicle_silence_min=10, no_show_grace_min=15)
    org.auto_plan = True
    org.save()
    start = timezone.now() - timedelta(hours=1)
    out = {}
    for code in ("LIVE", "QUIET"):
        van = VehicleFactory(fleet__hub=hub, code=code, lat=hub.lat, lon=hub.lon, position_at=None)
        ShiftFactory(driver=DriverFactory(organization=org, code=f"D-{code}"), vehicle=van, starts_at=start,
                     ends_at=start + timedelta(hours=9))
        out[code] = van
    return out


def ping(api, *codes, at=None, lat=41.9, lon=-87.64):
    at = at or clock.now()
    response = api.post("/api/vehicle-positions/", {"pings": [
        {"vehicle": code, "lat": lat, "lon": lon, "timestamp": at.isoformat()} for code in codes]}, format="json")
    assert response.status_code in (200, 202), response.content


def order_body(ref, hub):
    start = clock.now() + timedelta(hours=2)
    return {"external_ref": ref, "hub": hub.code, "address": "10 W Elm St", "lat": hub.lat + 0.01, "lon": hub.lon,
            "window_start": start.isoformat(), "window_end": (start + timedelta(hours=2)).isoformat(),
            "service_level": "same_day", "weight_kg": 4.5, "customer": {"name": "Jo Doe", "email": "jo@example.com"}}


def test_a_van_whose_pings_stopped_gets_no_new_order_until_it_pings_again(api, org, hub, vans):
    ping(api, "QUIET", lat=hub.lat + 0.01, lon=hub.lon)  # where the orders are
    ping(api, "LIVE", lat=hub.lat - 0.08, lon=hub.lon - 0.08)
    clock.anchor(sim_at=timezone.now() + timedelta(minutes=15), speed=1.0)
    ping(api, "LIVE", lat=hub.lat - 0.08, lon=hub.lon - 0.08)  # QUIET last spoke 15 minutes ago

    for i in range(4):
        assert api.post("/api/orders/", order_body(f"N-{i}", hub), format="json").status_code == 201

    placed = set(Order.objects.filter(external_ref__startswith="N-").values_list("vehicle__code", flat=True))
    assert placed == {"LIVE"}
    assert vans_unavailable(organization_id=org.id)[vans["QUIET"].id].why.startswith("silent since")
    ping(api, "QUIET")
    assert vans["QUIET"].id not in vans_unavailable(organization_id=org.id)


def test_a_silent_van_on_its_shift_with_nothing_on_board_is_on_the_queue_and_leaves_it_with_its_next_ping(api, org, hub, vans):
    ping(api, "LIVE", "QUIET")
    clock.anchor(sim_at=timezone.now() + timedelta(minutes=134), speed=1.0)
    ping(api, "LIVE")

    assert detect_silent_vehicles(organization_id=org.id) == 1
    exc = OrderException.objects.get(cause_key=f"vehicle:{vans['QUIET'].id}:silent")
    assert exc.state == "open" and exc.severity == "low"
    assert exc.title == "Van QUIET silent for 134 min: out of the plan until it is heard from"
    assert not exc.decisions.exists()

    ping(api, "QUIET")
    detect_silent_vehicles(organization_id=org.id)

    exc.refresh_from_db()
    assert exc.state == "resolved"


def test_a_driver_who_never_started_gets_no_work_and_is_a_no_show_until_they_go_on_duty(api, org, hub, vans):
    ping(api, "LIVE")  # QUIET's driver never went on duty and the van never pinged since the shift began
    now = clock.now()
    capacity = planned_capacity(organization_id=org.id, hub_id=hub.id, start=now, end=now + timedelta(hours=1), van_orders_per_hour=6)

    assert detect_no_shows(organization_id=org.id) == 1
    assert api.post("/api/orders/", order_body("N-1", hub), format="json").status_code == 201
    assert Order.objects.get(external_ref="N-1").vehicle.code == "LIVE"
    assert capacity == 6.0  # one van's hour: the one that did not start counts for nothing
    exc = OrderException.objects.get(kind="driver_no_show")
    assert exc.vehicle == vans["QUIET"] and "out of every plan" in exc.cause

    assert api.post("/api/drivers/D-QUIET/status/", {"status": "on_duty"}, format="json").status_code == 200
    detect_no_shows(organization_id=org.id)

    exc.refresh_from_db()
    assert exc.state == "resolved"
    assert vans["QUIET"].id not in vans_unavailable(organization_id=org.id)


def test_a_proposal_for_a_silent_van_moves_its_orders_to_other_vans_never_back_onto_it(api, org, hub, vans):
    ping(api, "LIVE", "QUIET")
    waiting = [OrderFactory(hub=hub, lat=hub.lat + 0.01 * (i + 1), lon=hub.lon) for i in range(2)]
    for o in waiting:
        assignment_to_vehicle(order=o, vehicle=vans["QUIET"], actor=ActorRef.system("tests"))
    clock.anchor(sim_at=timezone.now() + timedelta(minutes=20), speed=1.0)
    ping(api, "LIVE")

    detect_silent_vehicles(organization_id=org.id)
    exc = OrderException.objects.get(cause_key=f"vehicle:{vans['QUIET'].id}:silent")
    decision = exc.decisions.filter(state="proposed").last() or propose(exception=exc)

    destinations = {(m["to"]["kind"], m["to"].get("code")) for m in decision.moves}
    assert ("van", "QUIET") not in destinations
    assert {m["order"] for m in decision.moves} == {o.external_ref for o in waiting}
    assert "QUIET" not in {v["id"] for v in decision.problem["vehicles"]}


def test_approving_a_proposal_whose_van_went_silent_since_is_refused_and_proposed_anew_without_it(api, org, hub, vans):
    near = VehicleFactory(fleet__hub=hub, code="NEAR", lat=hub.lat, lon=hub.lon, position_at=None)
    ShiftFactory(driver=DriverFactory(organization=org, code="D-NEAR"), vehicle=near, starts_at=timezone.now() - timedelta(hours=1),
                 ends_at=timezone.now() + timedelta(hours=8))
    ping(api, "LIVE", "QUIET", lat=hub.lat - 0.08, lon=hub.lon - 0.08)
    ping(api, "NEAR", lat=hub.lat + 0.02, lon=hub.lon)  # beside the orders QUIET carries
    waiting = [OrderFactory(hub=hub, lat=hub.lat + 0.02 + 0.002 * i, lon=hub.lon) for i in range(2)]
    for o in waiting:
        assignment_to_vehicle(order=o, vehicle=vans["QUIET"], actor=ActorRef.system("tests"))
    clock.anchor(sim_at=timezone.now() + timedelta(minutes=12), speed=1.0)
    ping(api, "LIVE", lat=hub.lat - 0.08, lon=hub.lon - 0.08)
    ping(api, "NEAR", lat=hub.lat + 0.02, lon=hub.lon)
    detect_silent_vehicles(organization_id=org.id)
    exc = OrderException.objects.get(cause_key=f"vehicle:{vans['QUIET'].id}:silent")
    proposal = exc.decisions.filter(state="proposed").last() or propose(exception=exc)
    assert ("van", "NEAR") in {(m["to"]["kind"], m["to"]["code"]) for m in proposal.moves}

    # NEAR stops pinging before anyone approves; LIVE keeps going
    clock.anchor(sim_at=clock.now() + timedelta(minutes=11), speed=1.0)
    ping(api, "LIVE", lat=hub.lat - 0.08, lon=hub.lon - 0.08)
    response = api.post(f"/api/decisions/{proposal.id}/approve/", {"version": proposal.version}, format="json")

    assert response.status_code == 409, response.content
    assert "Van NEAR cannot take work now: silent since" in response.json()["error"]["message"]
    proposal.refresh_from_db()
    assert proposal.state == "superseded"
    assert set(Order.objects.filter(pk__in=[o.pk for o in waiting]).values_list("vehicle__code", flat=True)) == {"QUIET"}
    anew = exc.decisions.filter(state__in=("proposed", "applied")).exclude(pk=proposal.pk).last()
    assert anew is not None
    assert not {"NEAR", "QUIET"} & {m["to"].get("code") for m in anew.moves if m["to"]["kind"] == "van"}
