"""Which organization a row belongs to, for any model: used by the tenant-scoped admin and by the
dead-letter table (a task's row tells whose it is)."""

from __future__ import annotations

from functools import lru_cache

from django.db import models


@lru_cache(maxsize=None)
def organization_path(model) -> str | None:
    """The lookup from `model` to its organization's id ('organization__id', 'carrier__organization__id',
    …), found by walking required foreign keys; None for a model that belongs to no tenant."""
    if model._meta.label_lower == "dispatch.organization":
        return "pk"
    frontier = [(model, "")]
    for _ in range(4):
        following = []
        for current, prefix in frontier:
            for field in current._meta.get_fields():
                if not isinstance(field, models.ForeignKey | models.OneToOneField) or field.auto_created and not field.concrete:
                    continue
                target = field.related_model
                path = f"{prefix}{field.name}"
                if target._meta.label_lower == "dispatch.organization" and not field.null:
                    return f"{path}__id"
                if target._meta.label_lower == "dispatch.organization":
                    continue
                if not field.null:
                    following.append((target, f"{path}__"))
        frontier = following
    if model._meta.label_lower == "dispatch.user":
        return "organization__id"
    return None
