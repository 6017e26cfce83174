"""The reports' daily roll-up, recomputed a whole day at a time from the orders themselves, so it
always agrees with them to the cent. Days are marked dirty in the transaction that settles an
order (dispatch.services.settlement); rollups_refresh (beat, every minute) recomputes them."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.db import transaction

from carriers.models import BookingStatus, CarrierBooking
from dispatch.models import DailyLateness, DailyRollup, Order, Organization, RollupDirty
from dispatch.status import OrderStatus

COUNTED = [OrderStatus.DELIVERED, OrderStatus.FAILED, OrderStatus.RETURNED]
LATENESS_BUCKETS = (0, 5, 15, 30, 60, 120)  # lower bounds, minutes late


def lateness_bucket(late_min: int) -> int:
    return max(b for b in LATENESS_BUCKETS if late_min >= b)


def _minutes(delta) -> int:
    return max(0, round(delta.total_seconds() / 60.0))


@transaction.atomic
def rollup_day(*, organization_id: int, day: date) -> int:
    """Replace the day's roll-up rows with sums over the orders due that day that reached an
    outcome (delivered, failed, returned). Returns the number of rows written. One organization's
    days are recomputed one at a time (the beat and a report being read may both ask)."""
    list(Organization.objects.select_for_update().filter(pk=organization_id).values_list("pk"))
    DailyRollup.objects.filter(organization_id=organization_id, day=day).delete()
    DailyLateness.objects.filter(organization_id=organization_id, day=day).delete()
    orders = list(Order.objects.filter(organization_id=organization_id, service_date=day, status__in=COUNTED)
                  .values("id", "hub_id", "carrier_id", "vehicle__fleet_id", "zone", "service_level", "failure_reason",
                          "status", "attempts", "late_min", "weight_kg", "cost", "penalty", "created_at", "window_end",
                          "delivered_at", "proof_missing"))
    quoted: dict[int, Decimal] = {}
    carried = [o["id"] for o in orders if o["carrier_id"]]
    for b in (CarrierBooking.objects.filter(order_id__in=carried, price__isnull=False).exclude(status=BookingStatus.CANCELLED)
              .order_by("order_id", "created_at").values("order_id", "price")):
        quoted.setdefault(b["order_id"], b["price"])  # the first price confirmed: what was quoted
    sums: dict[tuple, dict] = defaultdict(lambda: defaultdict(int))
    late_counts: dict[tuple, int] = defaultdict(int)
    for o in orders:
        dims = (o["hub_id"], o["carrier_id"], None if o["carrier_id"] else o["vehicle__fleet_id"], o["zone"], o["service_level"])
        s = sums[(*dims, o["failure_reason"] or "")]
        delivered = o["status"] == OrderStatus.DELIVERED
        late = o["late_min"] or 0
        s["orders"] += 1
        s["delivered"] += delivered
        s["on_time"] += delivered and late == 0
        s["first_attempt"] += delivered and o["attempts"] == 1
        s["failed_attempts"] += max(0, o["attempts"] - (1 if delivered else 0))
        s["returned"] += o["status"] == OrderStatus.RETURNED
        s["late"] += delivered and late > 0
        s["without_proof"] += delivered and o["proof_missing"]
        s["late_min"] += late if delivered else 0
        s["weight_kg"] += o["weight_kg"]
        s["cost"] += o["cost"]
        s["penalty"] += o["penalty"]
        s["quoted"] += quoted.get(o["id"], o["cost"] if not o["carrier_id"] else Decimal("0.00"))
        s["promised_min"] += _minutes(o["window_end"] - o["created_at"])
        s["actual_min"] += _minutes(o["delivered_at"] - o["created_at"]) if delivered and o["delivered_at"] else 0
        if delivered and late > 0:
            late_counts[(*dims, lateness_bucket(late))] += 1
    DailyRollup.objects.bulk_create(
        DailyRollup(organization_id=organization_id, day=day, hub_id=k[0], carrier_id=k[1], fleet_id=k[2], zone=k[3],
                    service_level=k[4], failure_reason=k[5], **v)
        for k, v in sums.items()
    )
    DailyLateness.objects.bulk_create(
        DailyLateness(organization_id=organization_id, day=day, hub_id=k[0], carrier_id=k[1], fleet_id=k[2], zone=k[3],
                      service_level=k[4], bucket=k[5], count=n)
        for k, n in late_counts.items()
    )
    return len(sums)


def rollups_refresh(*, limit: int = 200, organization_id: int | None = None, start: date | None = None,
                    end: date | None = None) -> list[tuple[int, date]]:
    """Recompute the days marked dirty (all, or one organization's between start and end). A day
    marked again while it is being recomputed stays marked (its mark time moved), so the next run
    picks the change up."""
    done = []
    marks = RollupDirty.objects.order_by("marked_at")
    if organization_id is not None:
        marks = marks.filter(organization_id=organization_id, day__gte=start, day__lte=end)
    for mark in list(marks[:limit]):
        rollup_day(organization_id=mark.organization_id, day=mark.day)
        RollupDirty.objects.filter(pk=mark.pk, marked_at=mark.marked_at).delete()
        done.append((mark.organization_id, mark.day))
    return done
