from django.contrib import admin, messages

from web.operators.admin_site import TenantScopedAdmin, TenantScopedInline

from .models import (
    CapacitySlot,
    Carrier,
    CarrierAlert,
    CarrierBooking,
    CarrierCall,
    CarrierZone,
    RateCard,
    WebhookAttempt,
    WebhookDelivery,
    WebhookReceipt,
    WebhookSubscription,
)
from integrations.webhooks import redeliver
from .webhooks import webhook_reprocess_for


class ZoneInline(TenantScopedInline, admin.TabularInline):
    model = CarrierZone
    extra = 0


class RateInline(TenantScopedInline, admin.TabularInline):
    model = RateCard
    extra = 0


@admin.register(Carrier)
class CarrierAdmin(TenantScopedAdmin):
    list_display = ("code", "name", "organization", "adapter", "health", "health_reason")
    list_filter = ("health", "adapter", "organization")
    inlines = [ZoneInline, RateInline]
    actions = ["reprocess_waiting_webhooks"]
    help_texts = {"config": "Adapter settings: base_url, api_key, webhook_secrets (current first, previous second during a "
                            "rotation), status_map and reason_map (their codes -> ours), and for 'generic': endpoints, auth, "
                            "request, response and webhook field paths."}

    @admin.action(description="Process webhooks that waited for a status mapping")
    def reprocess_waiting_webhooks(self, request, queryset):

        n = sum(webhook_reprocess_for(carrier=c) for c in queryset)
        self.message_user(request, f"{n} webhooks queued again", messages.SUCCESS)


@admin.register(CarrierAlert)
class CarrierAlertAdmin(TenantScopedAdmin):
    list_display = ("carrier", "kind", "message", "created_at", "resolved")
    list_filter = ("resolved", "kind")


@admin.register(WebhookReceipt)
class WebhookReceiptAdmin(TenantScopedAdmin):
    list_display = ("carrier", "event_id", "status", "received_at", "attempts")
    list_filter = ("status", "carrier")
    readonly_fields = ("raw_body", "headers", "result")


class AttemptInline(TenantScopedInline, admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    readonly_fields = ("at", "status_code", "error", "latency_ms", "manual")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(TenantScopedAdmin):
    list_display = ("subscription", "event_type", "status", "attempts", "created_at", "delivered_at")
    list_filter = ("status", "event_type")
    inlines = [AttemptInline]
    actions = ["redeliver"]

    @admin.action(description="Redeliver now")
    def redeliver(self, request, queryset):

        results = [redeliver(delivery_id=d.id) for d in queryset]
        self.message_user(request, f"Redelivered {len(results)}: {results.count('delivered')} accepted")


admin.site.register([CapacitySlot, CarrierBooking, CarrierCall, WebhookSubscription], TenantScopedAdmin)
