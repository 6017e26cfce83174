"""The organization's own settings: its name, the time zone its people and customers read times in,
and the colour its customers see on their tracking page."""

from __future__ import annotations

import re
import zoneinfo

from django.db import transaction

from dispatch.errors import ValidationFailed
from dispatch.models import Organization
from dispatch.services.log import event_record

from .versions import actor_of


@transaction.atomic
def organization_set(*, organization_id: int, name: str, time_zone: str, user, brand_colour: str = "") -> Organization:
    """Rename the organization, set its time zone (an IANA name; blank: the installation's) and the
    colour of its customers' pages (#rrggbb; blank: neutral)."""
    name, time_zone, brand_colour = (name or "").strip(), (time_zone or "").strip(), (brand_colour or "").strip().lower()
    errors = {}
    if not name or len(name) > 200:
        errors["name"] = ["Give the organization's name (at most 200 characters)."]
    if time_zone and time_zone not in zoneinfo.available_timezones():
        errors["time_zone"] = [f"{time_zone[:60]!r} is not a time zone: use an IANA name such as America/Chicago or Europe/Berlin."]
    if brand_colour and not re.fullmatch(r"#[0-9a-f]{6}", brand_colour):
        errors["brand_colour"] = ["A colour as #rrggbb, e.g. #0f766e (blank: neutral)."]
    if errors:
        raise ValidationFailed("Check the organization's settings", errors=errors)
    org = Organization.objects.select_for_update().get(pk=organization_id)
    before = {"name": org.name, "time_zone": org.time_zone, "brand_colour": org.brand_colour}
    org.name, org.time_zone, org.brand_colour = name, time_zone, brand_colour
    org.save(update_fields=["name", "time_zone", "brand_colour"])
    event_record(organization_id=organization_id, kind="settings.changed", actor=actor_of(user),
                 data={"target": "organization", "before": before,
                       "values": {"name": name, "time_zone": time_zone, "brand_colour": brand_colour}})
    return org
