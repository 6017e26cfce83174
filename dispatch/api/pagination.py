"""Paging for every list endpoint: limit and offset are checked, never passed to the database as
given. A bad value is a 400 that says what is accepted; the page size has a ceiling."""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

MAX_OFFSET = 10_000_000


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    @property
    def max_limit(self) -> int:
        return settings.API_MAX_PAGE

    def _bounded(self, request, name: str, default: int, low: int, high: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        if raw == "":
            raise ValidationError({name: [f"Give a whole number from {low} to {high}, or leave the parameter out."]})
        try:
            value = int(raw)
        except ValueError:
            raise ValidationError({name: [f"Must be a whole number from {low} to {high}."]}) from None
        if not low <= value <= high:
            raise ValidationError({name: [f"Must be from {low} to {high}; got {raw[:30]}."]})
        return value

    def get_limit(self, request):
        return self._bounded(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request):
        return self._bounded(request, self.offset_query_param, 0, 0, MAX_OFFSET)

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for p in params:
            if p["name"] == self.limit_query_param:
                p["schema"].update({"minimum": 1, "maximum": self.max_limit})
            if p["name"] == self.offset_query_param:
                p["schema"].update({"minimum": 0, "maximum": MAX_OFFSET})
        return params
