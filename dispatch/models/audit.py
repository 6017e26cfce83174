"""The record: the append-only event log, idempotency keys, the simulation's clock anchor."""

from __future__ import annotations

from django.db import models

from dispatch.clock import now as clock_now
from dispatch.status import Actor

from .network import Vehicle
from .orders import Order
from .tenancy import Organization


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("The event log is append-only")

    def delete(self):
        raise TypeError("The event log is append-only")


class Event(models.Model):
    """Append-only log of everything that happened to an order, vehicle or carrier."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=60, db_index=True)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    vehicle = models.ForeignKey(Vehicle, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    carrier = models.ForeignKey("carriers.Carrier", null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    actor_type = models.CharField(max_length=20, choices=Actor.choices)
    actor = models.CharField(max_length=200)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=clock_now, db_index=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("The event log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The event log is append-only")


class IdempotencyRecord(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    key = models.CharField(max_length=200)
    endpoint = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "endpoint", "key"], name="idempotency_key_per_org")
        ]


class ClockAnchor(models.Model):
    """Set only while a simulation runs: the virtual clock every process reads (dispatch.clock)."""

    real_at = models.DateTimeField()
    sim_at = models.DateTimeField()
    speed = models.FloatField(default=1.0)
