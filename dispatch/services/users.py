"""An organization's people and their access, changed by its admins."""

from __future__ import annotations

import re
import secrets

from django.db import transaction
from django.utils.text import slugify

from dispatch import clock
from dispatch.errors import Conflict, ValidationFailed
from dispatch.models import ApiToken, Driver, Hub, Organization, User
from dispatch.status import Role

from . import ActorRef
from .log import event_record

USERNAME = re.compile(r"^[\w.@+-]{3,150}$")


@transaction.atomic
def organization_create(*, name: str, slug: str, admin_username: str, admin_email: str = "", time_zone: str = "") -> tuple[User, str]:
    """A new, empty organization and its first admin (a one-time password, returned to be shown once)."""
    errors = {}
    name, slug = (name or "").strip(), slugify(slug or name or "")
    if not name:
        errors["name"] = ["Name the organization."]
    if not slug:
        errors["slug"] = ["Give a short name for its URLs (letters, digits, hyphens)."]
    elif Organization.objects.filter(slug=slug).exists():
        errors["slug"] = [f"An organization {slug!r} exists already."]
    if errors:
        raise ValidationFailed("The organization is not created", errors=errors)
    org = Organization.objects.create(name=name[:200], slug=slug, time_zone=time_zone)
    admin, password = user_invite(organization_id=org.id, username=admin_username, email=admin_email, role=Role.ADMIN, by=None)
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    return admin, password


@transaction.atomic
def user_invite(*, organization_id: int, username: str, email: str, role: str, by) -> tuple[User, str]:
    """Create a user with a one-time password (shown once to the admin, who passes it on)."""
    errors = {}
    username = (username or "").strip()
    if not USERNAME.match(username):
        errors["username"] = ["3 to 150 letters, digits or . @ + - _"]
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["That username is taken."]
    if role not in Role.values:
        errors["role"] = [f"Use one of {', '.join(Role.values)}."]
    if email and ("@" not in email or len(email) > 254):
        errors["email"] = ["Enter an e-mail address."]
    if errors:
        raise ValidationFailed("Check the highlighted fields", errors=errors)
    password = secrets.token_urlsafe(12)
    user = User.objects.create_user(username=username, email=email, password=password, organization_id=organization_id, role=role)
    event_record(organization_id=organization_id, kind="user.invited", actor=ActorRef.user(by) if by else ActorRef.system("createorganization"),
                 data={"user": username, "role": role})
    return user, password


def _member(organization_id: int, user_id: int) -> User:
    user = User.objects.select_for_update().filter(organization_id=organization_id, pk=user_id, is_superuser=False).first()
    if user is None:
        raise ValidationFailed("No such user", errors={"user": ["Not a member of your organization."]})
    return user


def _keep_an_admin(organization_id: int, user: User) -> None:
    others = User.objects.filter(organization_id=organization_id, role=Role.ADMIN, is_active=True).exclude(pk=user.pk).exists()
    if user.role == Role.ADMIN and not others:
        raise Conflict("This is the organization's last active admin: make someone else admin first.", current="last_admin")


@transaction.atomic
def user_set_role(*, organization_id: int, user_id: int, role: str, by) -> User:
    if role not in Role.values:
        raise ValidationFailed("Unknown role", errors={"role": [f"Use one of {', '.join(Role.values)}."]})
    user = _member(organization_id, user_id)
    if role != Role.ADMIN:
        _keep_an_admin(organization_id, user)
    user.role = role
    user.save(update_fields=["role"])
    event_record(organization_id=organization_id, kind="user.role", actor=ActorRef.user(by), data={"user": user.username, "role": role})
    return user


@transaction.atomic
def user_set_active(*, organization_id: int, user_id: int, active: bool, by) -> User:
    user = _member(organization_id, user_id)
    if not active:
        _keep_an_admin(organization_id, user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    event_record(organization_id=organization_id, kind="user.active" if active else "user.deactivated", actor=ActorRef.user(by),
                 data={"user": user.username})
    return user


@transaction.atomic
def token_revoke(*, organization_id: int, token_id: int, by) -> ApiToken:
    token = ApiToken.objects.select_for_update().filter(organization_id=organization_id, pk=token_id).first()
    if token is None:
        raise ValidationFailed("No such token", errors={"token": ["Not one of your organization's tokens."]})
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        token.save(update_fields=["revoked_at"])
        event_record(organization_id=organization_id, kind="token.revoked", actor=ActorRef.user(by), data={"token": token.name})
    return token


@transaction.atomic
def user_set_hubs(*, organization_id: int, user_id: int, hub_ids: list[int], by) -> User:
    """Scope a dispatcher to hubs (none: every hub)."""
    user = _member(organization_id, user_id)
    hubs = list(Hub.objects.filter(organization_id=organization_id, id__in=hub_ids))
    if len(hubs) != len(set(hub_ids)):
        raise ValidationFailed("Unknown hub", errors={"hubs": ["Choose your organization's hubs."]})
    user.hubs.set(hubs)
    event_record(organization_id=organization_id, kind="user.hubs", actor=ActorRef.user(by),
                 data={"user": user.username, "hubs": sorted(h.code for h in hubs)})
    return user


def user_set_driver(*, organization_id: int, user_id: int, driver_id: int | None, by) -> User:
    """Link a driver's account to the driver it is (their shifts, van and stops), or unlink it."""
    user = _member(organization_id, user_id)
    driver = None
    if driver_id:
        driver = Driver.objects.filter(organization_id=organization_id, pk=driver_id).first()
        if driver is None:
            raise ValidationFailed("Unknown driver", errors={"driver": ["Choose one of your organization's drivers."]})
        taken = User.objects.filter(driver=driver).exclude(pk=user.pk).first()
        if taken is not None:
            raise Conflict(f"{driver.name} is already linked to {taken.username}; unlink that account first.")
    user.driver = driver
    user.save(update_fields=["driver"])
    event_record(organization_id=organization_id, kind="user.driver", actor=ActorRef.user(by),
                 data={"user": user.username, "driver": driver.code if driver else None})
    return user
