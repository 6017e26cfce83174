"""Scheduled changes: cancelled until their moment, then written into their setting by the beat
through the same setter an admin's "save now" calls."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from dispatch import clock
from dispatch.errors import Conflict, ValidationFailed
from dispatch.models import Policy, ScheduledChange, ServiceLevelRule
from dispatch.services import ActorRef
from dispatch.services.log import event_record

from .costs import rate_card_set, vehicle_costs_set, zone_surcharge_set
from .rules import rule_stored_with_defaults
from .templates import template_save
from .versions import actor_of


@transaction.atomic
def scheduled_cancel(*, organization_id: int, change_id: int, user) -> ScheduledChange:
    change = ScheduledChange.objects.select_for_update().filter(organization_id=organization_id, pk=change_id).first()
    if change is None:
        raise ValidationFailed("No such scheduled change", errors={"id": ["It is not one of your organization's."]})
    if change.applied_at or change.cancelled_at or change.effective_at <= clock.now():
        raise Conflict("This change has already taken effect or was cancelled; roll back to an earlier version instead.",
                       current="applied" if change.applied_at or change.effective_at <= clock.now() else "cancelled")
    change.cancelled_at = clock.now()
    change.save(update_fields=["cancelled_at"])
    event_record(organization_id=organization_id, kind="settings.cancelled", actor=actor_of(user), data={"change": change.id})
    return change


def apply_due_changes(*, now: datetime | None = None) -> int:
    """Beat: write the scheduled changes whose moment has come into their settings rows (recorded in
    their history as the scheduler's user). Reads already see them from that moment (selectors)."""
    now = now or clock.now()
    done = 0
    for change_id in ScheduledChange.objects.filter(applied_at__isnull=True, cancelled_at__isnull=True,
                                                    effective_at__lte=now).order_by("effective_at", "id").values_list("id", flat=True):
        with transaction.atomic():
            change = ScheduledChange.objects.select_for_update(skip_locked=True).filter(pk=change_id, applied_at__isnull=True).first()
            if change is None:
                continue
            if change.target in SCHEDULED_SETTERS:
                try:
                    with transaction.atomic():
                        SCHEDULED_SETTERS[change.target](change)
                except ValidationFailed as e:  # what it changes is gone or no longer valid: kept visibly, not retried
                    change.cancelled_at, change.note = now, f"Could not take effect: {e.message}; {e.errors}"[:300]
                    change.save(update_fields=["cancelled_at", "note"])
                    event_record(organization_id=change.organization_id, kind="settings.failed", actor=ActorRef.system("scheduler"),
                                 data={"change": change.id, "target": change.target, "key": change.key, "why": change.note})
                    continue
                change.applied_at = now
                change.save(update_fields=["applied_at"])
                done += 1
                continue
            if change.target == ScheduledChange.Target.SERVICE_RULE:
                row = (ServiceLevelRule.objects.select_for_update().filter(organization_id=change.organization_id, service_level=change.key).first()
                       or rule_stored_with_defaults(organization_id=change.organization_id, level=change.key))
            else:
                row = Policy.objects.select_for_update().get_or_create(organization_id=change.organization_id)[0]
            for field, value in change.values.items():
                setattr(row, field, value)
            row._change_reason = f"scheduled change {change.id} for {change.effective_at:%Y-%m-%d %H:%M}"
            row._history_user = change.created_by
            row.save()
            change.applied_at = now
            change.save(update_fields=["applied_at"])
            done += 1
    return done


def _scheduled_vehicle_costs(change: ScheduledChange) -> None:
    what, _, pk = change.key.partition(":")
    vehicle_costs_set(organization_id=change.organization_id, values=change.values, user=change.created_by,
                      reason=f"scheduled change {change.id}", **{"vehicle_id" if what == "van" else "fleet_id": int(pk)})


def _scheduled_template(change: ScheduledChange) -> None:
    kind, _, channel = change.key.partition(":")
    template_save(organization_id=change.organization_id, kind=kind, channel=channel, user=change.created_by,
                  reason=f"scheduled change {change.id}", **change.values)


# What the beat calls for a scheduled change of costs or wording: the same setter an admin's "save
# now" calls, validating again (a rate card deleted meanwhile fails the change, visibly, in the log).
SCHEDULED_SETTERS = {
    ScheduledChange.Target.RATE_CARD: lambda c: rate_card_set(organization_id=c.organization_id, rate_id=int(c.key), values=c.values,
                                                              user=c.created_by, reason=f"scheduled change {c.id}"),
    ScheduledChange.Target.ZONE_SURCHARGE: lambda c: zone_surcharge_set(organization_id=c.organization_id, zone_id=int(c.key),
                                                                        values=c.values, user=c.created_by,
                                                                        reason=f"scheduled change {c.id}"),
    ScheduledChange.Target.VEHICLE_COSTS: _scheduled_vehicle_costs,
    ScheduledChange.Target.TEMPLATE: _scheduled_template,
}
