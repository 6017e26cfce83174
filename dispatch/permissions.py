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
