"""External carriers: what they offer, what they can take, and what we booked with them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from dispatch.status import CarrierHealth, ServiceLevel


class Carrier(models.Model):
    organization = models.ForeignKey("dispatch.Organization", on_delete=models.CASCADE, related_name="carriers")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    adapter = models.CharField(max_length=40, default="manual", help_text="Registered adapter that talks to it")
    config = models.JSONField(default=dict, blank=True, help_text="Adapter settings: base URL, auth, mappings")
    service_levels = models.JSONField(default=list)
    skills = models.JSONField(default=list, blank=True)
    lead_min = models.PositiveIntegerField(default=90, help_text="Minutes from booking to first possible delivery")
    pickup_cutoff = models.TimeField(help_text="Last local time at which it still collects today")
    health = models.CharField(max_length=20, choices=CarrierHealth.choices, default=CarrierHealth.UP)
    health_reason = models.CharField(max_length=300, blank=True)
    health_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="carrier_code_per_org")]

    def __str__(self) -> str:
        return self.code


class CarrierZone(models.Model):
    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="zones")
    name = models.CharField(max_length=100)
    lat = models.FloatField()
    lon = models.FloatField()
    radius_km = models.FloatField()


class RateCard(models.Model):
    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="rates")
    service_level = models.CharField(max_length=20, choices=ServiceLevel.choices)
    base = models.FloatField()
    per_kg = models.FloatField(default=0.0)
    per_km = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["carrier", "service_level"], name="one_rate_per_level")]


class CapacitySlot(models.Model):
    """How many orders a carrier says it can take in a zone and time window."""

    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="capacity_slots")
    zone = models.ForeignKey(CarrierZone, null=True, blank=True, on_delete=models.CASCADE)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    capacity = models.PositiveIntegerField()
    reported_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["carrier", "zone", "window_start", "window_end"], name="one_slot_per_window"),
            models.CheckConstraint(condition=Q(window_end__gt=models.F("window_start")), name="slot_window_ordered"),
        ]


class BookingStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    CONFIRMED = "confirmed", "Confirmed"
    CANCELLED = "cancelled", "Cancelled"
    REJECTED = "rejected", "Rejected"
    COMPLETED = "completed", "Completed"


class CarrierBooking(models.Model):
    organization = models.ForeignKey("dispatch.Organization", on_delete=models.CASCADE)
    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="bookings")
    order = models.ForeignKey("dispatch.Order", on_delete=models.CASCADE, related_name="bookings")
    idempotency_key = models.CharField(max_length=120, unique=True)
    external_id = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=20, choices=BookingStatus.choices, default=BookingStatus.REQUESTED)
    price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    promised_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class CarrierEventReceipt(models.Model):
    """Deduplicates inbound carrier events on the carrier's own event id."""

    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE)
    event_id = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["carrier", "event_id"], name="carrier_event_once")]
