from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from dispatch.errors import InvalidTransition
from dispatch.models import Assignment, Event, Order
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.services.orders import order_set_status
from dispatch.services.routes import route_recompute_etas
from dispatch.status import ORDER_TRANSITIONS, OrderStatus, can_transition
from tests.factories import OrderFactory, VehicleFactory

pytestmark = pytest.mark.django_db
SYSTEM = ActorRef.system("tests")


def test_every_status_has_a_rule_and_terminal_statuses_lead_nowhere():
    assert set(ORDER_TRANSITIONS) == set(OrderStatus.values)
    for terminal in ("delivered", "returned", "cancelled"):
        assert ORDER_TRANSITIONS[terminal] == frozenset()
    assert can_transition("out_for_delivery", "delivered")
    assert not can_transition("delivered", "out_for_delivery")
    assert not can_transition("created", "delivered")


def test_an_illegal_transition_is_refused_and_leaves_the_order_as_it_was(hub):
    order = OrderFactory(hub=hub)

    with pytest.raises(InvalidTransition):
        order_set_status(organization_id=order.organization_id, order_id=order.id, status="delivered", actor=SYSTEM)

    order.refresh_from_db()
    assert order.status == "created" and order.version == 1


def test_assigning_twice_keeps_every_version_and_one_active(hub):
    order = OrderFactory(hub=hub)
    van_a, van_b = VehicleFactory(fleet__hub=hub), VehicleFactory(fleet__hub=hub)

    assignment_to_vehicle(order=order, vehicle=van_a, actor=SYSTEM)
    assignment_to_vehicle(order=order, vehicle=van_b, actor=SYSTEM, reason="rebalanced")

    versions = list(Assignment.objects.filter(order=order).order_by("version").values_list("version", "vehicle__code", "active"))
    assert versions == [(1, van_a.code, False), (2, van_b.code, True)]
    order.refresh_from_db()
    assert order.vehicle == van_b and order.status == "assigned"
    assert order.stops.filter(route__vehicle=van_a).count() == 0


def test_the_database_refuses_two_active_assignments(hub):
    order = OrderFactory(hub=hub)
    van = VehicleFactory(fleet__hub=hub)
    assignment_to_vehicle(order=order, vehicle=van, actor=SYSTEM)

    with pytest.raises(IntegrityError):
        Assignment.objects.create(order=order, version=9, vehicle=van, actor_type="system", actor="x")


def test_the_event_log_is_append_only(hub):
    order = OrderFactory(hub=hub)
    event = Event.objects.create(organization=order.organization, kind="x", order=order, actor_type="system", actor="t")

    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        Event.objects.filter(pk=event.pk).update(kind="y")
    with pytest.raises(TypeError):
        Event.objects.filter(pk=event.pk).delete()


def test_etas_follow_the_vans_position_and_flag_risk(hub):
    van = VehicleFactory(fleet__hub=hub, lat=hub.lat, lon=hub.lon, position_at=timezone.now())
    near = OrderFactory(hub=hub, lat=hub.lat + 0.01, window_start=timezone.now(), window_end=timezone.now() + timedelta(hours=3))
    far = OrderFactory(hub=hub, lat=hub.lat + 0.6, window_start=timezone.now(), window_end=timezone.now() + timedelta(minutes=40))
    for order in (near, far):
        assignment_to_vehicle(order=order, vehicle=van, actor=SYSTEM)

    route_recompute_etas(vehicle=van, now=timezone.now())

    near.refresh_from_db(); far.refresh_from_db()
    assert near.eta < far.eta
    assert near.risk == "on_time"
    assert far.risk == "late"  # ~67 km of road at 28 km/h cannot make a 40-minute window


def test_delivering_completes_the_stop_and_records_the_time(hub):
    van = VehicleFactory(fleet__hub=hub)
    order = OrderFactory(hub=hub)
    assignment_to_vehicle(order=order, vehicle=van, actor=SYSTEM)
    for status in ("picked_up", "out_for_delivery", "delivered"):
        order_set_status(organization_id=order.organization_id, order_id=order.id, status=status, actor=SYSTEM)

    order.refresh_from_db()
    assert order.status == "delivered" and order.delivered_at is not None
    assert not order.stops.filter(completed_at__isnull=True).exists()
    assert Order.objects.get(pk=order.pk).on_time is True
