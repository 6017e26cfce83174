"""Versioned assignments of an order to a van route or a carrier booking."""

from __future__ import annotations

from django.db.models import Max

from infra import bus, facts
from dispatch.facts import BookingReleased, OrderEtaChanged
from dispatch.live_events import order_changed
from dispatch.models import Assignment, Order, Vehicle
from dispatch.selectors import policy_for, service_rules
from dispatch.status import OrderStatus

from . import ActorRef
from .lifecycle import order_transition
from .log import event_record
from .routes import risk_for, route_active_for, route_append_order, route_remove_order


def _next_version(order: Order) -> int:
    return (order.assignments.aggregate(m=Max("version"))["m"] or 0) + 1


def assignment_release(*, order: Order, actor: ActorRef, reason: str) -> None:
    """Deactivate the order's current assignment and remove its open stops. Caller holds the order lock
    (and saves the order). Without an assignment nobody has an estimate: its ETA goes until the next
    van or carrier gives one (a customer who moved their window is not shown the old van's time)."""
    current = order.assignments.filter(active=True).select_related("booking").first()
    if current is None:
        return
    current.active = False
    current.save(update_fields=["active"])
    order.eta, order.eta_why = None, ""
    route_remove_order(order=order)
    if current.booking_id:
        facts.record(BookingReleased(booking_id=current.booking_id, actor=actor))  # the carrier integration tells the carrier
    event_record(organization_id=order.organization_id, kind="assignment.released", actor=actor, order=order,
                 data={"version": current.version, "reason": reason})


def assignment_to_vehicle(*, order: Order, vehicle: Vehicle, actor: ActorRef, reason: str = "",
                          on_board: bool = False, route=None) -> Assignment:
    """Put the order on the end of the vehicle's active route (`route`, when the caller has it at
    hand already). Caller holds the order lock."""
    assignment_release(order=order, actor=actor, reason=f"moved to vehicle {vehicle.code}")
    route = route or route_active_for(vehicle=vehicle, day=order.window_start.date())
    route_append_order(route=route, order=order, pickup=not on_board)
    assignment = Assignment.objects.create(
        order=order, version=_next_version(order), vehicle=vehicle, route=route,
        actor_type=actor.type, actor=actor.name, reason=reason,
    )
    order.vehicle, order.carrier = vehicle, None
    order_transition(order=order, status=OrderStatus.ASSIGNED, actor=actor, reason=reason,
                     data={"vehicle": vehicle.code, "assignment_version": assignment.version})
    return assignment


def assignment_handover(*, order: Order, vehicle: Vehicle, at: tuple[float, float], actor: ActorRef, reason: str = "") -> Assignment:
    """Another van takes over an order on board a van that cannot deliver it (broken down): it picks
    the order up where that van stands, then delivers it. The order stays picked up; the pickup stop
    is completed when the new van's driver reports the order picked up. Caller holds the order lock."""
    previous = order.vehicle.code if order.vehicle_id else None
    assignment_release(order=order, actor=actor, reason=f"handed over to vehicle {vehicle.code}")
    route = route_active_for(vehicle=vehicle, day=order.window_start.date())
    route_append_order(route=route, order=order, pickup=True, pickup_at=at)
    assignment = Assignment.objects.create(
        order=order, version=_next_version(order), vehicle=vehicle, route=route,
        actor_type=actor.type, actor=actor.name, reason=reason,
    )
    order.vehicle, order.carrier = vehicle, None
    order.version += 1
    order.save()
    event_record(organization_id=order.organization_id, kind="assignment.handover", actor=actor, order=order, vehicle=vehicle,
                 data={"from": previous, "to": vehicle.code, "lat": at[0], "lon": at[1], "reason": reason,
                       "assignment_version": assignment.version})
    bus.publish(order.organization_id, "order.changed", order_changed(order))
    return assignment


def assignment_to_booking(*, order: Order, booking, actor: ActorRef, reason: str = "") -> Assignment:
    """Record that the order is now carried by a confirmed carrier booking. Caller holds the order lock."""
    assignment_release(order=order, actor=actor, reason=f"booked with {booking.carrier.code}")
    assignment = Assignment.objects.create(
        order=order, version=_next_version(order), booking=booking,
        actor_type=actor.type, actor=actor.name, reason=reason,
    )
    order.vehicle, order.carrier = None, booking.carrier
    order.eta = booking.promised_at
    order.risk = risk_for(order.eta, order.window_end, service_rules(order.organization_id)[order.service_level].at_risk_margin_min)
    order_transition(order=order, status=OrderStatus.BOOKED, actor=actor, reason=reason,
                     data={"carrier": booking.carrier.code, "assignment_version": assignment.version})


    facts.record(OrderEtaChanged(order=order, tolerance_min=policy_for(order.organization_id).eta_tolerance_min))
    return assignment
