"""Changing an organization's settings safely: validated, applied now or scheduled for later,
every version kept by django-simple-history (who, when, what) and any earlier version restorable.
Concurrent edits: the editor states the version it saw; if someone saved since, a Conflict."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from carriers.models import CarrierZone, RateCard
from dispatch import clock
from dispatch.errors import Conflict, ValidationFailed
from dispatch.models import (
    Event,
    MessageTemplate,
    Organization,
    Policy,
    ScheduledChange,
    ServiceLevelRule,
    Vehicle,
)
from dispatch.status import (
    DEFAULT_SERVICE_RULES,
    HANDLING,
    ExceptionKind,
    ProofKind,
    ServiceLevel,
)

from . import ActorRef
from .log import event_record
from .notifications import template_clean, template_save

RULE_NUMBERS = ("late_fixed", "late_per_min", "unserved", "reattempt_cost", "at_risk_margin_min")
RULE_FIELDS = (*RULE_NUMBERS, "proof_required", "lead_min", "max_window_min", "cutoff", "priority", "handling")
RULE_LIMITS = {"late_fixed": 10000, "late_per_min": 1000, "unserved": 10000, "reattempt_cost": 10000, "at_risk_margin_min": 600}
POLICY_FIELDS = ("auto_apply", "max_cost_increase", "require_no_sla_worse", "max_orders_moved", "auto_apply_kinds",
                 "eta_tolerance_min", "no_show_grace_min", "carrier_silence_min", "vehicle_silence_min", "spike_factor",
                 "van_orders_per_hour", "health_degraded_error_rate", "health_down_error_rate", "health_slow_ms",
                 "carrier_timeout_s", "breaker_failures", "spike_min_orders", "replan_min_saving")
FLOATS = ("replan_min_saving", "max_cost_increase", "spike_factor", "van_orders_per_hour", "health_degraded_error_rate", "health_down_error_rate",
          "carrier_timeout_s")
POLICY_LIMITS = {"max_cost_increase": (-10000, 10000), "max_orders_moved": (0, 100000), "eta_tolerance_min": (1, 600),
                 "no_show_grace_min": (1, 600), "carrier_silence_min": (1, 1440), "vehicle_silence_min": (1, 600),
                 "spike_factor": (1.0, 100.0), "van_orders_per_hour": (0.5, 60.0), "health_degraded_error_rate": (0.01, 1.0),
                 "health_down_error_rate": (0.01, 1.0), "health_slow_ms": (100, 60000), "carrier_timeout_s": (0.5, 60.0),
                 "breaker_failures": (1, 100), "spike_min_orders": (1, 10000), "replan_min_saving": (0.0, 100000.0)}


def clean_rule(values: dict) -> dict:
    """Typed values for a service level rule, or ValidationFailed naming each field."""
    errors, out = {}, {}
    proof = list(values.get("proof_required") or [])
    unknown = [k for k in proof if k not in ProofKind.values]
    if unknown:
        errors["proof_required"] = [f"Unknown proof {unknown[0]!r}: use {', '.join(ProofKind.values)}."]
    out["proof_required"] = sorted(set(proof))
    for field in RULE_NUMBERS:
        raw = values.get(field)
        try:
            value = Decimal(str(raw).strip()) if field != "at_risk_margin_min" else int(str(raw).strip())
        except (InvalidOperation, ValueError, TypeError):
            errors[field] = ["Enter a number."]
            continue
        if field != "at_risk_margin_min" and (not value.is_finite() or value.as_tuple().exponent < -2):
            errors[field] = ["Enter an amount with at most two decimals."]
        elif value < 0:
            errors[field] = ["It cannot be negative."]
        elif value > RULE_LIMITS[field]:
            errors[field] = [f"At most {RULE_LIMITS[field]}."]
        else:
            out[field] = value
    handling = list(values.get("handling") or [])
    if any(h not in HANDLING for h in handling):
        errors["handling"] = [f"Use {', '.join(HANDLING)}."]
    out["handling"] = sorted(set(handling))
    for field, lo, hi, optional in (("lead_min", 0, 10080, False), ("max_window_min", 15, 20160, True), ("priority", 1, 9, False)):
        raw = str(values.get(field, "") if values.get(field) is not None else "").strip()
        if optional and not raw:
            out[field] = None
            continue
        try:
            out[field] = int(raw or 0)
        except ValueError:
            errors[field] = ["Enter a whole number."]
            continue
        if not lo <= out[field] <= hi:
            errors[field] = [f"Between {lo} and {hi}."]
    raw_cutoff = values.get("cutoff")
    if isinstance(raw_cutoff, time) or raw_cutoff is None:
        out["cutoff"] = raw_cutoff
    else:
        try:
            out["cutoff"] = time.fromisoformat(str(raw_cutoff).strip()) if str(raw_cutoff).strip() else None
        except ValueError:
            errors["cutoff"] = ["A time of day, e.g. 14:00 (blank: none)."]
    cutoff, lead = out.get("cutoff"), out.get("lead_min")
    if cutoff is not None and isinstance(lead, int) and "lead_min" not in errors:
        left = 24 * 60 - (cutoff.hour * 60 + cutoff.minute)
        if lead >= left:
            errors["lead_min"] = [f"An order taken at the {cutoff:%H:%M} cut-off could not start before midnight with a {lead}-minute "
                                  f"lead time: the promise cannot be met. Shorten the lead time or move the cut-off earlier."]
    if not errors and out["unserved"] < out["late_fixed"]:
        errors["unserved"] = ["Not delivering at all cannot cost less than delivering late: raise it to at least the late penalty."]
    if errors:
        raise ValidationFailed("Check the highlighted fields", errors=errors)
    return out


def clean_policy(values: dict) -> dict:
    errors, out = {}, {}
    for field in POLICY_FIELDS:
        raw = values.get(field)
        if field in ("auto_apply", "require_no_sla_worse"):
            out[field] = raw in (True, "on", "true", "1", 1)
        elif field == "auto_apply_kinds":
            kinds = list(raw or [])
            unknown = [k for k in kinds if k not in ExceptionKind.values]
            if unknown:
                errors[field] = [f"Unknown exception kind {unknown[0]!r}."]
            out[field] = sorted(set(kinds))
        else:
            lo, hi = POLICY_LIMITS[field]
            try:
                value = float(str(raw).strip()) if field in FLOATS else int(str(raw).strip())
            except (ValueError, TypeError):
                errors[field] = ["Enter a number."]
                continue
            if value != value or not lo <= value <= hi:
                errors[field] = [f"Between {lo} and {hi}."]
            else:
                out[field] = value
    if not errors and out["health_down_error_rate"] < out["health_degraded_error_rate"]:
        errors["health_down_error_rate"] = ["A carrier cannot be down at a lower error rate than it is degraded."]
    if errors:
        raise ValidationFailed("Check the highlighted fields", errors=errors)
    return out


def version_of(row) -> int:
    """The version an editor saw: the id of the row's latest history record (0 before the first save)."""
    if row is None or row.pk is None:
        return 0
    return row.history.order_by("-history_id").values_list("history_id", flat=True).first() or 0


def _stale(seen: int, now: int, what: str) -> None:
    if seen != now:
        raise Conflict(f"Someone saved the {what} since you opened it (you saw version {seen}, it is now {now}). "
                       "Reload to see their change, then make yours.", current=now)


def _json(values: dict) -> dict:
    return {k: str(v) if isinstance(v, (Decimal, time)) else v for k, v in values.items()}


def _schedule(*, organization_id: int, target: str, key: str, values: dict, effective_at: datetime, user,
              reason: str) -> ScheduledChange:
    """Keep a validated change for its moment (the beat writes it then; cancellable until then)."""
    change = ScheduledChange.objects.create(organization_id=organization_id, target=target, key=key, values=_json(values),
                                            effective_at=effective_at, created_by=user, note=reason[:300])
    event_record(organization_id=organization_id, kind="settings.scheduled", actor=_actor(user),
                 data={"target": target, "key": key, "values": _json(values), "effective_at": effective_at.isoformat(),
                       "change": change.id})
    return change


def _later(effective_at: datetime | None) -> bool:
    return effective_at is not None and effective_at > clock.now()


@transaction.atomic
def rule_change(*, organization_id: int, level: str, values: dict, user, seen_version: int,
                effective_at: datetime | None = None, reason: str = "") -> ServiceLevelRule | ScheduledChange:
    """Apply a service level rule now, or schedule it. Returns the saved rule or the scheduled change."""
    if level not in ServiceLevel.values:
        raise ValidationFailed("Unknown service level", errors={"service_level": [f"Use one of {', '.join(ServiceLevel.values)}"]})
    clean = clean_rule(values)
    rule = (ServiceLevelRule.objects.select_for_update().filter(organization_id=organization_id, service_level=level).first()
            or ServiceLevelRule(organization_id=organization_id, service_level=level, **DEFAULT_SERVICE_RULES[level]))
    _stale(seen_version, version_of(rule), f"{ServiceLevel(level).label} rule")
    if _later(effective_at):
        return _schedule(organization_id=organization_id, target=ScheduledChange.Target.SERVICE_RULE, key=level, values=clean,
                         effective_at=effective_at, user=user, reason=reason)
    for field, value in clean.items():
        setattr(rule, field, value)
    rule._change_reason = reason[:100] or "edited"
    rule._history_user = user
    rule.save()
    event_record(organization_id=organization_id, kind="settings.changed", actor=_actor(user),
                 data={"target": "service_rule", "key": level, "values": _json(clean)})
    return rule


@transaction.atomic
def policy_change(*, organization_id: int, values: dict, user, seen_version: int, effective_at: datetime | None = None,
                  reason: str = "") -> Policy | ScheduledChange:
    clean = clean_policy(values)
    policy = Policy.objects.select_for_update().get_or_create(organization_id=organization_id)[0]
    _stale(seen_version, version_of(policy), "auto-apply and detection settings")
    if _later(effective_at):
        return _schedule(organization_id=organization_id, target=ScheduledChange.Target.POLICY, key="", values=clean,
                         effective_at=effective_at, user=user, reason=reason)
    for field, value in clean.items():
        setattr(policy, field, value)
    policy._change_reason = reason[:100] or "edited"
    policy._history_user = user
    policy.save()
    event_record(organization_id=organization_id, kind="settings.changed", actor=_actor(user), data={"target": "policy", "values": _json(clean)})
    return policy


def _actor(user):
    return ActorRef.user(user) if user is not None else ActorRef.system("settings")


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
    event_record(organization_id=organization_id, kind="settings.cancelled", actor=_actor(user), data={"change": change.id})
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
                       or ServiceLevelRule(organization_id=change.organization_id, service_level=change.key, **DEFAULT_SERVICE_RULES[change.key]))
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


def history_values(record, fields) -> dict:
    return {f: getattr(record, f) for f in fields}


def rule_rollback(*, organization_id: int, level: str, history_id: int, user, seen_version: int) -> ServiceLevelRule:
    """Restore an earlier version as a new one (the history keeps everything in between)."""
    record = ServiceLevelRule.history.filter(organization_id=organization_id, service_level=level, history_id=history_id).first()
    if record is None:
        raise ValidationFailed("No such version", errors={"version": ["It is not a version of this rule."]})
    return rule_change(organization_id=organization_id, level=level, values=history_values(record, RULE_FIELDS), user=user,
                       seen_version=seen_version, reason=f"rolled back to version {history_id}")


def policy_rollback(*, organization_id: int, history_id: int, user, seen_version: int) -> Policy:
    record = Policy.history.filter(organization_id=organization_id, history_id=history_id).first()
    if record is None:
        raise ValidationFailed("No such version", errors={"version": ["It is not a version of these settings."]})
    return policy_change(organization_id=organization_id, values=history_values(record, POLICY_FIELDS), user=user,
                         seen_version=seen_version, reason=f"rolled back to version {history_id}")


def diff(record) -> list[dict]:
    """Field-level changes of one history record against the one before it."""
    previous = record.prev_record
    if previous is None:
        return [{"field": "", "old": "", "new": "first version"}]
    delta = record.diff_against(previous)
    return [{"field": c.field, "old": c.old, "new": c.new} for c in delta.changes]


# --- Cost rules: van costs, carrier rate cards and their surcharges ---------------------------

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
                      effective_at: datetime | None = None, reason: str = "") -> int | ScheduledChange:
    """Set cost per km, per hour and fixed cost of one van or of every van of a fleet, now (returns
    how many changed) or from a later moment (returns the scheduled change). Each van's change is
    logged with its values before and after (what its history page restores)."""
    clean = clean_vehicle_costs(values)
    vans = Vehicle.objects.select_for_update().filter(organization_id=organization_id)
    vans = vans.filter(pk=vehicle_id) if vehicle_id is not None else vans.filter(fleet_id=fleet_id)
    if not vans.exists():
        raise ValidationFailed("No such van or fleet", errors={"vehicle": ["Not one of your organization's."]})
    if _later(effective_at):
        key = f"van:{vehicle_id}" if vehicle_id is not None else f"fleet:{fleet_id}"
        return _schedule(organization_id=organization_id, target=ScheduledChange.Target.VEHICLE_COSTS, key=key, values=clean,
                         effective_at=effective_at, user=user, reason=reason)
    changed = 0
    for van in vans:
        before = {f: getattr(van, f) for f in clean}
        if before == clean:
            continue
        Vehicle.objects.filter(pk=van.pk).update(**clean)
        event_record(organization_id=organization_id, kind="settings.changed", actor=_actor(user), vehicle=van,
                     data={"target": "vehicle_costs", "key": van.code, "before": before, "values": clean, "reason": reason[:100]})
        changed += 1
    return changed


def vehicle_cost_versions(*, organization_id: int, vehicle_id: int) -> list[Event]:
    """A van's cost changes, newest first (each with its values before and after)."""
    return list(Event.objects.filter(organization_id=organization_id, vehicle_id=vehicle_id, kind="settings.changed",
                                     data__target="vehicle_costs").order_by("-created_at", "-id")[:100])


def vehicle_costs_rollback(*, organization_id: int, vehicle_id: int, event_id: int, user) -> int:
    """Restore a van's costs as they were set by an earlier change (logged as a new change)."""
    event = Event.objects.filter(organization_id=organization_id, vehicle_id=vehicle_id, kind="settings.changed",
                                 data__target="vehicle_costs", pk=event_id).first()
    if event is None:
        raise ValidationFailed("No such version", errors={"version": ["It is not a change of this van's costs."]})
    return vehicle_costs_set(organization_id=organization_id, values=event.data["values"], user=user, vehicle_id=vehicle_id,
                             reason=f"rolled back to the change of {timezone.localtime(event.created_at):%d %b %Y %H:%M}")


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
        _stale(seen_version, version_of(rate), f"{rate.carrier.code} {rate.get_service_level_display()} rate card")
    if _later(effective_at):
        return _schedule(organization_id=organization_id, target=ScheduledChange.Target.RATE_CARD, key=str(rate.id), values=form,
                         effective_at=effective_at, user=user, reason=reason)
    for field, value in clean.items():
        setattr(rate, field, value)
    rate._history_user = user
    rate._change_reason = reason[:100] or "edited"
    rate.save()
    return rate


RATE_FORM_FIELDS = ("base", "per_kg", "per_km", "fuel_pct", "after_hours_fee", "after_hours_from", "weight_breaks")


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
    errors = {}
    surcharge = _number(values, "surcharge", errors)
    if errors:
        raise ValidationFailed("Check the surcharge", errors=errors)
    if seen_version is not None:
        _stale(seen_version, version_of(zone), f"surcharge of zone {zone.name}")
    if _later(effective_at):
        return _schedule(organization_id=organization_id, target=ScheduledChange.Target.ZONE_SURCHARGE, key=str(zone.id),
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


# --- Customer message wording ----------------------------------------------------------------

def template_version(organization_id: int, kind: str, channel: str) -> int:
    """The latest history record of one kind and channel's wording (a reset to the product's wording included)."""
    return (MessageTemplate.history.filter(organization_id=organization_id, kind=kind, channel=channel)
            .order_by("-history_id").values_list("history_id", flat=True).first() or 0)


@transaction.atomic
def template_change(*, organization_id: int, kind: str, channel: str, subject: str, body: str, user,
                    seen_version: int | None = None, effective_at: datetime | None = None,
                    reason: str = "") -> MessageTemplate | ScheduledChange:
    """Store the organization's wording now or from a later moment (validated either way)."""
    template_clean(kind=kind, channel=channel, subject=subject, body=body)
    Organization.objects.select_for_update().filter(pk=organization_id).first()  # one editor of the wording at a time
    if seen_version is not None:
        _stale(seen_version, template_version(organization_id, kind, channel), "message wording")
    if _later(effective_at):
        return _schedule(organization_id=organization_id, target=ScheduledChange.Target.TEMPLATE, key=f"{kind}:{channel}",
                         values={"subject": subject, "body": body}, effective_at=effective_at, user=user, reason=reason)
    return template_save(organization_id=organization_id, kind=kind, channel=channel, subject=subject, body=body, user=user,
                         reason=reason)


def template_rollback(*, organization_id: int, kind: str, channel: str, history_id: int, user, seen_version: int) -> MessageTemplate:
    record = MessageTemplate.history.filter(organization_id=organization_id, kind=kind, channel=channel, history_id=history_id).first()
    if record is None:
        raise ValidationFailed("No such version", errors={"version": ["It is not a version of this wording."]})
    return template_change(organization_id=organization_id, kind=kind, channel=channel, subject=record.subject, body=record.body,
                           user=user, seen_version=seen_version, reason=f"rolled back to version {history_id}")


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
