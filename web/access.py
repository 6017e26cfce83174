"""Who the request is for: the organization of the signed-in user, and the role check an action
needs (the rules are dispatch.permissions'; here a refusal becomes a 403)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from dispatch.permissions import refusal_for


def org_of(request) -> int:
    """The signed-in user's organization (403 for an account of none)."""
    org = request.user.organization_id
    if not org:
        raise PermissionDenied("Your account belongs to no organization.")
    return org


def org_for(request, action: str) -> int:
    """The user's organization, when their role may do `action` (dispatch.permissions.ACTIONS); 403 otherwise."""
    org = org_of(request)
    refused = refusal_for(request.user, action)
    if refused:
        raise PermissionDenied(refused)
    return org
