"""Status vocabularies. Each choice carries its presentation (label, colour) so templates
and the live map never branch on status strings, and the order lifecycle is enforced here
and only here."""

from __future__ import annotations

from django.db import models


class ChoiceSet(models.TextChoices):
    """TextChoices whose members also know their colour (a CSS colour string)."""

    @classmethod
    def colours(cls) -> dict[str, str]:
        return {m.value: cls._colour_map().get(m.value, "#64748b") for m in cls}

    @classmethod
    def colour(cls, value: str) -> str:
        return cls.colours().get(value, "#64748b")

    @classmethod
    def _colour_map(cls) -> dict[str, str]:  # overridden per set
        return {}

    @classmethod
    def presentation(cls) -> list[dict[str, str]]:
        return [{"value": m.value, "label": m.label, "colour": cls.colour(m.value)} for m in cls]


class OrderStatus(ChoiceSet):
    CREATED = "created", "Created"
    PLANNED = "planned", "Planned"
    ASSIGNED = "assigned", "Assigned to van"
    BOOKED = "booked", "Booked with carrier"
    PICKED_UP = "picked_up", "Picked up"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    RETURNED = "returned", "Returned"
    CANCELLED = "cancelled", "Cancelled"

    @classmethod
    def _colour_map(cls) -> dict[str, str]:
        return {
            "created": "#94a3b8",
            "planned": "#a78bfa",
            "assigned": "#3b82f6",
            "booked": "#06b6d4",
            "picked_up": "#0ea5e9",
            "out_for_delivery": "#f59e0b",
            "delivered": "#22c55e",
            "failed": "#ef4444",
            "returned": "#b45309",
            "cancelled": "#475569",
        }


TERMINAL_ORDER_STATUSES = frozenset(
    {OrderStatus.DELIVERED, OrderStatus.RETURNED, OrderStatus.CANCELLED}
)
OPEN_ORDER_STATUSES = frozenset(OrderStatus.values) - TERMINAL_ORDER_STATUSES - {OrderStatus.FAILED}

# The canonical lifecycle. A failed order may be re-attempted (planned again) or returned.
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    "created": frozenset({"planned", "assigned", "booked", "cancelled"}),
    "planned": frozenset({"created", "assigned", "booked", "cancelled"}),
    "assigned": frozenset({"planned", "booked", "assigned", "picked_up", "cancelled"}),
    "booked": frozenset({"planned", "assigned", "booked", "picked_up", "failed", "cancelled"}),
    "picked_up": frozenset({"out_for_delivery", "delivered", "failed"}),
    "out_for_delivery": frozenset({"delivered", "failed"}),
    "failed": frozenset({"planned", "returned"}),
    "delivered": frozenset(),
    "returned": frozenset(),
    "cancelled": frozenset(),
}


def can_transition(current: str, new: str) -> bool:
    return new in ORDER_TRANSITIONS.get(current, frozenset())


class ServiceLevel(ChoiceSet):
    EXPRESS = "express", "Express"
    SAME_DAY = "same_day", "Same day"
    SCHEDULED = "scheduled", "Scheduled"
    NEXT_DAY = "next_day", "Next day"


# What a new organization starts with for each service level, until its admins set their own.
DEFAULT_SERVICE_RULES = {
    "express": {"late_fixed": 25, "late_per_min": "0.50", "unserved": 120, "reattempt_cost": 10, "at_risk_margin_min": 15, "priority": 1},
    "same_day": {"late_fixed": 12, "late_per_min": "0.15", "unserved": 70, "reattempt_cost": 8, "at_risk_margin_min": 15, "priority": 2},
    "scheduled": {"late_fixed": 15, "late_per_min": "0.25", "unserved": 80, "reattempt_cost": 8, "at_risk_margin_min": 15, "priority": 3},
    "next_day": {"late_fixed": 8, "late_per_min": "0.05", "unserved": 40, "reattempt_cost": 6, "at_risk_margin_min": 15, "priority": 4},
}


class Role(ChoiceSet):
    DISPATCHER = "dispatcher", "Dispatcher"
    OPS_MANAGER = "ops_manager", "Ops manager"
    ADMIN = "admin", "Admin"
    DRIVER = "driver", "Driver"


class DutyStatus(ChoiceSet):
    ON_DUTY = "on_duty", "On duty"
    OFF_DUTY = "off_duty", "Off duty"
    UNAVAILABLE = "unavailable", "Unavailable"

    @classmethod
    def _colour_map(cls) -> dict[str, str]:
        return {"on_duty": "#22c55e", "off_duty": "#94a3b8", "unavailable": "#ef4444"}


class CarrierHealth(ChoiceSet):
    UP = "up", "Up"
    DEGRADED = "degraded", "Degraded"
    DOWN = "down", "Down"

    @classmethod
    def _colour_map(cls) -> dict[str, str]:
        return {"up": "#22c55e", "degraded": "#f59e0b", "down": "#ef4444"}


class StopKind(ChoiceSet):
    PICKUP = "pickup", "Pickup"
    DELIVERY = "delivery", "Delivery"


class Risk(ChoiceSet):
    ON_TIME = "on_time", "On time"
    AT_RISK = "at_risk", "At risk"
    LATE = "late", "Late"

    @classmethod
    def _colour_map(cls) -> dict[str, str]:
        return {"on_time": "#22c55e", "at_risk": "#f59e0b", "late": "#ef4444"}


class Actor(ChoiceSet):
    USER = "user", "User"
    API = "api", "API client"
    SYSTEM = "system", "System"
    CARRIER = "carrier", "Carrier"
    SIMULATOR = "simulator", "Simulator"
    CUSTOMER = "customer", "Customer"


class FailureReason(ChoiceSet):
    NOT_HOME = "not_home", "Customer not home"
    REFUSED = "refused", "Refused"
    ADDRESS = "address_problem", "Address problem"
    ACCESS = "no_access", "No access (gate, door code)"
    DAMAGED = "damaged", "Damaged"
    UNSAFE = "unsafe", "Unsafe to deliver"
    OTHER = "other", "Other"


class ExceptionKind(ChoiceSet):
    SLA_AT_RISK = "sla_at_risk", "SLA at risk"
    CARRIER_OUTAGE = "carrier_outage", "Carrier outage"
    CARRIER_CAPACITY = "carrier_capacity_gap", "Carrier capacity gap"
    FAILED_DELIVERY = "failed_delivery", "Failed delivery"
    VEHICLE_BREAKDOWN = "vehicle_breakdown", "Vehicle breakdown"
    DRIVER_NO_SHOW = "driver_no_show", "Driver no-show"
    DEMAND_SPIKE = "demand_spike", "Demand spike"
    MISSED_CUTOFF = "missed_cutoff", "Missed pickup cut-off"
    REPLAN = "replan", "Re-plan opportunity"
    MISSING_PROOF = "missing_proof", "Delivered without proof"


class ProofKind(ChoiceSet):
    PHOTO = "photo", "Photo"
    SIGNATURE = "signature", "Signature"
    PIN = "pin", "PIN"
    AGE_CHECK = "age_check", "Age check"


# The driver's check of the van before a shift: (key, what the driver checks, whether the van may
# not drive when it fails).
VEHICLE_CHECKS = (
    ("lights_tyres", "Lights and tyres", True),
    ("brakes_steering", "Brakes and steering", True),
    ("load_space", "Load space clean, straps and cold box working", False),
    ("fuel", "Fuel or charge for the route", False),
    ("damage", "No new damage", False),
)

HANDLING = ("bulky", "regulated", "cold", "fragile")  # the skills a van or carrier must have for an order

# Proof that arrives as a file, with the types and size a driver app may send.
PROOF_FILES = {"photo": ("image/jpeg", "image/png", "image/webp"), "signature": ("image/png", "image/jpeg", "image/svg+xml")}
PROOF_MAX_BYTES = 1_500_000


class Severity(ChoiceSet):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"

    @classmethod
    def _colour_map(cls) -> dict[str, str]:
        return {"low": "#94a3b8", "medium": "#f59e0b", "high": "#f97316", "critical": "#ef4444"}


class ExceptionState(ChoiceSet):
    OPEN = "open", "Open"
    PROPOSED = "proposed", "Decision proposed"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"

    @classmethod
    def _colour_map(cls) -> dict[str, str]:
        return {"open": "#ef4444", "proposed": "#f59e0b", "resolved": "#22c55e", "dismissed": "#64748b"}


LIVE_EXCEPTION_STATES = (ExceptionState.OPEN, ExceptionState.PROPOSED)
# How long a live exception may wait for a person, by severity, before it escalates (an
# organization's policy may set its own: Policy.response_sla_min).
RESPONSE_SLA_MIN = {"critical": 5, "high": 15, "medium": 30, "low": 60}


class DismissReason(ChoiceSet):
    HANDLED_OUTSIDE = "handled_outside", "Handled outside the tower"
    FALSE_ALARM = "false_alarm", "False alarm"
    DUPLICATE = "duplicate", "Duplicate of another exception"
    CUSTOMER_CONTACTED = "customer_contacted", "Customer contacted, nothing to move"
    WAITING = "waiting", "Waiting on someone else"


class DecisionState(ChoiceSet):
    PROPOSED = "proposed", "Proposed"
    APPLIED = "applied", "Applied"
    PARTIALLY_APPLIED = "partially_applied", "Partly applied"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded"

    @classmethod
    def _colour_map(cls) -> dict[str, str]:
        return {"proposed": "#f59e0b", "applied": "#22c55e", "partially_applied": "#84cc16", "rejected": "#64748b", "superseded": "#475569"}


class OverrideReason(ChoiceSet):
    CUSTOMER_REQUEST = "customer_request", "Customer request"
    CARRIER_PREFERENCE = "carrier_preference", "Preferred carrier relationship"
    LOCAL_KNOWLEDGE = "local_knowledge", "Local knowledge (traffic, access)"
    COST = "cost", "Cost"
    SLA = "sla", "Protect the SLA"
    OTHER = "other", "Other"


class MessageKind(ChoiceSet):
    BOOKED = "booked", "Booked"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    NEW_ETA = "new_eta", "New ETA"
    DELAYED = "delayed", "Delayed"
    FAILED = "failed", "Delivery failed"
    DELIVERED = "delivered", "Delivered"
    UPDATED = "updated", "Change confirmed"
    NEARBY = "nearby", "Driver nearby"
