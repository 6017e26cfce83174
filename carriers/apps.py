from django.apps import AppConfig


class CarriersConfig(AppConfig):
    name = "carriers"
    verbose_name = "Carriers"

    def ready(self):
        # The domain core records facts; the carrier integration acts on them (it is the layer above).
        from infra import hooks, metrics

        from . import health, live_events, outbound, services  # noqa: F401  (live_events declares carrier.changed)

        hooks.on("integrator.event", outbound.emit)
        hooks.on("booking.released", services.on_booking_released)
        metrics.register_source(health.health_gauge)
