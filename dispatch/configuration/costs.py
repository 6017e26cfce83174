"""Cost rules: each van's costs, carriers' rate cards and their zones' surcharges; the one write path
for each (the network page edits these through here), versioned like every setting."""

from __future__ import annotations

from datetime import datetime, time

from django.db import transaction

from carriers.models import CarrierZone, RateCard
from dispatch.errors import ValidationFailed
from dispatch.models import ScheduledChange, Vehicle
from dispatch.services.log import event_record

from .versions import actor_of, diff, history_values, later, schedule, stale, version_of


def _number(values: dict, field: str, errors: dict, lo: float = 0.0, hi: float = 100000.0) -> float | None:
    raw = str(values.get(field, "")).strip()
    try:
        value = float(raw)
    except ValueError:
        errors[field] = ["Enter a number."]
        return None
    if value != value or not lo <= value <= hi:
        errors[field] = [f"Between {lo:g} and {hi:g}."]
        return None
    return value


def clean_vehicle_costs(values: dict) -> dict:
    errors = {}
    clean = {f: _number(values, f, errors, hi=1000.0 if f != "fixed_cost" else 100000.0) for f in ("cost_per_km", "cost_per_hour", "fixed_cost")}
    if errors:
        raise ValidationFailed("Check the costs", errors=errors)
    return clean


@transaction.atomic
def vehicle_costs_set(*, organization_id: int, values: dict, user, vehicle_id: int | None = None, fleet_id: int | None = None,
                      seen_version: int | None = None, effective_at: datetime | None = None,
                      reason: str = "") -> int | ScheduledChange:
    """Set cost per km, per hour and fixed cost of one van or of every van of a fleet, now (returns
    how many changed) or from a later moment (returns the scheduled change). Each van's change is a
    version in its history (django-simple-history, like every setting). `seen_version`, for one van,
    makes a concurrent edit a Conflict; None (a fleet, the scheduler) skips that check."""
    clean = clean_vehicle_costs(values)
    vans = Vehicle.objects.select_for_update().filter(organization_id=organization_id)
    vans = vans.filter(pk=vehicle_id) if vehicle_id is not None else vans.filter(fleet_id=fleet_id)
    if not vans.exists():
        raise ValidationFailed("No such van or fleet", errors={"vehicle": ["Not one of your organization's."]})
    if seen_version is not None and vehicle_id is not None:
        van = vans.get()
        stale(seen_version, version_of(van), f"costs of van {van.code}")
    if later(effective_at):
        key = f"van:{vehicle_id}" if vehicle_id is not None else f"fleet:{fleet_id}"
        return schedule(organization_id=organization_id, target=ScheduledChange.Target.VEHICLE_COSTS, key=key, values=clean,
                        effective_at=effective_at, user=user, reason=reason)
    changed = 0
    for van in vans:
        if {f: getattr(van, f) for f in clean} == clean:
            continue
        for field, value in clean.items():
            setattr(van, field, value)
        van._history_user = user
        van._change_reason = reason[:100] or "edited"
        van.save(update_fields=list(clean))
        event_record(organization_id=organization_id, kind="settings.changed", actor=actor_of(user), vehicle=van,
                     data={"target": "vehicle_costs", "key": van.code, "values": clean})
        changed += 1
    return changed


def vehicle_cost_versions(*, organization_id: int, vehicle_id: int) -> list:
    """A van's cost versions, newest first: its history records where a cost changed, and its first."""
    if not Vehicle.objects.filter(pk=vehicle_id, organization_id=organization_id).exists():
        return []
    records = Vehicle.history.filter(id=vehicle_id).select_related("history_user").order_by("-history_id")[:200]
    return [r for r in records if r.prev_record is None or diff(r)][:100]


def vehicle_costs_rollback(*, organization_id: int, vehicle_id: int, history_id: int, user, seen_version: int) -> int:
    """Restore an earlier version of a van's costs as a new one (the history keeps everything in between)."""
    if not Vehicle.objects.filter(pk=vehicle_id, organization_id=organization_id).exists():
        raise ValidationFailed("No such van", errors={"vehicle": ["Not one of your organization's."]})
    record = Vehicle.history.filter(id=vehicle_id, history_id=history_id).first()
    if record is None:
        raise ValidationFailed("No such version", errors={"version": ["It is not a version of this van's costs."]})
    return vehicle_costs_set(organization_id=organization_id, values=history_values(record, Vehicle.COST_FIELDS), user=user,
                             vehicle_id=vehicle_id, seen_version=seen_version, reason=f"rolled back to version {history_id}")


def clean_zone_surcharge(values: dict) -> dict:
    errors = {}
    surcharge = _number(values, "surcharge", errors)
    if errors:
        raise ValidationFailed("Check the surcharge", errors=errors)
    return {"surcharge": surcharge}


# A new van, rate card or zone is added on the network page with its first costs, checked by the same
# rules as every later change here (which only the Costs page makes, versioned).
RATE_DEFAULTS = {"fuel_pct": "0", "after_hours_fee": "0", "after_hours_from": "", "weight_breaks": ""}
FIRST_COSTS = {
    "vehicles": lambda values: clean_vehicle_costs(values),
    "rates": lambda values: {k: v for k, v in clean_rate_card({**RATE_DEFAULTS, **values}).items() if k in ("base", "per_kg", "per_km")},
    "zones": lambda values: clean_zone_surcharge(values),
}
VERSIONED_FIELDS = {"vehicles": ("cost_per_km", "cost_per_hour", "fixed_cost"), "rates": ("base", "per_kg", "per_km"),
                    "zones": ("surcharge",)}


def parse_weight_breaks(text: str) -> list[list[float]]:
    """'20:4, 50:10' -> [[20, 4], [50, 10]] (above 20 kg add 4, above 50 kg add 10)."""
    out = []
    for part in [p.strip() for p in (text or "").split(",") if p.strip()]:
        try:
            over, fee = (float(x) for x in part.split(":"))
        except ValueError:
            raise ValidationFailed("Check the weight breaks", errors={"weight_breaks": [
                f"{part!r}: write each break as kg:fee, e.g. 20:4, 50:10."]}) from None
        if over < 0 or fee < 0 or over != over or fee != fee:
            raise ValidationFailed("Check the weight breaks", errors={"weight_breaks": ["Weights and fees cannot be negative."]})
        out.append([over, fee])
    return sorted(out)


def clean_rate_card(values: dict) -> dict:
    errors = {}
    clean = {"base": _number(values, "base", errors), "per_kg": _number(values, "per_kg", errors, hi=1000),
             "per_km": _number(values, "per_km", errors, hi=1000), "fuel_pct": _number(values, "fuel_pct", errors, hi=100),
             "after_hours_fee": _number(values, "after_hours_fee", errors)}
    raw_time = str(values.get("after_hours_from", "")).strip()
    try:
        clean["after_hours_from"] = time.fromisoformat(raw_time) if raw_time else None
    except ValueError:
        errors["after_hours_from"] = ["A time of day, e.g. 19:00 (blank: none)."]
    try:
        clean["weight_breaks"] = parse_weight_breaks(str(values.get("weight_breaks", "")))
    except ValidationFailed as e:
        errors.update(e.errors)
    if errors:
        raise ValidationFailed("Check the rate card", errors=errors)
    return clean


def rate_card_form(record) -> dict:
    """A rate card (or one of its versions) as the cost form writes it."""
    return {"base": record.base, "per_kg": record.per_kg, "per_km": record.per_km, "fuel_pct": record.fuel_pct,
            "after_hours_fee": record.after_hours_fee,
            "after_hours_from": record.after_hours_from.strftime("%H:%M") if record.after_hours_from else "",
            "weight_breaks": ", ".join(f"{over:g}:{fee:g}" for over, fee in (record.weight_breaks or []))}


RATE_FORM_FIELDS = ("base", "per_kg", "per_km", "fuel_pct", "after_hours_fee", "after_hours_from", "weight_breaks")


@transaction.atomic
def rate_card_set(*, organization_id: int, rate_id: int, values: dict, user, seen_version: int | None = None,
                  effective_at: datetime | None = None, reason: str = "") -> RateCard | ScheduledChange:
    """Change a carrier's rate card now or from a later moment. `seen_version` (the version the
    admin's form showed) makes a concurrent edit a Conflict; None (the scheduler) skips that check."""
    rate = RateCard.objects.select_for_update().filter(pk=rate_id, carrier__organization_id=organization_id).first()
    if rate is None:
        raise ValidationFailed("No such rate card", errors={"rate": ["Not one of your organization's."]})
    form = {f: str(values.get(f, "")) for f in RATE_FORM_FIELDS}
    clean = clean_rate_card(form)
    if seen_version is not None:
        stale(seen_version, version_of(rate), f"{rate.carrier.code} {rate.get_service_level_display()} rate card")
    if later(effective_at):
        return schedule(organization_id=organization_id, target=ScheduledChange.Target.RATE_CARD, key=str(rate.id), values=form,
                         effective_at=effective_at, user=user, reason=reason)
    for field, value in clean.items():
        setattr(rate, field, value)
    rate._history_user = user
    rate._change_reason = reason[:100] or "edited"
    rate.save()
    return rate


def rate_card_rollback(*, organization_id: int, rate_id: int, history_id: int, user, seen_version: int) -> RateCard:
    record = RateCard.history.filter(id=rate_id, carrier__organization_id=organization_id, history_id=history_id).first()
    if record is None:
        raise ValidationFailed("No such version", errors={"version": ["It is not a version of this rate card."]})
    return rate_card_set(organization_id=organization_id, rate_id=rate_id, values=rate_card_form(record), user=user,
                         seen_version=seen_version, reason=f"rolled back to version {history_id}")


@transaction.atomic
def zone_surcharge_set(*, organization_id: int, zone_id: int, values: dict, user, seen_version: int | None = None,
                       effective_at: datetime | None = None, reason: str = "") -> CarrierZone | ScheduledChange:
    zone = CarrierZone.objects.select_for_update().filter(pk=zone_id, carrier__organization_id=organization_id).first()
    if zone is None:
        raise ValidationFailed("No such zone", errors={"zone": ["Not one of your organization's."]})
    surcharge = clean_zone_surcharge(values)["surcharge"]
    if seen_version is not None:
        stale(seen_version, version_of(zone), f"surcharge of zone {zone.name}")
    if later(effective_at):
        return schedule(organization_id=organization_id, target=ScheduledChange.Target.ZONE_SURCHARGE, key=str(zone.id),
                         values={"surcharge": surcharge}, effective_at=effective_at, user=user, reason=reason)
    zone.surcharge = surcharge
    zone._history_user = user
    zone._change_reason = reason[:100] or "edited"
    zone.save()
    return zone


def zone_surcharge_rollback(*, organization_id: int, zone_id: int, history_id: int, user, seen_version: int) -> CarrierZone:
    record = CarrierZone.history.filter(id=zone_id, carrier__organization_id=organization_id, history_id=history_id).first()
    if record is None:
        raise ValidationFailed("No such version", errors={"version": ["It is not a version of this zone."]})
    return zone_surcharge_set(organization_id=organization_id, zone_id=zone_id, values={"surcharge": record.surcharge}, user=user,
                              seen_version=seen_version, reason=f"rolled back to version {history_id}")
