from django.apps import AppConfig


class EngineConfig(AppConfig):
    """The orchestration engine has no tables of its own (its records are the domain's); as an app it
    subscribes to the domain's facts that the engine answers: what each customer is told."""

    name = "dispatch.engine"
    label = "engine"
    verbose_name = "Engine"

    def ready(self):
        from dispatch.facts import OrderDetailsChanged, OrderEtaChanged, OrderStatusChanged, VanApproaching
        from infra import facts

        from . import messages

        facts.subscribe(OrderStatusChanged, messages.on_status_changed)
        facts.subscribe(OrderEtaChanged, messages.on_eta_changed)
        facts.subscribe(VanApproaching, messages.on_van_approaching)
        facts.subscribe(OrderDetailsChanged, messages.on_details_changed)
