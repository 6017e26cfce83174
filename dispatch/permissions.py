"""Who may do what. Dispatchers and admins act on decisions; ops managers review them. An API token
acts for its organization's integration."""

from dispatch.status import Role

DECIDERS = {Role.DISPATCHER, Role.ADMIN}


def can_decide(user) -> bool:
    role = getattr(user, "role", None)
    return role is None or role in DECIDERS  # a token client has no role: it is the organization's integration


def refusal(user) -> str:
    return (f"Your role ({user.get_role_display().lower()}) can review decisions; dispatchers and admins approve, "
            "override or reject them.")


def within_policy(policy, *, kind: str, cost_delta: float, sla_worsened: int, moves: list[dict]) -> bool:
    """Whether the system may apply a decision without a dispatcher under the organization's policy:
    auto-apply on, within the cost increase, no SLA made worse (if required), no order left
    unserved, not more orders moved than allowed, and an exception kind it covers."""
    return bool(
        policy.auto_apply
        and cost_delta <= policy.max_cost_increase
        and (not policy.require_no_sla_worse or sla_worsened == 0)
        and all(m["to"]["kind"] != "unserved" for m in moves)
        and len(moves) <= policy.max_orders_moved
        and (not policy.auto_apply_kinds or kind in policy.auto_apply_kinds)
    )
