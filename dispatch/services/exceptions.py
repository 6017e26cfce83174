"""Exceptions: raised by detectors, one live exception per cause, and one cause answering for an order.

An order is in at most one live exception of the kinds that move orders. A van that cannot deliver
(breakdown, silence, a driver who never started) and a carrier that is down answer for their
orders before anything those orders show (late, a missed cut-off, a spike): the symptom's exception
does not take an order its cause holds, and a newly raised cause takes its orders from any live
exception of the same or a lower rank, whose open proposal is withdrawn and made anew without them
(or which is resolved, when nothing is left to it). So no two open proposals move the same order."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction

from dispatch import clock, ports
from dispatch.errors import Conflict, ValidationFailed
from dispatch.facts import IntegratorEvent
from dispatch.models import Decision, OrderException
from dispatch.status import (
    LIVE_EXCEPTION_STATES,
    DecisionState,
    DismissReason,
    ExceptionKind,
    ExceptionState,
    Role,
    Severity,
)
from infra import bus, facts

from . import ActorRef
from .log import event_record

SEVERITY_RANK = {s: i for i, s in enumerate(Severity.values)}

# Which cause answers for an order when two see it (higher first); kinds not named here (a network
# re-plan, a delivery without proof) neither take nor give orders.
CAUSE_RANK = {
    ExceptionKind.VEHICLE_BREAKDOWN: 3, ExceptionKind.DRIVER_NO_SHOW: 3, ExceptionKind.CARRIER_OUTAGE: 3,
    ExceptionKind.FAILED_DELIVERY: 2,
    ExceptionKind.CARRIER_CAPACITY: 1, ExceptionKind.MISSED_CUTOFF: 1, ExceptionKind.DEMAND_SPIKE: 1,
    ExceptionKind.SLA_AT_RISK: 0,
}


def exception_payload(exc: OrderException) -> dict:
    """The live hint; "hubs" lets a hub-scoped dashboard keep only what concerns its hubs."""
    hubs = set(exc.orders.values_list("hub__code", flat=True)) if exc.pk else set()
    if exc.vehicle_id:
        hubs.add(exc.vehicle.fleet.hub.code)
    return {"id": exc.id, "kind": exc.kind, "state": exc.state, "severity": exc.severity, "title": exc.title, "hubs": sorted(hubs)}


@transaction.atomic
def exception_raise(*, organization_id: int, kind: str, cause_key: str, title: str, cause: str = "",
                    severity: str = Severity.MEDIUM, order_ids: list[int] | None = None, vehicle=None, carrier=None,
                    propose: bool = True) -> tuple[OrderException, bool]:
    """Raise an exception, or update the live one with the same cause. Returns (exception, created).
    A decision is proposed after commit when the exception is new or gained orders. Orders another
    live cause of a higher rank answers for are left to it (CAUSE_RANK); when that leaves nothing of
    what was seen, nothing is raised (and a live exception of this cause is resolved): (None, False)."""
    order_ids = sorted(set(order_ids or []))
    live = (OrderException.objects.select_for_update()
            .filter(organization_id=organization_id, cause_key=cause_key, state__in=LIVE_EXCEPTION_STATES).first())
    taken: dict[int, list[int]] = {}
    if kind in CAUSE_RANK and order_ids:
        seen, order_ids, taken, answered_by = order_ids, *_answering(organization_id, kind, cause_key, order_ids)
        if not order_ids:
            if live is not None:
                exception_close(exception_id=live.id, state=ExceptionState.RESOLVED, actor=ActorRef.system("detector"),
                                note=f"its orders are answered by exception {answered_by[seen[0]]}")
            return None, False
    created = False
    if live is None:
        try:
            with transaction.atomic():
                live = OrderException.objects.create(
                    organization_id=organization_id, kind=kind, cause_key=cause_key, title=title, cause=cause,
                    severity=severity, vehicle=vehicle, carrier=carrier, detected_at=clock.now(),
                )
                created = True
        except IntegrityError:  # raised concurrently by another worker: update that one
            live = OrderException.objects.select_for_update().get(
                organization_id=organization_id, cause_key=cause_key, state__in=LIVE_EXCEPTION_STATES)
    before = set(live.orders.values_list("id", flat=True))
    if not created:
        live.seen_count += 1
        live.title, live.cause = title, cause or live.cause
        if SEVERITY_RANK[severity] > SEVERITY_RANK[live.severity]:
            live.severity = severity
        live.save()
    new_orders = [i for i in order_ids if i not in before]
    gone = sorted(before - set(order_ids)) if not created else []
    if new_orders:
        live.orders.add(*new_orders)
    if gone:  # the cause no longer concerns these orders (moved, delivered, cancelled): a proposal must not move them
        live.orders.remove(*gone)
    if created:
        facts.record(IntegratorEvent(organization_id=organization_id, event_type="exception.raised",
                                     data={"exception": live.id, "kind": kind, "title": title, "severity": live.severity,
                                           "orders": len(order_ids)}))
        event_record(organization_id=organization_id, kind="exception.raised", actor=ActorRef.system("detector"),
                     vehicle=vehicle, carrier=carrier, data={"exception": live.id, "kind": kind, "orders": len(order_ids), "cause": cause})
    bus.publish(organization_id, "exception.changed", exception_payload(live))
    if propose and (created or new_orders or (gone and order_ids)):
        exc_id = live.id
        ports.PROPOSE_DECISION.start(exc_id)
    for other_id, ids in taken.items():
        _give_up_orders(exception_id=other_id, order_ids=ids, to=live)
    return live, created


def _answering(organization_id: int, kind: str, cause_key: str, order_ids: list[int]):
    """(the orders this cause answers for, {other exception: orders it takes from it}, {order: the
    higher-ranked exception that keeps it}) among the organization's live exceptions."""
    rank = CAUSE_RANK[kind]
    held = (OrderException.orders.through.objects
            .filter(order_id__in=order_ids, orderexception__organization_id=organization_id,
                    orderexception__state__in=LIVE_EXCEPTION_STATES, orderexception__kind__in=list(CAUSE_RANK))
            .exclude(orderexception__cause_key=cause_key)
            .values_list("order_id", "orderexception_id", "orderexception__kind"))
    kept, taken = {}, {}
    for order_id, other_id, other_kind in held:
        if CAUSE_RANK[other_kind] > rank:
            kept[order_id] = other_id
        else:
            taken.setdefault(other_id, []).append(order_id)
    return [i for i in order_ids if i not in kept], {e: ids for e, ids in taken.items()}, kept


def _give_up_orders(*, exception_id: int, order_ids: list[int], to: OrderException) -> None:
    """A live exception loses orders another cause now answers for: its open proposal is withdrawn
    (it may move them) and made anew for what is left, or it is resolved when nothing is left."""
    exc = OrderException.objects.select_for_update().get(pk=exception_id)
    exc.orders.remove(*order_ids)
    withdrawn = Decision.objects.filter(exception=exc, state=DecisionState.PROPOSED).update(state=DecisionState.SUPERSEDED)
    event_record(organization_id=exc.organization_id, kind="exception.orders_taken", actor=ActorRef.system("detector"),
                 vehicle=exc.vehicle, carrier=exc.carrier,
                 data={"exception": exc.id, "by": to.id, "orders": len(order_ids), "proposal_withdrawn": bool(withdrawn)})
    if not exc.orders.exists():
        exception_close(exception_id=exc.id, state=ExceptionState.RESOLVED, actor=ActorRef.system("detector"),
                        note=f"its orders are answered by exception {to.id} ({to.get_kind_display().lower()})")
        return
    if withdrawn and exc.state == ExceptionState.PROPOSED:
        exc.state = ExceptionState.OPEN
        exc.save(update_fields=["state", "updated_at"])
    bus.publish(exc.organization_id, "exception.changed", exception_payload(exc))
    if withdrawn:
        ports.PROPOSE_DECISION.start(exc.id)


@transaction.atomic
def exception_close(*, exception_id: int, state: str, actor: ActorRef, note: str = "") -> OrderException:
    exc = OrderException.objects.select_for_update().get(pk=exception_id)
    if exc.state not in LIVE_EXCEPTION_STATES:
        return exc
    exc.state, exc.resolved_at = state, clock.now()
    exc.save(update_fields=["state", "resolved_at", "updated_at"])
    event_record(organization_id=exc.organization_id, kind=f"exception.{state}", actor=actor, vehicle=exc.vehicle,
                 carrier=exc.carrier, data={"exception": exc.id, "note": note})
    bus.publish(exc.organization_id, "exception.changed", exception_payload(exc))
    return exc


@transaction.atomic
def exception_keep_open_for(*, exception_id: int, order_refs: list[str], actor: ActorRef, note: str = "") -> OrderException:
    """A decision handled only some of the exception's orders: it stays open for the rest, and the
    planner proposes anew for them."""
    exc = OrderException.objects.select_for_update().get(pk=exception_id)
    if exc.state not in LIVE_EXCEPTION_STATES:
        return exc
    keep = list(exc.orders.filter(external_ref__in=order_refs).values_list("id", flat=True))
    exc.orders.set(keep)
    exc.state = ExceptionState.OPEN
    exc.save(update_fields=["state", "updated_at"])
    event_record(organization_id=exc.organization_id, kind="exception.reopened", actor=actor, vehicle=exc.vehicle,
                 carrier=exc.carrier, data={"exception": exc.id, "note": note, "orders": sorted(order_refs)})
    bus.publish(exc.organization_id, "exception.changed", exception_payload(exc))
    if keep:
        ports.PROPOSE_DECISION.start(exc.id)
    return exc


def exception_mark_proposed(*, exception: OrderException) -> None:
    if exception.state == ExceptionState.OPEN:
        exception.state = ExceptionState.PROPOSED
        exception.save(update_fields=["state", "updated_at"])
        bus.publish(exception.organization_id, "exception.changed", exception_payload(exception))


@transaction.atomic
def exception_claim(*, exception_id: int, organization_id: int, user, to_user=None, release: bool = False) -> OrderException:
    """A dispatcher takes an exception (or releases it, or hands it to a colleague of the same
    organization), so the queue shows who is handling what. Taking one someone else holds is a
    Conflict naming the holder; handing or releasing is for its holder (or an admin)."""

    exc = OrderException.objects.select_for_update(of=("self",)).select_related("holder").get(pk=exception_id, organization_id=organization_id)
    if exc.state not in LIVE_EXCEPTION_STATES:
        raise Conflict(f"This exception is already {exc.get_state_display().lower()}.", current=exc.state)
    is_holder = exc.holder_id == user.id
    if release or to_user is not None:
        if exc.holder_id and not is_holder and user.role != Role.ADMIN:
            raise Conflict(f"{exc.holder.get_username()} is handling this exception; only they or an admin can pass it on.",
                           current=exc.holder.get_username())
        if to_user is not None and (to_user.organization_id != organization_id or not to_user.is_active):
            raise ValidationFailed("No such colleague", errors={"to": ["Hand it to an active user of your organization."]})
        new_holder = None if release else to_user
    else:
        if exc.holder_id and not is_holder:
            raise Conflict(f"{exc.holder.get_username()} is already handling this exception.", current=exc.holder.get_username())
        new_holder = user
    exc.holder, exc.held_since = new_holder, clock.now() if new_holder else None
    exc.save(update_fields=["holder", "held_since", "updated_at"])
    what = "released" if new_holder is None else ("handed" if to_user is not None else "claimed")
    event_record(organization_id=organization_id, kind=f"exception.{what}", actor=ActorRef.user(user), vehicle=exc.vehicle,
                 carrier=exc.carrier, data={"exception": exc.id, "holder": new_holder.get_username() if new_holder else None})
    bus.publish(organization_id, "exception.changed", exception_payload(exc))
    return exc


@transaction.atomic
def exception_dismiss(*, exception_id: int, organization_id: int, actor: ActorRef, reason_code: str, note: str = "") -> OrderException:
    """A person decides an exception needs nothing from the tower; the reason is recorded."""

    if reason_code not in DismissReason.values:
        raise ValidationFailed("Give a reason", errors={"reason_code": [f"Use one of {', '.join(DismissReason.values)}."]})
    OrderException.objects.get(pk=exception_id, organization_id=organization_id)
    return exception_close(exception_id=exception_id, state=ExceptionState.DISMISSED, actor=actor,
                           note=f"{DismissReason(reason_code).label}{': ' + note if note else ''}")


@transaction.atomic
def exception_snooze(*, exception_id: int, organization_id: int, actor: ActorRef, minutes: int, reason_code: str) -> OrderException:
    """Put an exception out of the way for a while (it comes back by itself, escalation included)."""


    if reason_code not in DismissReason.values:
        raise ValidationFailed("Give a reason", errors={"reason_code": [f"Use one of {', '.join(DismissReason.values)}."]})
    if not 1 <= minutes <= 24 * 60:
        raise ValidationFailed("Snooze from 1 minute to 24 hours", errors={"minutes": ["From 1 to 1440."]})
    exc = OrderException.objects.select_for_update(of=("self",)).get(pk=exception_id, organization_id=organization_id)
    exc.snoozed_until = clock.now() + timedelta(minutes=minutes)
    exc.save(update_fields=["snoozed_until", "updated_at"])
    event_record(organization_id=organization_id, kind="exception.snoozed", actor=actor, vehicle=exc.vehicle, carrier=exc.carrier,
                 data={"exception": exc.id, "minutes": minutes, "reason_code": reason_code})
    bus.publish(organization_id, "exception.changed", exception_payload(exc))
    return exc


@transaction.atomic
def exception_escalate(*, exception_id: int, overdue_min: int) -> OrderException | None:
    """Flag a live exception that passed its response SLA, and have the organization's ops managers
    told (once per exception)."""
    exc = OrderException.objects.select_for_update(of=("self",)).get(pk=exception_id)
    if exc.escalated_at is not None or exc.state not in LIVE_EXCEPTION_STATES:
        return None
    exc.escalated_at = clock.now()
    exc.save(update_fields=["escalated_at", "updated_at"])
    event_record(organization_id=exc.organization_id, kind="exception.escalated", actor=ActorRef.system("escalation"),
                 vehicle=exc.vehicle, carrier=exc.carrier, data={"exception": exc.id, "overdue_min": overdue_min})
    bus.publish(exc.organization_id, "exception.changed", exception_payload(exc))
    ports.TELL_OPS_MANAGERS.start(exc.id)
    return exc
