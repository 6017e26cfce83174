"""The live control tower's pages and partials. Thin: authorize, call selectors, render."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from dispatch import selectors
from dispatch.errors import DomainError
from dispatch.permissions import can_decide, refusal
from dispatch.services import ActorRef
from dispatch.services.decisions import decision_approve, decision_override, decision_reject
from dispatch.status import CarrierHealth, DutyStatus, OrderStatus, OverrideReason, Risk, ServiceLevel
from dispatch.models import Order

from . import events
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
        },
        "statuses": OrderStatus.presentation(),
        "service_levels": ServiceLevel.choices,
        "hubs": selectors.hubs_for(organization_id=org),
        "carriers": selectors.carriers_with_load(organization_id=org),
        "risks": Risk.presentation(),
    }
    return render(request, "controltower/dashboard.html", context)


@login_required
@require_GET
def live_state(request):
    """Everything the live map needs, with the sequence number it is current as of. The number is
    read first, so every hint numbered up to it is already reflected in what follows."""
    org = _org(request)
    seq = events.current_sequence(org)
    orders = selectors.orders_for(organization_id=org).exclude(status__in=[OrderStatus.CANCELLED, OrderStatus.RETURNED])[:MAP_ORDER_LIMIT]
    return JsonResponse(
        {
            "seq": seq,
            "hubs": [{"code": h.code, "name": h.name, "lat": h.lat, "lon": h.lon} for h in selectors.hubs_for(organization_id=org)],
            "vehicles": [vehicle_snapshot(v) for v in selectors.vehicles_for(organization_id=org)],
            "orders": [order_payload(o) for o in orders],
            "carriers": [carrier_payload(c) for c in selectors.carriers_with_load(organization_id=org)],
            "kpis": selectors.kpis_for(organization_id=org),
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


@login_required
def orders_partial(request):
    org = _org(request)
    params = request.GET
    status = [s for s in params.getlist("status") if s in OrderStatus.values]
    qs = selectors.orders_for(
        organization_id=org,
        status=status or None,
        service_level=params.get("service_level") or None,
        hub=params.get("hub") or None,
        carrier=params.get("carrier") or None,
        risk=params.get("risk") if params.get("risk") in Risk.values else None,
        search=(params.get("q") or "").strip() or None,
    )
    total = qs.count()
    rows = [_row(o) for o in qs[:200]]
    return render(request, "controltower/partials/orders_table.html", {"rows": rows, "total": total, "shown": len(rows)})


def _row(order: Order) -> dict:
    return {
        "order": order,
        "status_label": OrderStatus(order.status).label,
        "status_colour": OrderStatus.colour(order.status),
        "risk_label": Risk(order.risk).label,
        "risk_colour": Risk.colour(order.risk),
        "level_label": ServiceLevel(order.service_level).label,
    }


class LogoutView(auth_views.LogoutView):
    """Logging out also closes the live connections that this login opened."""

    def post(self, request, *args, **kwargs):
        session_key = request.session.session_key or ""
        response = super().post(request, *args, **kwargs)
        events.session_ended(session_key)
        return response


def tracking_page(request, token: str):
    """The customer's public page: only this one order's status and ETA, by an unguessable token."""
    order = selectors.order_by_tracking_token(token=token)
    return render(request, "controltower/track.html", {
        "order": order,
        "status_label": OrderStatus(order.status).label,
        "status_colour": OrderStatus.colour(order.status),
    })


@login_required
def exceptions_partial(request, message: str = "", status: int = 200):
    org = _org(request)
    items = selectors.exception_queue(organization_id=org)
    return render(request, "controltower/partials/exceptions.html",
                  {"items": items, "message": message, "reasons": OverrideReason.choices,
                   "can_decide": can_decide(request.user)}, status=status)


@login_required
@require_POST
def decision_action(request, pk: int, action: str):
    """Approve (all or the ticked orders), override one order, or reject; re-renders the queue.
    A stale version (someone acted first) answers 409 with the current state."""
    org = _org(request)
    if not can_decide(request.user):
        return exceptions_partial(request, message=refusal(request.user), status=403)
    decision = selectors.decision_get(organization_id=org, decision_id=pk)
    actor = ActorRef.user(request.user)
    try:
        version = int(request.POST.get("version", "0"))
        if action == "approve":
            chosen = request.POST.getlist("orders")
            decision_approve(decision_id=decision.id, version=version, actor=actor,
                             orders=chosen if chosen and len(chosen) < len(decision.moves) else None)
            message = f"Decision {decision.id} applied."
        elif action == "reject":
            decision_reject(decision_id=decision.id, version=version, actor=actor, note=request.POST.get("note", ""))
            message = f"Decision {decision.id} rejected; the exception stays open."
        else:
            kind, _, code = request.POST.get("to", "").partition(":")
            decision_override(decision_id=decision.id, version=version, actor=actor, order=request.POST.get("order", ""),
                              to_kind=kind, to_code=code, reason_code=request.POST.get("reason_code", ""))
            message = f"Decision {decision.id} applied with your override."
    except DomainError as exc:
        return exceptions_partial(request, message=exc.message, status=exc.http_status)
    except ValueError:
        return exceptions_partial(request, message="The form was incomplete; reload and try again.", status=400)
    return exceptions_partial(request, message=message)
