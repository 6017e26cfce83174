"""The travel model every path asks, and the learned travel factors (dispatch.services.travel
learns them) as the ETA reads them."""

from __future__ import annotations

import math

from django.conf import settings
from django.core.cache import cache

from dispatch.models import AreaFactor, TravelFactor
from planner.travel import STRAIGHT

AREA_KM = 1.5  # the squares, counted from their hub, whose legs are learned apart: about a neighbourhood


def travel_model():
    """The one travel model of the installation: the road engine on the data settings.ROADS names,
    else the embedded straight line. Both answer leg, legs, matrix and route. Nothing else in the
    product computes a travel time."""
    if settings.ROADS:
        from planner.roads import engine_for

        return engine_for(settings.ROADS)
    return STRAIGHT

ANY_HOUR = 24  # a hub's factor over all hours: what an hour with no legs of its own falls back to
CACHE_S = 60


def cache_key(organization_id: int) -> str:
    return f"travel-factors:{organization_id}"


def area_cache_key(organization_id: int) -> str:
    return f"area-factors:{organization_id}"


def area_of(hub_lat: float, hub_lon: float, lat: float, lon: float) -> str:
    """The AREA_KM square a point is in, counted from its hub ("N2 E-1": 2 north, 1 west)."""
    north = (lat - hub_lat) * 111.32 / AREA_KM
    east = (lon - hub_lon) * 111.32 * math.cos(math.radians(hub_lat)) / AREA_KM
    return f"N{math.floor(north)} E{math.floor(east)}"


def area_factors(*, organization_id: int) -> dict[tuple[int, str], float]:
    """{(hub id, area): factor on top of the hour's}, read at most once a minute (the learner clears it)."""
    return _learned(AreaFactor, "area", area_cache_key(organization_id), organization_id)


def area_factor(areas: dict[tuple[int, str], float], hub, lat: float, lon: float) -> float:
    """The learned factor of the area a leg around `hub` ends in (1 where nothing was learned)."""
    return areas.get((hub.id, area_of(hub.lat, hub.lon, lat, lon)), 1.0) if areas else 1.0


def travel_factors(*, organization_id: int) -> dict[tuple[int, int], float]:
    """{(hub id, local hour or ANY_HOUR): factor}, read at most once a minute (the learner clears it);
    nothing when the installation does not use learned travel (settings.TRAVEL_LEARNING)."""
    return _learned(TravelFactor, "hour", cache_key(organization_id), organization_id)


def _learned(model, field: str, key: str, organization_id: int) -> dict:
    """{(hub id, hour or area): factor} of one kind of learned figure, through the cache."""
    if not settings.TRAVEL_LEARNING:
        return {}
    try:
        found = cache.get(key)
    except Exception:  # the cache is away: read the table
        found = None
    if found is None:
        found = {(h, where): f for h, where, f in model.objects.filter(organization_id=organization_id)
                 .values_list("hub_id", field, "factor")}
        try:
            cache.set(key, found, CACHE_S)
        except Exception:
            pass
    return found


VAN_PACE_TTL_S = 600


def van_pace_key(organization_id: int) -> str:
    return f"van-pace:{organization_id}"


def van_pace(*, organization_id: int) -> dict[int, float]:
    """{van id: its pace today against what was learned} (dispatch.services.travel learns it every
    minute); nothing when the installation does not learn or the cache is away."""
    return van_pace_detail(organization_id=organization_id).get("pace", {})


def van_pace_detail(*, organization_id: int) -> dict:
    """{"pace": {van id: pace}, "legs": {van id: legs it was learned from}, "at": when}, or {}."""
    if not settings.TRAVEL_LEARNING:
        return {}
    try:
        kept = cache.get(van_pace_key(organization_id))
    except Exception:
        return {}
    return kept if isinstance(kept, dict) and "pace" in kept else {}


def learned_factor(factors: dict[tuple[int, int], float], hub_id: int, hour: int) -> float:
    """The factor for a leg around a hub starting at a local hour: the hour's, else the hub's, else 1."""
    return factors.get((hub_id, hour)) or factors.get((hub_id, ANY_HOUR)) or 1.0


def travel_factor_rows(*, organization_id: int):
    """What was learned, for the admins' page: per hub and hour, with how many legs."""
    return (TravelFactor.objects.filter(organization_id=organization_id).select_related("hub")
            .order_by("hub__code", "hour"))


def area_factor_rows(*, organization_id: int):
    """The areas learned, for the admins' page: per hub, slowest first."""
    return (AreaFactor.objects.filter(organization_id=organization_id).select_related("hub")
            .order_by("hub__code", "-factor", "area"))


def travel_factor_versions(*, organization_id: int, factor_id: int) -> tuple[TravelFactor, list[dict]] | None:
    """One learned figure of the organization and its versions, newest first (None when it is not theirs)."""
    row = TravelFactor.objects.filter(organization_id=organization_id, pk=factor_id).select_related("hub").first()
    if row is None:
        return None
    return row, [{"at": h.history_date, "factor": h.factor, "legs": h.legs, "observed": h.observed, "reason": h.history_change_reason}
                 for h in row.history.order_by("-history_date", "-history_id")]
