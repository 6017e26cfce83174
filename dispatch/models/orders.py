"""Orders and the plan in force: routes, stops, assignments, proof of delivery."""

from __future__ import annotations

import secrets

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from dispatch.clock import now as clock_now
from dispatch.status import Actor, FailureReason, OrderStatus, ProofKind, Risk, ServiceLevel, StopKind
from planner.travel import compass_zone

from .network import LAT, LON, Hub, Vehicle
from .tenancy import Organization


def new_tracking_token() -> str:
    return secrets.token_urlsafe(24)


def new_delivery_pin() -> str:
    return f"{secrets.randbelow(10000):04d}"


class Order(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="orders")
    external_ref = models.CharField(max_length=100)
    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, related_name="orders")
    address = models.CharField(max_length=300)
    lat = models.FloatField(validators=LAT)
    lon = models.FloatField(validators=LON)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    sla_deadline = models.DateTimeField()
    service_level = models.CharField(max_length=20, choices=ServiceLevel.choices)
    weight_kg = models.FloatField(validators=[MinValueValidator(0)])
    volume_m3 = models.FloatField(default=0.0, validators=[MinValueValidator(0)])
    requires = models.JSONField(default=list, blank=True)
    instructions = models.CharField(max_length=500, blank=True, help_text="The customer's delivery instructions")
    service_min = models.FloatField(default=4.0)
    customer_name = models.CharField(max_length=200)
    customer_email = models.EmailField(blank=True)
    customer_phone = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.CREATED, db_index=True)
    risk = models.CharField(max_length=20, choices=Risk.choices, default=Risk.ON_TIME)
    eta = models.DateTimeField(null=True, blank=True)
    eta_why = models.CharField(max_length=200, blank=True,
                               help_text="What moves the ETA off the travel model: the traffic learned from the fleet, in minutes")
    failure_reason = models.CharField(max_length=30, choices=FailureReason.choices, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # When it last reached an outcome (delivered, failed, returned) on the product clock: what a report
    # read at a moment counts (an export pinned to the moment a page showed).
    settled_at = models.DateTimeField(null=True, blank=True)
    # Current assignment, kept in step with the active Assignment by services.assignments.
    vehicle = models.ForeignKey(Vehicle, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    carrier = models.ForeignKey("carriers.Carrier", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    tracking_token = models.CharField(max_length=64, unique=True, default=new_tracking_token)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=clock_now)
    updated_at = models.DateTimeField(auto_now=True)
    # Where and when it counts in reports (derived from the hub, the point and the window; see derive()).
    zone = models.CharField(max_length=20, blank=True, help_text="Delivery zone: hub code and compass sector from it")
    service_date = models.DateField(null=True, blank=True, help_text="Local date of the window's end: the day it is due")
    # Settled as the order reaches an outcome (dispatch.services.settlement).
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Delivery attempts made (failed ones and the last)")
    cost = models.DecimalField(max_digits=10, decimal_places=2, default=0, help_text="What delivering it cost so far")
    penalty = models.DecimalField(max_digits=10, decimal_places=2, default=0, help_text="SLA penalty it incurred")
    late_min = models.PositiveIntegerField(null=True, blank=True, help_text="Minutes after the window it was delivered")
    proof_required = models.JSONField(default=list, blank=True, help_text="Proof this order needs on top of its service level's")
    delivery_pin = models.CharField(max_length=6, default=new_delivery_pin, help_text="What the customer tells the driver when a PIN is required")
    proof_missing = models.BooleanField(default=False, help_text="Delivered without the proof it required")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "external_ref"], name="order_ref_per_org"),
            models.CheckConstraint(condition=Q(window_end__gt=models.F("window_start")), name="order_window_ordered"),
        ]
        indexes = [models.Index(fields=["organization", "status"]), models.Index(fields=["organization", "service_date"])]

    def __str__(self) -> str:
        return self.external_ref

    def derive(self, hub: Hub | None = None) -> Order:
        """Set the zone and the service date from the hub, the point and the window."""
        hub = hub or self.hub
        self.zone = compass_zone(hub.code, hub.lat, hub.lon, self.lat, self.lon)
        self.service_date = timezone.localdate(self.window_end)
        return self

    def save(self, *args, **kwargs):
        if self.window_end is not None and self.hub_id is not None:
            self.derive()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "zone", "service_date"}
        super().save(*args, **kwargs)

    @property
    def on_time(self) -> bool | None:
        if self.delivered_at is None:
            return None
        return self.delivered_at <= self.window_end


class Route(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="routes")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.CASCADE, related_name="routes")
    service_date = models.DateField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=clock_now)


class Stop(models.Model):
    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="stops")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="stops")
    kind = models.CharField(max_length=10, choices=StopKind.choices)
    sequence = models.PositiveIntegerField()
    lat = models.FloatField()
    lon = models.FloatField()
    planned_at = models.DateTimeField(null=True, blank=True)
    eta = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sequence"]
        indexes = [
            models.Index(fields=["route", "sequence"]),
            # The open stops of a route: what every ETA pass and proposal reads. Without it PostgreSQL
            # read the whole stop table (done stops and old row versions included) for each van's ETA
            # pass, about 20 times a second with 2,000 vans pinging, slower as the day went on.
            models.Index(fields=["route", "sequence"], condition=Q(completed_at__isnull=True), name="stop_open_by_route"),
        ]


class Assignment(models.Model):
    """One version of where an order is meant to go: a van route or a carrier booking."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="assignments")
    version = models.PositiveIntegerField()
    vehicle = models.ForeignKey(Vehicle, null=True, blank=True, on_delete=models.SET_NULL)
    route = models.ForeignKey(Route, null=True, blank=True, on_delete=models.SET_NULL)
    booking = models.ForeignKey("carriers.CarrierBooking", null=True, blank=True, on_delete=models.SET_NULL)
    active = models.BooleanField(default=True)
    actor_type = models.CharField(max_length=20, choices=Actor.choices)
    actor = models.CharField(max_length=200)
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=clock_now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "version"], name="assignment_version_per_order"),
            models.UniqueConstraint(fields=["order"], condition=Q(active=True), name="one_active_assignment"),
            models.CheckConstraint(
                condition=Q(vehicle__isnull=False, booking__isnull=True) | Q(vehicle__isnull=True, booking__isnull=False),
                name="assignment_vehicle_xor_booking",
            ),
        ]


def proof_upload_to(instance, filename: str) -> str:
    return f"proof/{instance.order.organization_id}/{instance.order_id}/{secrets.token_hex(8)}-{filename[-60:]}"


class ProofOfDelivery(models.Model):
    """Proof an order was delivered: a photo or signature file (kept through Django's storage API,
    never in the database), a PIN the customer gave, an age check. From a driver app or a carrier."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="proofs")
    kind = models.CharField(max_length=12, choices=ProofKind.choices)
    file = models.FileField(upload_to=proof_upload_to, blank=True)
    content_type = models.CharField(max_length=60, blank=True)
    size = models.PositiveIntegerField(default=0)
    verified = models.BooleanField(default=True, help_text="A PIN that matched, an age check that passed")
    source = models.CharField(max_length=60, help_text="driver app (the token's name) or carrier:<code>")
    data = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=clock_now)

    class Meta:
        indexes = [models.Index(fields=["order", "kind"])]
