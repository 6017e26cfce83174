"""Duty status of vehicles and drivers, and a driver's shift: started with the van's check, its
breaks, its end."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from dispatch import clock, ports
from dispatch.errors import Conflict, ValidationFailed
from dispatch.facts import IntegratorEvent
from dispatch.live_events import vehicle_changed
from dispatch.models import Driver, Shift, ShiftMessage, Stop, Vehicle
from dispatch.selectors import shift_started
from dispatch.status import VEHICLE_CHECKS, DutyStatus
from infra import bus, facts

from . import ActorRef
from .log import event_record
from .routes import routes_request_recompute



@transaction.atomic
def vehicle_set_status(*, vehicle_id: int, status: str, actor: ActorRef, reason: str = "") -> Vehicle:
    vehicle = Vehicle.objects.select_for_update().get(pk=vehicle_id)
    if vehicle.status == status:
        return vehicle
    previous, vehicle.status = vehicle.status, status
    Vehicle.objects.filter(pk=vehicle.pk).update(status=status)  # live state, not a version of the van's settings
    event_record(organization_id=vehicle.organization_id, kind="vehicle.status", actor=actor, vehicle=vehicle,
                 data={"from": previous, "to": status, "reason": reason})
    bus.publish(vehicle.organization_id, "vehicle.changed", vehicle_changed(vehicle))
    if status == DutyStatus.UNAVAILABLE:
        ports.DETECT_VEHICLE.start(vehicle_id)
    return vehicle


@transaction.atomic
def driver_set_status(*, driver_id: int, status: str, actor: ActorRef, reason: str = "") -> Driver:
    driver = Driver.objects.select_for_update().get(pk=driver_id)
    if driver.status == status:
        return driver
    previous, driver.status, driver.status_at = driver.status, status, clock.now()
    driver.save(update_fields=["status", "status_at"])
    shift = driver.shifts.filter(starts_at__lte=clock.now(), ends_at__gte=clock.now()).select_related("vehicle").first()
    event_record(organization_id=driver.organization_id, kind="driver.status", actor=actor,
                 vehicle=shift.vehicle if shift else None,
                 data={"driver": driver.code, "from": previous, "to": status, "reason": reason})
    facts.record(IntegratorEvent(organization_id=driver.organization_id, event_type="driver.duty",
                                 data={"driver": driver.code, "from": previous, "to": status}))
    return driver


def _locked(shift_id: int) -> Shift:
    return Shift.objects.select_for_update().select_related("driver", "vehicle").get(pk=shift_id)


@transaction.atomic
def shift_start(*, shift_id: int, checks: dict, note: str, actor: ActorRef, at: datetime | None = None) -> Shift:
    """The driver starts the shift with the van's check. Every item is answered; a failed safety
    item (brakes, lights) keeps the van off the road (unavailable: its work is planned elsewhere and
    the dispatcher sees why), the others are noted for the fleet. Starting twice changes nothing."""
    shift = _locked(shift_id)
    if shift.ended_at is not None:
        raise Conflict("This shift has ended.")
    if shift.started_at is not None:
        return shift
    unanswered = [label for key, label, _ in VEHICLE_CHECKS if not isinstance(checks.get(key), bool)]
    if unanswered:
        raise ValidationFailed("Go through the whole vehicle check.", errors={"checks": [f"Answer: {label}." for label in unanswered]})
    failed = [label for key, label, _ in VEHICLE_CHECKS if checks[key] is False]
    unsafe = [label for key, label, safety in VEHICLE_CHECKS if safety and checks[key] is False]
    shift.started_at = at or clock.now()
    shift.vehicle_check = {"checks": {key: checks[key] for key, _, _ in VEHICLE_CHECKS}, "failed": failed, "unsafe": unsafe,
                           "note": note[:500]}
    shift.save(update_fields=["started_at", "vehicle_check"])
    event_record(organization_id=shift.vehicle.organization_id, kind="shift.started", actor=actor, vehicle=shift.vehicle,
                 data={"driver": shift.driver.name, "failed": failed, "note": note[:500]})
    driver_set_status(driver_id=shift.driver_id, status=DutyStatus.ON_DUTY, actor=actor, reason="shift started")
    if unsafe:
        vehicle_set_status(vehicle_id=shift.vehicle_id, status=DutyStatus.UNAVAILABLE, actor=actor,
                           reason=f"vehicle check failed: {', '.join(unsafe).lower()}")
    elif shift.vehicle.status == DutyStatus.OFF_DUTY:
        vehicle_set_status(vehicle_id=shift.vehicle_id, status=DutyStatus.ON_DUTY, actor=actor, reason="shift started")
    return shift


@transaction.atomic
def shift_break(*, shift_id: int, on: bool, actor: ActorRef, at: datetime | None = None) -> Shift:
    """A break begins or ends. While it lasts, the van's ETAs start from when it is expected to end
    (BREAK_MIN after it began)."""
    shift = _locked(shift_id)
    if not shift_started(shift) or shift.ended_at is not None:
        raise Conflict("Start your shift first." if shift.ended_at is None else "This shift has ended.")
    now = at or clock.now()
    if on and shift.break_since is None:
        shift.break_since = now
        resumes = now + timedelta(minutes=settings.BREAK_MIN)
    elif not on and shift.break_since is not None:
        shift.breaks = [*shift.breaks, [shift.break_since.isoformat(), now.isoformat()]]
        shift.break_since, resumes = None, None
    else:
        return shift  # a repeat
    shift.save(update_fields=["break_since", "breaks"])
    Vehicle.objects.filter(pk=shift.vehicle_id).update(resumes_at=resumes, etas_at=None)  # its ETAs computed again
    event_record(organization_id=shift.vehicle.organization_id, kind="driver.break", actor=actor, vehicle=shift.vehicle,
                 data={"driver": shift.driver.name, "on": on})
    routes_request_recompute(organization_id=shift.vehicle.organization_id)
    return shift


@transaction.atomic
def shift_end(*, shift_id: int, actor: ActorRef, at: datetime | None = None) -> Shift:
    """The driver ends the shift, once no stop is left on the van (dispatch moves what is left)."""
    shift = _locked(shift_id)
    if shift.ended_at is not None:
        return shift
    left = Stop.objects.filter(route__vehicle_id=shift.vehicle_id, route__active=True, completed_at__isnull=True).count()
    if left:
        raise Conflict(f"You still have {left} stop{'s' if left != 1 else ''} on the van: ask dispatch to move "
                       f"{'them' if left != 1 else 'it'} before you end your shift.")
    now = at or clock.now()
    if shift.break_since is not None:
        shift.breaks = [*shift.breaks, [shift.break_since.isoformat(), now.isoformat()]]
        shift.break_since = None
        Vehicle.objects.filter(pk=shift.vehicle_id).update(resumes_at=None)
    shift.ended_at = now
    shift.save(update_fields=["ended_at", "break_since", "breaks"])
    event_record(organization_id=shift.vehicle.organization_id, kind="shift.ended", actor=actor, vehicle=shift.vehicle,
                 data={"driver": shift.driver.name})
    driver_set_status(driver_id=shift.driver_id, status=DutyStatus.OFF_DUTY, actor=actor, reason="shift ended")
    if shift.vehicle.status == DutyStatus.ON_DUTY:
        vehicle_set_status(vehicle_id=shift.vehicle_id, status=DutyStatus.OFF_DUTY, actor=actor, reason="shift ended")
    return shift


MESSAGE_MAX = 1000


@transaction.atomic
def shift_message(*, shift_id: int, text: str, from_driver: bool, actor: ActorRef) -> ShiftMessage:
    """A message in the shift's thread between its driver and dispatch. The driver's app hears of a
    dispatcher's at once (the van's hint); a driver's goes in the dispatchers' activity feed."""
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("Write a message first.", errors={"text": ["Empty."]})
    if len(text) > MESSAGE_MAX:
        raise ValidationFailed(f"At most {MESSAGE_MAX} characters.", errors={"text": [f"At most {MESSAGE_MAX} characters."]})
    shift = Shift.objects.select_related("driver", "vehicle").get(pk=shift_id)
    message = ShiftMessage.objects.create(shift=shift, from_driver=from_driver, author=actor.name, text=text)
    event_record(organization_id=shift.vehicle.organization_id, kind="driver.message" if from_driver else "dispatch.message",
                 actor=actor, vehicle=shift.vehicle, data={"driver": shift.driver.name, "text": text[:200], "message": message.id})
    bus.van_changed(shift.vehicle_id)
    return message


def vehicle_app_away(*, vehicle_id: int, away: bool) -> None:
    """The driver app on the van went to the background (the driver navigates in another app: the
    phone stops sending positions) or came back. A gap while away is expected, not a breakdown
    (selectors.availability)."""
    Vehicle.objects.filter(pk=vehicle_id).update(app_away_since=clock.now() if away else None)
