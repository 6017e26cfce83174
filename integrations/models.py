"""The shop's systems: connected stores (Shopify, WooCommerce), the webhooks they sent us as they
arrived (the outbox of their processing), which shop order became which of our orders, and what we
owe each shop back (fulfillments, sent once)."""

from __future__ import annotations

from django.db import models

from dispatch.clock import now as clock_now
from dispatch.status import ServiceLevel

from .sealed import seal, unseal


class ShopPlatform(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    WOOCOMMERCE = "woocommerce", "WooCommerce"


class ShopConnection(models.Model):
    """A store an admin connected. Its webhook secret and API credentials are stored sealed
    (integrations.sealed); `shop_url` is the store's base URL (https://<name>.myshopify.com, or the
    WordPress site of a WooCommerce store)."""

    organization = models.ForeignKey("dispatch.Organization", on_delete=models.CASCADE, related_name="shop_connections")
    platform = models.CharField(max_length=20, choices=ShopPlatform.choices)
    name = models.CharField(max_length=100)
    shop_url = models.URLField(max_length=300)
    webhook_secret_sealed = models.TextField(blank=True)
    api_credentials_sealed = models.TextField(blank=True, help_text="Shopify: the Admin API access token. WooCommerce: key:secret")
    hub = models.ForeignKey("dispatch.Hub", on_delete=models.PROTECT, related_name="+", help_text="Where the shop's parcels are picked up")
    ref_prefix = models.CharField(max_length=20, default="SHOP-", help_text="Our order reference is this and the shop's order number")
    default_service_level = models.CharField(max_length=20, choices=ServiceLevel.choices, default=ServiceLevel.NEXT_DAY)
    service_levels = models.JSONField(default=dict, blank=True, help_text="Shipping line (code or title, lower case) -> service level")
    handling = models.JSONField(default=dict, blank=True, help_text="SKU prefix -> handling (bulky, regulated, cold, fragile)")
    default_item_kg = models.FloatField(default=1.0, help_text="Weight of an item the shop sends without one")
    send_back = models.BooleanField(default=True, help_text="Send fulfillments and delivery back to the shop")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=clock_now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="shop_name_per_org")]

    def __str__(self) -> str:
        return self.name

    @property
    def webhook_secret(self) -> str:
        return unseal(self.webhook_secret_sealed)

    @webhook_secret.setter
    def webhook_secret(self, value: str) -> None:
        self.webhook_secret_sealed = seal(value)

    @property
    def api_credentials(self) -> str:
        return unseal(self.api_credentials_sealed)

    @api_credentials.setter
    def api_credentials(self, value: str) -> None:
        self.api_credentials_sealed = seal(value)


class ShopWebhookReceipt(models.Model):
    """A shop's webhook as it arrived, authentic (its raw body kept), deduplicated on the shop's
    delivery id; processed by a task (the row is the outbox). `status`: pending, processed,
    needs_attention (the order cannot be taken as sent: `result` says why and what to do), ignored."""

    connection = models.ForeignKey(ShopConnection, on_delete=models.CASCADE, related_name="receipts")
    webhook_id = models.CharField(max_length=200)
    topic = models.CharField(max_length=60)
    action = models.CharField(max_length=10, default="create", help_text="create, update, cancel or other")
    shop_order_id = models.CharField(max_length=64, blank=True)
    raw_body = models.TextField()
    received_at = models.DateTimeField(default=clock_now, db_index=True)
    status = models.CharField(max_length=20, default="pending")
    result = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    location = models.JSONField(default=dict, blank=True, help_text="Coordinates a person gave for an address the shop did not place")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "webhook_id"], name="shop_webhook_once")]


class ShopOrderLink(models.Model):
    """Which shop order became which of our orders."""

    connection = models.ForeignKey(ShopConnection, on_delete=models.CASCADE, related_name="links")
    shop_order_id = models.CharField(max_length=64)
    shop_order_name = models.CharField(max_length=64, blank=True)
    order = models.OneToOneField("dispatch.Order", on_delete=models.CASCADE, related_name="shop_link")
    shop_updated_at = models.DateTimeField(null=True, blank=True)
    remote_fulfillment_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "shop_order_id"], name="shop_order_once")]


class ShopUpdate(models.Model):
    """What we owe a shop about one of its orders, sent once: `shipped` (a fulfillment with the
    tracking link) and `delivered`. `status`: pending, sent, failed (for good: `error` says why)."""

    link = models.ForeignKey(ShopOrderLink, on_delete=models.CASCADE, related_name="updates")
    kind = models.CharField(max_length=20)
    status = models.CharField(max_length=12, default="pending")
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock_now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["link", "kind"], name="shop_update_once")]


class OnfleetAccount(models.Model):
    """The organization's side of the Onfleet-compatible API: the secret its webhooks are signed
    with (hex, as Onfleet's; X-Onfleet-Signature is HMAC-SHA512 keyed with its bytes)."""

    organization = models.OneToOneField("dispatch.Organization", on_delete=models.CASCADE, related_name="onfleet")
    webhook_secret = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=clock_now)


class OnfleetRecord(models.Model):
    """A destination or recipient an integrator created on its own through the Onfleet-compatible
    API (those of tasks are the orders' own)."""

    organization = models.ForeignKey("dispatch.Organization", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20)
    name = models.CharField(max_length=200, blank=True, db_index=True)
    key = models.CharField(max_length=40, blank=True, db_index=True, help_text="A recipient's phone")
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=clock_now)
    updated_at = models.DateTimeField(auto_now=True)
