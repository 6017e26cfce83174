import os

from django.apps import AppConfig


class ControlTowerConfig(AppConfig):
    name = "controltower"
    verbose_name = "Control tower"

    def ready(self):
        if os.environ.get("CT_TICKER") == "1":
            from . import ticker

            ticker.start()
