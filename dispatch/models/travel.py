"""What the organization's own vans taught the product about travel."""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from dispatch.clock import now as clock_now

from .network import Hub
from .tenancy import Organization, history_user


class LearnedFigure(models.Model):
    """A figure learned from the organization's completed legs: how much longer than expected they
    really take (1.0: as expected), from how many, and what they alone say before shrinkage."""

    factor = models.FloatField(default=1.0)
    legs = models.PositiveIntegerField(default=0, help_text="Completed legs it was learned from")
    observed = models.FloatField(null=True, blank=True, help_text="What those legs alone say, before shrinkage")
    learned_at = models.DateTimeField(default=clock_now)

    class Meta:
        abstract = True


class TravelFactor(LearnedFigure):
    """How much longer than the travel model a van's leg (the drive to a stop and the stop itself)
    really takes around a hub at a local hour of the day, learned from the organization's own
    completed stops (dispatch.services.travel). 1.0 is the model; versioned, so an admin sees how
    it changed."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="travel_factors")
    hub = models.ForeignKey(Hub, on_delete=models.CASCADE, related_name="travel_factors")
    hour = models.PositiveSmallIntegerField(help_text="Local hour of the day the legs started in, 0-23")
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "hub", "hour"], name="travel_factor_once")]


class AreaFactor(LearnedFigure):
    """How much longer than the hour's learned factor legs into one area around a hub really take
    (a neighbourhood of AREA_KM square, by where the leg ends: its streets, a bridge, a school):
    the hour and the place multiply. Learned over all hours from the same legs, shrunk towards
    1.0 where they are few (dispatch.services.travel); versioned."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="area_factors")
    hub = models.ForeignKey(Hub, on_delete=models.CASCADE, related_name="area_factors")
    area = models.CharField(max_length=24, help_text="The square, counted from the hub: 'N2 E-1' is 2 north and 1 west")
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "hub", "area"], name="area_factor_once")]
