"""How a person reads a time: on the product's clock, in the organization's time zone, with its
date when it is not today ("14:05"; "Tue 8 Dec, 09:30")."""

from __future__ import annotations

from django import template
from django.utils import timezone

from dispatch import clock

register = template.Library()


@register.filter
def when(value):
    if not value:
        return ""
    local = timezone.localtime(value)
    if local.date() == timezone.localtime(clock.now()).date():
        return local.strftime("%H:%M")
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"
