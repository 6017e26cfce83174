"""What admins configure: the policy, service-level rules, scheduled changes."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from dispatch.clock import now as clock_now
from dispatch.status import ServiceLevel

from .tenancy import Organization, history_user


class Policy(models.Model):
    """What the engine may apply without a dispatcher (configured by admins)."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="policy")
    auto_apply = models.BooleanField(default=True)
    max_cost_increase = models.FloatField(default=25.0, help_text="Largest total cost increase applied automatically")
    require_no_sla_worse = models.BooleanField(default=True, help_text="Only auto-apply when no order's SLA gets worse")
    eta_tolerance_min = models.PositiveIntegerField(default=15, help_text="ETA change that warrants telling the customer")
    no_show_grace_min = models.PositiveIntegerField(default=20)
    carrier_silence_min = models.PositiveIntegerField(default=30)
    spike_factor = models.FloatField(default=1.5, help_text="Orders per zone and window above this times plan is a spike")
    vehicle_silence_min = models.PositiveIntegerField(
        default=10, help_text="A van with open stops and no ping for this long may have broken down")
    response_sla_min = models.JSONField(
        default=dict, blank=True,
        help_text="Minutes to resolve an exception per severity before it escalates, e.g. {\"critical\": 5}")
    van_orders_per_hour = models.FloatField(
        default=6.0, help_text="Deliveries one van is planned to make per hour (the own fleet's planned capacity)")
    max_orders_moved = models.PositiveIntegerField(
        default=500, help_text="Largest number of orders one decision may move and still be applied automatically")
    auto_apply_kinds = models.JSONField(
        default=list, blank=True,
        help_text="Exception kinds whose decisions may be applied automatically (empty: every kind)")
    health_degraded_error_rate = models.FloatField(default=0.2, help_text="Share of failed recent calls that makes a carrier degraded")
    health_down_error_rate = models.FloatField(default=0.5, help_text="Share of failed recent calls (the last one failing) that makes it down")
    health_slow_ms = models.PositiveIntegerField(default=3000, help_text="90th percentile latency above which a carrier is degraded")
    carrier_timeout_s = models.FloatField(default=5.0, help_text="How long one call to a carrier may take")
    breaker_failures = models.PositiveIntegerField(default=5, help_text="Consecutive failed calls that stop calling a carrier for a while")
    spike_min_orders = models.PositiveIntegerField(default=5, help_text="Fewest orders in a hub-hour that can be a demand spike")
    replan_min_saving = models.FloatField(default=5.0, help_text="Least saving for which a network re-plan is proposed")
    history = HistoricalRecords(get_user=history_user)


class ServiceLevelRule(models.Model):
    """An organization's own promise and penalties for one service level (configured by admins,
    read by the planner, the detectors and the reports at the moment they act). Every change is
    kept with who made it and when (django-simple-history)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="service_rules")
    service_level = models.CharField(max_length=20, choices=ServiceLevel.choices)
    late_fixed = models.DecimalField(max_digits=8, decimal_places=2, validators=[MinValueValidator(0)],
                                     help_text="Penalty for a late delivery")
    late_per_min = models.DecimalField(max_digits=8, decimal_places=2, validators=[MinValueValidator(0)],
                                       help_text="Added per minute late")
    unserved = models.DecimalField(max_digits=8, decimal_places=2, validators=[MinValueValidator(0)],
                                   help_text="Penalty for an order not delivered (returned or left unplanned)")
    reattempt_cost = models.DecimalField(max_digits=8, decimal_places=2, default=8, validators=[MinValueValidator(0)],
                                         help_text="What a failed attempt costs to try again")
    at_risk_margin_min = models.PositiveIntegerField(default=15, help_text="An ETA this close to the window's end is at risk")
    proof_required = models.JSONField(default=list, blank=True, help_text="Proof of delivery every order of this level needs")
    lead_min = models.PositiveIntegerField(default=0, help_text="Least minutes from ordering to the window's start")
    max_window_min = models.PositiveIntegerField(null=True, blank=True, help_text="Longest delivery window this level promises")
    cutoff = models.TimeField(null=True, blank=True, help_text="Orders for today's windows are taken until this local time")
    priority = models.PositiveSmallIntegerField(default=2, help_text="Planned first: 1 before 2 before 3")
    handling = models.JSONField(default=list, blank=True, help_text="Handling every order of this level needs (bulky, regulated, cold, fragile)")
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "service_level"], name="one_rule_per_level")]

    def __str__(self) -> str:
        return f"{self.organization_id}:{self.service_level}"


class ScheduledChange(models.Model):
    """A settings change that takes effect later (an admin scheduled it). Until then the rules in
    force are the earlier ones; from its moment on, every read sees it (dispatch.selectors), and
    the beat writes it into the settings row, where django-simple-history records it."""

    class Target(models.TextChoices):
        SERVICE_RULE = "service_rule", "Service level rule"
        POLICY = "policy", "Auto-apply and detection"
        RATE_CARD = "rate_card", "Carrier rate card"
        ZONE_SURCHARGE = "zone_surcharge", "Carrier zone surcharge"
        VEHICLE_COSTS = "vehicle_costs", "Van costs"
        TEMPLATE = "template", "Customer message wording"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="scheduled_changes")
    target = models.CharField(max_length=20, choices=Target.choices)
    key = models.CharField(max_length=60, blank=True,
                           help_text="What it changes: the service level, rate card or zone id, van:<id>/fleet:<id>, kind:channel")
    values = models.JSONField(help_text="Field -> new value (as the form gave it for costs and templates; validated when scheduled)")
    effective_at = models.DateTimeField()
    created_by = models.ForeignKey("dispatch.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=clock_now)
    applied_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "target", "effective_at"])]


class NetworkImport(models.Model):
    """One import of network files (Settings → Network → Import): who, when, which files, what it
    created and changed. Each row it touched also has its version in that row's history, with this
    import's number as the reason."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="network_imports")
    by = models.ForeignKey("dispatch.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=clock_now)
    files = models.JSONField(default=list)
    summary = models.JSONField(default=dict, help_text="{kind: {create, update, unchanged}}")
    rows = models.JSONField(default=list, help_text="What was created or changed, row by row (field: [before, after])")
