"""Service-level rules and the policy (what may be applied without a dispatcher, detection thresholds):
validated, applied now or scheduled, rolled back to any earlier version."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal, InvalidOperation

from django.db import transaction

from dispatch.errors import ValidationFailed
from dispatch.models import Policy, ScheduledChange, ServiceLevelRule
from dispatch.services.log import event_record
from dispatch.status import DEFAULT_SERVICE_RULES, HANDLING, ExceptionKind, ProofKind, ServiceLevel

from .versions import actor_of, as_json, history_values, later, schedule, stale, version_of

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


@transaction.atomic
def rule_change(*, organization_id: int, level: str, values: dict, user, seen_version: int,
                effective_at: datetime | None = None, reason: str = "") -> ServiceLevelRule | ScheduledChange:
    """Apply a service level rule now, or schedule it. Returns the saved rule or the scheduled change."""
    if level not in ServiceLevel.values:
        raise ValidationFailed("Unknown service level", errors={"service_level": [f"Use one of {', '.join(ServiceLevel.values)}"]})
    clean = clean_rule(values)
    stored = ServiceLevelRule.objects.select_for_update().filter(organization_id=organization_id, service_level=level).first()
    stale(seen_version, version_of(stored), f"{ServiceLevel(level).label} rule")
    if later(effective_at):
        return schedule(organization_id=organization_id, target=ScheduledChange.Target.SERVICE_RULE, key=level, values=clean,
                        effective_at=effective_at, user=user, reason=reason)
    rule = stored or rule_stored_with_defaults(organization_id=organization_id, level=level)
    for field, value in clean.items():
        setattr(rule, field, value)
    rule._change_reason = reason[:100] or "edited"
    rule._history_user = user
    rule.save()
    event_record(organization_id=organization_id, kind="settings.changed", actor=actor_of(user),
                 data={"target": "service_rule", "key": level, "values": as_json(clean)})
    return rule


def rule_stored_with_defaults(*, organization_id: int, level: str) -> ServiceLevelRule:
    """An organization's rule for a level it has never edited, stored as the product's default: the
    values in force before the first edit are its first version (a roll back can return to them)."""
    rule = ServiceLevelRule(organization_id=organization_id, service_level=level, **DEFAULT_SERVICE_RULES[level])
    rule._change_reason = "the product's default, in force before the first edit"
    rule._history_user = None  # nobody chose it
    rule.save()
    return rule


@transaction.atomic
def policy_change(*, organization_id: int, values: dict, user, seen_version: int, effective_at: datetime | None = None,
                  reason: str = "") -> Policy | ScheduledChange:
    clean = clean_policy(values)
    policy = Policy.objects.select_for_update().get_or_create(organization_id=organization_id)[0]
    stale(seen_version, version_of(policy), "auto-apply and detection settings")
    if later(effective_at):
        return schedule(organization_id=organization_id, target=ScheduledChange.Target.POLICY, key="", values=clean,
                         effective_at=effective_at, user=user, reason=reason)
    for field, value in clean.items():
        setattr(policy, field, value)
    policy._change_reason = reason[:100] or "edited"
    policy._history_user = user
    policy.save()
    event_record(organization_id=organization_id, kind="settings.changed", actor=actor_of(user), data={"target": "policy", "values": as_json(clean)})
    return policy


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
