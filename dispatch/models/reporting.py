"""Reporting's daily roll-ups, kept by dispatch.reporting."""

from __future__ import annotations

from django.db import models

from .network import Fleet, Hub
from .tenancy import Organization


class DailyRollup(models.Model):
    """Outcomes of a day's orders, summed per hub, carrier or fleet, zone, service level and failure
    reason: what the performance reports read. Recomputed from the orders for a whole day at a time
    (dispatch.reporting.rollups), so it always agrees with them."""
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    hub = models.ForeignKey(Hub, on_delete=models.CASCADE, related_name="+")
    carrier = models.ForeignKey("carriers.Carrier", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    fleet = models.ForeignKey(Fleet, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    zone = models.CharField(max_length=20)
    service_level = models.CharField(max_length=20)
    failure_reason = models.CharField(max_length=30, blank=True)
    orders = models.PositiveIntegerField(default=0, help_text="Orders that reached an outcome")
    delivered = models.PositiveIntegerField(default=0)
    on_time = models.PositiveIntegerField(default=0)
    first_attempt = models.PositiveIntegerField(default=0)
    failed_attempts = models.PositiveIntegerField(default=0)
    returned = models.PositiveIntegerField(default=0)
    late = models.PositiveIntegerField(default=0)
    late_min = models.PositiveIntegerField(default=0)
    weight_kg = models.FloatField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    penalty = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    promised_min = models.PositiveIntegerField(default=0, help_text="Sum of promised minutes from creation to window end")
    actual_min = models.PositiveIntegerField(default=0, help_text="Sum of minutes from creation to delivery")
    quoted = models.DecimalField(max_digits=14, decimal_places=2, default=0, help_text="Sum of the prices quoted at booking")
    without_proof = models.PositiveIntegerField(default=0, help_text="Delivered without the proof they required")

    class Meta:
        indexes = [models.Index(fields=["organization", "day"])]


class DailyLateness(models.Model):
    """Late deliveries per day and minutes-late bucket (for the lateness distribution)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    hub = models.ForeignKey(Hub, on_delete=models.CASCADE, related_name="+")
    carrier = models.ForeignKey("carriers.Carrier", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    fleet = models.ForeignKey(Fleet, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    zone = models.CharField(max_length=20)
    service_level = models.CharField(max_length=20)
    bucket = models.PositiveIntegerField(help_text="Lower bound in minutes (0, 5, 15, 30, 60, 120)")
    count = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["organization", "day"])]


class DailySavings(models.Model):
    """A closed day's cost as it happened against the static-rule baseline on the same orders,
    both priced by the planner's evaluator."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    orders = models.PositiveIntegerField()
    actual = models.DecimalField(max_digits=14, decimal_places=2)
    baseline = models.DecimalField(max_digits=14, decimal_places=2)
    baseline_unserved = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "day"], name="savings_per_day")]


class RollupDirty(models.Model):
    """A day whose roll-up must be recomputed (written in the same transaction as the change)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    marked_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "day"], name="dirty_once")]
