"""The ops managers' pages: Performance (carriers and own fleets side by side, charts, tables, CSV)
and scorecards per carrier or fleet. Ops managers and admins only. Every table is defined once
(TABLES) and both the page and its CSV export format its cells from that definition, so the
numbers are the same."""

from __future__ import annotations

import csv
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from carriers.models import Carrier
from dispatch.reporting import performance
from dispatch.models import Fleet
from web.access import org_for
from web.performance import charts


def pct(v) -> str:
    return "" if v is None else f"{v * 100:.1f}"


def money(v) -> str:
    return "" if v is None else f"{Decimal(v):.2f}"


def num(v) -> str:
    return "" if v is None else str(v)


def kg(v) -> str:
    return "" if v is None else f"{v:.1f}"


# table -> [(header, key, format)]
TABLES = {
    "resources": [
        ("Carrier or fleet", "name", str), ("Kind", "kind", str), ("Orders", "orders", num), ("Delivered", "delivered", num),
        ("On time %", "on_time_rate", pct), ("First attempt %", "first_attempt_rate", pct),
        ("Failed attempts", "failed_attempts", num), ("Returned", "returned", num), ("Cost", "cost", money),
        ("Cost per order", "cost_per_order", money), ("Cost per kg", "cost_per_kg", money), ("SLA breaches", "breaches", num),
        ("Penalties", "penalty", money), ("Delivered without proof", "without_proof", num), ("Exceptions", "exceptions", num), ("Avg. time to resolve (min)", "resolve_avg_min", num),
        ("Auto-applied", "auto_applied", num), ("Approved", "approved", num), ("Overridden", "overridden", num),
        ("Rejected", "rejected", num), ("Undone", "undone", num),
    ],
    "trend": [("Day", "day", str), ("Carrier or fleet", "name", str), ("Orders", "orders", num), ("Delivered", "delivered", num),
              ("On time %", "on_time_rate", pct), ("Cost", "cost", money), ("Cost per order", "cost_per_order", money)],
    "failures": [("Reason", "label", str), ("Failed attempts", "failed", num)],
    "lateness": [("Minutes late", "label", str), ("Late deliveries", "late", num)],
    "exceptions": [("Kind", "label", str), ("Raised", "exceptions", num), ("Resolved", "resolved", num),
                   ("Avg. time to resolve (min)", "resolve_avg_min", num)],
    "savings": [("Day", "day", str), ("Orders", "orders", num), ("Baseline cost", "baseline", money), ("Cost as run", "actual", money),
                ("Saved", "savings", money), ("Baseline left unserved", "baseline_unserved", num)],
    "scorecard": [("Zone", "zone", str), ("Service level", "service_level", str), ("Orders", "orders", num),
                  ("Promised (min, avg.)", "promised_avg_min", num), ("Actual (min, avg.)", "actual_avg_min", num),
                  ("On time %", "on_time_rate", pct), ("Quoted cost", "quoted", money), ("Actual cost", "cost", money),
                  ("Failure rate %", "failure_rate", pct), ("First attempt %", "first_attempt_rate", pct),
                  ("On-time trend (pts)", "trend", lambda v: "" if v is None else f"{v * 100:+.1f}")],
}


def _cells(table: str, rows: list[dict]) -> list[list[str]]:
    return [[fmt(r.get(key)) for _, key, fmt in TABLES[table]] for r in rows]


def _table(table: str, rows: list[dict], export_url: str, links: list[str] | None = None) -> dict:
    cells = _cells(table, rows)
    return {"name": table, "title": TITLES[table], "headers": [h for h, _, _ in TABLES[table]], "export_url": export_url,
            "linked": links is not None, "rows": [{"cells": c, "link": (links or [])[i] if links else ""} for i, c in enumerate(cells)]}


TITLES = {"resources": "Carriers and fleets", "trend": "Day by day", "failures": "Failures by reason", "lateness": "Lateness",
          "exceptions": "Exceptions by kind", "savings": "Savings", "scorecard": "Scorecard"}


def _scorecard_url(row: dict) -> str:
    if row["kind"] == "carrier":
        return reverse("scorecard", args=["carrier", row["code"]])
    if row["kind"] == "fleet":
        return reverse("scorecard", args=["fleet", row["code"]])
    return ""


def _filters(request) -> performance.Filters:
    try:
        return performance.Filters.parse(request.GET)
    except performance.BadFilter as e:
        raise BadRequest(e.field, str(e)) from None


def _as_of(request) -> datetime | None:
    """The moment an export is pinned to (the page it was downloaded from says it), if given."""
    raw = request.GET.get("as_of")
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest("as_of", "as_of is the moment the report showed, as an ISO date and time "
                                  "(2026-12-07T14:05:00+00:00).") from None
    if at.tzinfo is None:
        raise BadRequest("as_of", "as_of needs its offset from UTC (2026-12-07T14:05:00+00:00).")
    return at


def _moment_stamp(at: datetime | None) -> str:
    return f"_as-of-{timezone.localtime(at):%Y%m%dT%H%M%S}" if at else ""


class BadRequest(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _bad(request, e: BadRequest) -> HttpResponse:
    return render(request, "controltower/bad_filter.html", {"field": e.field, "message": str(e)}, status=400)


def _rows(org: int, f: performance.Filters, table: str) -> list[dict]:
    if table == "resources":
        return performance.performance_by_resource(organization_id=org, f=f)
    if table == "trend":
        return performance.trend(organization_id=org, f=f)
    if table == "failures":
        return performance.failure_reasons(organization_id=org, f=f)
    if table == "lateness":
        return performance.lateness(organization_id=org, f=f)
    if table == "exceptions":
        return performance.exceptions_by_kind(organization_id=org, f=f)
    if table == "savings":
        return performance.savings_by_day(organization_id=org, f=f)
    if table == "scorecard":
        return performance.scorecard(organization_id=org, f=f)
    raise Http404("No such table.")


@login_required
@require_GET
def performance_page(request):
    org = org_for(request, "review_performance")
    try:
        f = _filters(request)
    except BadRequest as e:
        return _bad(request, e)
    moment = performance.freshness(organization_id=org, f=f)
    data = {t: _rows(org, f, t) for t in ("resources", "trend", "failures", "lateness", "exceptions", "savings")}
    figures = [
        ("on_time", "trend", charts.on_time_trend(data["trend"])), ("cost", "trend", charts.cost_trend(data["trend"])),
        ("failures", "failures", charts.failure_reasons(data["failures"])), ("lateness", "lateness", charts.lateness(data["lateness"])),
        ("exceptions", "exceptions", charts.exceptions_by_kind(data["exceptions"])),
        ("savings", "savings", charts.savings(data["savings"])),
    ]
    query = urlencode(f.as_query())
    tables = {t: _table(t, rows, f"{reverse('performance-export', args=[t])}?{query}",
                        [_scorecard_url(r) for r in rows] if t == "resources" else None)
              for t, rows in data.items()}
    totals = performance.totals(organization_id=org, f=f)
    decisions = performance.decisions_summary(organization_id=org, f=f)
    return render(request, "controltower/performance.html", {
        "f": f, "query": query, "choices": performance.filter_choices(organization_id=org), "kpis": _kpis(totals, decisions),
        "tables": tables, "figures": [{"name": n, "table": t, "id": f"fig-{n}", "fig": fig} for n, t, fig in figures],
        "orders_query": urlencode({**f.as_query(), "as_of": moment["as_of"].isoformat()}), **moment,
    })


def _kpis(t: dict, d: dict) -> list[dict]:
    return [
        {"key": "orders", "label": "Orders", "value": num(t["orders"])},
        {"key": "on_time", "label": "On time %", "value": pct(t["on_time_rate"]) or "–"},
        {"key": "first_attempt", "label": "First attempt %", "value": pct(t["first_attempt_rate"]) or "–"},
        {"key": "cost_per_order", "label": "Cost per order", "value": money(t["cost_per_order"]) or "–"},
        {"key": "breaches", "label": "SLA breaches · penalties", "value": f"{t['breaches']} · {money(t['penalty'])}"},
        {"key": "exceptions", "label": "Exceptions · avg. min to resolve", "value": f"{t['exceptions']} · {num(t['resolve_avg_min']) or '–'}"},
        {"key": "decisions", "label": "Decisions auto · approved · overridden · rejected · undone",
         "value": f"{d['auto_applied']} · {d['approved']} · {d['overridden']} · {d['rejected']} · {d['undone']}"},
        {"key": "savings", "label": f"Saved against static rules ({t['savings_days']} closed days)", "value": money(t["savings"])},
    ]


def _csv_response(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())

    def stream():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def performance_export(request, table: str):
    """One table of the page as CSV (same filters, same numbers), or `orders`: every order of the
    period that reached an outcome, streamed from the database in chunks."""
    org = org_for(request, "review_performance")
    try:
        f = _filters(request)
    except BadRequest as e:
        return _bad(request, e)
    stamp = f"{f.start.isoformat()}_{f.end.isoformat()}"
    if table == "orders":
        try:
            as_of = _as_of(request)
        except BadRequest as e:
            return _bad(request, e)
        rows = (["" if v is None else v.isoformat() if hasattr(v, "isoformat") else str(v) for v in r]
                for r in performance.orders_of_period(organization_id=org, f=f, as_of=as_of))
        return _csv_response(f"orders_{stamp}{_moment_stamp(as_of)}.csv", list(performance.ORDER_EXPORT), rows)
    if table not in TABLES or table == "scorecard":
        raise Http404("No such table.")
    as_of = performance.freshness(organization_id=org, f=f)["as_of"]
    rows = _rows(org, f, table)
    stamp += _moment_stamp(as_of)
    return _csv_response(f"{table}_{stamp}.csv", [h for h, _, _ in TABLES[table]], _cells(table, rows))


@login_required
@require_GET
def scorecard_page(request, kind: str, code: str):
    """One carrier's or fleet's lanes (zone x service level) over the period."""
    org = org_for(request, "review_performance")
    if kind == "carrier":
        subject = Carrier.objects.filter(organization_id=org, code=code).first()
        resource = f"carrier:{code}"
    elif kind == "fleet" and code.isdigit():
        subject = Fleet.objects.filter(organization_id=org, pk=int(code)).first()
        resource = f"fleet:{code}"
    else:
        subject = None
    if subject is None:
        raise Http404("No such carrier or fleet in your organization.")
    params = request.GET.copy()
    params["resource"] = resource
    try:
        f = performance.Filters.parse(params)
    except performance.BadFilter as e:
        return _bad(request, BadRequest(e.field, str(e)))
    performance.freshness(organization_id=org, f=f)
    rows = performance.scorecard(organization_id=org, f=f)
    stamp = f"{f.start.isoformat()}_{f.end.isoformat()}"
    if request.GET.get("format") == "csv":
        return _csv_response(f"scorecard_{kind}_{code}_{stamp}.csv", [h for h, _, _ in TABLES["scorecard"]], _cells("scorecard", rows))
    own = urlencode({k: v for k, v in f.as_query().items() if k != "resource"})
    totals = performance.totals(organization_id=org, f=f)
    return render(request, "controltower/scorecard.html", {
        "subject": subject, "kind": kind, "code": code, "f": f, "query": own,
        "table": _table("scorecard", rows, f"{request.path}?{own}&format=csv"),
        "kpis": [k for k in _kpis(totals, performance.decisions_summary(organization_id=org, f=f)) if k["key"] != "savings"],
    })
