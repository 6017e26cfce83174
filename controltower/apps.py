import os

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ControlTowerConfig(AppConfig):
    default = True
    name = "controltower"
    verbose_name = "Control tower"

    def ready(self):
        if os.environ.get("CT_TICKER") == "1":
            from . import ticker

            ticker.start()


class TowerAdminConfig(admin_apps.AdminConfig):
    """The Django admin with the tenant-scoped site (controltower.tenant_admin)."""

    default = False
    default_site = "controltower.tenant_admin.TowerAdminSite"
