"""Orders, vans, carriers and decisions: their pages, and what a dispatcher does with a decision or an exception (approve, override, reject, undo, claim, snooze, dismiss). Thin: authorize, call the engine or a service, render."""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from carriers.webhooks import webhook_reprocess_for
from dispatch import selectors
from dispatch.engine.decisions import (
    decision_approve,
    decision_bookings_made,
    decision_override,
    decision_reject,
    decision_undo,
)
from dispatch.errors import DomainError, Forbidden
from dispatch.models import ProofOfDelivery, User
from dispatch.permissions import can_decide, refusal, refusal_for
from dispatch.services import ActorRef
from dispatch.services.fleet import shift_message
from dispatch.services.exceptions import (
    exception_claim,
    exception_dismiss,
    exception_snooze,
)
from dispatch.status import (
    CarrierHealth,
    DismissReason,
    OrderStatus,
    Risk,
)
from integrations.models import ShopOrderLink
from web.access import org_for, org_of
from web.orders.timeline import timeline
from web.live.views import exceptions_partial


@login_required
@require_GET
def order_page(request, ref: str):
    """One order's whole story: status timeline, assignments and bookings over time, the decisions
    that touched it, the customer messages sent."""
    story = selectors.order_story(organization_id=org_of(request), ref=ref)
    order = story["order"]
    return render(request, "controltower/order.html", {
        **story,
        "status_label": OrderStatus(order.status).label, "status_colour": OrderStatus.colour(order.status),
        "risk_label": Risk(order.risk).label, "risk_colour": Risk.colour(order.risk),
        "timeline": timeline(story["events"]),
        "shop": ShopOrderLink.objects.filter(order=order).select_related("connection").prefetch_related("updates").first(),
    })


@login_required
@require_GET
def proof_file(request, pk: int):
    """A proof-of-delivery file, to users of the order's organization only (storage paths are never exposed)."""


    proof = ProofOfDelivery.objects.filter(pk=pk, order__organization_id=org_of(request)).exclude(file="").first()
    if proof is None:
        raise Http404("No such proof in your organization.")
    response = FileResponse(proof.file.open("rb"), content_type=proof.content_type or "application/octet-stream")
    response["Content-Disposition"] = f'inline; filename="{proof.order.external_ref}-{proof.kind}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return response


@login_required
@require_GET
def carrier_page(request, code: str):
    """One carrier: health over time with reasons, open bookings, capacity per zone and window
    against what is booked, recent failures."""
    story = selectors.carrier_story(organization_id=org_of(request), code=code)
    reprocessed = request.GET.get("reprocessed", "")
    return render(request, "controltower/carrier.html", {
        **story, "health_colour": CarrierHealth.colour(story["carrier"].health),
        "can_configure": refusal_for(request.user, "configure") is None,
        "reprocessed": int(reprocessed) if reprocessed.isdigit() else None})


@login_required
@require_POST
def carrier_reprocess(request, code: str):
    """An admin fixed the carrier's status mapping (Settings → Network → its config): the webhooks that
    waited for it are processed again, and the carrier page says how many."""
    org = org_for(request, "configure")
    carrier = selectors.carrier_get(organization_id=org, code=code)
    n = webhook_reprocess_for(carrier=carrier)
    return redirect(f"{reverse('carrier-page', args=[carrier.code])}?reprocessed={n}")


@login_required
@require_GET
def vehicle_page(request, code: str):
    """One van: its route in stop order with planned and live ETAs, driver and shift, load against
    capacity, last ping age. `?format=json` gives the path for the live map to draw."""
    story = selectors.vehicle_story(organization_id=org_of(request), code=code)
    if request.GET.get("format") == "json":
        return JsonResponse({"code": story["vehicle"].code, "path": story["path"],
                             "stops": [{"order": s.order.external_ref, "kind": s.kind, "eta": s.eta.isoformat() if s.eta else None}
                                       for s in story["stops"] if s.completed_at is None]})
    return render(request, "controltower/vehicle.html", {**story, "can_message": refusal_for(request.user, "message_drivers") is None})


@login_required
@require_POST
def vehicle_message(request, code: str):
    """A dispatcher writes to the van's driver, in the thread of the driver's shift."""
    org = org_for(request, "message_drivers")
    story = selectors.vehicle_story(organization_id=org, code=code)
    if story["shift"] is None:
        return HttpResponse("This van has no shift today: there is no driver to write to.", status=409, content_type="text/plain")
    try:
        shift_message(shift_id=story["shift"].id, text=request.POST.get("text", ""), from_driver=False, actor=ActorRef.user(request.user))
    except DomainError as exc:
        return HttpResponse(exc.message, status=exc.http_status, content_type="text/plain")
    return redirect("vehicle-page", code=code)


@login_required
@require_GET
def decision_snapshot(request, pk: int):
    """The problem a decision solved, as a Track B snapshot: `manage.py plan_snapshot FILE` replays it."""
    decision = selectors.decision_get(organization_id=org_of(request), decision_id=pk)
    if not decision.problem:
        raise Http404("This decision kept no problem (it was made before decisions kept theirs, or by hand).")
    response = JsonResponse(decision.problem, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="decision-{decision.id}.json"'
    return response


@login_required
@require_GET
def exception_calls(request, pk: int):
    """The call list for an exception: its van's driver and the customers whose orders it holds up
    (HTML, or CSV with ?format=csv for a phone system or a spreadsheet)."""
    data = selectors.call_list(organization_id=org_of(request), exception_id=pk)
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="calls-exception-{pk}.csv"'
        out = csv.writer(response)
        out.writerow(["who", "name", "phone", "email", "order", "status", "with", "window", "eta", "late", "address", "instructions"])
        if data["driver"]:
            out.writerow(["driver", data["driver"].name, data["driver"].phone, "", "", "", data["exception"].vehicle.code, "", "", "", "", ""])
        for r in data["rows"]:
            o = r["order"]
            out.writerow(["customer", o.customer_name, o.customer_phone, o.customer_email, o.external_ref, o.status, r["holder"],
                          f"{timezone.localtime(o.window_start):%Y-%m-%d %H:%M}-{timezone.localtime(o.window_end):%H:%M}",
                          f"{timezone.localtime(o.eta):%H:%M}" if o.eta else "", "yes" if r["late"] else "", o.address, o.instructions])
        return response
    return render(request, "controltower/calls.html", data)


@login_required
@require_POST
def decision_undo_action(request, pk: int):
    """Undo an applied decision (a reverse decision through the engine); re-renders the queue with
    the confirmation, or the reason it cannot be undone."""

    org = org_of(request)
    if not can_decide(request.user):
        return exceptions_partial(request, message=refusal(request.user), status=403)
    try:
        selectors.decision_get(organization_id=org, decision_id=pk)  # in the organization and the user's hub scope
    except Forbidden as denied:
        return exceptions_partial(request, message=str(denied), status=403)
    try:
        reverse = decision_undo(decision_id=pk, organization_id=org, actor=ActorRef.user(request.user))
    except DomainError as exc:
        return exceptions_partial(request, message=exc.message, status=exc.http_status)
    except ObjectDoesNotExist:
        raise Http404("No such decision in your organization.") from None
    moved = sum(1 for m in reverse.moves if m.get("applied"))
    # The feed the dispatcher clicked in says it too (the queue's status line may be out of view).
    return exceptions_partial(request, message=f"Decision {pk} undone: {moved} orders back where they were (decision {reverse.id}).",
                              with_activity=True)


@login_required
@require_POST
def exception_hold(request, pk: int, action: str):
    """Claim an exception, release it, or hand it to a colleague; re-renders the queue."""

    org = org_of(request)
    if not can_decide(request.user):
        return exceptions_partial(request, message=refusal(request.user), status=403)
    if action not in ("claim", "release", "hand", "dismiss", "snooze"):
        raise Http404("No such action.")
    selectors.exception_get(organization_id=org, exception_id=pk)  # 404 outside the organization or the user's hubs
    if action in ("dismiss", "snooze"):
        return _exception_set_aside(request, org, pk, action)
    to_user = None
    if action == "hand":
        to_user = User.objects.filter(organization_id=org, username=request.POST.get("to", "")).first()
        if to_user is None:
            return exceptions_partial(request, message="Choose a colleague to hand it to.", status=400)
    try:
        exc = exception_claim(exception_id=pk, organization_id=org, user=request.user, to_user=to_user, release=action == "release")
    except DomainError as exc_error:
        return exceptions_partial(request, message=exc_error.message, status=exc_error.http_status)
    except ObjectDoesNotExist:
        raise Http404("No such exception in your organization.") from None
    message = {"claim": f"You are handling “{exc.title}”.", "release": f"Released “{exc.title}” for anyone to take.",
               "hand": f"Handed “{exc.title}” to {to_user.get_username() if to_user else ''}."}[action]
    return exceptions_partial(request, message=message)


def _refused(request, error: DomainError):
    """The queue again, with the reason an action was refused (and each field's reason)."""
    reasons = [r for field in (getattr(error, "errors", None) or {}).values() for r in field]
    return exceptions_partial(request, message=" ".join([error.message + ":", *reasons]) if reasons else error.message,
                              status=error.http_status)


def _exception_set_aside(request, org: int, pk: int, action: str):

    actor = ActorRef.user(request.user)
    reason = request.POST.get("reason_code", "")
    try:
        if action == "dismiss":
            exc = exception_dismiss(exception_id=pk, organization_id=org, actor=actor, reason_code=reason,
                                    note=request.POST.get("note", "")[:200])
            message = f"Dismissed “{exc.title}” ({DismissReason(reason).label.lower()})."
        else:
            minutes = int(request.POST.get("minutes") or 30)
            exc = exception_snooze(exception_id=pk, organization_id=org, actor=actor, minutes=minutes, reason_code=reason)
            message = f"Snoozed “{exc.title}” for {minutes} min; it comes back by itself."
    except DomainError as exc_error:
        return _refused(request, exc_error)
    except ObjectDoesNotExist:
        raise Http404("No such exception in your organization.") from None
    except ValueError:
        return exceptions_partial(request, message="Snooze for a number of minutes.", status=400)
    return exceptions_partial(request, message=message)


def _approval_message(decision) -> str:
    """What the person who approved is told: while the carriers are being asked, how far it got;
    then what moved, what could not and what is left open."""
    if decision.bookings_left:
        made = decision_bookings_made(decision)
        return (f"Decision {decision.id} is being applied: {made} of {decision.bookings_left} carrier bookings made; "
                f"the other moves are done.")
    moved = sum(1 for m in decision.moves if m.get("applied"))
    failed = sum(1 for m in decision.moves if m.get("failed"))
    left = len(decision.moves) - moved
    message = f"Decision {decision.id} applied: {moved} order{'s' if moved != 1 else ''} moved."
    if failed:
        message += f" {failed} could not be moved (the carrier refused)."
    if left:
        message += f" The exception stays open for the {left} left; a new proposal follows."
    return message


@login_required
@require_GET
def decision_progress(request, pk: int):
    """The approval status line of a decision being applied in the background; it asks again
    every second until the decision is finished."""
    try:
        decision = selectors.decision_get(organization_id=org_of(request), decision_id=pk)
    except Forbidden as denied:
        raise Http404(str(denied)) from None
    return render(request, "controltower/partials/action_status.html",
                  {"message": _approval_message(decision), "watch": decision.id if decision.bookings_left else None})


@login_required
@require_POST
def decision_action(request, pk: int, action: str):
    """Approve (all or the ticked orders), override one order, or reject; re-renders the queue.
    A stale version (someone acted first) answers 409 with the current state."""
    org = org_of(request)
    if not can_decide(request.user):
        return exceptions_partial(request, message=refusal(request.user), status=403)
    if action not in ("approve", "reject", "override"):
        raise Http404("No such action on a decision.")
    try:
        decision = selectors.decision_get(organization_id=org, decision_id=pk)
    except Forbidden as denied:
        return exceptions_partial(request, message=str(denied), status=403)
    actor, watch = ActorRef.user(request.user), None  # watch: a decision still being applied (its status line asks again)
    try:
        version = int(request.POST.get("version", "0"))
        if action == "approve":
            chosen = request.POST.getlist("orders")
            if request.POST.get("selection") == "explicit":
                # The card lists every move with a box: what is ticked is the selection, and an
                # empty one is refused by the service with a reason.
                selection = None if set(chosen) == {m["order"] for m in decision.moves} else chosen
            else:
                selection = chosen or None
            decision = decision_approve(decision_id=decision.id, version=version, actor=actor, orders=selection, background=True)
            message, watch = _approval_message(decision), decision.id if decision.bookings_left else None
        elif action == "reject":
            decision_reject(decision_id=decision.id, version=version, actor=actor, note=request.POST.get("note", ""))
            message = f"Decision {decision.id} rejected; the exception stays open."
        elif action == "override":
            target = request.POST.get("to", "")
            order, _, target = target.rpartition("|") if "|" in target else (request.POST.get("order", ""), "", target)
            kind, _, code = target.partition(":")
            decision_override(decision_id=decision.id, version=version, actor=actor, order=order,
                              to_kind=kind, to_code=code, reason_code=request.POST.get("reason_code", ""))
            message = f"Decision {decision.id} applied with your override of {order} to {kind} {code}."
    except DomainError as exc:
        return _refused(request, exc)
    except ValueError:
        return exceptions_partial(request, message="The form was incomplete; reload and try again.", status=400)
    return exceptions_partial(request, message=message, watch=watch)
