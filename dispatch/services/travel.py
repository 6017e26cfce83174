"""The product learns travel from its own fleet: every completed delivery is a leg (from the van's
previous completed stop) whose real duration is set against what the travel model said (the drive,
then the stop's service time). Per hub and local hour of the day, the learned factor is the
geometric mean of real over model, shrunk towards the hub's all-day factor, which is shrunk
towards the model itself (1.0), so that a figure learned from a few legs moves little. Live ETAs
and the at-risk flag use it (dispatch.services.routes); the beat learns every minute."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from dispatch import clock
from dispatch.models import Organization, Stop, TravelFactor
from dispatch.selectors.travel import ANY_HOUR, cache_key, travel_model
from dispatch.status import StopKind

LOOKBACK = timedelta(days=14)
PRIOR_LEGS = 8          # a factor learned from this many legs sits halfway between them and what is known above it
RATIO_BOUNDS = (0.33, 4.0)  # a leg outside these (a lunch break, a clock error) says nothing about traffic
CHANGE = 0.02           # a new version when the factor moves by more than this


def _legs(organization_id: int, now: datetime) -> list[tuple[int, datetime, float]]:
    """(hub id, when the leg started, real / model) for the organization's completed deliveries of
    the look-back period, each from its van's previous completed stop. A leg the van may have spent
    waiting for the customer's window to open is left out (the wait is not traffic)."""
    rows = list(Stop.objects.filter(route__vehicle__organization_id=organization_id, completed_at__isnull=False,
                                    completed_at__gte=now - LOOKBACK, completed_at__lte=now)
                .order_by("route__vehicle_id", "completed_at", "id")
                .values_list("route__vehicle_id", "completed_at", "lat", "lon", "kind", "order__service_min",
                             "order__window_start", "order__hub_id"))
    legs, engine = [], travel_model()
    for prev, this in zip(rows, rows[1:]):
        if prev[0] != this[0] or this[4] != StopKind.DELIVERY or this[1] - prev[1] > timedelta(hours=3):
            continue
        drive = engine.leg(prev[2], prev[3], this[2], this[3])[1]
        model = drive + (this[5] or 0)
        if model < 1 or this[6] > prev[1] + timedelta(minutes=drive):
            continue
        ratio = (this[1] - prev[1]).total_seconds() / 60 / model
        if RATIO_BOUNDS[0] <= ratio <= RATIO_BOUNDS[1]:
            legs.append((this[7], prev[1], ratio))
    return legs


def travel_learn(*, organization_id: int, now: datetime | None = None) -> int:
    """Learn the organization's factors from its legs; returns how many factors got a new version."""
    if not settings.TRAVEL_LEARNING:
        return 0
    now = now or clock.now()
    zone = clock.zone_of(Organization.objects.get(pk=organization_id))
    by_hub: dict[int, list[float]] = defaultdict(list)
    by_hour: dict[tuple[int, int], list[float]] = defaultdict(list)
    for hub_id, started, ratio in _legs(organization_id, now):
        by_hub[hub_id].append(math.log(ratio))
        by_hour[(hub_id, started.astimezone(zone).hour)].append(math.log(ratio))
    learned = {}
    for hub_id, logs in by_hub.items():
        hub_log = sum(logs) / (len(logs) + PRIOR_LEGS)
        learned[(hub_id, ANY_HOUR)] = (math.exp(hub_log), len(logs), math.exp(sum(logs) / len(logs)))
        for (h, hour), hour_logs in by_hour.items():
            if h == hub_id:
                shrunk = (sum(hour_logs) + PRIOR_LEGS * hub_log) / (len(hour_logs) + PRIOR_LEGS)
                learned[(hub_id, hour)] = (math.exp(shrunk), len(hour_logs), math.exp(sum(hour_logs) / len(hour_logs)))
    versions = 0
    with transaction.atomic():
        current = {(f.hub_id, f.hour): f for f in TravelFactor.objects.select_for_update().filter(organization_id=organization_id)}
        for (hub_id, hour), (factor, legs, observed) in learned.items():
            row = current.get((hub_id, hour))
            if row is None or abs(factor - row.factor) > CHANGE * row.factor:
                row = row or TravelFactor(organization_id=organization_id, hub_id=hub_id, hour=hour)
                row.factor, row.legs, row.observed, row.learned_at = round(factor, 4), legs, round(observed, 4), now
                row._change_reason = f"learned from {legs} legs"
                row.save()
                versions += 1
            elif row.legs != legs:
                TravelFactor.objects.filter(pk=row.pk).update(legs=legs, observed=round(observed, 4))
    if versions:
        transaction.on_commit(lambda: cache.delete(cache_key(organization_id)))
    return versions
