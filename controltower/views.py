"""The live control tower's pages and partials. Thin: authorize, call selectors, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dispatch import selectors
from dispatch.status import CarrierHealth, DutyStatus, OrderStatus, Risk, ServiceLevel
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


def tracking_page(request, token: str):
    """The customer's public page: only this one order's status and ETA, by an unguessable token."""
    order = selectors.order_by_tracking_token(token=token)
    return render(request, "controltower/track.html", {
        "order": order,
        "status_label": OrderStatus(order.status).label,
        "status_colour": OrderStatus.colour(order.status),
    })
