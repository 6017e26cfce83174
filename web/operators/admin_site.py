"""The Django admin, scoped to the tenant. Platform operators (superusers) see everything; an
organization's admin (role admin, staff) sees and edits only rows of its own organization: every
list, every form's choices, every save. Nothing another tenant owns can be listed, opened, chosen
in a drop-down or written."""

from __future__ import annotations

from django.contrib import admin

from dispatch.status import Role
from infra.tenancy import organization_path

READ_ONLY_FOR_TENANTS = {"dispatch.event", "dispatch.idempotencykey", "carriers.carriercall", "carriers.webhookreceipt",
                         "carriers.webhookattempt", "dispatch.position"}
NO_ADD_FOR_TENANTS = {"dispatch.organization", "dispatch.apitoken"} | READ_ONLY_FOR_TENANTS


def is_tenant_admin(user) -> bool:
    return bool(user.is_active and user.is_staff and not user.is_superuser and user.organization_id
                and user.role == Role.ADMIN)


def scope(queryset, user):
    if user.is_superuser:
        return queryset
    path = organization_path(queryset.model)
    if path is None or not user.organization_id:
        return queryset.none()
    return queryset.filter(**{path: user.organization_id})


class TenantScopedMixin:
    def _tenant(self, request) -> bool:
        return is_tenant_admin(request.user)

    def get_queryset(self, request):
        return scope(super().get_queryset(request), request.user)

    def has_module_permission(self, request):
        return request.user.is_superuser or self._tenant(request)

    def has_view_permission(self, request, obj=None):
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)
        return self._tenant(request) and organization_path(self.model) is not None

    def has_change_permission(self, request, obj=None):
        if request.user.is_superuser:
            return super().has_change_permission(request, obj)
        return self.has_view_permission(request, obj) and self.model._meta.label_lower not in READ_ONLY_FOR_TENANTS

    def has_add_permission(self, request, *args):
        if request.user.is_superuser:
            return super().has_add_permission(request, *args)
        return self.has_view_permission(request) and self.model._meta.label_lower not in NO_ADD_FOR_TENANTS

    def has_delete_permission(self, request, obj=None):
        if request.user.is_superuser:
            return super().has_delete_permission(request, obj)
        return self.has_add_permission(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and not request.user.is_superuser and hasattr(field, "queryset"):
            field.queryset = scope(field.queryset, request.user)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and not request.user.is_superuser and hasattr(field, "queryset"):
            field.queryset = scope(field.queryset, request.user)
        return field


class TenantScopedAdmin(TenantScopedMixin, admin.ModelAdmin):
    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser and any(f.name == "organization" for f in self.model._meta.fields):
            exclude.append("organization")
        return exclude

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        if request.user.is_superuser:
            return filters
        return [f for f in filters if f != "organization"]

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and any(f.name == "organization" for f in self.model._meta.fields):
            obj.organization_id = request.user.organization_id
        super().save_model(request, obj, form, change)


class TenantScopedInline(TenantScopedMixin):
    pass


class TowerAdminSite(admin.AdminSite):
    site_header = "Control Tower administration"

    def has_permission(self, request):
        """Platform operators only. An organization's admins configure it under /settings/ (the
        tenant scoping above stays as a second line of defence)."""
        user = request.user
        return user.is_active and user.is_superuser
