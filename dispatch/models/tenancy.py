"""Tenancy and people: the organization, its users and API tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from dispatch.clock import now as clock_now
from dispatch.status import Role


def history_user(request=None, **kwargs):
    """Who made a versioned change: the logged-in person; an API token client (the organization's
    integration) or a task is recorded as nobody, and the change's reason says what did it."""
    user = getattr(request, "user", None)
    return user if isinstance(user, User) else None


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    auto_plan = models.BooleanField(default=False, help_text="Plan new orders onto vans and carriers as they arrive")
    time_zone = models.CharField(max_length=64, blank=True, default="",
                                 help_text="Where its people and customers read times (an IANA name, e.g. America/Chicago); "
                                           "blank: the installation's TIME_ZONE")
    brand_colour = models.CharField(max_length=7, blank=True, default="",
                                    help_text="The shop's colour on what its customers see (#rrggbb); blank: neutral")
    created_at = models.DateTimeField(default=clock_now)

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.DISPATCHER)
    driver = models.OneToOneField("dispatch.Driver", null=True, blank=True, on_delete=models.SET_NULL, related_name="user",
                                  help_text="For the driver role: the driver whose shifts, van and stops this account sees")
    hubs = models.ManyToManyField("dispatch.Hub", blank=True, related_name="scoped_users",
                                  help_text="A dispatcher scoped to these hubs sees and acts on their orders, vans and exceptions only "
                                            "(none: every hub)")


class ApiToken(models.Model):
    """A per-organization API credential. Only a hash of the secret is stored."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=clock_now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
