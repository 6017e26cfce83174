"""The first-run page for a new organization's admin: what is set up and what is left, in the order
that gets a planned day soonest: the network from files (a sample to start from), a shop or the
API, a carrier, then a test day of orders (a sample file around the organization's own hubs) and
the plan for it. Each step says what it found, so the page is also where an admin comes back to."""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, time, timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from carriers.models import Carrier, RateCard
from dispatch import clock
from dispatch.api.order_files import COLUMNS
from dispatch.configuration import network_files
from dispatch.engine.placement import plan_new_orders, why_nothing_placed
from dispatch.models import ApiToken, Driver, Hub, Order, Shift, Vehicle
from dispatch.status import OrderStatus
from integrations.models import ShopConnection
from web.access import org_for

SAMPLE_ORDERS = 24


def _steps(org: int) -> list[dict]:
    now = clock.now()
    hubs, vans = Hub.objects.filter(organization_id=org).count(), Vehicle.objects.filter(organization_id=org).count()
    drivers = Driver.objects.filter(organization_id=org).count()
    shifts = Shift.objects.filter(driver__organization_id=org, ends_at__gt=now).count()
    carriers, rates = Carrier.objects.filter(organization_id=org).count(), RateCard.objects.filter(carrier__organization_id=org).count()
    shops, tokens = ShopConnection.objects.filter(organization_id=org).count(), ApiToken.objects.filter(organization_id=org, revoked_at__isnull=True).count()
    orders = Order.objects.filter(organization_id=org)
    open_orders = orders.exclude(status__in=[OrderStatus.CANCELLED, OrderStatus.DELIVERED, OrderStatus.FAILED, OrderStatus.RETURNED])
    placed = open_orders.filter(status__in=[OrderStatus.ASSIGNED, OrderStatus.BOOKED]).count()
    return [
        {"key": "network", "title": "Your network", "done": bool(hubs and vans and shifts),
         "found": f"{hubs} hub{'s' * (hubs != 1)}, {vans} van{'s' * (vans != 1)}, {drivers} driver{'s' * (drivers != 1)}, "
                  f"{shifts} shift{'s' * (shifts != 1)} to come"},
        {"key": "carriers", "title": "Carriers and their rates", "done": bool(carriers and rates),
         "found": f"{carriers} carrier{'s' * (carriers != 1)}, {rates} rate card{'s' * (rates != 1)}"},
        {"key": "orders_in", "title": "Where orders come from", "done": bool(shops or tokens or orders.exists()),
         "found": f"{shops} shop{'s' * (shops != 1)} connected, {tokens} API token{'s' * (tokens != 1)}"},
        {"key": "test_day", "title": "A test day", "done": bool(open_orders.exists()),
         "found": f"{open_orders.count()} open order{'s' * (open_orders.count() != 1)}"},
        {"key": "plan", "title": "The plan", "done": bool(placed),
         "found": f"{placed} of {open_orders.count()} placed on vans or with carriers"},
    ]


@login_required
@require_http_methods(["GET"])
def welcome(request):
    org = org_for(request, "configure")
    steps = _steps(org)
    planned = request.GET.get("planned")
    return render(request, "controltower/welcome.html", {
        "steps": steps, "left": [s for s in steps if not s["done"]], "planned": planned,
        "why_none": why_nothing_placed(organization_id=org) if planned == "0" else [],
        "kinds": network_files.KINDS.values(),
    })


@login_required
def sample_network(request):
    """A small network to start from, as an Excel workbook in the import's own format: one hub per
    place the admin already has (or one downtown), three vans with drivers on shift today and
    tomorrow, one carrier with a zone and its rates."""
    org = org_for(request, "configure")
    hub = Hub.objects.filter(organization_id=org).order_by("pk").first()
    code, lat, lon = (hub.code, hub.lat, hub.lon) if hub else ("CENTRAL", 41.8781, -87.6298)
    today = timezone.localtime(clock.now()).date()
    K = network_files.KINDS
    data = {k: [list(K[k].columns)] for k in ("hubs", "fleets", "vehicles", "drivers", "shifts", "carriers", "zones", "rates")}
    data["hubs"].append([code, hub.name if hub else "Central depot", lat, lon, 1])
    data["fleets"].append([f"{code} vans", code])
    for i in range(1, 4):
        data["vehicles"].append([f"{code}-V{i}", f"{code} vans", 800, "", "", 0.55, 24, 0])
        data["drivers"].append([f"{code}-D{i}", f"Driver {i}", ""])
        for day in (today, today + timedelta(days=1)):
            start = timezone.make_aware(datetime.combine(day, time(7)))
            data["shifts"].append([f"{code}-D{i}", f"{code}-V{i}", start.isoformat(), (start + timedelta(hours=14)).isoformat()])
    data["carriers"].append(["COURIER", "Local courier", "manual", "same_day;next_day", "", 60, "18:00", ""])
    data["zones"].append(["COURIER", "City", lat, lon, 15, 0])
    for level, base in (("same_day", 9.5), ("next_day", 6.0)):
        data["rates"].append(["COURIER", level, base, 0.2, 0.35, 0, "", 0])
    response = HttpResponse(network_files.export_xlsx(data), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = 'attachment; filename="sample-network.xlsx"'
    return response


@login_required
def sample_orders(request):
    """A test day: orders around the organization's hubs in the next hours, in the Import orders
    file's columns (two-hour windows from the next whole hour, within 6 km of their hub)."""
    org = org_for(request, "configure")
    hubs = list(Hub.objects.filter(organization_id=org).order_by("pk"))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    rng = random.Random(org)
    base = (timezone.localtime(clock.now()) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    stamp = timezone.localtime(clock.now()).strftime("%m%d%H%M")
    for i in range(SAMPLE_ORDERS if hubs else 0):
        hub = hubs[i % len(hubs)]
        start = base + timedelta(hours=i % 4)
        row = {"external_ref": f"TEST-{stamp}-{i + 1:02d}", "hub": hub.code, "address": f"{10 + i} Sample St",
               "lat": round(hub.lat + rng.uniform(-0.04, 0.04), 5), "lon": round(hub.lon + rng.uniform(-0.05, 0.05), 5),
               "window_start": start.isoformat(), "window_end": (start + timedelta(hours=2)).isoformat(), "service_level": "same_day",
               "weight_kg": round(rng.uniform(1, 12), 1), "customer_name": f"Test customer {i + 1}"}
        writer.writerow([row.get(c, "") for c in COLUMNS])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="test-day-orders.csv"'
    return response


@login_required
@require_POST
def plan_now(request):
    """Place the open orders that have no van or carrier yet (the engine's placement, as new orders
    are placed when the organization plans as they arrive)."""
    org = org_for(request, "configure")
    result = plan_new_orders(organization_id=org)
    return redirect(f"/welcome/?planned={result.get('vans', 0) + result.get('carriers', 0)}")
