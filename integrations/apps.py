from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from dispatch.facts import IntegratorEvent
        from infra import facts

        from . import webhooks

        facts.subscribe(IntegratorEvent, webhooks.on_integrator_event)
