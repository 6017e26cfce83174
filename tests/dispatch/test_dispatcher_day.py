"""The dispatcher's day: decisions of any size, detections driven from raw signals (pings, events,
time), and an order's whole story."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from carriers.models import CapacitySlot, CarrierZone
from carriers.services import booking_record_confirmed
from dispatch.engine.decisions import decision_approve
from dispatch.engine.detectors import (
    detect_all,
    detect_capacity_gaps,
    detect_silent_vehicles,
)
from dispatch.errors import ValidationFailed
from dispatch.models import Decision, Event, Order, OrderException, Policy
from dispatch.reporting.performance import Filters, decisions_summary
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.services.positions import positions_ingest
from dispatch.status import Role
from tests.dispatch.test_engine import SYSTEM, network, outage  # noqa: F401 (fixture)
from tests.factories import CarrierFactory, OrderFactory, UserFactory, VehicleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_approving_with_nothing_selected_is_refused_with_a_reason(network):
    decision = Decision.objects.get(exception=outage(network), state="proposed")

    with pytest.raises(ValidationFailed) as refused:
        decision_approve(decision_id=decision.id, version=decision.version, actor=SYSTEM, orders=[])

    assert "Select at least one order" in str(refused.value.errors["orders"])
    decision.refresh_from_db()
    assert decision.state == "proposed"


def test_orders_left_out_of_an_approval_keep_the_exception_open_with_a_new_proposal(network):
    exc = outage(network)
    decision = Decision.objects.get(exception=exc, state="proposed")
    keep = [o.external_ref for o in network["orders"][:3]]

    decision_approve(decision_id=decision.id, version=decision.version, actor=SYSTEM, orders=keep)

    exc.refresh_from_db()
    left = {o.external_ref for o in network["orders"][3:]}
    assert exc.state in ("open", "proposed")
    assert set(exc.orders.values_list("external_ref", flat=True)) == left
    newer = Decision.objects.filter(exception=exc, state="proposed").latest("id")
    assert {m["order"] for m in newer.moves} == left
    assert Order.objects.filter(external_ref__in=left, carrier=network["down"]).count() == 2


def test_the_dashboard_approves_every_move_of_a_large_proposal_and_refuses_an_empty_one(org, hub):
    Policy.objects.create(organization=org, auto_apply=False)
    down = CarrierFactory(organization=org, code="DOWN")
    CarrierFactory(organization=org, code="SPARE")
    for i in range(40):
        o = OrderFactory(hub=hub, lat=hub.lat + 0.001 * i, lon=hub.lon, external_ref=f"BIG-{i:02d}")
        booking_record_confirmed(order=o, carrier=down, external_id=f"E{i}", price=9, promised_at=o.window_start,
                                 idempotency_key=f"big-{i}", actor=SYSTEM)
    from carriers.services import carrier_set_health

    carrier_set_health(carrier_id=down.id, health="down", reason="503s", actor=SYSTEM)
    decision = Decision.objects.get(state="proposed")
    assert len(decision.moves) == 40
    client = Client()
    client.force_login(UserFactory(organization=org))

    card = client.get("/live/exceptions/")
    empty = client.post(f"/live/decisions/{decision.id}/approve/", {"version": decision.version, "selection": "explicit"})
    boxes = [f"BIG-{i:02d}" for i in range(40)]
    applied = client.post(f"/live/decisions/{decision.id}/approve/", {"version": decision.version, "selection": "explicit", "orders": boxes})

    assert card.content.count(b'name="orders"') == 40
    assert empty.status_code == 400 and b"Select at least one order" in empty.content
    assert applied.status_code == 200 and b"40 orders moved" in applied.content
    assert not Order.objects.filter(carrier=down, status="booked").exists()


def test_each_orders_override_offers_that_orders_own_alternatives(network, org):
    decision = Decision.objects.get(exception=outage(network), state="proposed")
    client = Client()
    client.force_login(UserFactory(organization=org))

    card = client.get("/live/exceptions/").content.decode()

    for move in decision.moves:
        for alt in move["alternatives"]:
            assert f'value="{move["order"]}|{alt["kind"]}:{alt["code"]}"' in card


def test_a_van_that_goes_quiet_with_open_stops_raises_a_possible_breakdown(org, hub):
    Policy.objects.create(organization=org, auto_apply=False, vehicle_silence_min=10)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    quiet = VehicleFactory(fleet__hub=hub, code="QUIET", position_at=an_hour_ago)
    chatty = VehicleFactory(fleet__hub=hub, code="CHATTY", position_at=an_hour_ago)
    for van in (quiet, chatty):
        assignment_to_vehicle(order=OrderFactory(hub=hub), vehicle=van, actor=SYSTEM)
    now = timezone.now()
    positions_ingest(organization_id=org.id, pings=[
        {"vehicle": "QUIET", "lat": 41.90, "lon": -87.64, "timestamp": now - timedelta(minutes=14)},
        {"vehicle": "CHATTY", "lat": 41.90, "lon": -87.64, "timestamp": now - timedelta(minutes=14)},
        {"vehicle": "CHATTY", "lat": 41.91, "lon": -87.64, "timestamp": now - timedelta(minutes=1)},
    ])

    assert detect_silent_vehicles(organization_id=org.id, now=now) == 1
    exc = OrderException.objects.get(kind="vehicle_breakdown")
    assert exc.vehicle.code == "QUIET" and "silent for 14 min" in exc.title
    assert detect_silent_vehicles(organization_id=org.id, now=now - timedelta(minutes=5)) == 0


def test_a_capacity_gap_counts_only_the_orders_in_the_slots_zone(org, hub):
    carrier = CarrierFactory(organization=org, code="ZONED")
    CapacitySlot.objects.filter(carrier=carrier).delete()
    start, end = timezone.now() - timedelta(hours=1), timezone.now() + timedelta(hours=12)
    zone_a = CarrierZone.objects.create(carrier=carrier, name="A", lat=41.88, lon=-87.63, radius_km=3)
    zone_b = CarrierZone.objects.create(carrier=carrier, name="B", lat=41.98, lon=-87.63, radius_km=3)
    CapacitySlot.objects.create(carrier=carrier, zone=zone_a, window_start=start, window_end=end, capacity=3)
    CapacitySlot.objects.create(carrier=carrier, zone=zone_b, window_start=start, window_end=end, capacity=3)
    for i in range(5):  # all five in zone A
        o = OrderFactory(hub=hub, lat=41.88 + 0.001 * i, lon=-87.63)
        booking_record_confirmed(order=o, carrier=carrier, external_id=f"Z{i}", price=9, promised_at=o.window_start,
                                 idempotency_key=f"z-{i}", actor=SYSTEM)

    assert detect_capacity_gaps(organization_id=org.id) == 1
    gap = OrderException.objects.get(kind="carrier_capacity_gap")
    assert gap.orders.count() == 2 and " in A " in gap.title


def test_a_carrier_still_down_raises_its_outage_again_for_orders_still_waiting(network, org):
    exc = outage(network)
    decision = Decision.objects.get(exception=exc, state="proposed")
    from dispatch.engine.decisions import decision_reject
    from dispatch.services.exceptions import exception_close

    decision_reject(decision_id=decision.id, version=decision.version, actor=SYSTEM)
    exception_close(exception_id=exc.id, state="dismissed", actor=SYSTEM, note="looked at it")

    detect_all(organization_id=org.id)

    again = OrderException.objects.filter(kind="carrier_outage", state__in=["open", "proposed"]).get()
    assert again.id != exc.id and again.orders.count() == 5


def test_an_exception_seen_again_drops_orders_its_cause_no_longer_concerns(network):
    exc = outage(network)
    first = network["orders"][0]
    Order.objects.filter(pk=first.pk).update(status="cancelled")
    from dispatch.engine.detectors import detect_carrier_outage

    network["down"].refresh_from_db()
    detect_carrier_outage(carrier=network["down"])

    exc.refresh_from_db()
    assert first.external_ref not in set(exc.orders.values_list("external_ref", flat=True))
    latest = Decision.objects.filter(exception=exc, state="proposed").latest("id")
    assert first.external_ref not in {m["order"] for m in latest.moves}


def test_an_order_page_tells_its_whole_story(network, org):
    exc = outage(network)
    decision = Decision.objects.get(exception=exc, state="proposed")
    order = network["orders"][0]
    user = UserFactory(organization=org)
    decision_approve(decision_id=decision.id, version=decision.version, actor=ActorRef.user(user))
    client = Client()
    client.force_login(user)

    page = client.get(f"/orders/{order.external_ref}/")

    assert page.status_code == 200
    text = page.content.decode()
    assert f"#{decision.id}" in text and "Falls Over Ltd" in text
    for kind in Event.objects.filter(order=order).values_list("kind", flat=True):
        assert f'data-event="{kind}"' in text
    assert user.username in text
    assert "Taken off its van or carrier" in text and "Created → booked with carrier (DOWN)" in text  # sentences a person reads...
    assert "from: " not in text and "assignment_version" not in text  # ...not the log's raw data


def test_another_organizations_order_page_is_a_404(network, other_org):
    client = Client()
    client.force_login(UserFactory(organization=other_org))

    assert client.get(f"/orders/{network['orders'][0].external_ref}/").status_code == 404


def test_the_orders_table_shows_open_orders_sorted_and_paged(org, hub):
    for i in range(130):
        OrderFactory(hub=hub, external_ref=f"T-{i:03d}")
    Order.objects.filter(external_ref="T-000").update(status="delivered")
    client = Client()
    client.force_login(UserFactory(organization=org))

    first = client.get("/live/orders/").content.decode()
    second = client.get("/live/orders/", {"page": 2}).content.decode()
    by_ref_desc = client.get("/live/orders/", {"sort": "-ref"}).content.decode()
    everything = client.get("/live/orders/", {"status": "all"}).content.decode()

    assert "T-000" not in first and "of 129 open orders" in first
    assert first.count("<tr data-ref=") == 100 and second.count("<tr data-ref=") == 29
    assert by_ref_desc.index("T-129") < by_ref_desc.index("T-128")
    assert "of 130." in everything


def test_dispatchers_share_the_queue_one_takes_an_exception_and_everyone_sees_who(network, org):
    exc = outage(network)
    ana, ben = UserFactory(organization=org, username="ana"), UserFactory(organization=org, username="ben")
    a, b = Client(), Client()
    a.force_login(ana)
    b.force_login(ben)

    took = a.post(f"/live/exceptions/{exc.id}/claim/")
    clash = b.post(f"/live/exceptions/{exc.id}/claim/")
    seen_by_ben = b.get("/live/exceptions/").content.decode()
    handed = a.post(f"/live/exceptions/{exc.id}/hand/", {"to": "ben"})

    assert took.status_code == 200 and "You are handling" in took.content.decode()
    assert clash.status_code == 409 and "ana is already handling" in clash.content.decode()
    assert 'data-holder="ana"' in seen_by_ben
    exc.refresh_from_db()
    assert handed.status_code == 200 and exc.holder == ben
    assert list(Event.objects.filter(kind__in=["exception.claimed", "exception.handed"]).values_list("kind", flat=True)) == [
        "exception.claimed", "exception.handed"]


def test_an_exception_of_another_organization_cannot_be_taken(network, other_org):
    exc = outage(network)
    client = Client()
    client.force_login(UserFactory(organization=other_org))

    assert client.post(f"/live/exceptions/{exc.id}/claim/").status_code == 404


def test_an_applied_decision_is_undone_through_the_engine_while_its_orders_have_not_moved_on(network, org):
    exc = outage(network)
    decision = Decision.objects.get(exception=exc, state="proposed")
    user = UserFactory(organization=org)
    client = Client()
    client.force_login(user)
    decision_approve(decision_id=decision.id, version=decision.version, actor=ActorRef.user(user))
    feed = client.get("/live/activity/").content.decode()
    assert f'hx-post="/live/decisions/{decision.id}/undo/"' in feed

    undone = client.post(f"/live/decisions/{decision.id}/undo/")

    assert undone.status_code == 200 and f"Decision {decision.id} undone: 5 orders back" in undone.content.decode()
    assert f'<div id="activity" hx-swap-oob="innerHTML">' in undone.content.decode()  # the feed it was clicked in says so too
    assert f"Undid decision {decision.id}: 5 orders back where they were" in undone.content.decode()
    assert Order.objects.filter(pk__in=[o.pk for o in network["orders"]], carrier=network["down"], status="booked").count() == 5
    reverse = Decision.objects.get(reverses=decision)
    assert reverse.state == "applied" and Event.objects.filter(kind="decision.undone", data__decision=decision.id).count() == 1
    feed = client.get("/live/activity/").content.decode()
    assert f"Undid decision {decision.id}: 5 orders back where they were" in feed
    assert f"decision {reverse.id}" not in feed and f'/live/decisions/{reverse.id}/undo/' not in feed  # an undo is not an applied decision
    again = client.post(f"/live/decisions/{decision.id}/undo/")
    assert again.status_code == 409 and "already undone" in again.content.decode()


def test_an_undone_decision_counts_once_on_performance_as_undone_and_its_cost_not_as_applied(network, org):
    exc = outage(network)
    decision = Decision.objects.get(exception=exc, state="proposed")
    dispatcher, ops = UserFactory(organization=org), UserFactory(organization=org, role=Role.OPS_MANAGER)
    client = Client()
    client.force_login(dispatcher)
    decision_approve(decision_id=decision.id, version=decision.version, actor=ActorRef.user(dispatcher))
    assert client.post(f"/live/decisions/{decision.id}/undo/").status_code == 200

    summary = decisions_summary(organization_id=org.id, f=Filters.parse({"period": "today"}))
    client.force_login(ops)
    page = client.get("/performance/", {"period": "today"}).content.decode()

    assert summary == {"auto_applied": 0, "approved": 0, "overridden": 0, "rejected": 0, "undone": 1, "applied_cost_delta": 0.0}
    assert "Decisions auto · approved · overridden · rejected · undone" in page and "0 · 0 · 0 · 0 · 1" in page


def test_a_decision_whose_orders_moved_on_cannot_be_undone(network, org):
    from dispatch.services.orders import order_set_status

    exc = outage(network)
    decision = Decision.objects.get(exception=exc, state="proposed")
    decision_approve(decision_id=decision.id, version=decision.version, actor=SYSTEM)
    first = Order.objects.get(pk=network["orders"][0].pk)
    if first.vehicle_id:
        order_set_status(organization_id=org.id, order_id=first.id, status="picked_up", actor=SYSTEM)
    else:
        Order.objects.filter(pk=first.pk).update(status="picked_up")
    client = Client()
    client.force_login(UserFactory(organization=org))

    refused = client.post(f"/live/decisions/{decision.id}/undo/")

    assert refused.status_code == 409 and f"{first.external_ref} has moved on" in refused.content.decode()


def test_the_activity_feed_shows_what_the_tower_did_by_itself(network, org):
    Policy.objects.filter(organization=org).update(auto_apply=True, max_cost_increase=100_000, require_no_sla_worse=False)
    outage(network)
    client = Client()
    client.force_login(UserFactory(organization=org))

    feed = client.get("/live/activity/").content.decode()

    assert "the tower (within policy)" in feed and "Applied decision" in feed
    assert "Falls Over Ltd is down: 503s" in feed


def test_a_carrier_page_shows_health_bookings_capacity_and_failures(network, org):
    outage(network)
    client = Client()
    client.force_login(UserFactory(organization=org))

    page = client.get("/carriers/DOWN/").content.decode()

    assert "Falls Over Ltd" in page and "up → down" in page and "503s" in page
    assert "Capacity per zone and window" in page and "metro" in page


def test_a_van_page_lists_its_route_in_stop_order_with_load_and_ping_age(org, hub):
    van = VehicleFactory(fleet__hub=hub, code="ROUTE1", capacity_kg=500, position_at=timezone.now() - timedelta(minutes=7))
    orders = [OrderFactory(hub=hub, lat=hub.lat + 0.01 * i, lon=hub.lon, weight_kg=10) for i in range(1, 4)]
    for o in orders:
        assignment_to_vehicle(order=o, vehicle=van, actor=SYSTEM)
    client = Client()
    client.force_login(UserFactory(organization=org))

    page = client.get("/vehicles/ROUTE1/").content.decode()
    path = client.get("/vehicles/ROUTE1/", {"format": "json"}).json()

    assert page.index(orders[0].external_ref) < page.index(orders[2].external_ref)
    assert "30.0 of 500 kg" in page and "7 min ago" in page
    assert [s["order"] for s in path["stops"] if s["kind"] == "delivery"] == [o.external_ref for o in orders]
    assert len(path["path"]) == 1 + len(path["stops"])


def test_another_organizations_carrier_and_van_pages_are_404(network, other_org):
    client = Client()
    client.force_login(UserFactory(organization=other_org))

    assert client.get("/carriers/DOWN/").status_code == 404
    assert client.get("/vehicles/VAN1/").status_code == 404


def test_an_exception_past_its_response_time_escalates_and_ops_managers_are_told_once(network, org, settings):
    from django.core import mail

    from dispatch.engine.detectors import detect_overdue_exceptions
    from dispatch.status import Role

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    UserFactory(organization=org, role=Role.OPS_MANAGER, email="ops@example.com")
    exc = outage(network)  # critical: 5 minutes by default
    later = exc.detected_at + timedelta(minutes=4)

    assert detect_overdue_exceptions(organization_id=org.id, now=later) == 0
    assert detect_overdue_exceptions(organization_id=org.id, now=later + timedelta(minutes=2)) == 1
    assert detect_overdue_exceptions(organization_id=org.id, now=later + timedelta(minutes=9)) == 0
    exc.refresh_from_db()
    assert exc.escalated_at is not None
    escalations = [m for m in mail.outbox if m.subject.startswith("Escalated")]
    assert [m.to for m in escalations] == [["ops@example.com"]]
    client = Client()
    client.force_login(UserFactory(organization=org))
    assert "Overdue · escalated" in client.get("/live/exceptions/").content.decode()


def test_an_exception_is_dismissed_or_snoozed_only_with_a_reason_and_the_queue_filters(network, org):
    exc = outage(network)
    client = Client()
    client.force_login(UserFactory(organization=org))

    no_reason = client.post(f"/live/exceptions/{exc.id}/snooze/", {"minutes": 30})
    snoozed = client.post(f"/live/exceptions/{exc.id}/snooze/", {"minutes": 30, "reason_code": "waiting"})
    hidden = client.get("/live/exceptions/").content.decode()
    shown = client.get("/live/exceptions/", {"snoozed": "1"}).content.decode()
    other_kind = client.get("/live/exceptions/", {"snoozed": "1", "kind": "demand_spike"}).content.decode()
    dismissed = client.post(f"/live/exceptions/{exc.id}/dismiss/", {"reason_code": "handled_outside"})

    assert no_reason.status_code == 400
    assert snoozed.status_code == 200 and f'data-exception="{exc.id}"' not in hidden
    assert f'data-exception="{exc.id}"' in shown and f'data-exception="{exc.id}"' not in other_kind
    exc.refresh_from_db()
    assert dismissed.status_code == 200 and exc.state == "dismissed"
    assert Event.objects.filter(kind="exception.dismissed", data__note__startswith="Handled outside").exists()


def test_every_decision_keeps_its_problem_and_plan_snapshot_replays_it(network, org, tmp_path):
    import io
    import json

    from django.core.management import call_command

    decision = Decision.objects.get(exception=outage(network), state="proposed")
    client = Client()
    client.force_login(UserFactory(organization=org))

    response = client.get(f"/decisions/{decision.id}/snapshot.json")

    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    snapshot = json.loads(response.content)
    assert snapshot["format"] == "controltower-snapshot/1"
    assert {o.external_ref for o in network["orders"]} <= {o["id"] for o in snapshot["orders"]}
    assert "current_plan" in snapshot
    path = tmp_path / "decision.json"
    path.write_text(response.content.decode())
    out = io.StringIO()
    call_command("plan_snapshot", str(path), "--out", str(tmp_path / "plan.json"), "--time-limit", "5", stdout=out)
    assert (tmp_path / "plan.json").exists()
    import subprocess
    import sys

    from tests.conftest import ROOT

    checked = subprocess.run([sys.executable, str(ROOT.parent / "shared" / "tools" / "check_plan.py"), "snapshot", str(path),
                              str(tmp_path / "plan.json")], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_orders_on_board_a_broken_van_get_a_hand_over_van_and_a_call_list(org, hub, other_org):
    """A van reports itself off the road with two orders on board and one still to pick up: the
    proposal sends a nearby van to meet it and take the two over (picked up where it stands), the
    third goes wherever is cheapest; a hand-over waits for a dispatcher even within policy; applied,
    the new van's route starts at the meeting point and its driver's pickup closes that stop. The card
    links to a call list (driver and customers, CSV too), for the organization's people only."""
    from dispatch.engine.decisions import decision_undo_blockers
    from dispatch.models import Stop
    from dispatch.services.fleet import vehicle_set_status
    from dispatch.services.orders import order_set_status
    from tests.factories import DriverFactory, ShiftFactory

    Policy.objects.create(organization=org, auto_apply=True, max_cost_increase=100000)
    broken = VehicleFactory(fleet__hub=hub, code="BRK", lat=41.95, lon=-87.70, position_at=timezone.now())
    VehicleFactory(fleet__hub=hub, code="HELP", lat=41.94, lon=-87.69, position_at=timezone.now())
    VehicleFactory(fleet__hub=hub, code="FAR", lat=41.60, lon=-87.30, position_at=timezone.now())
    ShiftFactory(driver=DriverFactory(organization=org, name="Sam Stuck", phone="+13125550100"), vehicle=broken)
    later = timezone.now() + timedelta(hours=1)
    on_board = [OrderFactory(hub=hub, external_ref=f"ONB-{k}", lat=41.96 + 0.01 * k, lon=-87.68, customer_phone=f"+1312555020{k}",
                             window_start=later, window_end=later + timedelta(hours=3)) for k in range(2)]
    waiting = OrderFactory(hub=hub, external_ref="WAIT-1", window_start=later, window_end=later + timedelta(hours=3))
    for o in [*on_board, waiting]:
        assignment_to_vehicle(order=o, vehicle=broken, actor=SYSTEM)
    for o in on_board:
        order_set_status(organization_id=org.id, order_id=o.id, status="picked_up", actor=SYSTEM)

    vehicle_set_status(vehicle_id=broken.id, status="unavailable", actor=SYSTEM, reason="flat tyre")

    exc = OrderException.objects.get(kind="vehicle_breakdown")
    decision = Decision.objects.get(exception=exc)
    assert decision.state == "proposed"  # within policy, but a hand-over needs a dispatcher
    moves = {m["order"]: m for m in decision.moves}
    assert set(moves) == {"ONB-0", "ONB-1", "WAIT-1"}
    for ref in ("ONB-0", "ONB-1"):
        assert moves[ref]["to"] == {"kind": "van", "code": "HELP"}
        assert moves[ref]["handover"] == {"from": "BRK", "lat": 41.95, "lon": -87.70}
    assert "handed over to HELP" in decision.summary

    dispatcher = Client()
    dispatcher.force_login(UserFactory(organization=org, role="dispatcher"))
    card = dispatcher.get("/live/exceptions/").content.decode()
    assert "picks it up from BRK where it stands" in card and f'/exceptions/{exc.id}/calls/' in card
    calls = dispatcher.get(f"/exceptions/{exc.id}/calls/").content.decode()
    assert "Sam Stuck" in calls and "+13125550100" in calls and "+13125550200" in calls and 'data-order="WAIT-1"' in calls
    csv_text = dispatcher.get(f"/exceptions/{exc.id}/calls/?format=csv").content.decode()
    assert csv_text.count("\n") == 5 and "driver,Sam Stuck" in csv_text  # header, driver, three customers
    stranger = Client()
    stranger.force_login(UserFactory(organization=other_org, role="admin"))
    assert stranger.get(f"/exceptions/{exc.id}/calls/").status_code == 404

    decision_approve(decision_id=decision.id, version=decision.version, actor=SYSTEM)
    for o in on_board:
        o.refresh_from_db()
        assert o.vehicle.code == "HELP" and o.status == "picked_up"
        pickup = Stop.objects.get(order=o, kind="pickup", completed_at__isnull=True)
        assert (pickup.lat, pickup.lon, pickup.route.vehicle.code) == (41.95, -87.70, "HELP")
    assert Event.objects.filter(kind="assignment.handover", data__from="BRK", data__to="HELP").count() == 2
    decision.refresh_from_db()
    assert "ONB-0 was handed over from a van that cannot take it back" in decision_undo_blockers(decision)
    # the helper's driver takes them over, then delivers
    order_set_status(organization_id=org.id, order_id=on_board[0].id, status="picked_up", actor=SYSTEM)
    assert not Stop.objects.filter(order=on_board[0], kind="pickup", completed_at__isnull=True).exists()
    order_set_status(organization_id=org.id, order_id=on_board[0].id, status="delivered", actor=SYSTEM)
    exc.refresh_from_db()
    assert exc.state == "resolved"
