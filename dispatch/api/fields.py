import math

from rest_framework import serializers


class FiniteFloatField(serializers.FloatField):
    """A float that must be a real number: NaN and infinities are refused."""

    default_error_messages = {"not_finite": "Must be a finite number (not NaN or infinity)."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("not_finite")
        return value


def Latitude(**kw):
    return FiniteFloatField(min_value=-90, max_value=90, **kw)


def Longitude(**kw):
    return FiniteFloatField(min_value=-180, max_value=180, **kw)
