"""The organization's own settings: its name and the time zone its people and customers read times in."""

from __future__ import annotations

import zoneinfo

from django.db import transaction

from dispatch.errors import ValidationFailed
from dispatch.models import Organization
from dispatch.services.log import event_record

from .versions import actor_of


@transaction.atomic
def organization_set(*, organization_id: int, name: str, time_zone: str, user) -> Organization:
    """Rename the organization or set its time zone (an IANA name; blank: the installation's)."""
    name, time_zone = (name or "").strip(), (time_zone or "").strip()
    errors = {}
    if not name or len(name) > 200:
        errors["name"] = ["Give the organization's name (at most 200 characters)."]
    if time_zone and time_zone not in zoneinfo.available_timezones():
        errors["time_zone"] = [f"{time_zone[:60]!r} is not a time zone: use an IANA name such as America/Chicago or Europe/Berlin."]
    if errors:
        raise ValidationFailed("Check the organization's settings", errors=errors)
    org = Organization.objects.select_for_update().get(pk=organization_id)
    before = {"name": org.name, "time_zone": org.time_zone}
    org.name, org.time_zone = name, time_zone
    org.save(update_fields=["name", "time_zone"])
    event_record(organization_id=organization_id, kind="settings.changed", actor=actor_of(user),
                 data={"target": "organization", "before": before, "values": {"name": name, "time_zone": time_zone}})
    return org
