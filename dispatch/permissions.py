"""Who may do what: the one place where roles are checked. Dispatchers and admins act on decisions
and look after tasks the workers gave up on; ops managers and admins review performance; admins
change settings. An API token acts for its organization's integration. The web edge and the API
ask `refusal_for` and turn its sentence into a 403."""

from dispatch.status import Role

DECIDERS = {Role.DISPATCHER, Role.ADMIN}
REPORTERS = {Role.OPS_MANAGER, Role.ADMIN}
ADMINS = {Role.ADMIN}
DRIVERS = {Role.DRIVER}

# What each action needs: the roles allowed, and what everyone else is told.
ACTIONS = {
    "decide": (DECIDERS, None),
    "look_after_dead_letters": (DECIDERS, "Dispatchers and admins look after tasks the workers gave up on."),
    "review_performance": (REPORTERS, "Performance reports are for ops managers and admins; "
                                      "your role ({role}) works the live queue."),
    "import_orders": (DECIDERS, "Dispatchers and admins bring orders in from a file; your role ({role}) reviews them."),
    "message_drivers": (DECIDERS, "Dispatchers and admins write to drivers; your role ({role}) reads the thread."),
    "drive": (DRIVERS, "The driver app is for drivers; your role ({role}) works in the control tower."),
    "configure": (ADMINS, "Settings are for your organization's admins; your role ({role}) cannot change them."),
}


def can_decide(user) -> bool:
    role = getattr(user, "role", None)
    return role is None or role in DECIDERS  # a token client has no role: it is the organization's integration


def refusal(user) -> str:
    return (f"Your role ({user.get_role_display().lower()}) can review decisions; dispatchers and admins approve, "
            "override or reject them.")


def refusal_for(user, action: str) -> str | None:
    """Why `user`'s role may not do `action`, or None when it may."""
    roles, sentence = ACTIONS[action]
    if user.role in roles:
        return None
    if sentence is None:
        return refusal(user)
    return sentence.format(role=user.get_role_display().lower())


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
