"""API credentials: per-organization tokens (Authorization: Token <key>) or a logged-in session."""

from __future__ import annotations

import hashlib
import secrets

from rest_framework import authentication, exceptions, permissions

from dispatch.models import ApiToken
from dispatch.permissions import can_decide, refusal

from .throttles import auth_failure_check, auth_failure_record


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_issue(*, organization_id: int, name: str) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is shown once and never stored."""
    key = "ct_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(organization_id=organization_id, name=name, prefix=key[:10], key_hash=hash_key(key))
    return token, key


class ApiClient:
    """The principal behind a token: an integration acting for one organization."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, token: ApiToken):
        self.token = token
        self.organization_id = token.organization_id

    def get_username(self) -> str:
        return f"token:{self.token.name}"


class OrganizationTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("token", "bearer")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Token <key>'.")
        auth_failure_check(request)
        key = header[1].decode(errors="replace")
        token = ApiToken.objects.filter(key_hash=hash_key(key), revoked_at__isnull=True).first()
        if token is None:
            auth_failure_record(request)
            raise exceptions.AuthenticationFailed("Unknown or revoked API token.")
        return ApiClient(token), token

    def authenticate_header(self, request):
        return "Token"


def organization_id_of(request) -> int | None:
    user = getattr(request, "user", None)
    return getattr(user, "organization_id", None) if user is not None else None


class IsOrganizationMember(permissions.BasePermission):
    message = "Log in or send an API token of an organization."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and organization_id_of(request))


class CanDecide(IsOrganizationMember):
    """Members of the organization whose role may act on decisions."""

    def has_permission(self, request, view):

        if not super().has_permission(request, view):
            return False
        if not can_decide(request.user):
            self.message = refusal(request.user)
            return False
        return True
