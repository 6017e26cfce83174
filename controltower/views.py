"""The live control tower's pages and partials. Thin: authorize, call selectors, render."""

from __future__ import annotations

import csv

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from controltower.celery import app
from dispatch import selectors
from dispatch.engine.decisions import (
    decision_approve,
    decision_bookings_made,
    decision_override,
    decision_reject,
    decision_undo,
    decision_undo_blockers,
)
from dispatch.errors import Conflict, DomainError, ValidationFailed
from dispatch.models import Order, ProofOfDelivery, User
from dispatch.permissions import can_decide, refusal
from dispatch.services import ActorRef
from dispatch.services.exceptions import (
    exception_claim,
    exception_dismiss,
    exception_snooze,
)
from dispatch.services.orders import (
    BEFORE_PICKUP,
    order_change_by_customer,
    orders_bulk_cancel,
    orders_hand_to_planner,
    windows_offered,
)
from dispatch.status import (
    CarrierHealth,
    DismissReason,
    DutyStatus,
    ExceptionKind,
    OrderStatus,
    OverrideReason,
    Risk,
    Role,
    ServiceLevel,
    Severity,
)

from . import events
from .models import DeadLetter
from .payloads import carrier_payload, order_payload, vehicle_snapshot

MAP_ORDER_LIMIT = 5000


def _org(request) -> int:
    org = request.user.organization_id
    if not org:
        raise PermissionDenied("Your account belongs to no organization.")
    return org


@login_required
def dashboard(request):
    org = _org(request)
    context = {
        "config": {
            "stateUrl": "/live/state/",
            "wsPath": "/ws/live/",
            "statusColours": OrderStatus.colours(),
            "dutyColours": DutyStatus.colours(),
            "riskLabels": {r.value: r.label for r in Risk},
            "timeZone": settings.TIME_ZONE,
            "tileUrl": settings.MAP_TILE_URL,
            "tileAttribution": settings.MAP_TILE_ATTRIBUTION,
        },
        "statuses": OrderStatus.presentation(),
        "service_levels": ServiceLevel.choices,
        "hubs": selectors.hubs_for(organization_id=org),
        "carriers": selectors.carriers_with_load(organization_id=org),
        "risks": Risk.presentation(),
        "exception_kinds": ExceptionKind.choices,
        "severities": Severity.choices,
        "can_decide": can_decide(request.user),
    }
    return render(request, "controltower/dashboard.html", context)


@login_required
@require_GET
def live_state(request):
    """Everything the live map needs, with the sequence number it is current as of. The number is
    read first, so every hint numbered up to it is already reflected in what follows."""
    org = _org(request)
    try:
        epoch, seq = events.current_sequence(org)
    except Exception:  # Redis (the sequence counter) is away: the page retries shortly
        response = JsonResponse({"error": {"code": "unavailable", "message": "Live updates are briefly unavailable; retrying."}},
                                status=503)
        response["Retry-After"] = "2"
        return response
    orders = selectors.orders_for(organization_id=org).exclude(status__in=[OrderStatus.CANCELLED, OrderStatus.RETURNED])[:MAP_ORDER_LIMIT]
    return JsonResponse(
        {
            "seq": seq, "epoch": epoch,
            "hubs": [{"code": h.code, "name": h.name, "lat": h.lat, "lon": h.lon} for h in selectors.hubs_for(organization_id=org)],
            "vehicles": [vehicle_snapshot(v) for v in selectors.vehicles_for(organization_id=org)],
            "orders": [order_payload(o) for o in orders],
            "carriers": [carrier_payload(c) for c in selectors.carriers_with_load(organization_id=org)],
            "kpis": selectors.kpis_for(organization_id=org),
            "viewers": events.viewers(org),
        }
    )


@login_required
def kpis_partial(request):
    return render(request, "controltower/partials/kpis.html", {"kpis": selectors.kpis_for(organization_id=_org(request))})


@login_required
def carriers_partial(request):
    carriers = selectors.carriers_with_load(organization_id=_org(request))
    for c in carriers:
        c.health_colour = CarrierHealth.colour(c.health)
        c.health_label = CarrierHealth(c.health).label
    return render(request, "controltower/partials/carriers.html", {"carriers": carriers})


ORDERS_PAGE = 100


@login_required
def orders_partial(request):
    """The orders table: open orders unless a status is asked for (or "all"), sortable, paged."""
    org = _org(request)
    params = request.GET
    status = [s for s in params.getlist("status") if s in OrderStatus.values]
    show_all = "all" in params.getlist("status")
    sort = params.get("sort") or ""
    if sort.lstrip("-") not in selectors.ORDER_SORTS:
        sort = ""
    qs = selectors.orders_for(
        organization_id=org,
        status=status or None,
        open_only=not status and not show_all,
        service_level=params.get("service_level") or None,
        hub=params.get("hub") or None,
        carrier=params.get("carrier") or None,
        risk=params.get("risk") if params.get("risk") in Risk.values else None,
        search=(params.get("q") or "").strip()[:100] or None,
        sort=sort,
    )
    total = qs.count()
    pages = max(1, -(-total // ORDERS_PAGE))
    try:
        page = min(max(1, int(params.get("page") or 1)), pages)
    except ValueError:
        page = 1
    rows = [_row(o) for o in qs[(page - 1) * ORDERS_PAGE: page * ORDERS_PAGE]]
    columns = [("ref", "Order"), ("status", "Status"), ("risk", "Risk"), ("level", "Level"), ("window_end", "Window ends"),
               ("eta", "ETA"), (None, "By"), ("customer", "Customer")]
    return render(request, "controltower/partials/orders_table.html", {
        "can_decide": can_decide(request.user), "rows": rows, "total": total, "shown": len(rows), "page": page, "pages": pages,
        "first": (page - 1) * ORDERS_PAGE + 1 if rows else 0, "last": (page - 1) * ORDERS_PAGE + len(rows),
        "sort": sort, "columns": [{"key": k, "label": label,
                                   "aria": ("ascending" if sort == k else "descending" if sort == f"-{k}" else "none") if k else None,
                                   "next": (f"-{k}" if sort == k else k) if k else None} for k, label in columns],
        "open_only": not status and not show_all,
    })


BULK_LIMIT = 500


@login_required
@require_POST
def orders_bulk(request):
    """Bulk actions on the selected orders: cancel them, or hand them to the planner for a proposal
    (an exception of their own, which the engine answers like any other)."""
    org = _org(request)
    if not can_decide(request.user):
        return render(request, "controltower/partials/bulk_status.html", {"message": refusal(request.user)}, status=403)
    refs = list(dict.fromkeys(r for r in request.POST.getlist("refs") if r))[:BULK_LIMIT + 1]
    action = request.POST.get("action", "")
    if action not in ("cancel", "plan"):
        return render(request, "controltower/partials/bulk_status.html", {"message": "Choose cancel or ask the planner."}, status=400)
    if not refs:
        return render(request, "controltower/partials/bulk_status.html", {"message": "Select at least one order."}, status=400)
    if len(refs) > BULK_LIMIT:
        return render(request, "controltower/partials/bulk_status.html",
                      {"message": f"At most {BULK_LIMIT} orders at a time; narrow the filter."}, status=400)
    orders = list(selectors.orders_for(organization_id=org).filter(external_ref__in=refs))  # the user's hubs only
    unknown = len(refs) - len(orders)
    actor = ActorRef.user(request.user)
    if action == "cancel":
        done, refused = orders_bulk_cancel(organization_id=org, orders=orders, actor=actor)
        message = f"Cancelled {done} order{'s' if done != 1 else ''}."
        if refused:
            message += f" Not cancelled: {'; '.join(refused[:5])}{'…' if len(refused) > 5 else ''}"
    else:
        movable = orders_hand_to_planner(organization_id=org, orders=orders, actor=actor)
        message = (f"{len(movable)} order{'s' if len(movable) != 1 else ''} handed to the planner: its proposal appears in the "
                   f"queue." if movable else "None of the selected orders can move any more.")
        if len(movable) < len(orders):
            message += f" {len(orders) - len(movable)} already picked up or finished were left out."
    if unknown:
        message += f" {unknown} not found in your orders."
    return render(request, "controltower/partials/bulk_status.html", {"message": message})


def _row(order: Order) -> dict:
    return {
        "order": order,
        "status_label": OrderStatus(order.status).label,
        "status_colour": OrderStatus.colour(order.status),
        "risk_label": Risk(order.risk).label,
        "risk_colour": Risk.colour(order.risk),
        "level_label": ServiceLevel(order.service_level).label,
    }


@login_required
@require_GET
def order_page(request, ref: str):
    """One order's whole story: status timeline, assignments and bookings over time, the decisions
    that touched it, the customer messages sent."""
    story = selectors.order_story(organization_id=_org(request), ref=ref)
    order = story["order"]
    return render(request, "controltower/order.html", {
        **story,
        "status_label": OrderStatus(order.status).label, "status_colour": OrderStatus.colour(order.status),
        "risk_label": Risk(order.risk).label, "risk_colour": Risk.colour(order.risk),
    })


def _dispatcher_or_admin(request) -> int:
    org = _org(request)
    if request.user.role not in (Role.DISPATCHER, Role.ADMIN):
        raise PermissionDenied("Dispatchers and admins look after tasks the workers gave up on.")
    return org


@login_required
def dead_letters_page(request):
    """Tasks the workers gave up on (failed for good, or past the redelivery cap), newest first."""

    org = _dispatcher_or_admin(request)
    message = ""
    if request.method == "POST":
        letter = DeadLetter.objects.filter(organization_id=org, pk=request.POST.get("id") or 0).first()
        if letter is None:
            raise Http404("No such dead letter in your organization.")
        if request.POST.get("action") == "retry":

            app.send_task(letter.task_name, args=letter.args, kwargs=letter.kwargs)
            letter.retried_at = timezone.now()
            letter.save(update_fields=["retried_at"])
            message = f"{letter.task_name} queued again."
        else:
            letter.dismissed_at = timezone.now()
            letter.save(update_fields=["dismissed_at"])
            message = "Dismissed."
    letters = DeadLetter.objects.filter(organization_id=org, dismissed_at__isnull=True).order_by("-created_at")[:200]
    return render(request, "controltower/dead_letters.html", {"letters": letters, "message": message})


@login_required
@require_GET
def proof_file(request, pk: int):
    """A proof-of-delivery file, to users of the order's organization only (storage paths are never exposed)."""


    proof = ProofOfDelivery.objects.filter(pk=pk, order__organization_id=_org(request)).exclude(file="").first()
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
    story = selectors.carrier_story(organization_id=_org(request), code=code)
    return render(request, "controltower/carrier.html", {**story, "health_colour": CarrierHealth.colour(story["carrier"].health)})


@login_required
@require_GET
def vehicle_page(request, code: str):
    """One van: its route in stop order with planned and live ETAs, driver and shift, load against
    capacity, last ping age. `?format=json` gives the path for the live map to draw."""
    story = selectors.vehicle_story(organization_id=_org(request), code=code)
    if request.GET.get("format") == "json":
        return JsonResponse({"code": story["vehicle"].code, "path": story["path"],
                             "stops": [{"order": s.order.external_ref, "kind": s.kind, "eta": s.eta.isoformat() if s.eta else None}
                                       for s in story["stops"] if s.completed_at is None]})
    return render(request, "controltower/vehicle.html", story)


@login_required
@require_GET
def decision_snapshot(request, pk: int):
    """The problem a decision solved, as a Track B snapshot: `manage.py plan_snapshot FILE` replays it."""
    decision = selectors.decision_get(organization_id=_org(request), decision_id=pk)
    if not decision.problem:
        raise Http404("This decision kept no problem (it was made before decisions kept theirs, or by hand).")
    response = JsonResponse(decision.problem, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="decision-{decision.id}.json"'
    return response


class LogoutView(auth_views.LogoutView):
    """Logging out also closes the live connections that this login opened."""

    def post(self, request, *args, **kwargs):
        session_key = request.session.session_key or ""
        response = super().post(request, *args, **kwargs)
        events.session_ended(session_key)
        return response


@login_required
@require_GET
def exception_calls(request, pk: int):
    """The call list for an exception: its van's driver and the customers whose orders it holds up
    (HTML, or CSV with ?format=csv for a phone system or a spreadsheet)."""
    data = selectors.call_list(organization_id=_org(request), exception_id=pk)
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


CUSTOMER_CHANGES_PER_HOUR = 10


def tracking_page(request, token: str):
    """The customer's public page: only this one order, by an unguessable token. It says plainly
    when the order is late or at risk, the new estimate and what the customer can do, updates over
    the live channel, and, before pickup, lets the customer pick another offered window or leave
    instructions (POST)."""
    view = selectors.tracking_view(token=token)
    order = view["order"]
    message, status, errors = "", 200, {}
    if request.method == "POST":
        try:
            if selectors.customer_changes_since(order=order, hours=1) >= CUSTOMER_CHANGES_PER_HOUR:
                message, status = "You have changed this delivery many times in the last hour; please call us instead.", 429
            else:
                order = order_change_by_customer(token=token, window_start=request.POST.get("window", ""),
                                                 instructions=request.POST.get("instructions"),
                                                 version=int(request.POST.get("version", "-1")))
                message = (f"Done: we will deliver between {timezone.localtime(order.window_start):%a %d %b %H:%M} and "
                           f"{timezone.localtime(order.window_end):%H:%M}. We have sent you a confirmation.")
                view = selectors.tracking_view(token=token)
        except ValidationFailed as e:
            message, status, errors = e.message, 400, e.errors
        except Conflict as e:
            message, status = (e.message if order.status not in BEFORE_PICKUP else
                               "Your delivery changed while you were choosing; here it is as it is now. Please choose again."), 409
            view = selectors.tracking_view(token=token)
        except ValueError:
            message, status = "Reload the page and try again.", 400
        order = view["order"]
    changeable = order.status in BEFORE_PICKUP
    return render(request, "controltower/track.html", {
        **view,
        "status_label": OrderStatus(order.status).label,
        "status_colour": OrderStatus.colour(order.status),
        "ws_path": f"/ws/track/{token}/",
        "changeable": changeable, "offered": windows_offered(order) if changeable else [],
        "message": message, "errors": errors,
    }, status=status)


@login_required
def exceptions_partial(request, message: str = "", status: int = 200, watch: int | None = None):
    org = _org(request)
    params = request.GET if request.method == "GET" else request.POST
    kind = params.get("kind") if params.get("kind") in ExceptionKind.values else None
    severity = params.get("severity") if params.get("severity") in Severity.values else None
    items = selectors.exception_queue(organization_id=org, kind=kind, severity=severity, hub=(params.get("hub") or None),
                                      holder=(params.get("holder") or None), user_id=request.user.id,
                                      snoozed=params.get("snoozed") == "1")
    colleagues = list(selectors.colleagues(organization_id=org).exclude(pk=request.user.pk).values_list("username", flat=True))
    return render(request, "controltower/partials/exceptions.html",
                  {"items": items, "message": message, "error": status >= 400, "watch": watch, "reasons": OverrideReason.choices,
                   "dismiss_reasons": DismissReason.choices, "can_decide": can_decide(request.user), "colleagues": colleagues},
                  status=status)


@login_required
@require_GET
def activity_partial(request):
    """The activity feed: what the tower did by itself and what people decided, with undo where
    none of a decision's orders has moved on."""

    entries = selectors.activity_for(organization_id=_org(request))
    deciding = can_decide(request.user)
    for entry in entries:
        d = entry["decision"]
        entry["undoable"] = bool(deciding and d is not None and entry["event"].kind in ("decision.applied", "decision.partially_applied")
                                 and not decision_undo_blockers(d))
    return render(request, "controltower/partials/activity.html", {"entries": entries})


@login_required
@require_POST
def decision_undo_action(request, pk: int):
    """Undo an applied decision (a reverse decision through the engine); re-renders the queue with
    the confirmation, or the reason it cannot be undone."""

    org = _org(request)
    if not can_decide(request.user):
        return exceptions_partial(request, message=refusal(request.user), status=403)
    try:
        selectors.decision_get(organization_id=org, decision_id=pk)  # in the organization and the user's hub scope
    except PermissionDenied as denied:
        return exceptions_partial(request, message=str(denied), status=403)
    try:
        reverse = decision_undo(decision_id=pk, organization_id=org, actor=ActorRef.user(request.user))
    except DomainError as exc:
        return exceptions_partial(request, message=exc.message, status=exc.http_status)
    except ObjectDoesNotExist:
        raise Http404("No such decision in your organization.") from None
    moved = sum(1 for m in reverse.moves if m.get("applied"))
    return exceptions_partial(request, message=f"Decision {pk} undone: {moved} orders back where they were (decision {reverse.id}).")


@login_required
@require_POST
def exception_hold(request, pk: int, action: str):
    """Claim an exception, release it, or hand it to a colleague; re-renders the queue."""

    org = _org(request)
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
        decision = selectors.decision_get(organization_id=_org(request), decision_id=pk)
    except PermissionDenied as denied:
        raise Http404(str(denied)) from None
    return render(request, "controltower/partials/action_status.html",
                  {"message": _approval_message(decision), "watch": decision.id if decision.bookings_left else None})


@login_required
@require_POST
def decision_action(request, pk: int, action: str):
    """Approve (all or the ticked orders), override one order, or reject; re-renders the queue.
    A stale version (someone acted first) answers 409 with the current state."""
    org = _org(request)
    if not can_decide(request.user):
        return exceptions_partial(request, message=refusal(request.user), status=403)
    if action not in ("approve", "reject", "override"):
        raise Http404("No such action on a decision.")
    try:
        decision = selectors.decision_get(organization_id=org, decision_id=pk)
    except PermissionDenied as denied:
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
