"""Customer messages and the templates they are written from."""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from dispatch.clock import now as clock_now
from dispatch.status import MessageKind

from .orders import Order
from .tenancy import Organization, history_user


class CustomerMessage(models.Model):
    """One notification to a customer. Unique per order, kind and key, so each change is told once."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    key = models.CharField(max_length=100, help_text="What makes this change distinct (e.g. the ETA)")
    channel = models.CharField(max_length=10, default="email")
    to = models.CharField(max_length=200)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    eta = models.DateTimeField(null=True, blank=True, help_text="The ETA this message stated, if any")
    # pending, sending, sent, failed, skipped (no longer true when its moment came), superseded (folded
    # into a later message of the same order), unconfirmed (a worker died while sending)
    status = models.CharField(max_length=12, default="pending")
    send_after = models.DateTimeField(null=True, blank=True,
                                      help_text="The end of its change window: what else happens to the order until then is told in this one message")
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=clock_now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order", "kind", "key"], name="one_message_per_change")]
        indexes = [models.Index(fields=["status", "send_after"])]


class MessageTemplate(models.Model):
    """An organization's wording for a kind of customer message (Django template syntax)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="message_templates")
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    channel = models.CharField(max_length=10, choices=[("email", "E-mail"), ("sms", "SMS")], default="email")
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "kind", "channel"], name="one_template_per_kind_channel")]
