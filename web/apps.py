from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class WebConfig(AppConfig):
    default = True
    name = "web"
    verbose_name = "Web edge"

    def ready(self):
        from web.live import present

        present.register()  # live events go out with their labels and colours


class TowerAdminConfig(admin_apps.AdminConfig):
    """The Django admin with the tenant-scoped site (web.operators.admin_site)."""

    default = False
    default_site = "web.operators.admin_site.TowerAdminSite"
