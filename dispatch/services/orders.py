"""Orders: creation, the one place status transitions are enforced, cancellation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from dispatch import clock, ports
from dispatch.errors import Conflict, DomainError, InvalidTransition, ValidationFailed
from dispatch.facts import IntegratorEvent, OrderDetailsChanged
from dispatch.live_events import order_changed
from dispatch.models import Event, Hub, Order, Organization, Stop
from dispatch.selectors import one_policy_read, required_proof, service_rules
from dispatch.status import (
    ExceptionKind,
    OrderStatus,
    ProofKind,
    ServiceLevel,
    Severity,
    StopKind,
)
from infra import bus, facts

from . import ActorRef
from .assignments import assignment_release
from .exceptions import exception_raise
from .lifecycle import order_transition
from .log import event_record
from .proof import proof_record
from .routes import stop_complete_for_order

ORDER_FIELDS = (
    "external_ref", "address", "lat", "lon", "window_start", "window_end", "sla_deadline", "service_level",
    "weight_kg", "volume_m3", "requires", "service_min", "customer_name", "customer_email", "customer_phone", "proof_required",
    "instructions",
)


def order_build(organization_id: int, hubs: dict[str, Hub], data: dict) -> Order:
    """An order from validated data, not saved (its derived fields set)."""
    hub = hubs[data["hub"]]
    fields = {k: data[k] for k in ORDER_FIELDS if k in data}
    fields.setdefault("sla_deadline", data["window_end"])
    return Order(organization_id=organization_id, hub=hub, **fields).derive(hub)


def promise_check(organization_id: int, orders: list[Order]) -> None:
    """Hold new orders to their service level's promise (the organization's rules): its lead time,
    its longest window and its cut-off for today; add the handling the level requires."""
    rules = service_rules(organization_id)
    now = clock.now()
    errors: dict[str, list[str]] = {}
    for order in orders:
        rule = rules[order.service_level]
        label = ServiceLevel(order.service_level).label
        order.requires = sorted(set(order.requires or []) | set(rule.handling or []))
        if rule.lead_min and order.window_start < now + timedelta(minutes=rule.lead_min - 1):
            errors.setdefault("window_start", []).append(
                f"{order.external_ref}: {label} needs {rule.lead_min} minutes from ordering to the window's start.")
        if rule.max_window_min and order.window_end - order.window_start > timedelta(minutes=rule.max_window_min):
            errors.setdefault("window_end", []).append(
                f"{order.external_ref}: a {label.lower()} window is at most {rule.max_window_min} minutes long.")
        if rule.cutoff is not None:
            local = timezone.localtime(now)
            if local.time() > rule.cutoff and timezone.localtime(order.window_start).date() <= local.date():
                errors.setdefault("window_start", []).append(
                    f"{order.external_ref}: {label.lower()} orders for today are taken until {rule.cutoff:%H:%M}; offer a window tomorrow.")
    if errors:
        raise ValidationFailed("The order does not fit its service level's promise", errors=errors)


@transaction.atomic
def orders_create(*, organization_id: int, orders: list[dict], actor: ActorRef) -> list[Order]:
    """Create a batch of already-validated orders in one transaction (all or nothing)."""
    codes = {o["hub"] for o in orders}
    hubs = {h.code: h for h in Hub.objects.filter(organization_id=organization_id, code__in=codes)}
    unknown = sorted(codes - hubs.keys())
    if unknown:
        raise ValidationFailed("Unknown hub", errors={"hub": [f"No hub with code {c!r}" for c in unknown]})
    refs = [o["external_ref"] for o in orders]
    if len(set(refs)) != len(refs):
        raise ValidationFailed("The batch repeats an external_ref", errors={"external_ref": ["Each order in a batch needs its own external_ref"]})
    taken = set(Order.objects.filter(organization_id=organization_id, external_ref__in=refs).values_list("external_ref", flat=True))
    if taken:
        raise ValidationFailed(
            "An order with this external_ref exists already",
            errors={"external_ref": [f"{r!r} exists already" for r in sorted(taken)]},
        )
    built = [order_build(organization_id, hubs, o) for o in orders]
    promise_check(organization_id, built)
    created = Order.objects.bulk_create(built)
    # bulk_create returns primary keys on PostgreSQL and SQLite >= 3.35.
    with one_policy_read():  # the integrators' subscriptions read once for the batch, not once an order
        _announce_created(organization_id, created, actor)
    if Organization.objects.filter(pk=organization_id, auto_plan=True).exists():
        ports.PLAN_NEW_ORDERS.start(organization_id)
    return created


def _announce_created(organization_id: int, created: list[Order], actor: ActorRef) -> None:
    for order in created:
        event_record(organization_id=organization_id, kind="order.created", actor=actor, order=order,
                     data={"ref": order.external_ref, "service_level": order.service_level})
        bus.publish(organization_id, "order.changed", order_changed(order))
        facts.record(IntegratorEvent(organization_id=organization_id, event_type="order.created",
                                     data={"order": order.external_ref, "status": order.status, "hub": order.hub.code}))


def orders_insert_many(*, organization_id: int, orders: list[Order], actor: ActorRef) -> list[Order]:
    """Orders built and held to every rule already (a streamed file import, in its transaction):
    inserted a batch at a time, each with its created event, each told to integrators; live
    screens hear of them once, from `orders_imported`, when the whole file is in."""
    created = Order.objects.bulk_create(orders, batch_size=1000)
    events = [(o.id, {"ref": o.external_ref, "service_level": o.service_level}) for o in created]
    if connection.vendor == "postgresql":  # COPY: the events are many and simple (no model instances, no per-value SQL)
        at = clock.now()
        with connection.cursor() as cursor, cursor.cursor.copy(
                "COPY dispatch_event (organization_id, kind, order_id, actor_type, actor, data, created_at) FROM STDIN") as copy:
            for order_id, data in events:
                copy.write_row((organization_id, "order.created", order_id, actor.type, actor.name, json.dumps(data), at))
    else:
        Event.objects.bulk_create([Event(organization_id=organization_id, kind="order.created", order_id=order_id, actor_type=actor.type,
                                         actor=actor.name, data=data) for order_id, data in events], batch_size=1000)
    for order in created:
        facts.record(IntegratorEvent(organization_id=organization_id, event_type="order.created",
                                     data={"order": order.external_ref, "status": order.status, "hub": order.hub.code}))
    return created


def orders_imported(*, organization_id: int, count: int, hubs: list[str]) -> None:
    """A file's orders are all in (inside its transaction): one hint for live screens, and the
    planner places them when the organization plans as orders arrive."""
    if not count:
        return
    bus.publish(organization_id, "orders.imported", {"count": count, "hubs": hubs})
    if Organization.objects.filter(pk=organization_id, auto_plan=True).exists():
        ports.PLAN_NEW_ORDERS.start(organization_id)


def _lock(order_id: int) -> Order:
    return Order.objects.select_for_update(of=("self",)).select_related("hub", "vehicle", "carrier").get(pk=order_id)


@transaction.atomic
def order_set_status(*, organization_id: int, order_id: int, status: str, actor: ActorRef,
                     reason: str = "", failure_reason: str = "", at: datetime | None = None) -> Order:
    order = _lock(order_id)
    if order.organization_id != organization_id:
        raise InvalidTransition("Order belongs to another organization")
    order = order_transition(order=order, status=status, actor=actor, reason=reason, failure_reason=failure_reason, at=at)
    if status in (OrderStatus.PICKED_UP, OrderStatus.DELIVERED, OrderStatus.FAILED):

        stop_complete_for_order(order=order, kind=StopKind.PICKUP if status == OrderStatus.PICKED_UP else StopKind.DELIVERY,
                                at=at or clock.now())
    return order


@transaction.atomic
def order_cancel(*, organization_id: int, order_id: int, actor: ActorRef, reason: str = "") -> Order:
    order = _lock(order_id)
    order = order_transition(order=order, status=OrderStatus.CANCELLED, actor=actor, reason=reason or "cancelled")

    assignment_release(order=order, actor=actor, reason="order cancelled")
    return order


BEFORE_PICKUP = (OrderStatus.CREATED, OrderStatus.PLANNED, OrderStatus.ASSIGNED, OrderStatus.BOOKED)
CHANGEABLE = ("address", "lat", "lon", "window_start", "window_end", "sla_deadline", "weight_kg", "volume_m3", "requires",
              "service_min", "instructions", "customer_name", "customer_email", "customer_phone")
REPLAN_ON = {"address", "lat", "lon", "window_start", "window_end", "sla_deadline", "weight_kg", "volume_m3", "requires", "service_min"}
MAX_WINDOW = timedelta(days=14)


def _plain(value):
    return value.isoformat() if isinstance(value, datetime) else value


@transaction.atomic
def order_update(*, organization_id: int, order_id: int, changes: dict, actor: ActorRef, version: int | None = None) -> Order:
    """Change an order not yet picked up (address, window, contents, instructions, contact). The change
    is validated against the whole order, logged with a field-level diff, and when it touches where,
    when or what, the order is taken off its van or carrier and placed again by the engine. The
    customer gets one confirmation. A stale version is a 409: one writer wins."""
    order = _lock(order_id)
    if order.organization_id != organization_id:
        raise Order.DoesNotExist
    if version is not None and version != order.version:
        raise Conflict(f"Order {order.external_ref} changed since you read it (you sent version {version}, it is at "
                       f"version {order.version}); read it again and resend your change.", current=order.version)
    if order.status not in BEFORE_PICKUP:
        raise Conflict(f"Order {order.external_ref} is {OrderStatus(order.status).label.lower()}: it can only be changed "
                       "before it is picked up.", current=order.status)
    diff = {}
    for field in CHANGEABLE:
        if field in changes and getattr(order, field) != changes[field]:
            diff[field] = [_plain(getattr(order, field)), _plain(changes[field])]
            setattr(order, field, changes[field])
    if not diff:
        return order
    if "window_end" in diff and "sla_deadline" not in changes and order.sla_deadline == datetime.fromisoformat(diff["window_end"][0]):
        order.sla_deadline = order.window_end  # the deadline followed the window; it still does
    errors = {}
    if order.window_end <= order.window_start:
        errors["window_end"] = ["The window must end after it starts."]
    elif order.window_end - order.window_start > MAX_WINDOW:
        errors["window_end"] = [f"A delivery window is at most {MAX_WINDOW.days} days long."]
    if order.window_end < clock.now():
        errors.setdefault("window_end", []).append("The new window is already over.")
    if order.sla_deadline < order.window_start:
        errors["sla_deadline"] = ["The SLA deadline cannot be before the window starts."]
    if errors:
        raise ValidationFailed("The change does not fit the order; nothing was changed", errors=errors)
    order.version += 1
    order.save()
    event_record(organization_id=organization_id, kind="order.updated", actor=actor, order=order, data={"changes": diff})
    facts.record(IntegratorEvent(organization_id=organization_id, event_type="order.updated",
                                 data={"order": order.external_ref, "changed": sorted(diff)}))
    replan = bool(REPLAN_ON & diff.keys())
    if replan and order.status in (OrderStatus.ASSIGNED, OrderStatus.BOOKED):

        assignment_release(order=order, actor=actor, reason="changed after checkout")
        order = order_transition(order=order, status=OrderStatus.PLANNED, actor=actor, reason="changed after checkout: to be placed again")
    bus.publish(organization_id, "order.changed", order_changed(order))
    if replan:
        ports.PLAN_NEW_ORDERS.start(organization_id)
    facts.record(OrderDetailsChanged(order=order))
    return order


DAY_OPENS, DAY_CLOSES, DAYS_AHEAD = 8, 21, 3


def windows_offered(order: Order, *, count: int = 6) -> list[tuple[datetime, datetime]]:
    """Delivery windows a customer may move their order to: as long as the one they have (within
    their service level's longest window), from the level's lead time and cut-off on, between 08:00
    and 21:00 over the next days; the one they have is not among them."""
    return windows_for_level(order.organization_id, order.service_level, length=order.window_end - order.window_start, count=count,
                             besides=(order.window_start, order.window_end))


def windows_for_level(organization_id: int, service_level: str, *, length: timedelta, count: int = 6, not_before: date | None = None,
                      besides: tuple[datetime, datetime] | None = None) -> list[tuple[datetime, datetime]]:
    """The first `count` windows of about `length` (within the level's longest window) that the
    service level can promise from now: its lead time and cut-off, 08:00 to 21:00 local, over the
    next days, none on a day before `not_before`, and not `besides`."""
    rule = service_rules(organization_id)[service_level]
    if rule.max_window_min:
        length = min(length, timedelta(minutes=rule.max_window_min))
    length = min(max(length, timedelta(minutes=30)), timedelta(hours=DAY_CLOSES - DAY_OPENS))
    now = timezone.localtime(clock.now())
    earliest = now + timedelta(minutes=rule.lead_min or 0)
    if rule.cutoff is not None and now.time() > rule.cutoff:
        earliest = max(earliest, (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0))
    out = []
    for day in range(DAYS_AHEAD + 1):
        start = (now + timedelta(days=day)).replace(hour=DAY_OPENS, minute=0, second=0, microsecond=0)
        if not_before is not None and start.date() < not_before:
            continue
        close = start.replace(hour=DAY_CLOSES)
        while start + length <= close and len(out) < count:
            if start >= earliest and (start, start + length) != besides:
                out.append((start, start + length))
            start += length
    return out


@transaction.atomic
def order_change_by_customer(*, token: str, window_start: str, instructions: str | None, version: int) -> Order:
    """The customer's own change from the tracking page: one of the offered windows and/or delivery
    instructions, before pickup. Logged as the customer's, re-planned, confirmed in one message."""
    order = Order.objects.select_for_update().get(tracking_token=token)
    changes: dict = {}
    if window_start:
        chosen = next(((s, e) for s, e in windows_offered(order) if s.isoformat() == window_start), None)
        if chosen is None:
            raise ValidationFailed("That window is not offered any more; pick one of the list.",
                                   errors={"window": ["Not one of the windows offered now."]})
        changes["window_start"], changes["window_end"] = chosen
    if instructions is not None:
        text = instructions.strip()
        if len(text) > 500:
            raise ValidationFailed("Instructions are at most 500 characters.", errors={"instructions": ["At most 500 characters."]})
        changes["instructions"] = text
    if not changes:
        raise ValidationFailed("Nothing to change: pick a window or write instructions.", errors={"window": ["Pick a window."]})
    return order_update(organization_id=order.organization_id, order_id=order.id, changes=changes, actor=ActorRef.customer(),
                        version=version)


def orders_bulk_cancel(*, organization_id: int, orders: list[Order], actor: ActorRef) -> tuple[int, list[str]]:
    """Cancel each of the orders it still can (each in its own transaction). Returns how many, and
    for the others the reason."""
    done, refused = 0, []
    for order in orders:
        try:
            order_cancel(organization_id=organization_id, order_id=order.id, actor=actor, reason=f"cancelled in bulk by {actor.name}")
            done += 1
        except DomainError as exc:
            refused.append(f"{order.external_ref}: {exc.message}")
    return done, refused


PLANNABLE = (OrderStatus.CREATED, OrderStatus.PLANNED, OrderStatus.ASSIGNED, OrderStatus.BOOKED, OrderStatus.FAILED)


def orders_hand_to_planner(*, organization_id: int, orders: list[Order], actor: ActorRef) -> list[Order]:
    """Ask the planner for a proposal for the orders that can still move: an exception of their own,
    answered by the engine like any other. Returns the orders handed over."""
    movable = [o for o in orders if o.status in PLANNABLE]
    if movable:
        exception_raise(
            organization_id=organization_id, kind=ExceptionKind.REPLAN, cause_key=f"bulk:{actor.name}:{clock.now():%Y%m%d%H%M%S%f}",
            title=f"{len(movable)} orders handed to the planner by {actor.name}", severity=Severity.LOW,
            cause="A dispatcher asked for a proposal for these orders", order_ids=[o.id for o in movable])
    return movable


@dataclass(frozen=True)
class ProofFile:
    """A photo or signature as the driver's phone sent it."""

    content_type: str
    data: bytes


def _years(born_on: date, on: date) -> int:
    return on.year - born_on.year - ((on.month, on.day) < (born_on.month, born_on.day))


def order_deliver(*, order: Order, actor: ActorRef, pin: str = "", born_on: date | None = None, photo: ProofFile | None = None,
                  signature: ProofFile | None = None, source: str = "driver app", at: datetime | None = None) -> Order:
    """A driver delivers an order with the proof in hand that it requires: the customer's PIN
    (checked; a wrong one is refused), the recipient's date of birth for an age check (of age on
    the day, or refused: the date itself is not kept, only the age), a photo, a signature. Refused
    with what is missing before anything is recorded."""
    needed = required_proof(order)
    if ProofKind.PIN in needed and not pin.strip():
        raise ValidationFailed("The order needs the customer's PIN.", errors={"pin": ["Ask the customer for their PIN."]})
    if ProofKind.AGE_CHECK in needed and born_on is None:
        raise ValidationFailed("The order needs an age check: enter the recipient's date of birth from their ID.",
                               errors={"born_on": ["Enter the date of birth on the recipient's ID."]})
    if ProofKind.PHOTO in needed and photo is None:
        raise ValidationFailed("The order needs a photo of the delivery.", errors={"photo": ["Take a photo of the parcel where you left it."]})
    if ProofKind.SIGNATURE in needed and signature is None:
        raise ValidationFailed("The order needs the recipient's signature.", errors={"signature": ["Have the recipient sign on the screen."]})
    when = at or clock.now()
    if ProofKind.PIN in needed:
        proof_record(order=order, kind=ProofKind.PIN, source=source, actor=actor, pin=pin.strip())
    if ProofKind.AGE_CHECK in needed:
        today = when.astimezone(clock.zone_of(order.organization)).date()
        age, minimum = _years(born_on, today), settings.AGE_CHECK_MIN_YEARS
        if born_on > today or age > 130:
            raise ValidationFailed("That date of birth cannot be right.", errors={"born_on": ["Check the date on the ID again."]})
        if age < minimum:
            raise ValidationFailed(f"The recipient is {age}, under {minimum}: don't hand it over; record it as not delivered "
                                   "(refused).", errors={"born_on": [f"Under {minimum}."]})
        proof_record(order=order, kind=ProofKind.AGE_CHECK, source=source, actor=actor, checked=True,
                     details={"age": age, "minimum": minimum})
    for kind, given in ((ProofKind.PHOTO, photo), (ProofKind.SIGNATURE, signature)):
        if given is not None:
            proof_record(order=order, kind=kind, source=source, actor=actor, content_type=given.content_type, data=given.data,
                         filename=f"{order.external_ref}-{kind}")
    return order_set_status(organization_id=order.organization_id, order_id=order.id, status=OrderStatus.DELIVERED,
                            actor=actor, reason=source, at=at)


def order_pick_up(*, order: Order, actor: ActorRef, source: str = "driver app", at: datetime | None = None) -> Order:
    """A driver picked the order up. When the van's next stop is then a delivery (this load is
    complete), every order on board goes out for delivery, and its customer hears so."""
    order = order_set_status(organization_id=order.organization_id, order_id=order.id, status=OrderStatus.PICKED_UP,
                             actor=actor, reason=source, at=at)
    if order.vehicle_id is None:
        return order
    following = (Stop.objects.filter(route__vehicle_id=order.vehicle_id, route__active=True, completed_at__isnull=True)
                 .order_by("route_id", "sequence").values_list("kind", flat=True).first())
    if following == StopKind.DELIVERY:
        for other in Order.objects.filter(vehicle_id=order.vehicle_id, status=OrderStatus.PICKED_UP).values_list("id", flat=True):
            order_set_status(organization_id=order.organization_id, order_id=other, status=OrderStatus.OUT_FOR_DELIVERY,
                             actor=actor, reason="loaded: the van leaves for its deliveries", at=at)
        order.refresh_from_db()
    return order


def order_attempt_failed(*, order: Order, actor: ActorRef, reason: str, photo: ProofFile | None = None,
                         source: str = "driver app", at: datetime | None = None) -> Order:
    """A driver could not deliver: the reason, and a photo of the attempt when they took one (kept
    with the order's proof as a failed attempt's; it proves no delivery)."""
    if photo is not None:
        proof_record(order=order, kind=ProofKind.PHOTO, source=source, actor=actor, content_type=photo.content_type, data=photo.data,
                     filename=f"{order.external_ref}-attempt", details={"attempt": "failed", "reason": reason}, verified=False)
    return order_set_status(organization_id=order.organization_id, order_id=order.id, status=OrderStatus.FAILED, actor=actor,
                            failure_reason=reason, reason=source, at=at)
