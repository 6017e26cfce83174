from django.apps import AppConfig


class CarriersConfig(AppConfig):
    name = "carriers"
    verbose_name = "Carriers"

    def ready(self):
        # The domain core records facts; the carrier integration acts on the one it owns (it is the layer above).
        from dispatch.facts import BookingReleased
        from infra import facts, metrics

        from . import health, live_events, services  # noqa: F401  (live_events declares carrier.changed)

        facts.subscribe(BookingReleased, services.on_booking_released)
        metrics.register_source(health.health_gauge)
