"""Duty status of vehicles and drivers."""

from __future__ import annotations

from django.db import transaction

from dispatch import clock, ports
from dispatch.live_events import vehicle_changed
from dispatch.models import Driver, Vehicle
from dispatch.status import DutyStatus
from infra import bus

from . import ActorRef
from .log import event_record


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
    return driver
