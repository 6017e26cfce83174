"""The engine's record: exceptions (what left the plan) and decisions (the response)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from dispatch.clock import now as clock_now
from dispatch.status import Actor, DecisionState, ExceptionKind, ExceptionState, OverrideReason, Severity

from .network import Vehicle
from .orders import Order
from .tenancy import Organization


class OrderException(models.Model):
    """Something that left the plan. One live exception per cause: seeing the cause again updates it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="exceptions")
    kind = models.CharField(max_length=30, choices=ExceptionKind.choices)
    cause_key = models.CharField(max_length=200, help_text="Identifies the cause, e.g. carrier:12")
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MEDIUM)
    state = models.CharField(max_length=12, choices=ExceptionState.choices, default=ExceptionState.OPEN)
    title = models.CharField(max_length=300)
    cause = models.TextField(blank=True)
    orders = models.ManyToManyField(Order, related_name="exceptions", blank=True)
    vehicle = models.ForeignKey(Vehicle, null=True, blank=True, on_delete=models.SET_NULL)
    carrier = models.ForeignKey("carriers.Carrier", null=True, blank=True, on_delete=models.SET_NULL)
    detected_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    seen_count = models.PositiveIntegerField(default=1)
    escalated_at = models.DateTimeField(null=True, blank=True, help_text="When it passed its response SLA unresolved")
    snoozed_until = models.DateTimeField(null=True, blank=True)
    holder = models.ForeignKey("dispatch.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="held_exceptions",
                               help_text="The dispatcher handling it")
    held_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "cause_key"], condition=Q(state__in=["open", "proposed"]),
                                    name="one_live_exception_per_cause"),
        ]
        indexes = [models.Index(fields=["organization", "state"])]


class Decision(models.Model):
    """A proposed response to an exception: which orders move where, at what cost and SLA effect."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="decisions")
    exception = models.ForeignKey(OrderException, on_delete=models.CASCADE, related_name="decisions")
    state = models.CharField(max_length=20, choices=DecisionState.choices, default=DecisionState.PROPOSED)
    version = models.PositiveIntegerField(default=1)
    moves = models.JSONField(default=list, help_text="[{order, from, to: {kind, code}, cost_delta, sla_before, sla_after, alternatives}]")
    cost_delta = models.FloatField(default=0.0)
    sla_improved = models.PositiveIntegerField(default=0)
    sla_worsened = models.PositiveIntegerField(default=0)
    summary = models.CharField(max_length=300, blank=True)
    proposed_by = models.CharField(max_length=100, default="planner")
    decided_by = models.CharField(max_length=150, blank=True)
    decided_actor_type = models.CharField(max_length=20, choices=Actor.choices, blank=True)
    reason_code = models.CharField(max_length=30, choices=OverrideReason.choices, blank=True)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=clock_now)
    decided_at = models.DateTimeField(null=True, blank=True)
    problem = models.JSONField(null=True, blank=True, help_text="The problem it solved (Track B snapshot with the current plan)")
    updated_at = models.DateTimeField(auto_now=True, null=True)
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reversed_by",
                                    help_text="The applied decision this one undoes")

    @property
    def bookings_left(self) -> int:
        """Carrier bookings an approval has still to make (0 unless it is being applied)."""
        return sum(1 for m in self.moves if m.get("pending")) if self.state == DecisionState.PROPOSED else 0
