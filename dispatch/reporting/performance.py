"""Reads for the ops managers' performance reports and scorecards, scoped to one organization.
Order outcomes come from the daily roll-up (dispatch.reporting.rollups), which is recomputed from
the orders and agrees with them to the cent; exceptions and decisions are read from their tables."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import (
    BooleanField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    Sum,
)
from django.utils import timezone

from carriers.models import Carrier
from dispatch import clock
from dispatch.models import (
    DailyLateness,
    DailyRollup,
    DailySavings,
    Decision,
    Fleet,
    Hub,
    Order,
    OrderException,
)
from dispatch.status import (
    Actor,
    DecisionState,
    ExceptionKind,
    FailureReason,
    OrderStatus,
    ServiceLevel,
)

from .rollups import LATENESS_BUCKETS, rollups_refresh

PERIODS = {"today": 0, "7d": 7, "30d": 30, "90d": 90}
MAX_DAYS = 400
SUMS = ("orders", "delivered", "on_time", "first_attempt", "failed_attempts", "returned", "late", "late_min", "weight_kg",
        "cost", "penalty", "promised_min", "actual_min", "quoted", "without_proof")


class BadFilter(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class Filters:
    start: date
    end: date  # inclusive
    period: str = "7d"
    hub: str = ""
    zone: str = ""
    service_level: str = ""
    resource: str = ""  # "carrier:REX" or "fleet:12"
    errors: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, params, today: date | None = None) -> Filters:
        """From query parameters (the URL keeps them, so a view can be bookmarked). Raises BadFilter."""
        today = today or timezone.localdate(clock.now())
        period = params.get("period") or "7d"
        if period == "custom":
            try:
                start, end = date.fromisoformat(params.get("from", "")), date.fromisoformat(params.get("to", ""))
            except ValueError:
                raise BadFilter("from", "A custom period needs from and to as dates (YYYY-MM-DD).") from None
            if end < start:
                raise BadFilter("to", "The period ends before it starts.")
            if (end - start).days > MAX_DAYS:
                raise BadFilter("to", f"A period is at most {MAX_DAYS} days.")
        elif period in PERIODS:
            end = today
            start = today - timedelta(days=max(0, PERIODS[period] - 1))
        else:
            raise BadFilter("period", f"Use one of {', '.join([*PERIODS, 'custom'])}.")
        level = params.get("service_level", "")
        if level and level not in ServiceLevel.values:
            raise BadFilter("service_level", f"Use one of {', '.join(ServiceLevel.values)}.")
        resource = params.get("resource", "")
        if resource and not (resource.startswith("carrier:") or (resource.startswith("fleet:") and resource[6:].isdigit())):
            raise BadFilter("resource", "Use carrier:<code> or fleet:<id>.")
        return cls(start=start, end=end, period=period, hub=params.get("hub", "")[:40], zone=params.get("zone", "")[:20],
                   service_level=level, resource=resource)

    def as_query(self) -> dict:
        q = {"period": self.period, "hub": self.hub, "zone": self.zone, "service_level": self.service_level, "resource": self.resource}
        if self.period == "custom":
            q.update({"from": self.start.isoformat(), "to": self.end.isoformat()})
        return {k: v for k, v in q.items() if v}

    def bounds(self) -> tuple[datetime, datetime]:
        tz = timezone.get_current_timezone()
        return datetime.combine(self.start, time(0), tzinfo=tz), datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=tz)


def _narrowed(qs, f: Filters, *, fleet: dict):
    """Rows of the filters' hub, zone, service level and carrier; `fleet` says how a row belongs
    to a fleet (field -> value, the fleet id filled in)."""
    if f.hub:
        qs = qs.filter(hub__code=f.hub)
    if f.zone:
        qs = qs.filter(zone=f.zone)
    if f.service_level:
        qs = qs.filter(service_level=f.service_level)
    if f.resource.startswith("carrier:"):
        qs = qs.filter(carrier__code=f.resource[8:])
    elif f.resource.startswith("fleet:"):
        fleet_id = int(f.resource[6:])
        qs = qs.filter(**{k: fleet_id if v is None else v for k, v in fleet.items()})
    return qs


def _rollups(organization_id: int, f: Filters, model=DailyRollup):
    qs = model.objects.filter(organization_id=organization_id, day__gte=f.start, day__lte=f.end)
    return _narrowed(qs, f, fleet={"fleet_id": None})


ORDER_EXPORT = ("external_ref", "service_date", "hub__code", "zone", "service_level", "status", "carrier__code", "vehicle__code",
                "attempts", "failure_reason", "late_min", "weight_kg", "cost", "penalty", "window_end", "delivered_at")


def freshness(*, organization_id: int, f: Filters) -> dict:
    """Bring the period's roll-ups up to date (the days whose orders reached an outcome since their
    day was last recomputed; the beat does the same every minute) and say the moment the figures
    show. Read before anything else of a report, so that every figure of it is of that moment."""
    as_of = clock.now()
    rollups_refresh(organization_id=organization_id, start=f.start, end=f.end)
    return {"as_of": as_of}


def orders_of_period(*, organization_id: int, f: Filters, as_of: datetime | None = None):
    """Every order of the period that reached an outcome (by `as_of`, the moment a report showed,
    when given), as ORDER_EXPORT tuples, read in chunks (for a CSV of any size without holding it
    in memory)."""
    qs = Order.objects.filter(organization_id=organization_id, service_date__gte=f.start, service_date__lte=f.end,
                              status__in=[OrderStatus.DELIVERED, OrderStatus.FAILED, OrderStatus.RETURNED])
    if as_of is not None:
        qs = qs.filter(Q(settled_at__isnull=True) | Q(settled_at__lte=as_of))
    qs = _narrowed(qs, f, fleet={"vehicle__fleet_id": None, "carrier__isnull": True})
    return qs.order_by("service_date", "id").values_list(*ORDER_EXPORT).iterator(chunk_size=2000)


def _sums():
    return {k: Sum(k) for k in SUMS}


def _rates(row: dict) -> dict:
    """Derived figures of one group of summed rows (money as Decimal to the cent)."""
    n, d = row.get("orders") or 0, row.get("delivered") or 0
    cost, penalty = Decimal(row.get("cost") or 0), Decimal(row.get("penalty") or 0)
    weight = row.get("weight_kg") or 0.0
    return {
        **{k: row.get(k) or 0 for k in SUMS},
        "cost": cost, "penalty": penalty, "quoted": Decimal(row.get("quoted") or 0),
        "on_time_rate": (row.get("on_time") or 0) / d if d else None,
        "first_attempt_rate": (row.get("first_attempt") or 0) / n if n else None,
        "failure_rate": (row.get("failed_attempts") or 0) / ((row.get("failed_attempts") or 0) + d) if (row.get("failed_attempts") or d) else None,
        "cost_per_order": (cost / n).quantize(Decimal("0.01")) if n else None,
        "cost_per_kg": (cost / Decimal(str(weight))).quantize(Decimal("0.01")) if weight else None,
        "breaches": (row.get("late") or 0) + (row.get("returned") or 0),
        "promised_avg_min": round((row.get("promised_min") or 0) / n) if n else None,
        "actual_avg_min": round((row.get("actual_min") or 0) / d) if d else None,
    }


def _names(organization_id: int) -> tuple[dict, dict]:
    carriers = {c.id: c for c in Carrier.objects.filter(organization_id=organization_id)}
    fleets = {fl.id: fl for fl in Fleet.objects.filter(organization_id=organization_id)}
    return carriers, fleets


def _resource_key(carrier_id, fleet_id) -> str:
    return f"carrier:{carrier_id}" if carrier_id else f"fleet:{fleet_id}" if fleet_id else "none"


def performance_by_resource(*, organization_id: int, f: Filters) -> list[dict]:
    """Carriers and own fleets side by side: outcomes, cost, SLA breaches, exceptions, decisions."""
    carriers, fleets = _names(organization_id)
    rows = []
    for r in _rollups(organization_id, f).values("carrier_id", "fleet_id").annotate(**_sums()).order_by("carrier_id", "fleet_id"):
        if r["carrier_id"]:
            c = carriers[r["carrier_id"]]
            who = {"kind": "carrier", "key": f"carrier:{c.code}", "code": c.code, "name": c.name}
        elif r["fleet_id"]:
            fl = fleets[r["fleet_id"]]
            who = {"kind": "fleet", "key": f"fleet:{fl.id}", "code": str(fl.id), "name": fl.name}
        else:
            who = {"kind": "none", "key": "", "code": "", "name": "Unassigned"}
        rows.append({**who, **_rates(r), "_ids": (r["carrier_id"], r["fleet_id"])})
    exc = exceptions_by_resource(organization_id=organization_id, f=f)
    dec = decisions_by_resource(organization_id=organization_id, f=f)
    for row in rows:
        key = _resource_key(*row.pop("_ids"))
        row.update(exc.get(key, {"exceptions": 0, "resolve_avg_min": None}))
        row.update(dec.get(key, {s: 0 for s in DECISION_OUTCOMES}))
    rows.sort(key=lambda r: (r["kind"] != "fleet", r["name"]))
    return rows


def totals(*, organization_id: int, f: Filters) -> dict:
    row = _rates(_rollups(organization_id, f).aggregate(**_sums()))
    saved = savings(organization_id=organization_id, f=f)
    exc = exceptions_summary(organization_id=organization_id, f=f)
    return {**row, **saved, **exc}


def _exceptions(organization_id: int, f: Filters):
    lo, hi = f.bounds()
    qs = OrderException.objects.filter(organization_id=organization_id, detected_at__gte=lo, detected_at__lt=hi)
    if f.resource.startswith("carrier:"):
        qs = qs.filter(carrier__code=f.resource[8:])
    elif f.resource.startswith("fleet:"):
        qs = qs.filter(vehicle__fleet_id=int(f.resource[6:]))
    if f.hub:
        qs = qs.filter(Q(vehicle__fleet__hub__code=f.hub) | Q(orders__hub__code=f.hub)).distinct()
    return qs


RESOLVE = ExpressionWrapper(F("resolved_at") - F("detected_at"), output_field=DurationField())


def _avg_min(total, n) -> float | None:
    return round(total.total_seconds() / 60.0 / n, 1) if n and total is not None else None


def exceptions_summary(*, organization_id: int, f: Filters) -> dict:
    qs = _exceptions(organization_id, f)
    agg = qs.aggregate(n=Count("id", distinct=True), resolved=Count("id", filter=Q(resolved_at__isnull=False), distinct=True))
    resolved = OrderException.objects.filter(pk__in=qs.filter(resolved_at__isnull=False).values("pk"))
    total = resolved.aggregate(t=Sum(RESOLVE))["t"]
    return {"exceptions": agg["n"], "exceptions_resolved": agg["resolved"], "resolve_avg_min": _avg_min(total, agg["resolved"])}


def exceptions_by_kind(*, organization_id: int, f: Filters) -> list[dict]:
    qs = OrderException.objects.filter(pk__in=_exceptions(organization_id, f).values("pk"))
    out = []
    for r in qs.values("kind").annotate(n=Count("id"), resolved=Count("id", filter=Q(resolved_at__isnull=False)),
                                         t=Sum(RESOLVE)).order_by("-n", "kind"):
        out.append({"kind": r["kind"], "label": ExceptionKind(r["kind"]).label, "exceptions": r["n"],
                    "resolved": r["resolved"], "resolve_avg_min": _avg_min(r["t"], r["resolved"])})
    return out


def exceptions_by_resource(*, organization_id: int, f: Filters) -> dict:
    qs = OrderException.objects.filter(pk__in=_exceptions(organization_id, f).values("pk"))
    out = {}
    for r in qs.values("carrier_id", "vehicle__fleet_id").annotate(
            n=Count("id"), resolved=Count("id", filter=Q(resolved_at__isnull=False)), t=Sum(RESOLVE)):
        key = _resource_key(r["carrier_id"], r["vehicle__fleet_id"])
        cur = out.setdefault(key, {"exceptions": 0, "_resolved": 0, "_t": timedelta(0)})
        cur["exceptions"] += r["n"]
        cur["_resolved"] += r["resolved"]
        cur["_t"] += r["t"] or timedelta(0)
    return {k: {"exceptions": v["exceptions"], "resolve_avg_min": _avg_min(v["_t"], v["_resolved"])} for k, v in out.items()}


DECISION_OUTCOMES = ("auto_applied", "approved", "overridden", "rejected", "undone")
_APPLIED = [DecisionState.APPLIED, DecisionState.PARTIALLY_APPLIED]
# A decision someone undid counts once, as undone (not as applied, and its cost not in the applied
# total); the reversing decision that undo creates is not a decision of its own (_decisions).
_KEPT = Q(state__in=_APPLIED, reversed_by__isnull=True)
DECISION_FILTERS = {
    "auto_applied": _KEPT & Q(decided_actor_type=Actor.SYSTEM),
    "approved": _KEPT & Q(reason_code="") & ~Q(decided_actor_type=Actor.SYSTEM),
    "overridden": _KEPT & ~Q(reason_code="") & ~Q(decided_actor_type=Actor.SYSTEM),
    "rejected": Q(state=DecisionState.REJECTED),
    "undone": Q(state__in=_APPLIED, reversed_by__isnull=False),
}


def _decisions(organization_id: int, f: Filters):
    lo, hi = f.bounds()
    qs = Decision.objects.filter(organization_id=organization_id, decided_at__gte=lo, decided_at__lt=hi, reverses__isnull=True)
    if f.resource.startswith("carrier:"):
        qs = qs.filter(exception__carrier__code=f.resource[8:])
    elif f.resource.startswith("fleet:"):
        qs = qs.filter(exception__vehicle__fleet_id=int(f.resource[6:]))
    return qs


def decisions_summary(*, organization_id: int, f: Filters) -> dict:
    qs = _decisions(organization_id, f)
    agg = qs.aggregate(**{k: Count("id", filter=q) for k, q in DECISION_FILTERS.items()},
                       applied_delta=Sum("cost_delta", filter=_KEPT))
    return {**{k: agg[k] for k in DECISION_OUTCOMES}, "applied_cost_delta": round(agg["applied_delta"] or 0.0, 2)}


def decisions_by_resource(*, organization_id: int, f: Filters) -> dict:
    out = {}
    for r in (_decisions(organization_id, f).values("exception__carrier_id", "exception__vehicle__fleet_id")
              .annotate(**{k: Count("id", filter=q) for k, q in DECISION_FILTERS.items()})):
        out[_resource_key(r["exception__carrier_id"], r["exception__vehicle__fleet_id"])] = {k: r[k] for k in DECISION_OUTCOMES}
    return out


def savings(*, organization_id: int, f: Filters) -> dict:
    """Closed days of the period: the cost as it happened against the static-rule baseline (whole
    organization; the resource, hub, zone and level filters do not split it)."""
    agg = DailySavings.objects.filter(organization_id=organization_id, day__gte=f.start, day__lte=f.end).aggregate(
        days=Count("id"), actual=Sum("actual"), baseline=Sum("baseline"), orders=Sum("orders"))
    actual, base = Decimal(agg["actual"] or 0), Decimal(agg["baseline"] or 0)
    return {"savings_days": agg["days"], "savings_orders": agg["orders"] or 0, "actual_cost": actual, "baseline_cost": base,
            "savings": base - actual}


def savings_by_day(*, organization_id: int, f: Filters) -> list[dict]:
    return [{"day": r.day, "orders": r.orders, "actual": r.actual, "baseline": r.baseline, "savings": r.baseline - r.actual,
             "baseline_unserved": r.baseline_unserved}
            for r in DailySavings.objects.filter(organization_id=organization_id, day__gte=f.start, day__lte=f.end).order_by("day")]


def trend(*, organization_id: int, f: Filters) -> list[dict]:
    """Per day and carrier or fleet: on-time rate and cost per order."""
    carriers, fleets = _names(organization_id)
    out = []
    for r in (_rollups(organization_id, f).values("day", "carrier_id", "fleet_id").annotate(**_sums())
              .order_by("day", "carrier_id", "fleet_id")):
        name = carriers[r["carrier_id"]].code if r["carrier_id"] else fleets[r["fleet_id"]].name if r["fleet_id"] else "Unassigned"
        rates = _rates(r)
        out.append({"day": r["day"], "name": name, "orders": rates["orders"], "delivered": rates["delivered"],
                    "on_time_rate": rates["on_time_rate"], "cost": rates["cost"], "cost_per_order": rates["cost_per_order"]})
    return out


def failure_reasons(*, organization_id: int, f: Filters) -> list[dict]:
    out = []
    for r in (_rollups(organization_id, f).exclude(failure_reason="").values("failure_reason")
              .annotate(failed=Sum("failed_attempts")).order_by("-failed", "failure_reason")):
        if r["failed"]:
            out.append({"reason": r["failure_reason"], "label": FailureReason(r["failure_reason"]).label, "failed": r["failed"]})
    return out


def lateness(*, organization_id: int, f: Filters) -> list[dict]:
    counts = dict(_rollups(organization_id, f, DailyLateness).values("bucket").annotate(n=Sum("count")).values_list("bucket", "n"))
    out = []
    for i, b in enumerate(LATENESS_BUCKETS):
        label = f"{b}+ min" if i == len(LATENESS_BUCKETS) - 1 else f"{max(b, 1)}-{LATENESS_BUCKETS[i + 1] - 1} min"
        out.append({"bucket": b, "label": label, "late": counts.get(b, 0)})
    return out


def scorecard(*, organization_id: int, f: Filters) -> list[dict]:
    """Per lane (zone x service level) of the carrier or fleet in f.resource: promised vs actual
    delivery time, quoted vs actual cost, failure rate, first-attempt success, on-time trend (the
    period's second half against its first) and how many orders it rests on."""
    mid = f.start + (f.end - f.start) // 2
    lanes = {}
    for r in _rollups(organization_id, f).values("zone", "service_level").annotate(**_sums()).order_by("zone", "service_level"):
        lanes[(r["zone"], r["service_level"])] = {"zone": r["zone"], "service_level": r["service_level"], **_rates(r)}
    halves = defaultdict(dict)
    qs = _rollups(organization_id, f).annotate(second=ExpressionWrapper(Q(day__gt=mid), output_field=BooleanField()))
    for r in qs.values("zone", "service_level", "second").annotate(d=Sum("delivered"), ot=Sum("on_time")):
        halves[(r["zone"], r["service_level"])][r["second"]] = r["ot"] / r["d"] if r["d"] else None
    for key, lane in lanes.items():
        first, second = halves[key].get(False), halves[key].get(True)
        lane["trend"] = None if first is None or second is None else round(second - first, 3)
    return list(lanes.values())


# --- Reliability for the planner ----------------------------------------------------------


def filter_choices(*, organization_id: int) -> dict:
    carriers, fleets = _names(organization_id)
    zones = (DailyRollup.objects.filter(organization_id=organization_id).values_list("zone", flat=True).distinct().order_by("zone"))
    return {
        "hubs": list(Hub.objects.filter(organization_id=organization_id).order_by("code").values_list("code", "name")),
        "zones": list(zones[:200]),
        "levels": ServiceLevel.choices,
        "resources": [(f"carrier:{c.code}", f"{c.code} · {c.name}") for c in sorted(carriers.values(), key=lambda c: c.code)]
        + [(f"fleet:{fl.id}", f"Fleet · {fl.name}") for fl in sorted(fleets.values(), key=lambda x: x.name)],
    }
