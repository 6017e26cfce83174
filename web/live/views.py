"""The live dashboard: the map, the exception queue, KPIs, carriers, the order list and the activity feed, and the state a page reloads over HTTP. Thin: authorize, call selectors, render."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dispatch import selectors
from dispatch.engine.decisions import (
    decision_undo_blockers,
)
from dispatch.live_events import vehicle_snapshot
from dispatch.models import Order
from dispatch.permissions import can_decide, refusal
from dispatch.services import ActorRef
from dispatch.services.orders import (
    orders_bulk_cancel,
    orders_hand_to_planner,
)
from dispatch.status import (
    CarrierHealth,
    DismissReason,
    DutyStatus,
    ExceptionKind,
    OrderStatus,
    OverrideReason,
    Risk,
    ServiceLevel,
    Severity,
)
from infra import bus
from web.access import org_of
from web.live.present import carrier_payload, order_payload

MAP_ORDER_LIMIT = 5000


@login_required
def dashboard(request):
    org = org_of(request)
    context = {
        "config": {
            "stateUrl": "/live/state/",
            "wsPath": "/ws/live/",
            "statusColours": OrderStatus.colours(),
            "dutyColours": DutyStatus.colours(),
            "riskLabels": {r.value: r.label for r in Risk},
            "timeZone": timezone.get_current_timezone_name(),  # the organization's (OrganizationTimeZoneMiddleware)
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
    org = org_of(request)
    try:
        epoch, seq = bus.current_sequence(org)
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
            "viewers": bus.viewers(org),
        }
    )


@login_required
def kpis_partial(request):
    return render(request, "controltower/partials/kpis.html", {"kpis": selectors.kpis_for(organization_id=org_of(request))})


@login_required
def carriers_partial(request):
    carriers = selectors.carriers_with_load(organization_id=org_of(request))
    for c in carriers:
        c.health_colour = CarrierHealth.colour(c.health)
        c.health_label = CarrierHealth(c.health).label
    return render(request, "controltower/partials/carriers.html", {"carriers": carriers})


ORDERS_PAGE = 100


@login_required
def orders_partial(request):
    """The orders table: open orders unless a status is asked for (or "all"), sortable, paged."""
    org = org_of(request)
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
    org = org_of(request)
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
def exceptions_partial(request, message: str = "", status: int = 200, watch: int | None = None, with_activity: bool = False):
    org = org_of(request)
    params = request.GET if request.method == "GET" else request.POST
    kind = params.get("kind") if params.get("kind") in ExceptionKind.values else None
    severity = params.get("severity") if params.get("severity") in Severity.values else None
    items = selectors.exception_queue(organization_id=org, kind=kind, severity=severity, hub=(params.get("hub") or None),
                                      holder=(params.get("holder") or None), user_id=request.user.id,
                                      snoozed=params.get("snoozed") == "1")
    colleagues = list(selectors.colleagues(organization_id=org).exclude(pk=request.user.pk).values_list("username", flat=True))
    return render(request, "controltower/partials/exceptions.html",
                  {"items": items, "message": message, "error": status >= 400, "watch": watch, "reasons": OverrideReason.choices,
                   "dismiss_reasons": DismissReason.choices, "can_decide": can_decide(request.user), "colleagues": colleagues,
                   "activity_entries": _activity_entries(request) if with_activity else None},
                  status=status)


@login_required
@require_GET
def activity_partial(request):
    """The activity feed: what the tower did by itself and what people decided, with undo where
    none of a decision's orders has moved on."""

    return render(request, "controltower/partials/activity.html", {"entries": _activity_entries(request)})


def _activity_entries(request) -> list[dict]:
    entries = selectors.activity_for(organization_id=org_of(request))
    deciding = can_decide(request.user)
    for entry in entries:
        d = entry["decision"]
        entry["undoable"] = bool(deciding and d is not None and entry["event"].kind in ("decision.applied", "decision.partially_applied")
                                 and not decision_undo_blockers(d))
    return entries
