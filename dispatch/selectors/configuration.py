"""The organization's rules in force now: policy, service-level rules, scheduled changes that are due."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import DecimalField

from dispatch import clock
from dispatch.models import Order, Organization, Policy, ScheduledChange, ServiceLevelRule
from dispatch.scope import current, within
from dispatch.status import DEFAULT_SERVICE_RULES


def one_policy_read():
    """Inside this `with` block (one decision applied to many orders) the organization's rules are
    read once: the policy, the service rules and whatever else is read through `scoped`."""
    return within(rules={})


def scoped(key: tuple, read):
    """`read()`, once per key inside `one_policy_read`; every time outside it. For settings that
    one piece of work should see as they were when it began (the result is shared: not mutated)."""
    scope = current().rules
    if scope is None:
        return read()
    if key not in scope:
        scope[key] = read()
    return scope[key]


def organization_zone(organization_id: int):
    """The time zone the organization's people and customers read times in (clock.zone_of), read
    once per piece of work inside `one_policy_read` (a sweep over every van, a decision's orders)."""
    return scoped(("zone", organization_id), lambda: clock.zone_of(
        Organization.objects.filter(pk=organization_id).only("time_zone").first()))


def policy_for(organization_id: int):
    scope = current().rules
    if scope is not None and organization_id in scope:
        return scope[organization_id]

    policy = Policy.objects.get_or_create(organization_id=organization_id)[0]
    for change in due_changes(organization_id, ScheduledChange.Target.POLICY):
        for field, value in change.values.items():
            setattr(policy, field, value)
    if scope is not None:
        scope[organization_id] = policy
    return policy


def service_rules(organization_id: int) -> dict:
    """The organization's rule for every service level, in force now: what it configured, and the
    product's defaults for a level it has not."""
    scope = current().rules
    if scope is not None and ("rules", organization_id) in scope:
        return dict(scope[("rules", organization_id)])
    rules = {r.service_level: r for r in ServiceLevelRule.objects.filter(organization_id=organization_id)}
    for level, defaults in DEFAULT_SERVICE_RULES.items():
        rules.setdefault(level, ServiceLevelRule(organization_id=organization_id, service_level=level, **defaults))
    for change in due_changes(organization_id, ScheduledChange.Target.SERVICE_RULE):
        rule = rules.get(change.key)
        if rule is not None:
            for field, value in change.values.items():
                setattr(rule, field, Decimal(str(value)) if isinstance(rule._meta.get_field(field), DecimalField) else value)
    if scope is not None:
        scope[("rules", organization_id)] = rules
    return dict(rules)


def required_proof(order: Order, rules: dict | None = None) -> list[str]:
    """Proof of delivery an order needs: its service level's and its own."""
    rules = rules or service_rules(order.organization_id)
    rule = rules.get(order.service_level)
    return sorted(set(order.proof_required or []) | set(getattr(rule, "proof_required", None) or []))


def due_changes(organization_id: int, target: str) -> list[ScheduledChange]:
    """Scheduled changes whose moment has come but that the beat has not written yet: in force now."""
    return list(ScheduledChange.objects.filter(organization_id=organization_id, target=target, applied_at__isnull=True,
                                               cancelled_at__isnull=True, effective_at__lte=clock.now()).order_by("effective_at", "id"))
