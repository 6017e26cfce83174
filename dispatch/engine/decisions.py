"""Decisions: create, approve (all or part), override, reject, apply. Concurrent actions on one
decision end with one winner; the other gets a Conflict (409) with the current state."""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.db import connection, transaction

from carriers.adapters import CarrierError
from carriers.booking import book_order
from carriers.models import BookingStatus, CarrierBooking
from dispatch import clock, ports
from dispatch.errors import Conflict, ValidationFailed
from dispatch.facts import IntegratorEvent
from dispatch.models import Decision, Order, OrderException, Vehicle
from dispatch.permissions import within_policy
from dispatch.selectors import one_policy_read, policy_for, vans_unavailable
from dispatch.services import ActorRef
from dispatch.services.assignments import (
    assignment_handover,
    assignment_release,
    assignment_to_vehicle,
)
from dispatch.services.exceptions import (
    exception_close,
    exception_keep_open_for,
    exception_mark_proposed,
)
from dispatch.services.log import event_record
from dispatch.services.orders import order_transition
from dispatch.services.routes import route_active_for, route_recompute_etas, route_resequence
from dispatch.status import (
    Actor,
    DecisionState,
    ExceptionState,
    OrderStatus,
    OverrideReason,
)
from infra import bus, facts

from .messages import messages_window_from


def decision_payload(d: Decision) -> dict:
    hubs = sorted(set(Order.objects.filter(organization_id=d.organization_id, external_ref__in=[m["order"] for m in d.moves])
                      .values_list("hub__code", flat=True)))
    return {"id": d.id, "state": d.state, "exception": d.exception_id, "hubs": hubs}


def decision_create(*, exception: OrderException, moves: list[dict], cost_delta: float, sla_improved: int,
                    sla_worsened: int, problem: dict | None = None) -> Decision:
    with transaction.atomic():
        exc = OrderException.objects.select_for_update().get(pk=exception.pk)
        Decision.objects.filter(exception=exc, state=DecisionState.PROPOSED).update(state=DecisionState.SUPERSEDED)
        n_carrier = sum(1 for m in moves if m["to"]["kind"] == "carrier")
        n_van = sum(1 for m in moves if m["to"]["kind"] == "van")
        n_handover = sum(1 for m in moves if m.get("handover"))
        decision = Decision.objects.create(
            organization_id=exc.organization_id, exception=exc, moves=moves, cost_delta=cost_delta, sla_improved=sla_improved,
            problem=problem,
            sla_worsened=sla_worsened,
            summary=(f"{n_van} to vans, {n_carrier} to carriers, {len(moves) - n_van - n_carrier} unserved"
                     + (f" ({n_handover} on board, handed over to {moves[-1]['to']['code']})" if n_handover else "")
                     + f"; cost {cost_delta:+.2f}"),
        )
        exception_mark_proposed(exception=exc)
        event_record(organization_id=exc.organization_id, kind="decision.proposed", actor=ActorRef.system("planner"),
                     carrier=exc.carrier, vehicle=exc.vehicle,
                     data={"decision": decision.id, "exception": exc.id, "moves": len(moves), "cost_delta": cost_delta,
                           "sla_worsened": sla_worsened})
        bus.publish(exc.organization_id, "decision.changed", decision_payload(decision))
        policy = policy_for(exc.organization_id)
        # A hand-over needs two drivers to meet at the roadside: a dispatcher arranges it, never the policy.
        auto = not n_handover and within_policy(policy, kind=exc.kind, cost_delta=cost_delta, sla_worsened=sla_worsened, moves=moves)
    if auto:
        try:
            return decision_approve(decision_id=decision.id, version=decision.version, actor=ActorRef(Actor.SYSTEM, "policy"),
                                    note=f"within policy: cost {cost_delta:+.2f} <= {policy.max_cost_increase:.2f}, no SLA made worse")
        except Conflict:  # someone acted first, or a van it used went unavailable meanwhile (withdrawn, proposed anew)
            return Decision.objects.get(pk=decision.id)
    return decision


def _locked(decision_id: int, version: int) -> tuple[Decision, list[Order]]:
    """Lock in the one order: orders, then the decision. Raises Conflict if someone acted first."""
    peek = Decision.objects.get(pk=decision_id)
    refs = sorted(m["order"] for m in peek.moves)
    orders = list(Order.objects.select_for_update(of=("self",)).filter(organization_id=peek.organization_id, external_ref__in=refs)
                  .select_related("hub", "vehicle", "carrier").order_by("id"))
    decision = Decision.objects.select_for_update().get(pk=decision_id)
    if decision.state == DecisionState.PROPOSED and decision.version != version:
        raise Conflict(f"Someone is applying this decision right now (you saw version {version}, it is now version "
                       f"{decision.version}). Reload to see the result.", current="applying")
    if decision.state != DecisionState.PROPOSED or decision.version != version:
        who = f" by {decision.decided_by}" if decision.decided_by else ""
        raise Conflict(
            f"This decision was already {decision.get_state_display().lower()}{who}; you saw version {version}, it is now "
            f"version {decision.version}. Reload to see the current state.", current=decision.state,
        )
    return decision, orders


def _finish(decision: Decision, state: str, actor: ActorRef, note: str = "", reason_code: str = "") -> None:
    decision.state, decision.version = state, decision.version + 1
    decision.decided_by, decision.decided_actor_type, decision.decided_at = actor.name, actor.type, clock.now()
    decision.note, decision.reason_code = note, reason_code
    decision.save()
    exc = decision.exception
    moved = [m["order"] for m in decision.moves if m.get("applied")]
    if decision.reverses_id is not None:  # an undo: the log and the feed say what it undid, not "applied"
        event_record(organization_id=decision.organization_id, kind="decision.undone", actor=actor, carrier=exc.carrier,
                     vehicle=exc.vehicle, data={"decision": decision.reverses_id, "reverse": decision.id, "orders": moved})
    else:
        event_record(organization_id=decision.organization_id, kind=f"decision.{state}", actor=actor, carrier=exc.carrier,
                     vehicle=exc.vehicle, data={"decision": decision.id, "exception": exc.id, "note": note, "reason_code": reason_code,
                                                "moves": moved})
    bus.publish(decision.organization_id, "decision.changed", decision_payload(decision))
    if state in (DecisionState.APPLIED, DecisionState.PARTIALLY_APPLIED):
        facts.record(IntegratorEvent(organization_id=decision.organization_id, event_type="decision.applied",
                                     data={"decision": decision.id, "exception": exc.id, "by": actor.name,
                                           "moves": [{"order": m["order"], "to": m["to"]} for m in decision.moves if m.get("applied")]}))


def decision_approve(*, decision_id: int, version: int, actor: ActorRef, orders: list[str] | None = None,
                     note: str = "", background: bool = False) -> Decision:
    """Apply every move, or only those for the named orders (approve part). Orders left out, or
    whose move failed, keep the exception open for them, and the planner proposes anew.
    `background`: when more carrier bookings are left than one round of booking threads makes, a
    task books them (decision_finish) and the decision is returned still applying (moves pending);
    the person who approved watches them land instead of waiting on one long request."""
    if orders is not None and not orders:
        raise ValidationFailed("Nothing selected", errors={"orders": ["Select at least one order to approve, or reject the proposal."]})
    since = clock.now()
    with transaction.atomic(), messages_window_from(since):
        decision, locked = _locked(decision_id, version)
        chosen = set(orders) if orders is not None else {m["order"] for m in decision.moves}
        unknown = chosen - {m["order"] for m in decision.moves}
        if unknown:
            raise ValidationFailed("Not part of this decision", errors={"orders": [f"{r} is not in this decision" for r in sorted(unknown)]})
        stale = _gone_unavailable(decision, chosen)
        if stale:  # withdrawn (committed), then refused below
            _withdraw(decision, actor=actor, why=stale)
        else:
            by_ref = {o.external_ref: o for o in locked}
            moves = _apply_local(decision, [(m, m["order"] in chosen) for m in decision.moves], by_ref, actor)
            deferred = background and sum(1 for m in moves if m.get("pending")) > BOOKING_THREADS
            if deferred:  # the row is the outbox: a lost enqueue is finished by decisions_resume
                ports.FINISH_DECISION.start(decision.id, actor.type, actor.name, note, since.isoformat())
    if stale:
        raise Conflict(f"{stale}. The proposal was made before that, so it is withdrawn; the planner is making a new one "
                       f"without that van.", current=DecisionState.SUPERSEDED)
    if deferred:
        return Decision.objects.get(pk=decision.id)  # tasks run in-process (the embedded default): finished already
    return _complete(decision.id, moves, actor, note, how="applied", since=since)


def _gone_unavailable(decision: Decision, chosen: set[str]) -> str:
    """Why a van the chosen moves give work to may no longer take it (its driver has not started, or
    it went silent since the proposal was made), or '' when every one still may: the same rule of
    availability every planning path reads (selectors.vans_unavailable)."""
    vans = {m["to"]["code"] for m in decision.moves if m["order"] in chosen and m["to"]["kind"] == "van"}
    if not vans:
        return ""
    gone = [u for u in vans_unavailable(organization_id=decision.organization_id).values() if u.code in vans]
    return "; ".join(f"Van {u.code} cannot take work now: {u.why}" for u in sorted(gone, key=lambda u: u.code))


def _withdraw(decision: Decision, *, actor: ActorRef, why: str) -> None:
    """Take back a proposal that no longer holds; its exception is open again and proposed anew
    (after commit, through the port)."""
    decision.state, decision.version = DecisionState.SUPERSEDED, decision.version + 1
    decision.note = why[:300]
    decision.save(update_fields=["state", "version", "note"])
    exc = decision.exception
    if exc.state == ExceptionState.PROPOSED:
        exc.state = ExceptionState.OPEN
        exc.save(update_fields=["state", "updated_at"])
    event_record(organization_id=decision.organization_id, kind="decision.withdrawn", actor=actor, carrier=exc.carrier,
                 vehicle=exc.vehicle, data={"decision": decision.id, "exception": exc.id, "note": why})
    bus.publish(decision.organization_id, "decision.changed", decision_payload(decision))
    ports.PROPOSE_DECISION.start(exc.id)


def decision_bookings_made(decision: Decision) -> int:
    """How many of an applying decision's carrier bookings are confirmed so far (each is keyed by the
    decision and its order, see _complete)."""
    return CarrierBooking.objects.filter(organization_id=decision.organization_id, idempotency_key__startswith=f"decision:{decision.id}:",
                                         status__in=(BookingStatus.CONFIRMED, BookingStatus.COMPLETED)).count()


def decision_finish(*, decision_id: int, actor: ActorRef, note: str = "", since: datetime | None = None) -> Decision | None:
    """Book the carrier moves an approval left pending (decision_approve with `background`).
    Idempotent: a decision no longer applying is left alone, and a booking made already is found
    by its key, so a redelivered task books nothing twice."""
    decision = Decision.objects.filter(pk=decision_id, state=DecisionState.PROPOSED).only("id", "moves").first()
    if decision is None or not any(m.get("pending") for m in decision.moves):
        return None
    return _complete(decision.id, decision.moves, actor, note, how="applied", since=since)


def _apply_local(decision: Decision, moves: list[tuple[dict, bool]], by_ref: dict, actor: ActorRef) -> list[dict]:
    """The first step of applying a decision, inside its transaction: every move that stays in our
    database (vans, unserved) is applied; carrier moves are marked pending, to be booked after
    commit with no lock held. The decision's version moves on, so a second approval is refused."""
    out = []
    vans = VanWork()
    with one_policy_read():
        for move, apply in moves:
            if not apply or move.get("applied") or move.get("pending"):
                out.append(move)  # done already, or left pending by an approval that stopped half-way: booked again below
            else:
                out.append(_apply_or_record(order=by_ref[move["order"]], move=move, actor=actor, decision_id=decision.id, vans=vans))
        vans.finish()
    decision.moves, decision.version = out, decision.version + 1
    decision.save(update_fields=["moves", "version"])
    return out


# Carrier bookings of one decision made at once (each an HTTP call with its own order and key).
BOOKING_THREADS = 8


def _complete(decision_id: int, moves: list[dict], actor: ActorRef, note: str, *, how: str, reason_code: str = "",
              since: datetime | None = None) -> Decision:
    """Book the pending carrier moves (no transaction open), then record the outcome. Customers'
    messages count their change window from `since` (when applying began)."""
    since = since or clock.now()

    organization_id = Decision.objects.values_list("organization_id", flat=True).get(pk=decision_id)
    threaded = not transaction.get_connection().in_atomic_block  # a caller's open transaction: its rows are not visible elsewhere

    def book(move: dict) -> dict:
        move = {k: v for k, v in move.items() if k != "pending"}
        try:
            order = Order.objects.get(organization_id=organization_id, external_ref=move["order"])
            book_order(order=order, carrier_code=move["to"]["code"], actor=actor, key=f"decision:{decision_id}:{order.id}",
                       allowed=(OrderStatus.CREATED, OrderStatus.PLANNED, OrderStatus.ASSIGNED, OrderStatus.BOOKED))
            move["applied"] = True
        except (CarrierError, Conflict) as exc:
            move["failed"] = getattr(exc, "message", None) or str(exc)
        return move

    pending = [m for m in moves if m.get("pending")]
    with messages_window_from(since), one_policy_read():
        # A pool thread does not inherit context variables: each booking runs in a copy of this
        # one (the message window, and one read of the rules shared by all of them).
        context = contextvars.copy_context()
        if threaded and len(pending) > 1 and BOOKING_THREADS > 1:  # each its own order and key: the carriers are asked side by side
            out: list[dict | None] = [None] * len(pending)
            work, taking = iter(enumerate(pending)), threading.Lock()

            def booker() -> None:
                """Takes the next move until none is left: one database connection per thread, not
                one per booking (a connection costs milliseconds to open)."""
                try:
                    while True:
                        with taking:
                            item = next(work, None)
                        if item is None:
                            return
                        out[item[0]] = context.copy().run(book, item[1])
                finally:
                    connection.close()  # the pool thread's own connection

            threads = min(BOOKING_THREADS, len(pending))
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ct-book") as pool:
                for running in [pool.submit(booker) for _ in range(threads)]:
                    running.result()
            booked = iter(out)
        else:
            booked = iter([book(m) for m in pending])
    done = [next(booked) if m.get("pending") else m for m in moves]
    with transaction.atomic():
        decision = Decision.objects.select_for_update().select_related("exception").get(pk=decision_id)
        if decision.state != DecisionState.PROPOSED:
            return decision  # finished meanwhile (the sweep and a dispatcher both finishing a stopped approval)
        decision.moves = done
        left = [m["order"] for m in done if not m.get("applied")]
        _finish(decision, DecisionState.PARTIALLY_APPLIED if left else DecisionState.APPLIED, actor, note, reason_code)
        if decision.reverses_id is None:
            _settle_exception(decision=decision, actor=actor, left=left, how=how)
    return decision


def _settle_exception(*, decision: Decision, actor: ActorRef, left: list[str], how: str) -> None:
    """Close the exception when every order was handled; otherwise keep it open for the orders
    left (deselected, or whose move failed) and ask the planner for a new proposal for them."""
    if not left:
        exception_close(exception_id=decision.exception_id, state=ExceptionState.RESOLVED, actor=actor,
                        note=f"decision {decision.id} {how}")
        return
    exception_keep_open_for(exception_id=decision.exception_id, order_refs=left, actor=actor,
                            note=f"decision {decision.id} {how} in part; {len(left)} orders still need a home")


def decision_override(*, decision_id: int, version: int, actor: ActorRef, order: str, to_kind: str, to_code: str,
                      reason_code: str, note: str = "") -> Decision:
    """A dispatcher picks another feasible carrier or van for one order, with a reason code; the
    rest of the decision is applied as proposed."""
    if reason_code not in OverrideReason.values:
        raise ValidationFailed("Give a reason", errors={"reason_code": [f"Use one of {', '.join(OverrideReason.values)}"]})
    peek = Decision.objects.get(pk=decision_id)
    move = next((m for m in peek.moves if m["order"] == order), None)
    if move is None:
        raise ValidationFailed("Not part of this decision", errors={"order": [f"{order} is not in this decision"]})
    feasible = [a for a in move.get("alternatives", []) if a["kind"] == to_kind and a["code"] == to_code]
    if not feasible and not (move["to"]["kind"] == to_kind and move["to"]["code"] == to_code):
        options = ", ".join(f"{a['kind']} {a['code']}" for a in move.get("alternatives", [])) or "none"
        raise ValidationFailed("Not a feasible option", errors={"to": [f"{to_kind} {to_code} cannot take {order}; feasible: {options}"]})
    since = clock.now()
    with transaction.atomic(), messages_window_from(since):
        decision, locked = _locked(decision_id, version)
        by_ref = {o.external_ref: o for o in locked}
        planned = [({**m, "to": {"kind": to_kind, "code": to_code}, "route": None, "overridden": True} if m["order"] == order else m, True)
                   for m in decision.moves]
        moves = _apply_local(decision, planned, by_ref, actor)
    return _complete(decision.id, moves, actor, note, how="applied with an override", reason_code=reason_code, since=since)


@transaction.atomic
def decision_reject(*, decision_id: int, version: int, actor: ActorRef, note: str = "") -> Decision:
    decision, _ = _locked(decision_id, version)
    _finish(decision, DecisionState.REJECTED, actor, note)
    exc = decision.exception
    exc.state = ExceptionState.OPEN
    exc.save(update_fields=["state", "updated_at"])
    return decision


class VanWork:
    """The vans a decision's moves touch: each re-sequenced once to the planner's last word for it
    and its ETAs recomputed once, after all the moves (not once per order moved)."""

    def __init__(self):
        self.routes: dict[int, tuple[Vehicle, list[str]]] = {}
        self.etas: dict[int, Vehicle] = {}
        self._vehicles: dict[tuple[int, str], Vehicle] = {}
        self._active: dict[int, object] = {}

    def vehicle(self, organization_id: int, code: str) -> Vehicle:
        """The van a move names, read once per decision."""
        if (organization_id, code) not in self._vehicles:
            self._vehicles[organization_id, code] = Vehicle.objects.get(organization_id=organization_id, code=code)
        return self._vehicles[organization_id, code]

    def route(self, vehicle: Vehicle, day):
        """The van's active route, read (or begun) once per decision; its stops are appended to the
        same instance, which counts their sequence on."""
        if vehicle.pk not in self._active:
            self._active[vehicle.pk] = route_active_for(vehicle=vehicle, day=day)
        return self._active[vehicle.pk]

    def resequence(self, vehicle: Vehicle, keys: list[str]) -> None:
        self.routes[vehicle.pk] = (vehicle, keys)
        self.etas[vehicle.pk] = vehicle

    def recompute(self, vehicle: Vehicle) -> None:
        self.etas[vehicle.pk] = vehicle

    def finish(self) -> None:
        for vehicle, keys in self.routes.values():
            route_resequence(vehicle=vehicle, keys=keys)
        for vehicle in self.etas.values():
            route_recompute_etas(vehicle=vehicle)
        self.routes.clear()
        self.etas.clear()


def _apply_or_record(*, order: Order, move: dict, actor: ActorRef, decision_id: int, vans: VanWork) -> dict:
    """Apply one move in our database; a carrier move is left pending, booked after commit (_complete)."""
    pending = _apply_move(order=order, move=move, actor=actor, decision_id=decision_id, vans=vans)
    return {**move, "pending": True} if pending else {**move, "applied": True}


def _apply_move(*, order: Order, move: dict, actor: ActorRef, decision_id: int, vans: VanWork) -> bool:
    """Carry out one move in our database: put it on a van route or leave it unserved. Returns True
    for a carrier move, which is booked after commit with no lock held. The vans' sequences and
    ETAs are left to `vans` (VanWork.finish, once the decision's moves are done)."""

    kind, code = move["to"]["kind"], move["to"]["code"]
    if move.get("handover"):  # on board a van that cannot deliver it: another van meets it and takes it over
        meet = move["handover"]
        if order.status not in (OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY) or order.vehicle is None \
                or order.vehicle.code != meet["from"]:
            return False  # it moved on (delivered, or someone moved it) since the proposal
        vehicle = vans.vehicle(order.organization_id, code)
        assignment_handover(order=order, vehicle=vehicle, at=(meet["lat"], meet["lon"]), actor=actor, reason=f"decision {decision_id}")
        if move.get("route"):
            vans.resequence(vehicle, move["route"])
        vans.recompute(vehicle)
        return False
    if order.status not in (OrderStatus.CREATED, OrderStatus.PLANNED, OrderStatus.ASSIGNED, OrderStatus.BOOKED, OrderStatus.FAILED):
        return False  # it moved on (picked up, delivered, cancelled) since the proposal
    left = order.vehicle if move.get("from_route") is not None and order.vehicle_id and (kind, code) != ("van", order.vehicle.code) else None
    if left is not None:  # the van it leaves: the rest of its stops in the planner's order
        vans.resequence(left, move["from_route"])
    if order.status == OrderStatus.FAILED:
        order_transition(order=order, status=OrderStatus.PLANNED, actor=actor, reason="re-attempt")
    reason = f"decision {decision_id}"
    if kind == "van":
        vehicle = vans.vehicle(order.organization_id, code)
        assignment_to_vehicle(order=order, vehicle=vehicle, actor=actor, reason=reason,
                              route=vans.route(vehicle, order.window_start.date()))
        if move.get("route"):
            vans.resequence(vehicle, move["route"])
        vans.recompute(vehicle)
    elif kind == "carrier":
        return True
    else:
        assignment_release(order=order, actor=actor, reason=reason)
        if order.status in (OrderStatus.ASSIGNED, OrderStatus.BOOKED):
            order_transition(order=order, status=OrderStatus.PLANNED, actor=actor, reason=f"{reason}: left unserved for now")
    return False


UNDO_STATES = (OrderStatus.PLANNED, OrderStatus.ASSIGNED, OrderStatus.BOOKED)


def _holder_of(order: Order) -> dict | None:
    if order.vehicle_id:
        return {"kind": "van", "code": order.vehicle.code}
    if order.carrier_id:
        return {"kind": "carrier", "code": order.carrier.code}
    return None


def decision_undo_blockers(decision: Decision) -> list[str]:
    """Why an applied decision can no longer be undone (empty when it can): orders that moved on."""
    if decision.state not in (DecisionState.APPLIED, DecisionState.PARTIALLY_APPLIED):
        return [f"it is {decision.get_state_display().lower()}"]
    if Decision.objects.filter(reverses=decision).exists():
        return ["it was already undone"]
    applied = [m for m in decision.moves if m.get("applied")]
    orders = {o.external_ref: o for o in Order.objects.filter(organization_id=decision.organization_id,
                                                             external_ref__in=[m["order"] for m in applied])
              .select_related("vehicle", "carrier")}
    blockers = []
    for m in applied:
        order = orders.get(m["order"])
        if m.get("handover"):
            blockers.append(f"{m['order']} was handed over from a van that cannot take it back")
        elif order is None or order.status not in UNDO_STATES or _holder_of(order) != {"kind": m["to"]["kind"], "code": m["to"].get("code")}:
            blockers.append(f"{m['order']} has moved on")
    return blockers if applied else ["nothing was applied"]


def decision_undo(*, decision_id: int, organization_id: int, actor: ActorRef) -> Decision:
    """Put the orders of an applied decision back where they were, through the same engine: a
    reverse decision, applied at once and logged. Refused (409) once any of its orders moved on."""
    with transaction.atomic():
        decision, reverse, applied = _undo_local(decision_id, organization_id, actor)
    return _complete(reverse.id, applied, actor, note=f"undo of decision {decision.id}", how="undone")


def _undo_local(decision_id: int, organization_id: int, actor: ActorRef) -> tuple[Decision, Decision, list[dict]]:
    decision = Decision.objects.select_for_update().get(pk=decision_id, organization_id=organization_id)
    blockers = decision_undo_blockers(decision)
    if blockers:
        raise Conflict(f"Decision {decision.id} cannot be undone: {'; '.join(blockers[:5])}.", current=decision.state)
    moves = []
    for m in decision.moves:
        if not m.get("applied"):
            continue
        back = m.get("from") or {"kind": "unserved", "code": ""}
        moves.append({"order": m["order"], "from": m["to"], "to": {"kind": back["kind"], "code": back.get("code", "")},
                      "cost_delta": -float(m.get("cost_delta") or 0.0), "sla_before": m.get("sla_after"),
                      "sla_after": m.get("sla_before"), "alternatives": [], "route": None})
    reverse = Decision.objects.create(
        organization_id=decision.organization_id, exception=decision.exception, moves=moves, reverses=decision,
        cost_delta=-decision.cost_delta, sla_improved=decision.sla_worsened, sla_worsened=decision.sla_improved,
        proposed_by=actor.name, summary=f"Undo of decision {decision.id}: {len(moves)} orders back where they were",
    )
    locked = {o.external_ref: o for o in Order.objects.select_for_update(of=("self",))
              .filter(organization_id=decision.organization_id, external_ref__in=[m["order"] for m in moves])
              .select_related("hub", "vehicle", "carrier").order_by("id")}
    return decision, reverse, _apply_local(reverse, [(m, True) for m in moves], locked, actor)


def decisions_resume(*, older_than_s: float = 120.0, exception_id: int | None = None) -> list[int]:
    """Finish approvals that stopped after their first commit (carrier moves still pending), booking
    with the same keys (the carrier and our booking rows know them: nothing is booked twice). The
    outbox sweep finishes those stopped for a while; a task redelivered after its worker died
    finishes its exception's at once. Returns the decisions finished."""
    qs = Decision.objects.filter(state=DecisionState.PROPOSED)
    if exception_id is not None:
        qs = qs.filter(exception_id=exception_id)
    else:
        qs = qs.filter(updated_at__lt=clock.now() - timedelta(seconds=older_than_s))
    stuck = [d for d in qs.only("id", "moves") if any(m.get("pending") for m in d.moves)]
    for d in stuck:
        _complete(d.id, d.moves, ActorRef(Actor.SYSTEM, "outbox"), note="finished after an interruption", how="applied")
    return [d.id for d in stuck]
