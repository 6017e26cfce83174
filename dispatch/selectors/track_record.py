"""A carrier's track record: how often it was late or failed, per lane (zone and service level), from
the daily roll-ups. The engine weighs carriers by it; the Performance page reports the same figures."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Sum
from django.utils import timezone

from dispatch import clock
from dispatch.models import DailyRollup


PRIOR_ORDERS = 20  # a lane with few orders leans on the carrier's own average (and that on the network's)


RELIABILITY_DAYS = 30


def lane_reliability(*, organization_id: int, today: date | None = None) -> dict[int, dict]:
    """Per carrier: {"default": (p_late, p_fail), zone+"|"+level: (p_late, p_fail)} over the last 30
    days, each lane shrunk towards the carrier's average with PRIOR_ORDERS pseudo-orders."""
    today = today or timezone.localdate(clock.now())
    qs = DailyRollup.objects.filter(organization_id=organization_id, carrier__isnull=False,
                                    day__gte=today - timedelta(days=RELIABILITY_DAYS), day__lte=today)
    sums = ("delivered", "late", "failed_attempts")
    network = qs.aggregate(**{k: Sum(k) for k in sums})
    nd, nl, nf = (network[k] or 0 for k in sums)
    net_late = nl / nd if nd else 0.0
    net_fail = nf / (nf + nd) if (nf + nd) else 0.0
    carrier_avg = {}
    for r in qs.values("carrier_id").annotate(**{k: Sum(k) for k in sums}):
        d, lt, fl = r["delivered"] or 0, r["late"] or 0, r["failed_attempts"] or 0
        carrier_avg[r["carrier_id"]] = ((lt + PRIOR_ORDERS * net_late) / (d + PRIOR_ORDERS),
                                        (fl + PRIOR_ORDERS * net_fail) / (fl + d + PRIOR_ORDERS))
    out: dict[int, dict] = {cid: {"default": avg} for cid, avg in carrier_avg.items()}
    for r in qs.values("carrier_id", "zone", "service_level").annotate(**{k: Sum(k) for k in sums}):
        p_late, p_fail = carrier_avg[r["carrier_id"]]
        d, lt, fl = r["delivered"] or 0, r["late"] or 0, r["failed_attempts"] or 0
        out[r["carrier_id"]][f"{r['zone']}|{r['service_level']}"] = (
            (lt + PRIOR_ORDERS * p_late) / (d + PRIOR_ORDERS), (fl + PRIOR_ORDERS * p_fail) / (fl + d + PRIOR_ORDERS))
    return out
