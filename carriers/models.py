"""External carriers: what they offer, what they can take, and what we booked with them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from dispatch.clock import now as clock_now
from dispatch.models import history_user
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
    surcharge = models.FloatField(default=0.0, help_text="Added to the price of a delivery in this zone")
    history = HistoricalRecords(get_user=history_user)


class RateCard(models.Model):
    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="rates")
    service_level = models.CharField(max_length=20, choices=ServiceLevel.choices)
    base = models.FloatField()
    per_kg = models.FloatField(default=0.0)
    per_km = models.FloatField(default=0.0)
    fuel_pct = models.FloatField(default=0.0, help_text="Fuel surcharge, percent of the price")
    weight_breaks = models.JSONField(default=list, blank=True, help_text="[[over_kg, fee], ...]: the highest break passed applies")
    after_hours_from = models.TimeField(null=True, blank=True, help_text="Deliveries from this local time pay the after-hours fee")
    after_hours_fee = models.FloatField(default=0.0)
    history = HistoricalRecords(get_user=history_user)

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
    created_at = models.DateTimeField(default=clock_now)
    updated_at = models.DateTimeField(auto_now=True)


class CarrierEventReceipt(models.Model):
    """Deduplicates inbound carrier events on the carrier's own event id."""

    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE)
    event_id = models.CharField(max_length=200)
    received_at = models.DateTimeField(default=clock_now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["carrier", "event_id"], name="carrier_event_once")]


class WebhookReceipt(models.Model):
    """An inbound carrier webhook as it arrived (raw body kept for audit). Deduplicated on the
    carrier's event id; processed by a task (the row is the outbox)."""

    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="webhooks")
    event_id = models.CharField(max_length=200)
    raw_body = models.TextField()
    headers = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=clock_now)
    status = models.CharField(max_length=20, default="pending")  # pending, processed, needs_mapping
    result = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["carrier", "event_id"], name="webhook_once_per_event")]


class CarrierCall(models.Model):
    """One call to a carrier's API: what health is judged from."""

    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="calls")
    operation = models.CharField(max_length=20)
    ok = models.BooleanField()
    rejected = models.BooleanField(default=False, help_text="The carrier answered but refused (e.g. no capacity)")
    latency_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(default=clock_now, db_index=True)


class CarrierAlert(models.Model):
    """Something about a carrier a person must look at: an unknown status code, a mapping gap."""

    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=40)
    message = models.CharField(max_length=300)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=clock_now)
    resolved = models.BooleanField(default=False)


class WebhookSubscription(models.Model):
    """An integrator's URL that receives our events, signed like carrier webhooks."""

    organization = models.ForeignKey("dispatch.Organization", on_delete=models.CASCADE, related_name="webhook_subscriptions")
    url = models.URLField()
    secret = models.CharField(max_length=100)
    event_types = models.JSONField(default=list, help_text="Empty means all: order.created, order.status, order.updated, order.eta, order.delayed, order.arriving, driver.duty, exception.raised, decision.applied")
    active = models.BooleanField(default=True)
    style = models.CharField(max_length=20, default="controltower", help_text="controltower (our events), or onfleet (Onfleet's shape and signature)")
    trigger = models.SmallIntegerField(null=True, blank=True, help_text="The Onfleet trigger id an onfleet-style webhook wants")
    name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=clock_now)


class WebhookDelivery(models.Model):
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=12, default="pending")  # pending, delivered, failed
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock_now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscription", "event_id"], name="one_delivery_per_event")]


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(default=clock_now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    manual = models.BooleanField(default=False)
