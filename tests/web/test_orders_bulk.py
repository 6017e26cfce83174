"""Bulk actions on the orders table: cancel the selected orders, or hand them to the planner for a
proposal; with reasons for what could not be done, for deciding roles and their own hubs only."""

import pytest
from django.test import Client

from dispatch.models import Decision, Order, OrderException
from dispatch.services import ActorRef
from dispatch.services.assignments import assignment_to_vehicle
from dispatch.services.orders import order_set_status
from dispatch.status import Role
from tests.factories import HubFactory, OrderFactory, UserFactory, VehicleFactory

pytestmark = pytest.mark.django_db


def login(org, role, hubs=()):
    user = UserFactory(organization=org, role=role)
    user.hubs.set(hubs)
    c = Client()
    c.force_login(user)
    return c


def test_cancel_the_selected_orders_with_a_reason_for_each_left(org, hub):
    a, b, c = (OrderFactory(hub=hub, external_ref=r) for r in ("B-1", "B-2", "B-3"))
    van = VehicleFactory(fleet__hub=hub)
    assignment_to_vehicle(order=c, vehicle=van, actor=ActorRef.system("t"))
    order_set_status(organization_id=org.id, order_id=c.id, status="picked_up", actor=ActorRef.system("t"))
    response = login(org, Role.DISPATCHER).post("/live/orders/bulk/", {"action": "cancel", "refs": ["B-1", "B-2", "B-3", "NOPE"]})
    body = response.content.decode()
    assert response.status_code == 200 and "Cancelled 2 orders" in body and "B-3" in body and "1 not found" in body
    assert set(Order.objects.filter(status="cancelled").values_list("external_ref", flat=True)) == {"B-1", "B-2"}


def test_hand_the_selected_orders_to_the_planner(org, hub, django_capture_on_commit_callbacks):
    VehicleFactory(fleet__hub=hub, code="BV")
    for r in ("P-1", "P-2"):
        OrderFactory(hub=hub, external_ref=r)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(org, Role.DISPATCHER).post("/live/orders/bulk/", {"action": "plan", "refs": ["P-1", "P-2"]})
    assert "2 orders handed to the planner" in response.content.decode()
    exc = OrderException.objects.get(kind="replan")
    assert set(exc.orders.values_list("external_ref", flat=True)) == {"P-1", "P-2"}
    decision = Decision.objects.get(exception=exc)
    assert {m["order"] for m in decision.moves} == {"P-1", "P-2"}


def test_bulk_is_for_deciding_roles_and_their_own_hubs(org, hub):
    OrderFactory(hub=hub, external_ref="R-1")
    other_hub = HubFactory(organization=org, code="OTHER")
    assert login(org, Role.OPS_MANAGER).post("/live/orders/bulk/", {"action": "cancel", "refs": ["R-1"]}).status_code == 403
    scoped = login(org, Role.DISPATCHER, hubs=[other_hub])
    body = scoped.post("/live/orders/bulk/", {"action": "cancel", "refs": ["R-1"]}).content.decode()
    assert "Cancelled 0 orders" in body and "1 not found" in body
    assert Order.objects.get(external_ref="R-1").status == "created"
    assert login(org, Role.DISPATCHER).post("/live/orders/bulk/", {"action": "cancel"}).status_code == 400
    assert login(org, Role.DISPATCHER).post("/live/orders/bulk/", {"action": "explode", "refs": ["R-1"]}).status_code == 400
    too_many = login(org, Role.DISPATCHER).post("/live/orders/bulk/", {"action": "cancel", "refs": [f"X{i}" for i in range(501)]})
    assert too_many.status_code == 400 and "At most 500" in too_many.content.decode()
