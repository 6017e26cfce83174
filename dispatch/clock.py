"""The product's clock. Real time, unless a simulation has anchored a virtual clock: then every
process (web, workers, simulator) reads the same accelerated time from the database."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

_CACHE_SECONDS = 2.0
_cache: dict = {"at": -1e9, "anchor": None}


def _anchor():
    now = time.monotonic()
    if now - _cache["at"] > _CACHE_SECONDS:
        _cache["anchor"] = _anchor_model().objects.filter(pk=1).values_list("real_at", "sim_at", "speed").first()
        _cache["at"] = now
    return _cache["anchor"]


def _anchor_model():
    """The anchor's table, looked up through the app registry: the models use this clock for
    their defaults, so the clock does not import them."""
    from django.apps import apps

    return apps.get_model("dispatch", "ClockAnchor")


def reset_cache() -> None:
    _cache["at"] = -1e9


def now() -> datetime:
    anchor = _anchor()
    real = timezone.now()
    if anchor is None:
        return real
    real_at, sim_at, speed = anchor
    return sim_at + (real - real_at) * speed


def before_now(real_seconds: float) -> datetime:
    """The product's time `real_seconds` of wall-clock time ago: when a phone's queued action was
    taken, from how long ago the phone says it was (the phone's own clock may be wrong; how much
    time passed on it is not)."""
    anchor = _anchor()
    speed = anchor[2] if anchor is not None else 1.0
    return now() - timedelta(seconds=real_seconds * speed)


def zone_of(organization) -> tzinfo:
    """The time zone an organization's people and customers read times in (its own, else the
    installation's TIME_ZONE)."""
    name = getattr(organization, "time_zone", "") or ""
    try:
        return ZoneInfo(name) if name else timezone.get_default_timezone()
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.get_default_timezone()


def anchor(*, sim_at: datetime, speed: float) -> None:
    """Start a virtual clock at sim_at, running `speed` times faster than real time."""
    _anchor_model().objects.update_or_create(pk=1, defaults={"real_at": timezone.now(), "sim_at": sim_at, "speed": speed})
    reset_cache()
