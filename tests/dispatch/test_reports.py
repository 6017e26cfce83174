"""Ops managers' reports: figures against hand-computed fixtures, the roll-up against the raw rows,
savings against the static-rule baseline, and a scorecard that changes the planner's choice.
Every order here reaches its outcome through the services a carrier event or a driver calls."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from carriers.models import Carrier, CarrierZone, RateCard
from carriers.services import booking_record_confirmed
from dispatch.reporting import performance
from dispatch.engine.bridge import problem_from_db
from dispatch.engine.savings import savings_for_day
from planner.travel import road_km, travel_minutes
from dispatch.models import (
    DailyRollup,
    DailySavings,
    Event,
    Order,
    RollupDirty,
    ServiceLevelRule,
)
from planner.offers import carrier_options
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.services.exceptions import exception_close, exception_raise
from dispatch.services.orders import order_set_status
from dispatch.reporting.rollups import rollups_refresh
from dispatch.status import ExceptionState, OrderStatus
from tests.factories import CarrierFactory, OrderFactory, ShiftFactory, VehicleFactory

SYS = ActorRef.system("test")
pytestmark = pytest.mark.django_db


def _day(days_ago: int):
    return timezone.localdate() - timedelta(days=days_ago)


def _at(day, hh: int, mm: int = 0):
    return datetime.combine(day, time(hh, mm), tzinfo=timezone.get_current_timezone())


def _order(hub, day, ref, lat=41.90, lon=-87.65, level="same_day"):
    return OrderFactory(hub=hub, external_ref=ref, lat=lat, lon=lon, window_start=_at(day, 10), window_end=_at(day, 14),
                        service_level=level, created_at=_at(day, 6))


def _book(order, carrier, price, key):
    booking_record_confirmed(order=order, carrier=carrier, external_id=key, price=price, promised_at=order.window_start,
                             idempotency_key=key, actor=SYS)


def _status(order, status, at=None, reason=""):
    return order_set_status(organization_id=order.organization_id, order_id=order.id, status=status, actor=SYS, at=at,
                            failure_reason=reason)


def _deliver(order, at):
    _status(order, OrderStatus.PICKED_UP, at=at - timedelta(hours=1))
    return _status(order, OrderStatus.DELIVERED, at=at)


@pytest.fixture
def carrier(org):
    return CarrierFactory(organization=org, code="REX")


def test_performance_figures_match_a_hand_computed_day(org, hub, carrier):
    day = _day(0)
    a, b, c, d = (_order(hub, day, r) for r in "ABCD")
    _book(a, carrier, 10.00, "a1")
    _deliver(a, _at(day, 13, 50))                        # on time, first attempt
    _book(b, carrier, 12.50, "b1")
    _deliver(b, _at(day, 14, 20))                        # 20 min late: 12 + 0.15 x 20 = 15.00
    _book(c, carrier, 7.25, "c1")
    _status(c, OrderStatus.FAILED, reason="not_home")
    _status(c, OrderStatus.RETURNED)                     # unserved: 70.00
    _book(d, carrier, 9.00, "d1")
    _status(d, OrderStatus.FAILED, reason="not_home")
    _status(d, OrderStatus.PLANNED)
    _book(d, carrier, 9.00, "d2")
    _deliver(d, _at(day, 13, 0))                         # second attempt, on time: cost 18.00

    assert rollups_refresh() == [(org.id, day)]
    assert not RollupDirty.objects.exists()
    f = performance.Filters.parse({"period": "today"})
    [rex] = performance.performance_by_resource(organization_id=org.id, f=f)
    assert (rex["orders"], rex["delivered"], rex["on_time"], rex["first_attempt"]) == (4, 3, 2, 2)
    assert (rex["failed_attempts"], rex["returned"], rex["breaches"]) == (2, 1, 2)
    assert rex["cost"] == Decimal("47.75")
    assert rex["cost_per_order"] == Decimal("11.94")
    assert rex["penalty"] == Decimal("85.00")
    assert rex["on_time_rate"] == pytest.approx(2 / 3)
    assert rex["first_attempt_rate"] == pytest.approx(2 / 4)  # A and B (late, but at the first attempt)
    assert performance.failure_reasons(organization_id=org.id, f=f) == [{"reason": "not_home", "label": "Customer not home", "failed": 2}]
    late = {r["bucket"]: r["late"] for r in performance.lateness(organization_id=org.id, f=f)}
    assert late[15] == 1 and sum(late.values()) == 1


def test_van_cost_is_its_leg_and_time_at_the_vans_rates(org, hub, vehicle):
    day = _day(0)
    o = _order(hub, day, "V1")
    assignment_to_vehicle(order=Order.objects.get(pk=o.pk), vehicle=vehicle, actor=SYS)
    _deliver(o, _at(day, 12))
    o.refresh_from_db()
    km = road_km(hub.lat, hub.lon, 41.90, -87.65)
    expected = Decimal(str(vehicle.cost_per_km * km + vehicle.cost_per_hour * (travel_minutes(km) + 4.0) / 60)).quantize(Decimal("0.01"))
    assert o.cost == expected and o.attempts == 1 and o.late_min == 0


def test_time_to_resolve_and_exception_counts(org, hub, carrier):
    exc, _ = exception_raise(organization_id=org.id, kind="carrier_outage", cause_key="carrier:x", title="down", carrier=carrier,
                             propose=False)
    exception_close(exception_id=exc.id, state=ExceptionState.RESOLVED, actor=SYS)
    exc.refresh_from_db()
    type(exc).objects.filter(pk=exc.pk).update(resolved_at=exc.detected_at + timedelta(minutes=30))
    exc2, _ = exception_raise(organization_id=org.id, kind="carrier_outage", cause_key="carrier:y", title="down", carrier=carrier,
                              propose=False)
    f = performance.Filters.parse({"period": "today"})
    summary = performance.exceptions_summary(organization_id=org.id, f=f)
    assert summary == {"exceptions": 2, "exceptions_resolved": 1, "resolve_avg_min": 30.0}
    [kind] = performance.exceptions_by_kind(organization_id=org.id, f=f)
    assert (kind["exceptions"], kind["resolved"], kind["resolve_avg_min"]) == (2, 1, 30.0)


def test_rollup_agrees_with_the_raw_rows_to_the_cent(org, hub, carrier, vehicle):
    """Many orders over three days, mixed outcomes: every sum the reports read equals the orders'."""
    for back in range(3):
        day = _day(back)
        for i in range(12):
            o = _order(hub, day, f"R{back}-{i}", lat=41.86 + 0.01 * (i % 5), lon=-87.66 + 0.01 * (i % 4),
                       level=["same_day", "express", "scheduled"][i % 3])
            if i % 2:
                _book(o, carrier, 6.0 + i * 0.37, f"r{back}-{i}")
            else:
                assignment_to_vehicle(order=Order.objects.get(pk=o.pk), vehicle=vehicle, actor=SYS)
            if i % 5 == 4:
                _status(o, OrderStatus.PICKED_UP, at=_at(day, 11))
                _status(o, OrderStatus.FAILED, at=_at(day, 12), reason=["not_home", "refused"][i % 2])
            else:
                _deliver(o, _at(day, 13 + i % 3, 7 * i % 60))
    rollups_refresh()
    raw = Order.objects.filter(organization=org, status__in=["delivered", "failed", "returned"])
    rolled = DailyRollup.objects.filter(organization=org)
    assert sum(r.orders for r in rolled) == raw.count() == 36
    assert sum((r.cost for r in rolled), Decimal(0)) == sum((o.cost for o in raw), Decimal(0))
    assert sum((r.penalty for r in rolled), Decimal(0)) == sum((o.penalty for o in raw), Decimal(0))
    assert sum(r.on_time for r in rolled) == raw.filter(status="delivered", late_min=0).count()
    f = performance.Filters.parse({"period": "7d"})
    totals = performance.totals(organization_id=org.id, f=f)
    assert totals["cost"] == sum((o.cost for o in raw), Decimal(0))
    by_level = performance.Filters.parse({"period": "7d", "service_level": "express"})
    assert performance.totals(organization_id=org.id, f=by_level)["orders"] == raw.filter(service_level="express").count()


def test_savings_are_the_baseline_minus_the_day_as_run_both_priced_by_the_evaluator(org, hub, carrier):
    """One order, yesterday. The static rule gives it to the first matching carrier, which was down
    that day: unserved, 70.00. It was run on a van: the van's route cost."""
    day = _day(1)
    van = VehicleFactory(fleet__hub=hub, code="VS1")
    ShiftFactory(vehicle=van, driver__organization=org, starts_at=_at(day, 8), ends_at=_at(day, 18))
    o = OrderFactory(hub=hub, external_ref="S1", lat=41.90, lon=-87.65, window_start=_at(day, 6), window_end=_at(day, 20),
                     service_level="same_day")
    Event.objects.create(organization=org, kind="carrier.health", carrier=carrier, actor_type="system", actor="t",
                         data={"from": "up", "to": "down"}, created_at=_at(day, 9))
    assignment_to_vehicle(order=Order.objects.get(pk=o.pk), vehicle=van, actor=SYS)
    _deliver(o, _at(day, 12))
    row = savings_for_day(organization_id=org.id, day=day)
    km = road_km(hub.lat, hub.lon, 41.90, -87.65)
    minutes = hub.load_min_per_order + travel_minutes(km) + o.service_min + travel_minutes(km)
    van_cost = van.cost_per_km * 2 * km + van.cost_per_hour * minutes / 60
    assert row.baseline == Decimal("70.00") and row.baseline_unserved == 1
    assert float(row.actual) == pytest.approx(van_cost, abs=0.01)
    f = performance.Filters.parse({"period": "7d"})
    assert performance.savings(organization_id=org.id, f=f)["savings"] == Decimal("70.00") - row.actual
    assert DailySavings.objects.count() == 1


def test_a_late_penalty_rule_changes_the_settled_penalty(org, hub, carrier):
    ServiceLevelRule.objects.create(organization=org, service_level="same_day", late_fixed=40, late_per_min=1, unserved=90)
    day = _day(0)
    o = _order(hub, day, "P1")
    _book(o, carrier, 10, "p1")
    _deliver(o, _at(day, 14, 10))
    o.refresh_from_db()
    assert o.penalty == Decimal("50.00") and o.late_min == 10


def test_scorecard_steers_the_planner_per_lane(org, hub):
    """Two carriers, SLOW 1.00 cheaper. SLOW was late on 8 of 20 deliveries north of the hub
    and on time south of it: the planner gives FAST the northern order and still SLOW the southern one."""
    from dispatch import clock

    clock.anchor(sim_at=_at(_day(0), 12), speed=1.0)  # noon: every carrier still collects today, whatever the real hour
    carriers = {}
    for code, base in (("SLOW", 8.0), ("FAST", 9.0)):
        c = Carrier.objects.create(organization=org, code=code, name=code, service_levels=["same_day"], lead_min=30,
                                   pickup_cutoff=time(23, 59, 59))
        CarrierZone.objects.create(carrier=c, name="metro", lat=hub.lat, lon=hub.lon, radius_km=30)
        RateCard.objects.create(carrier=c, service_level="same_day", base=base, per_kg=0, per_km=0)
        carriers[code] = c
    north, south = (hub.lat + 0.05, hub.lon), (hub.lat - 0.05, hub.lon)
    n = 0
    for back in (1, 2):
        day = _day(back)
        for i in range(10):
            for code, (lat, lon), late in (("SLOW", north, i < 4), ("SLOW", south, False), ("FAST", north, False), ("FAST", south, False)):
                n += 1
                o = _order(hub, day, f"H{n}", lat=lat, lon=lon)
                _book(o, carriers[code], 8, f"h{n}")
                _deliver(o, _at(day, 14, 25) if late else _at(day, 13))
    rollups_refresh()
    card = performance.scorecard(organization_id=org.id, f=performance.Filters.parse({"period": "7d", "resource": "carrier:SLOW"}))
    lanes = {row["zone"]: row for row in card}
    assert lanes[f"{hub.code}/N"]["on_time_rate"] == pytest.approx(0.6) and lanes[f"{hub.code}/N"]["orders"] == 20
    assert lanes[f"{hub.code}/S"]["on_time_rate"] == 1.0

    now = clock.now()
    fresh = [OrderFactory(hub=hub, external_ref=ref, lat=lat, lon=lon, window_start=now + timedelta(hours=2),
                          window_end=now + timedelta(hours=5))
             for ref, (lat, lon) in (("NEW-N", north), ("NEW-S", south))]
    db = problem_from_db(organization_id=org.id, extra_orders=fresh)
    choice = {ref: carrier_options(db.problem, db.problem.orders[ref])[0][1].id.split("|")[0] for ref in ("NEW-N", "NEW-S")}
    assert choice == {"NEW-N": "FAST", "NEW-S": "SLOW"}
