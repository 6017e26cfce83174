"""The product learns travel from its own fleet: every completed delivery is a leg (from the van's
previous completed stop) whose real duration is set against what the travel model said (the drive,
then the stop's service time). Per hub and local hour of the day, the learned factor is the
geometric mean of real over model, shrunk towards the hub's all-day factor, which is shrunk
towards the model itself (1.0), so that a figure learned from a few legs moves little. Live ETAs
and the at-risk flag use it (dispatch.services.routes); the beat learns every minute."""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import groupby
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from dispatch import clock
from dispatch.models import AreaFactor, Hub, Organization, Stop, TravelFactor
from dispatch.selectors.travel import (
    ANY_HOUR,
    VAN_PACE_TTL_S,
    area_cache_key,
    area_factor,
    area_of,
    cache_key,
    learned_factor,
    travel_model,
    van_pace_key,
)
from dispatch.status import StopKind

LOOKBACK = timedelta(days=14)
PRIOR_LEGS = 8          # a factor learned from this many legs sits halfway between them and what is known above it
RATIO_BOUNDS = (0.33, 4.0)  # a leg outside these (a lunch break, a clock error) says nothing about traffic
VAN_WINDOW = timedelta(hours=2)
VAN_LEGS = 8            # a van's pace is its last this many legs
VAN_PRIOR = 3           # a van's pace from this many legs sits halfway between them and what was learned
LEGS_PER_QUERY = 100    # stops per road query when the model's drives are asked for the legs
CHANGE = 0.02           # a new version when the factor moves by more than this


def _legs(organization_id: int, now: datetime) -> list[tuple[int, datetime, float, int, datetime, float, float]]:
    """(hub id, when the leg started, real / model, van id, when it ended, where it ended: lat, lon)
    for the organization's completed deliveries of
    the look-back period, each from its van's previous completed stop. A leg the van may have spent
    waiting for the customer's window to open is left out (the wait is not traffic)."""
    rows = list(Stop.objects.filter(route__vehicle__organization_id=organization_id, completed_at__isnull=False,
                                    completed_at__gte=now - LOOKBACK, completed_at__lte=now)
                .order_by("route__vehicle_id", "completed_at", "id")
                .values_list("route__vehicle_id", "completed_at", "lat", "lon", "kind", "order__service_min",
                             "order__window_start", "order__hub_id"))
    # The model's drive of every consecutive pair, asked a van's stops at a time (one road query per
    # block of stops, not one per leg)
    drives: list[float] = []  # one per row: the drive from it to the next (0 from a van's last stop)
    engine = travel_model()
    for _, van_rows in groupby(rows, key=lambda r: r[0]):
        points = [(r[2], r[3]) for r in van_rows]
        for s in range(0, len(points) - 1, LEGS_PER_QUERY):
            drives.extend(m for _, m in engine.legs(points[s:s + LEGS_PER_QUERY + 1]))
        drives.append(0.0)
    legs = []
    for (prev, this), drive in zip(zip(rows, rows[1:]), drives):
        if prev[0] != this[0] or this[4] != StopKind.DELIVERY or this[1] - prev[1] > timedelta(hours=3):
            continue
        model = drive + (this[5] or 0)
        if model < 1 or this[6] > prev[1] + timedelta(minutes=drive):
            continue
        ratio = (this[1] - prev[1]).total_seconds() / 60 / model
        if RATIO_BOUNDS[0] <= ratio <= RATIO_BOUNDS[1]:
            legs.append((this[7], prev[1], ratio, this[0], this[1], this[2], this[3]))
    return legs


def travel_learn(*, organization_id: int, now: datetime | None = None) -> int:
    """Learn the organization's factors from its legs; returns how many factors got a new version."""
    if not settings.TRAVEL_LEARNING:
        return 0
    now = now or clock.now()
    zone = clock.zone_of(Organization.objects.get(pk=organization_id))
    by_hub: dict[int, list[float]] = defaultdict(list)
    by_hour: dict[tuple[int, int], list[float]] = defaultdict(list)
    seen = _legs(organization_id, now)
    for hub_id, started, ratio, *_ in seen:
        by_hub[hub_id].append(math.log(ratio))
        by_hour[(hub_id, started.astimezone(zone).hour)].append(math.log(ratio))
    learned = {}
    # Three levels, each shrunk towards the one above with PRIOR_LEGS legs: the organization (all
    # its vans' legs, towards the model), each hub, each hub's hour. The organization's level is
    # learned within the hour from every van, so a hub with few legs starts from the whole fleet's
    # pace rather than from the model's; a hub with none is given it.
    everything = [log for logs in by_hub.values() for log in logs]
    org_log = sum(everything) / (len(everything) + PRIOR_LEGS) if everything else 0.0
    hubs = set(Hub.objects.filter(organization_id=organization_id).values_list("pk", flat=True)) if everything else set()
    for hub_id in hubs - by_hub.keys():
        learned[(hub_id, ANY_HOUR)] = (math.exp(org_log), 0, None)
    for hub_id, logs in by_hub.items():
        hub_log = (sum(logs) + PRIOR_LEGS * org_log) / (len(logs) + PRIOR_LEGS)
        learned[(hub_id, ANY_HOUR)] = (math.exp(hub_log), len(logs), math.exp(sum(logs) / len(logs)))
        for (h, hour), hour_logs in by_hour.items():
            if h == hub_id:
                shrunk = (sum(hour_logs) + PRIOR_LEGS * hub_log) / (len(hour_logs) + PRIOR_LEGS)
                learned[(hub_id, hour)] = (math.exp(shrunk), len(hour_logs), math.exp(sum(hour_logs) / len(hour_logs)))
    areas = _learn_areas(seen, zone, learned)
    with transaction.atomic():
        versions = _keep(TravelFactor, organization_id, now, "hour", learned)
        versions += _keep(AreaFactor, organization_id, now, "area", areas)
    if versions:
        transaction.on_commit(lambda: (cache.delete(cache_key(organization_id)), cache.delete(area_cache_key(organization_id))))
    _learn_van_pace(organization_id, now, zone, seen, {k: v[0] for k, v in learned.items()}, {k: v[0] for k, v in areas.items()})
    return versions


def _learn_areas(legs: list, zone, learned: dict) -> dict:
    """Per hub and AREA_KM square where legs end: what is left of their real / model once the hour's
    learned factor is taken out, over all hours (the hour and the place multiply), shrunk towards
    1.0 with PRIOR_LEGS legs. {(hub id, area): (factor, legs, observed)}."""
    hubs = {h.pk: h for h in Hub.objects.filter(pk__in={leg[0] for leg in legs})}
    factors = {k: v[0] for k, v in learned.items()}
    by_area: dict[tuple[int, str], list[float]] = defaultdict(list)
    for hub_id, started, ratio, _, _, lat, lon in legs:
        hub = hubs[hub_id]
        hour_factor = learned_factor(factors, hub_id, started.astimezone(zone).hour)
        by_area[(hub_id, area_of(hub.lat, hub.lon, lat, lon))].append(math.log(ratio / hour_factor))
    return {key: (math.exp(sum(logs) / (len(logs) + PRIOR_LEGS)), len(logs), math.exp(sum(logs) / len(logs)))
            for key, logs in by_area.items()}


def _keep(model, organization_id: int, now: datetime, field: str, learned: dict) -> int:
    """Store what was learned, {(hub id, hour or area): (factor, legs, observed)}: a new version of a
    figure that moved by more than CHANGE, the counts alone otherwise. Returns the new versions."""
    versions = 0
    current = {(f.hub_id, getattr(f, field)): f for f in model.objects.select_for_update().filter(organization_id=organization_id)}
    for (hub_id, where), (factor, legs, observed) in learned.items():
        row = current.get((hub_id, where))
        if row is None or abs(factor - row.factor) > CHANGE * row.factor:
            row = row or model(organization_id=organization_id, hub_id=hub_id, **{field: where})
            row.factor, row.legs, row.observed, row.learned_at = round(factor, 4), legs, _rounded(observed), now
            row._change_reason = f"learned from {legs} legs" if legs else "the organization's, from all its vans' legs"
            row.save()
            versions += 1
        elif row.legs != legs:
            model.objects.filter(pk=row.pk).update(legs=legs, observed=_rounded(observed))
    return versions


def _rounded(observed: float | None) -> float | None:
    return None if observed is None else round(observed, 4)


def _learn_van_pace(organization_id: int, now: datetime, zone, legs: list, factors: dict, areas: dict) -> None:
    """Each van's pace today against what was learned for its legs' hubs and hours (the driver,
    the street it is on, what the van carries): the last VAN_LEGS legs of the last VAN_WINDOW,
    shrunk towards 1 with VAN_PRIOR legs. Kept in the cache for the live ETA, not versioned: it
    is the van's now, not a figure of the network."""
    recent: dict[int, list[float]] = defaultdict(list)
    hubs = {h.pk: h for h in Hub.objects.filter(pk__in={leg[0] for leg in legs})}
    for hub_id, started, ratio, van_id, ended, lat, lon in sorted(legs, key=lambda leg: leg[4]):
        if ended >= now - VAN_WINDOW:
            hour = started.astimezone(zone).hour
            place = area_factor(areas, hubs[hub_id], lat, lon)
            recent[van_id].append(math.log(ratio / (learned_factor(factors, hub_id, hour) * place)))
    pace = {van_id: round(math.exp(sum(logs[-VAN_LEGS:]) / (len(logs[-VAN_LEGS:]) + VAN_PRIOR)), 4)
            for van_id, logs in recent.items()}
    legs = {van_id: len(logs[-VAN_LEGS:]) for van_id, logs in recent.items()}
    try:
        cache.set(van_pace_key(organization_id), {"pace": pace, "legs": legs, "at": now}, VAN_PACE_TTL_S)
    except Exception:  # the cache is away: the ETA goes on without the vans' pace
        pass
