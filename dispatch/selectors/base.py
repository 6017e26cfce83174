"""What every selector shares: one row of the organization, or NotFound; the hub scope a person works in."""

from __future__ import annotations

from dispatch.errors import NotFound
from dispatch.models import Order
from dispatch.scope import current, within
from dispatch.status import OrderStatus, Role


def one_row(queryset, what: str, **lookup):
    """The row of `queryset` matching `lookup`, or NotFound (which the edge answers with a 404)."""
    try:
        return queryset.get(**lookup)
    except queryset.model.DoesNotExist:
        raise NotFound(f"No such {what} in your organization.") from None


# --- Hub scope -------------------------------------------------------------------------------
# A dispatcher scoped to hubs sees and acts on those hubs' orders, vans and exceptions only. The
# request's scope is set once (web.middleware.HubScopeMiddleware, the live socket) in the work
# scope (dispatch.scope) and every read below applies it; None means every hub of the organization.
def user_hub_ids(user) -> frozenset[int] | None:
    """The hubs a user is scoped to (dispatchers only; ops managers and admins see every hub)."""

    if getattr(user, "role", None) != Role.DISPATCHER or not getattr(user, "pk", None):
        return None
    ids = frozenset(user.hubs.values_list("id", flat=True))
    return ids or None


def hub_scope(hub_ids: frozenset[int] | None):
    """The work inside this `with` block sees the hubs `hub_ids` only (None: every hub)."""
    return within(hub_ids=hub_ids)


def scope_hub_ids() -> frozenset[int] | None:
    return current().hub_ids


def in_scope(order: Order) -> bool:
    scope = current().hub_ids
    return scope is None or order.hub_id in scope


# Orders that need nobody any more; the dashboard's table shows the rest unless asked.
CLOSED_STATUSES = [OrderStatus.DELIVERED, OrderStatus.CANCELLED, OrderStatus.RETURNED]
