"""What a settings change would do, before it is saved, computed with the production planner and
evaluator on today's open orders (rules) or on the last 30 days' decisions (auto-apply policy).
Each result says when it was computed and how long it took."""

from __future__ import annotations

import copy
import time
from datetime import timedelta
from decimal import Decimal

from dispatch import clock
from dispatch.models import Decision, Order
from dispatch.permissions import within_policy
from dispatch.selectors import policy_for, service_rules
from dispatch.services.routes import risk_for
from dispatch.services.settlement import late_penalty
from dispatch.status import OPEN_ORDER_STATUSES, DecisionState

from .bridge import network_plan

# Each preview re-plans today's network twice (with the settings in force and with the proposed ones),
# each within this budget: 1 s each answered the demo city's 150-order day in 1.1 s in all (3 s: 5.2 s).
PREVIEW_TIME_LIMIT = 1.0
POLICY_DAYS = 30


def _late_min(order: Order) -> int:
    return max(0, int(-(-(order.eta - order.window_end).total_seconds() // 60)))


def preview_rule_change(*, organization_id: int, level: str, values: dict, time_limit: float = PREVIEW_TIME_LIMIT) -> dict:
    """Today's open orders under the rule in force and under the proposed one: orders whose at-risk
    status changes, the penalties their ETAs would cost, the cost of the current plan by the
    evaluator, and which orders the production planner would move (from the current plan)."""
    started = time.monotonic()
    current = service_rules(organization_id)
    proposed = dict(current)
    rule = copy.copy(current[level])
    for field, value in values.items():
        setattr(rule, field, value)
    proposed[level] = rule
    old_rule = current[level]
    orders = list(Order.objects.filter(organization_id=organization_id, service_level=level, status__in=OPEN_ORDER_STATUSES,
                                       eta__isnull=False).only("external_ref", "eta", "window_end", "risk"))
    risk_changes, old_pen, new_pen = [], Decimal("0.00"), Decimal("0.00")
    for o in orders:
        before = risk_for(o.eta, o.window_end, old_rule.at_risk_margin_min)
        after = risk_for(o.eta, o.window_end, rule.at_risk_margin_min)
        if before != after:
            risk_changes.append({"order": o.external_ref, "from": before, "to": after})
        late = _late_min(o)
        old_pen += late_penalty(old_rule, late)
        new_pen += late_penalty(rule, late)
    with_old = network_plan(organization_id=organization_id, time_limit=time_limit, rules=current)
    with_new = network_plan(organization_id=organization_id, time_limit=time_limit, rules=proposed)
    return {
        "level": level, "open_orders": len(orders), "risk_changes": risk_changes,
        "penalties_before": old_pen, "penalties_after": new_pen,
        "plan_cost_before": round(with_old.before, 2) if with_old else None,
        "plan_cost_after": round(with_new.before, 2) if with_new else None,
        "replan_cost_before": round(with_old.after, 2) if with_old else None,
        "replan_cost_after": round(with_new.after, 2) if with_new else None,
        "moves": with_new.moves if with_new else [],
        "moves_with_current_rules": len(with_old.moves) if with_old else 0,
        **_stamp(started),
    }


def _stamp(started: float) -> dict:
    return {"computed_at": clock.now(), "took_s": round(time.monotonic() - started, 1)}


def preview_policy_change(*, organization_id: int, values: dict, days: int = POLICY_DAYS) -> dict:
    """The last 30 days' decisions judged by the policy in force and by the proposed one: how many
    would have been applied automatically instead of waiting for a dispatcher (and the reverse),
    and the cost those decisions carried."""
    current = policy_for(organization_id)
    proposed = copy.copy(current)
    for field, value in values.items():
        setattr(proposed, field, value)
    since = clock.now() - timedelta(days=days)
    decisions = (Decision.objects.filter(organization_id=organization_id, created_at__gte=since, reverses__isnull=True)
                 .exclude(state=DecisionState.SUPERSEDED).select_related("exception"))
    counted = auto_before = auto_after = 0
    newly, no_longer = [], []
    for d in decisions:
        counted += 1
        kw = {"kind": d.exception.kind, "cost_delta": d.cost_delta, "sla_worsened": d.sla_worsened, "moves": d.moves}
        a, b = within_policy(current, **kw), within_policy(proposed, **kw)
        auto_before += a
        auto_after += b
        if b and not a:
            newly.append(d)
        elif a and not b:
            no_longer.append(d)
    return {
        "days": days, "decisions": counted, "auto_before": auto_before, "auto_after": auto_after,
        "newly_auto": len(newly), "newly_auto_cost": round(sum(d.cost_delta for d in newly), 2),
        "no_longer_auto": len(no_longer), "no_longer_auto_cost": round(sum(d.cost_delta for d in no_longer), 2),
        "examples": [{"id": d.id, "summary": d.summary, "kind": d.exception.get_kind_display()} for d in (newly + no_longer)[:10]],
    }


def preview_cost_change(*, organization_id: int, costs: dict, time_limit: float = PREVIEW_TIME_LIMIT) -> dict:
    """Van costs or a rate card as proposed ({("vehicle" | "rate", id): {field: value}}): the current
    plan's cost by the evaluator with today's and the proposed costs, and what the production
    planner would move with them."""
    started = time.monotonic()
    with_old = network_plan(organization_id=organization_id, time_limit=time_limit)
    with_new = network_plan(organization_id=organization_id, time_limit=time_limit, costs=costs)
    return {
        "plan_cost_before": round(with_old.before, 2) if with_old else None,
        "plan_cost_after": round(with_new.before, 2) if with_new else None,
        "replan_cost_before": round(with_old.after, 2) if with_old else None,
        "replan_cost_after": round(with_new.after, 2) if with_new else None,
        "moves": with_new.moves if with_new else [],
        "moves_with_current_costs": len(with_old.moves) if with_old else 0,
        **_stamp(started),
    }
