from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import (
    ApiToken, Decision, Driver, Event, Fleet, Hub, MessageTemplate, Order, OrderException, Organization, Policy, Shift, User, Vehicle,
)


@admin.register(User)
class CtUserAdmin(UserAdmin):
    fieldsets = UserAdmin.fieldsets + (("Control tower", {"fields": ("organization", "role")}),)
    list_display = ("username", "organization", "role", "is_staff")


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ("organization", "auto_apply", "max_cost_increase", "require_no_sla_worse", "eta_tolerance_min")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("external_ref", "organization", "status", "risk", "service_level", "window_end", "vehicle", "carrier")
    list_filter = ("status", "service_level", "risk")
    search_fields = ("external_ref", "customer_name")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "organization", "kind", "actor_type", "actor", "order")
    list_filter = ("kind", "actor_type")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register([Organization, ApiToken, Hub, Fleet, Vehicle, Driver, Shift, OrderException, Decision, MessageTemplate])
