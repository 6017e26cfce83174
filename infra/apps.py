import os

from django.apps import AppConfig


class InfraConfig(AppConfig):
    """The infrastructure's own table (dead letters). Its label stays "controltower", the app it lived
    in before it had a package of its own, so the table and its migrations are unchanged."""

    default = True
    name = "infra"
    label = "controltower"
    verbose_name = "Control tower machinery"

    def ready(self):
        if os.environ.get("CT_TICKER") == "1":
            from . import ticker

            ticker.start()
