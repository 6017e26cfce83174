from django.apps import AppConfig


class CarriersConfig(AppConfig):
    name = "carriers"
    verbose_name = "Carriers"

    def ready(self):
        # The domain core records facts; the carrier integration acts on them (it is the layer above).
        from controltower import hooks

        from . import outbound, services

        hooks.on("integrator.event", outbound.emit)
        hooks.on("booking.released", services.on_booking_released)
