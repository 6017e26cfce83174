"""Versions of a setting: the version an editor saw, a Conflict when someone saved since, a change kept
for a later moment, and the difference between two versions (django-simple-history keeps them all)."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

from dispatch import clock
from dispatch.errors import Conflict
from dispatch.models import ScheduledChange
from dispatch.services import ActorRef
from dispatch.services.log import event_record


def version_of(row) -> int:
    """The version an editor saw: the id of the row's latest history record (0 before the first save)."""
    if row is None or row.pk is None:
        return 0
    return row.history.order_by("-history_id").values_list("history_id", flat=True).first() or 0


def stale(seen: int, now: int, what: str) -> None:
    if seen != now:
        raise Conflict(f"Someone saved the {what} since you opened it (you saw version {seen}, it is now {now}). "
                       "Reload to see their change, then make yours.", current=now)


def as_json(values: dict) -> dict:
    return {k: str(v) if isinstance(v, (Decimal, time)) else v for k, v in values.items()}


def schedule(*, organization_id: int, target: str, key: str, values: dict, effective_at: datetime, user,
              reason: str) -> ScheduledChange:
    """Keep a validated change for its moment (the beat writes it then; cancellable until then)."""
    change = ScheduledChange.objects.create(organization_id=organization_id, target=target, key=key, values=as_json(values),
                                            effective_at=effective_at, created_by=user, note=reason[:300])
    event_record(organization_id=organization_id, kind="settings.scheduled", actor=actor_of(user),
                 data={"target": target, "key": key, "values": as_json(values), "effective_at": effective_at.isoformat(),
                       "change": change.id})
    return change


def later(effective_at: datetime | None) -> bool:
    return effective_at is not None and effective_at > clock.now()


def actor_of(user):
    return ActorRef.user(user) if user is not None else ActorRef.system("settings")


def history_values(record, fields) -> dict:
    return {f: getattr(record, f) for f in fields}


def diff(record) -> list[dict]:
    """Field-level changes of one history record against the one before it."""
    previous = record.prev_record
    if previous is None:
        return [{"field": "", "old": "", "new": "first version"}]
    delta = record.diff_against(previous)
    return [{"field": c.field, "old": c.old, "new": c.new} for c in delta.changes]
