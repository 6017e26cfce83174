import math

from django.utils.dateparse import parse_datetime
from rest_framework import serializers


class Text(serializers.CharField):
    """A string field that takes only a string: a number or a boolean where text is declared is refused
    (DRF's CharField would turn 0 into "0"), as the schema says."""

    default_error_messages = {"not_text": "Must be text (a JSON string)."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_text")
        return super().to_internal_value(data)


class StrictQuery(serializers.Serializer):
    """Query parameters as declared: a typed parameter sent empty (`?window_to=`) is refused with its
    name, instead of being read as left out."""

    def to_internal_value(self, data):
        blank = {name: ["Give a value, or leave the parameter out."] for name, field in self.fields.items()
                 if name in data and data.get(name) == "" and not getattr(field, "allow_blank", False)}
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


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


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time with its UTC offset. A time without one is ambiguous (whose clock?) and is
    refused, as is one outside the years the product plans for."""

    default_error_messages = {
        "naive": "Give the time with its UTC offset, e.g. 2026-11-22T14:00:00-06:00 or …Z.",
        "out_of_range": "The year must be from 2000 to 2100.",
    }
    YEARS = (2000, 2100)

    def to_internal_value(self, value):
        if isinstance(value, str):

            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        result = super().to_internal_value(value)
        if not self.YEARS[0] <= result.year <= self.YEARS[1]:
            self.fail("out_of_range")
        return result
