"""The orchestration engine on crafted states: detectors, decisions, dispatcher actions, policy."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from carriers.models import CarrierBooking
from carriers.services import booking_record_confirmed, carrier_set_health
from dispatch.engine.decisions import (
    decision_approve,
    decision_create,
    decision_override,
    decision_reject,
)
from dispatch.engine.detectors import (
    detect_capacity_gaps,
    detect_carrier_outage,
    detect_no_shows,
    detect_sla_risk,
)
from dispatch.engine.placement import plan_new_orders
from dispatch.errors import Conflict, ValidationFailed
from dispatch.models import Decision, Event, Order, OrderException, Policy
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.services.exceptions import exception_raise
from dispatch.services.fleet import vehicle_set_status
from dispatch.services.orders import order_set_status
from tests.factories import (
    CarrierFactory,
    DriverFactory,
    OrderFactory,
    ShiftFactory,
    UserFactory,
    VehicleFactory,
)

SYSTEM = ActorRef.system("tests")


@pytest.fixture
def network(org, hub):
    """Two carriers and one van; 5 orders booked with the first carrier."""
    Policy.objects.create(organization=org, auto_apply=False)
    down = CarrierFactory(organization=org, code="DOWN", name="Falls Over Ltd")
    backup = CarrierFactory(organization=org, code="BACKUP", name="Backup Couriers")
    van = VehicleFactory(fleet__hub=hub, code="VAN1", lat=hub.lat, lon=hub.lon, position_at=timezone.now())
    orders = []
    for i in range(5):
        o = OrderFactory(hub=hub, lat=hub.lat + 0.01 * (i + 1), lon=hub.lon)
        booking_record_confirmed(order=o, carrier=down, external_id=f"X{i}", price=10, promised_at=o.window_start,
                                 idempotency_key=f"seed-{o.id}", actor=SYSTEM)
        orders.append(o)
    return {"down": down, "backup": backup, "van": van, "orders": orders}


def outage(network) -> OrderException:
    """The carrier goes down; detection and the proposal follow after commit, as in production."""
    carrier = carrier_set_health(carrier_id=network["down"].id, health="down", reason="503s", actor=SYSTEM)
    return OrderException.objects.filter(cause_key=f"carrier:{carrier.id}:outage").earliest("id")


@pytest.mark.django_db(transaction=True)
def test_a_carrier_outage_raises_one_exception_per_cause_with_its_queued_orders(network):
    exc = outage(network)
    network["down"].refresh_from_db()
    detect_carrier_outage(carrier=network["down"])  # seen again

    exc.refresh_from_db()
    assert OrderException.objects.filter(kind="carrier_outage").count() == 1
    assert exc.seen_count == 2 and exc.severity == "critical"
    assert set(exc.orders.values_list("id", flat=True)) == {o.id for o in network["orders"]}


@pytest.mark.django_db(transaction=True)
def test_the_planner_proposes_a_new_home_for_every_affected_order_with_alternatives(network):
    exc = outage(network)

    decision = Decision.objects.get(exception=exc, state="proposed")

    assert {m["order"] for m in decision.moves} == {o.external_ref for o in network["orders"]}
    assert all(m["to"]["kind"] in ("van", "carrier") and m["to"]["code"] != "DOWN" for m in decision.moves)
    assert all(m["alternatives"] for m in decision.moves)
    exc.refresh_from_db()
    assert exc.state == "proposed"


@pytest.mark.django_db(transaction=True)
def test_approving_applies_every_move_and_records_who_did_it(network, org):
    exc = outage(network)
    decision = Decision.objects.get(exception=exc, state="proposed")
    user = UserFactory(organization=org)

    decision_approve(decision_id=decision.id, version=decision.version, actor=ActorRef.user(user))

    for order in Order.objects.filter(id__in=[o.id for o in network["orders"]]):
        assert order.carrier_id != network["down"].id
        assert order.status in ("assigned", "booked")
    exc.refresh_from_db()
    assert exc.state == "resolved"
    logged = Event.objects.get(kind="decision.applied")
    assert (logged.actor_type, logged.actor) == ("user", user.username)


@pytest.mark.django_db(transaction=True)
def test_approving_part_moves_only_the_ticked_orders(network):
    exc = outage(network)
    decision = Decision.objects.get(exception=exc, state="proposed")
    first = network["orders"][0]

    decision_approve(decision_id=decision.id, version=decision.version, actor=SYSTEM, orders=[first.external_ref])

    decision.refresh_from_db()
    assert decision.state == "partially_applied"
    assert Order.objects.get(pk=first.pk).carrier_id != network["down"].id
    assert Order.objects.get(pk=network["orders"][1].pk).carrier_id == network["down"].id


@pytest.mark.django_db(transaction=True)
def test_an_override_must_name_a_feasible_option_and_a_reason(network):
    exc = outage(network)
    decision = Decision.objects.get(exception=exc, state="proposed")
    move = decision.moves[0]
    alt = move["alternatives"][0]

    with pytest.raises(ValidationFailed):
        decision_override(decision_id=decision.id, version=1, actor=SYSTEM, order=move["order"], to_kind="carrier",
                          to_code="DOWN", reason_code="cost")
    with pytest.raises(ValidationFailed):
        decision_override(decision_id=decision.id, version=1, actor=SYSTEM, order=move["order"], to_kind=alt["kind"],
                          to_code=alt["code"], reason_code="because")
    decision_override(decision_id=decision.id, version=1, actor=SYSTEM, order=move["order"], to_kind=alt["kind"],
                      to_code=alt["code"], reason_code="local_knowledge")

    order = Order.objects.select_related("vehicle", "carrier").get(external_ref=move["order"])
    holder = order.vehicle.code if alt["kind"] == "van" else order.carrier.code
    assert holder == alt["code"]
    decision.refresh_from_db()
    assert decision.reason_code == "local_knowledge" and decision.state == "applied"


@pytest.mark.django_db(transaction=True)
def test_rejecting_keeps_the_exception_open(network):
    exc = outage(network)
    decision = Decision.objects.get(exception=exc, state="proposed")

    decision_reject(decision_id=decision.id, version=decision.version, actor=SYSTEM, note="wait for the carrier")

    exc.refresh_from_db()
    assert exc.state == "open"
    assert Order.objects.filter(carrier=network["down"]).count() == 5


@pytest.mark.django_db(transaction=True)
def test_acting_on_a_stale_version_is_a_conflict_that_names_the_current_state(network):
    exc = outage(network)
    decision = Decision.objects.get(exception=exc, state="proposed")
    decision_reject(decision_id=decision.id, version=decision.version, actor=ActorRef.system("dispatcher-a"))

    with pytest.raises(Conflict, match="already rejected by dispatcher-a"):
        decision_approve(decision_id=decision.id, version=decision.version, actor=ActorRef.system("dispatcher-b"))


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_approvals_have_exactly_one_winner(network):
    exc = outage(network)
    decision = Decision.objects.get(exception=exc, state="proposed")
    results, barrier = [], threading.Barrier(2)

    def approve(name):
        try:
            barrier.wait()
            decision_approve(decision_id=decision.id, version=decision.version, actor=ActorRef.system(name))
            results.append("won")
        except Conflict:
            results.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == ["conflict", "won"]
    assert Event.objects.filter(kind="decision.applied").count() == 1
    assert CarrierBooking.objects.filter(status="confirmed").exclude(carrier=network["down"]).count() == len(
        [m for m in Decision.objects.get(pk=decision.pk).moves if m["to"]["kind"] == "carrier"])


@pytest.mark.django_db(transaction=True)
def test_the_policy_applies_cheap_decisions_that_make_no_sla_worse(network, org):
    Policy.objects.filter(organization=org).update(auto_apply=True, max_cost_increase=1000)

    exc = outage(network)

    decision = Decision.objects.get(exception=exc)
    assert decision.state == "applied" and decision.decided_by == "policy"
    assert not Order.objects.filter(carrier=network["down"]).exists()


@pytest.mark.django_db(transaction=True)
def test_a_broken_down_van_raises_an_exception_for_its_undelivered_orders(org, hub):
    Policy.objects.create(organization=org, auto_apply=False)
    van = VehicleFactory(fleet__hub=hub)
    orders = [OrderFactory(hub=hub) for _ in range(3)]
    for o in orders:
        assignment_to_vehicle(order=o, vehicle=van, actor=SYSTEM)

    vehicle_set_status(vehicle_id=van.id, status="unavailable", actor=SYSTEM, reason="engine")

    exc = OrderException.objects.get(kind="vehicle_breakdown")
    assert exc.orders.count() == 3 and exc.vehicle == van


@pytest.mark.django_db(transaction=True)
def test_a_failed_delivery_raises_an_exception_with_re_attempt_options(org, hub):
    Policy.objects.create(organization=org, auto_apply=False)
    CarrierFactory(organization=org, code="RETRY")
    van = VehicleFactory(fleet__hub=hub)
    order = OrderFactory(hub=hub)
    assignment_to_vehicle(order=order, vehicle=van, actor=SYSTEM)
    for status in ("picked_up", "out_for_delivery"):
        order_set_status(organization_id=org.id, order_id=order.id, status=status, actor=SYSTEM)

    order_set_status(organization_id=org.id, order_id=order.id, status="failed", actor=SYSTEM, failure_reason="not_home")

    exc = OrderException.objects.get(kind="failed_delivery")
    decision = Decision.objects.get(exception=exc)
    assert decision.moves[0]["order"] == order.external_ref
    decision_approve(decision_id=decision.id, version=decision.version, actor=SYSTEM)
    order.refresh_from_db()
    assert order.status in ("assigned", "booked")


@pytest.mark.django_db(transaction=True)
def test_orders_at_risk_are_grouped_by_the_van_carrying_them(org, hub):
    Policy.objects.create(organization=org, auto_apply=False)
    van = VehicleFactory(fleet__hub=hub)
    for risk in ("late", "at_risk", "on_time"):
        o = OrderFactory(hub=hub)
        assignment_to_vehicle(order=o, vehicle=van, actor=SYSTEM)
        Order.objects.filter(pk=o.pk).update(risk=risk)

    detect_sla_risk(organization_id=org.id)
    detect_sla_risk(organization_id=org.id)

    exc = OrderException.objects.get(kind="sla_at_risk")
    assert exc.orders.count() == 2 and exc.severity == "high" and exc.seen_count == 2


@pytest.mark.django_db(transaction=True)
def test_a_driver_who_never_starts_is_a_no_show(org, hub):
    Policy.objects.create(organization=org, auto_apply=False, no_show_grace_min=15)
    van = VehicleFactory(fleet__hub=hub)
    ShiftFactory(driver=DriverFactory(organization=org), vehicle=van, starts_at=timezone.now() - timedelta(minutes=30))
    on_time = VehicleFactory(fleet__hub=hub)
    ShiftFactory(driver=DriverFactory(organization=org, status="on_duty"), vehicle=on_time,
                 starts_at=timezone.now() - timedelta(minutes=30))
    from dispatch.services.positions import positions_ingest

    positions_ingest(organization_id=org.id, pings=[{"vehicle": on_time.code, "lat": 41.9, "lon": -87.6,
                                                     "timestamp": timezone.now() - timedelta(minutes=25)}])

    assert detect_no_shows(organization_id=org.id) == 1
    assert OrderException.objects.get(kind="driver_no_show").vehicle == van


@pytest.mark.django_db(transaction=True)
def test_bookings_beyond_a_carriers_capacity_are_a_capacity_gap(network, org):
    slot = network["down"].capacity_slots.get()
    slot.capacity = 3
    slot.window_start = timezone.now() - timedelta(hours=1)
    slot.window_end = timezone.now() + timedelta(hours=12)
    slot.save()

    assert detect_capacity_gaps(organization_id=org.id) == 1
    assert OrderException.objects.get(kind="carrier_capacity_gap").orders.count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_api_lists_exceptions_and_answers_a_stale_approval_with_409(api, network):
    exc = outage(network)
    decision = Decision.objects.get(exception=exc, state="proposed")

    listed = api.get("/api/exceptions/").json()
    ok = api.post(f"/api/decisions/{decision.id}/approve/", {"version": decision.version}, format="json")
    stale = api.post(f"/api/decisions/{decision.id}/approve/", {"version": decision.version}, format="json")

    assert listed[0]["id"] == exc.id and listed[0]["decision"]["id"] == decision.id
    assert ok.status_code == 200 and ok.json()["state"] == "applied"
    assert stale.status_code == 409
    assert "already applied" in stale.json()["error"]["message"]


@pytest.mark.django_db(transaction=True)
def test_a_carrier_that_recovers_resolves_its_outage(network):
    exc = outage(network)

    carrier_set_health(carrier_id=network["down"].id, health="up", reason="back", actor=SYSTEM)

    exc.refresh_from_db()
    assert exc.state == "resolved"
    assert Event.objects.filter(kind="exception.resolved", data__note="carrier recovered").exists()


def _hour_ahead():
    return (timezone.now() + timedelta(hours=2)).replace(minute=10, second=0, microsecond=0)


@pytest.mark.django_db(transaction=True)
def test_demand_beyond_the_capacity_planned_for_a_hubs_window_is_a_spike(org, hub):
    from dispatch.engine.detectors import detect_demand_spikes

    Policy.objects.create(organization=org, auto_apply=False, spike_factor=1.5, van_orders_per_hour=6)
    VehicleFactory(fleet__hub=hub), VehicleFactory(fleet__hub=hub)  # 2 vans x 6 an hour = 12 planned
    start = _hour_ahead()
    for _ in range(19):  # more than 1.5 x 12
        OrderFactory(hub=hub, window_start=start, window_end=start + timedelta(hours=1))

    assert detect_demand_spikes(organization_id=org.id) == 1
    exc = OrderException.objects.get(kind="demand_spike")
    assert exc.orders.count() == 19 and "12 planned" in exc.title


@pytest.mark.django_db(transaction=True)
def test_the_same_demand_is_no_spike_when_carriers_planned_capacity_for_that_window(org, hub):
    from carriers.models import CapacitySlot, CarrierZone
    from dispatch.engine.detectors import detect_demand_spikes

    Policy.objects.create(organization=org, auto_apply=False, spike_factor=1.5, van_orders_per_hour=6)
    VehicleFactory(fleet__hub=hub), VehicleFactory(fleet__hub=hub)
    start = _hour_ahead()
    carrier = CarrierFactory(organization=org, code="ROOMY")
    zone = CarrierZone.objects.create(carrier=carrier, name="Downtown", lat=hub.lat, lon=hub.lon, radius_km=10)
    CapacitySlot.objects.all().delete()
    CapacitySlot.objects.create(carrier=carrier, zone=zone, window_start=start.replace(minute=0), window_end=start.replace(minute=0) + timedelta(hours=1), capacity=10)
    far = CarrierZone.objects.create(carrier=carrier, name="Elsewhere", lat=hub.lat + 1, lon=hub.lon, radius_km=5)
    CapacitySlot.objects.create(carrier=carrier, zone=far, window_start=start.replace(minute=0), window_end=start.replace(minute=0) + timedelta(hours=1), capacity=500)
    for _ in range(19):
        OrderFactory(hub=hub, window_start=start, window_end=start + timedelta(hours=1))

    assert detect_demand_spikes(organization_id=org.id) == 0  # 12 by van + 10 in the hub's zone: 22 x 1.5 > 19


@pytest.mark.django_db(transaction=True)
def test_a_network_re_plan_proposes_cheaper_homes_and_moves_nothing_without_a_gain(org, hub):
    from dispatch.engine.bridge import replan_network

    Policy.objects.create(organization=org, auto_apply=False)
    dear = CarrierFactory(organization=org, code="DEAR")
    dear.rates.update(base=40.0)
    van = VehicleFactory(fleet__hub=hub, code="IDLE", lat=hub.lat, lon=hub.lon, position_at=timezone.now())
    orders = [OrderFactory(hub=hub, lat=hub.lat + 0.004 * i, lon=hub.lon + 0.003 * i) for i in range(1, 7)]
    for o in orders:
        booking_record_confirmed(order=o, carrier=dear, external_id=o.external_ref, price=45, promised_at=o.window_start,
                                 idempotency_key=f"rp-{o.id}", actor=SYSTEM)

    decision = replan_network(organization_id=org.id, time_limit=3)

    assert decision is not None and decision.cost_delta < -100
    assert {m["order"] for m in decision.moves} == {o.external_ref for o in orders}
    assert all(m["to"] == {"kind": "van", "code": "IDLE"} for m in decision.moves)
    decision_approve(decision_id=decision.id, version=decision.version, actor=SYSTEM)
    assert Order.objects.filter(vehicle=van, status="assigned").count() == 6
    assert not Order.objects.filter(carrier=dear).exists()
    assert replan_network(organization_id=org.id, time_limit=3) is None  # nothing left to gain


@pytest.mark.django_db(transaction=True)
def test_decisions_respect_the_capacity_a_carrier_reports_per_zone_and_window(network, org):
    backup = network["backup"]
    slot = backup.capacity_slots.get()
    slot.capacity = 2
    slot.save()
    network["van"].status = "off_duty"
    network["van"].save()  # no van to fall back on: only carriers

    exc = outage(network)

    decision = Decision.objects.get(exception=exc)
    to_backup = [m for m in decision.moves if m["to"] == {"kind": "carrier", "code": "BACKUP"}]
    assert len(to_backup) == 2
    assert all(m["to"]["kind"] == "unserved" for m in decision.moves if m not in to_backup)


@pytest.mark.django_db(transaction=True)
def test_ops_managers_review_decisions_but_only_dispatchers_and_admins_act(network, org, client):
    exc = outage(network)
    decision = Decision.objects.get(exception=exc, state="proposed")
    ops = UserFactory(organization=org, role="ops_manager")
    client.force_login(ops)

    listed = client.get("/api/exceptions/")
    refused = client.post(f"/api/decisions/{decision.id}/approve/", {"version": decision.version}, content_type="application/json")
    queue = client.get("/live/exceptions/")
    refused_page = client.post(f"/live/decisions/{decision.id}/approve/", {"version": decision.version})

    assert listed.status_code == 200 and listed.json()[0]["decision"]["id"] == decision.id
    assert refused.status_code == 403 and "dispatchers and admins" in refused.json()["error"]["message"]
    assert b'class="approve"' not in queue.content
    assert refused_page.status_code == 403
    decision.refresh_from_db()
    assert decision.state == "proposed"

    client.force_login(UserFactory(organization=org, role="dispatcher"))
    ok = client.post(f"/api/decisions/{decision.id}/approve/", {"version": decision.version}, content_type="application/json")
    assert ok.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_proposal_loads_only_the_vans_near_the_affected_orders(network, org, hub):
    """With a fleet larger than a repair can involve, the vans far from the affected orders are
    not read: the decision's problem lists only vans near them."""
    for i in range(12):
        VehicleFactory(fleet__hub=hub, code=f"NEAR{i:02d}", lat=hub.lat + 0.002 * i, lon=hub.lon, position_at=timezone.now())
    VehicleFactory(fleet__hub=hub, code="FARAWAY", lat=hub.lat + 1.5, lon=hub.lon + 1.5, position_at=timezone.now())

    decision = Decision.objects.get(exception=outage(network))

    loaded = {v["id"] for v in decision.problem["vehicles"]}
    assert "FARAWAY" not in loaded and len(loaded) >= 6
    assert {m["order"] for m in decision.moves} >= {o.external_ref for o in network["orders"]}


@pytest.mark.django_db(transaction=True)
def test_new_orders_are_placed_by_the_planner_within_a_carriers_room_per_zone_and_window(network, org, hub):
    slot = network["backup"].capacity_slots.get()
    slot.capacity = 1
    slot.save()
    carrier_set_health(carrier_id=network["down"].id, health="down", reason="503s", actor=SYSTEM)
    network["van"].status = "off_duty"
    network["van"].save()
    new = [OrderFactory(hub=hub, lat=hub.lat + 0.02, lon=hub.lon + 0.01 * i) for i in range(3)]

    placed = plan_new_orders(organization_id=org.id)

    booked = [o for o in Order.objects.filter(pk__in=[o.pk for o in new]) if o.carrier_id]
    assert placed == {"vans": 0, "carriers": 1, "left": 2}
    assert [o.carrier.code for o in booked] == ["BACKUP"]


@pytest.mark.django_db(transaction=True)
def test_a_van_that_gives_up_an_order_drives_the_rest_in_the_planners_order(org, hub):
    """A proposal may take an order off a nearby van to make room: applying it leaves that van's
    remaining stops in the order the planner chose (from_route), not just the old one minus a gap."""
    Policy.objects.create(organization=org, auto_apply=False)
    a = VehicleFactory(fleet__hub=hub, code="A", lat=hub.lat, lon=hub.lon, position_at=timezone.now())
    b = VehicleFactory(fleet__hub=hub, code="B", lat=hub.lat, lon=hub.lon, position_at=timezone.now())
    x, y, z = (OrderFactory(hub=hub, lat=hub.lat + 0.01 * (i + 1), lon=hub.lon) for i in range(3))
    for o in (x, y, z):
        assignment_to_vehicle(order=o, vehicle=a, actor=SYSTEM)
    exc, _ = exception_raise(organization_id=org.id, kind="sla_at_risk", cause_key="test:from-route", title="t",
                             order_ids=[x.id], propose=False)
    keys = lambda o: [f"P:{o.external_ref}", f"D:{o.external_ref}"]  # noqa: E731
    decision = decision_create(exception=exc, cost_delta=0.0, sla_improved=0, sla_worsened=0, moves=[{
        "order": x.external_ref, "from": {"kind": "van", "code": "A"}, "to": {"kind": "van", "code": "B"}, "sla_before": "on_time",
        "sla_after": "on_time", "cost_delta": 0.0, "eta": None, "alternatives": [], "route": keys(x), "from_route": keys(z) + keys(y)}])

    decision_approve(decision_id=decision.id, version=decision.version, actor=SYSTEM)

    left = [(s.kind, s.order.external_ref) for s in a.routes.get(active=True).stops.filter(completed_at__isnull=True).order_by("sequence")]
    assert left == [("pickup", z.external_ref), ("delivery", z.external_ref), ("pickup", y.external_ref), ("delivery", y.external_ref)]
    assert Order.objects.get(pk=x.pk).vehicle_id == b.id
