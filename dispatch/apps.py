from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "dispatch"
    verbose_name = "Dispatch"

    def ready(self):
        from . import live_events  # noqa: F401  (declares the domain's live event types on the bus)
