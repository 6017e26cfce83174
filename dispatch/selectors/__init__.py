"""Every read that views, consumers, reports and the planner need, scoped to one organization, one
module per context; all of them importable from here. A selector raises dispatch.errors.NotFound or
Forbidden (the edge answers 404/403), never an HTTP error."""

from .base import CLOSED_STATUSES, hub_scope, in_scope, scope_hub_ids, user_hub_ids  # noqa: F401
from .configuration import (  # noqa: F401
    due_changes,
    one_policy_read,
    organization_zone,
    policy_for,
    required_proof,
    scoped,
    service_rules,
)
from .network import (  # noqa: F401
    carrier_get,
    carrier_story,
    carriers_with_load,
    colleagues,
    driver_day,
    driver_get,
    driver_lost_order,
    driver_order,
    driver_shift,
    hubs_for,
    manifest_for,
    planned_capacity,
    shift_started,
    slot_bookings,
    vehicle_get,
    vehicle_story,
    vehicles_for,
)
from .orders import (  # noqa: F401
    ORDER_SORTS,
    kpis_for,
    order_by_tracking_token,
    order_get,
    order_story,
    orders_for,
)
from .queue import (  # noqa: F401
    ACTIVITY_KINDS,
    CALL_KINDS,
    CALL_OPEN,
    activity_for,
    call_list,
    call_list_size,
    decision_current,
    decision_get,
    exception_get,
    exception_queue,
    exceptions_live,
    move_groups,
)
from .tracking import customer_changes_since, tracking_view, van_nearness  # noqa: F401
from .track_record import lane_reliability  # noqa: F401
from .availability import Unavailable, shifts_not_started, vans_unavailable  # noqa: F401
