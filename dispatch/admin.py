from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from web.operators.admin_site import TenantScopedAdmin, TenantScopedMixin
from dispatch.status import Role

from .models import (
    ApiToken,
    Decision,
    Driver,
    Event,
    Fleet,
    Hub,
    MessageTemplate,
    Order,
    OrderException,
    Organization,
    Policy,
    Shift,
    User,
    Vehicle,
)


@admin.register(User)
class CtUserAdmin(TenantScopedMixin, UserAdmin):
    fieldsets = UserAdmin.fieldsets + (("Control tower", {"fields": ("organization", "role")}),)
    tenant_fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("is_active", "role")}),
    )
    list_display = ("username", "organization", "role", "is_staff")

    def get_fieldsets(self, request, obj=None):
        if request.user.is_superuser or obj is None:
            return super().get_fieldsets(request, obj)
        return self.tenant_fieldsets

    def get_list_filter(self, request):
        return super().get_list_filter(request) if request.user.is_superuser else ("role", "is_active")

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            # An organization's admin manages its own people; platform rights are not theirs to give.
            obj.organization_id = request.user.organization_id
            obj.is_superuser = False
            obj.is_staff = obj.role == Role.ADMIN
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not request.user.is_superuser:
            form.instance.groups.clear()
            form.instance.user_permissions.clear()


@admin.register(Policy)
class PolicyAdmin(TenantScopedAdmin):
    list_display = ("organization", "auto_apply", "max_cost_increase", "require_no_sla_worse", "eta_tolerance_min")


@admin.register(Order)
class OrderAdmin(TenantScopedAdmin):
    list_display = ("external_ref", "organization", "status", "risk", "service_level", "window_end", "vehicle", "carrier")
    list_filter = ("status", "service_level", "risk")
    search_fields = ("external_ref", "customer_name")


@admin.register(Event)
class EventAdmin(TenantScopedAdmin):
    list_display = ("created_at", "organization", "kind", "actor_type", "actor", "order")
    list_filter = ("kind", "actor_type")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register([Organization, ApiToken, Hub, Fleet, Vehicle, Driver, Shift, OrderException, Decision, MessageTemplate],
                    TenantScopedAdmin)
