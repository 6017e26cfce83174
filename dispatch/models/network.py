"""The own network: hubs, fleets, vans, drivers, shifts, and where the vans are."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from dispatch.clock import now as clock_now
from dispatch.status import DutyStatus

from .tenancy import Organization, history_user

LAT = [MinValueValidator(-90), MaxValueValidator(90)]
LON = [MinValueValidator(-180), MaxValueValidator(180)]


class Hub(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="hubs")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    lat = models.FloatField(validators=LAT)
    lon = models.FloatField(validators=LON)
    load_min_per_order = models.FloatField(default=1.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="hub_code_per_org")]

    def __str__(self) -> str:
        return self.code


class Fleet(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="fleets")
    name = models.CharField(max_length=200)
    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, related_name="fleets")

    def __str__(self) -> str:
        return self.name


class Vehicle(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="vehicles")
    fleet = models.ForeignKey(Fleet, on_delete=models.PROTECT, related_name="vehicles")
    code = models.CharField(max_length=40)
    capacity_kg = models.FloatField(validators=[MinValueValidator(0)])
    capacity_m3 = models.FloatField(default=10.0, validators=[MinValueValidator(0)])
    skills = models.JSONField(default=list, blank=True)
    cost_per_km = models.FloatField(default=0.55)
    cost_per_hour = models.FloatField(default=24.0)
    fixed_cost = models.FloatField(default=0.0)
    status = models.CharField(max_length=20, choices=DutyStatus.choices, default=DutyStatus.OFF_DUTY)
    # Latest accepted position. Only a newer ping moves it (see services.positions).
    lat = models.FloatField(null=True, blank=True, validators=LAT)
    lon = models.FloatField(null=True, blank=True, validators=LON)
    speed_kmh = models.FloatField(null=True, blank=True)
    heading = models.FloatField(null=True, blank=True)
    position_at = models.DateTimeField(null=True, blank=True)
    etas_at = models.DateTimeField(null=True, blank=True, help_text="The position time its stops' ETAs were last computed from")
    resumes_at = models.DateTimeField(null=True, blank=True, help_text="Its driver is on a break until about then (ETAs start there)")
    app_away_since = models.DateTimeField(
        null=True, blank=True, help_text="The driver app went to the background (navigating): the phone's positions pause")
    # Its costs are a setting, versioned like every other (dispatch.configuration.costs writes them);
    # where it is and its duty status are live state, not versions.
    history = HistoricalRecords(get_user=history_user, excluded_fields=[
        "organization", "fleet", "capacity_kg", "capacity_m3", "skills", "status", "lat", "lon", "speed_kmh", "heading",
        "position_at", "etas_at", "resumes_at", "app_away_since"])

    COST_FIELDS = ("cost_per_km", "cost_per_hour", "fixed_cost")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="vehicle_code_per_org")
        ]

    def __str__(self) -> str:
        return self.code


class Driver(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="drivers")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    phone = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=20, choices=DutyStatus.choices, default=DutyStatus.OFF_DUTY)
    status_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="driver_code_per_org")
        ]

    def __str__(self) -> str:
        return self.name


class Shift(models.Model):
    """A driver's planned time with a van; the driver app records when it really started (after the
    vehicle check), its breaks, and when it ended."""

    driver = models.ForeignKey(Driver, on_delete=models.CASCADE, related_name="shifts")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="shifts")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    vehicle_check = models.JSONField(default=dict, blank=True, help_text='{"checks": {item: ok}, "failed": [labels], "note": ""}')
    break_since = models.DateTimeField(null=True, blank=True)
    breaks = models.JSONField(default=list, blank=True, help_text="[[start, end], ...] ISO times")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after_start")
        ]


class ShiftMessage(models.Model):
    """A message between a shift's driver (the driver app) and dispatch (the van's page)."""

    shift = models.ForeignKey(Shift, on_delete=models.CASCADE, related_name="messages")
    from_driver = models.BooleanField()
    author = models.CharField(max_length=150)
    text = models.TextField(max_length=1000)
    created_at = models.DateTimeField(default=clock_now)

    class Meta:
        indexes = [models.Index(fields=["shift", "created_at"])]


class VehiclePosition(models.Model):
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="positions")
    lat = models.FloatField(validators=LAT)
    lon = models.FloatField(validators=LON)
    recorded_at = models.DateTimeField()
    speed_kmh = models.FloatField(null=True, blank=True)
    heading = models.FloatField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["vehicle", "recorded_at"])]
