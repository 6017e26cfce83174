"""Which vans may be given work: the one rule every planning path reads (the planner bridge, and so
placement, proposals, re-plans and the settings preview; the planned capacity of a hub) and the
detectors that tell a dispatcher why a van left the plan.

A van on duty is unavailable while
- its telemetry is silent: it pinged once and has not for longer than the policy's van silence
  (it is available again with its next ping); a driver app that said it went to the background
  (the driver navigates in another app) is given APP_AWAY_MAX_MIN before its silence counts, or
- its driver has not shown up: a shift of the van began more than the policy's no-show grace ago
  and, since it began, its driver has not gone on duty and the van has not pinged (it is available
  again with either)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef
from django.db.models.fields.json import KT
from django.utils import timezone

from dispatch import clock
from dispatch.models import Event, Shift, Vehicle, VehiclePosition
from dispatch.status import DutyStatus

from .configuration import policy_for


@dataclass(frozen=True)
class Unavailable:
    vehicle_id: int
    code: str
    why: str           # what a dispatcher reads, e.g. "silent since 11:02"
    kind: str          # "silent" or "no_show"
    since: datetime


def shifts_not_started(*, organization_id: int, now: datetime | None = None) -> list[Shift]:
    """Shifts under way that began more than the grace period ago whose driver has shown no sign
    since: not started in the driver app, no duty change of the driver and no ping from the van
    (whatever the driver's stored status says: only what happened since the shift began counts)."""
    now = now or clock.now()
    grace = timedelta(minutes=policy_for(organization_id).no_show_grace_min)
    pinged = VehiclePosition.objects.filter(vehicle_id=OuterRef("vehicle_id"), recorded_at__gte=OuterRef("starts_at"))
    started = (Event.objects.filter(organization_id=organization_id, kind="driver.status", created_at__gte=OuterRef("starts_at"))
               .annotate(driver_code=KT("data__driver")).filter(driver_code=OuterRef("driver__code")))
    return list(Shift.objects.filter(driver__organization_id=organization_id, starts_at__lte=now - grace, ends_at__gt=now,
                                     started_at__isnull=True)  # started in the driver app: shown up
                .annotate(pinged=Exists(pinged), started=Exists(started)).filter(pinged=False, started=False)
                .select_related("driver", "vehicle").order_by("starts_at", "id"))


def vans_unavailable(*, organization_id: int, now: datetime | None = None) -> dict[int, Unavailable]:
    """The organization's vans on duty that no planning path may give work to, by vehicle id."""
    now = now or clock.now()
    silence = timedelta(minutes=policy_for(organization_id).vehicle_silence_min)
    out: dict[int, Unavailable] = {}
    for shift in shifts_not_started(organization_id=organization_id, now=now):
        out[shift.vehicle_id] = Unavailable(
            shift.vehicle_id, shift.vehicle.code, kind="no_show", since=shift.starts_at,
            why=f"{shift.driver.name} has not started the shift that began {timezone.localtime(shift.starts_at):%H:%M}")
    away = timedelta(minutes=settings.APP_AWAY_MAX_MIN)
    for pk, code, at in (Vehicle.objects.filter(organization_id=organization_id, status=DutyStatus.ON_DUTY,
                                                position_at__lt=now - silence)
                         # A driver app in the background (the driver navigates in another app) sends no
                         # positions: expected, for up to APP_AWAY_MAX_MIN; its ETAs stay the route's.
                         .exclude(app_away_since__isnull=False, app_away_since__gte=F("position_at") - timedelta(minutes=1),
                                  position_at__gte=now - away)
                         .values_list("pk", "code", "position_at")):
        out.setdefault(pk, Unavailable(pk, code, kind="silent", since=at,
                                       why=f"silent since {timezone.localtime(at):%H:%M}"))
    return out
