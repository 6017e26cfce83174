"""API throttling (DRF's own throttles): a rate per API token or logged-in user, and a ceiling on
wrong tokens per address so keys cannot be guessed."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle

log = logging.getLogger(__name__)


class OrganizationRateThrottle(SimpleRateThrottle):
    """One bucket per API token, or per user for a browser session. If the cache (Redis) is away,
    requests are let through: the database is the record, and refusing every order while Redis
    restarts would lose more than a moment without a rate limit."""

    scope = "organization"

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # the cache is unreachable
            log.warning("API throttle skipped: the cache is unreachable")
            return True

    def get_cache_key(self, request, view):
        user = request.user
        if user is None or not user.is_authenticated:
            return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
        token = getattr(user, "token", None)
        ident = f"t{token.pk}" if token is not None else f"u{user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def _failures_key(ip: str) -> str:
    return f"api-auth-failures:{ip}"


def auth_failure_check(request) -> None:
    """Refuse (429) an address that sent too many wrong tokens in the last minute."""
    ip = request.META.get("REMOTE_ADDR", "")
    try:
        failures = cache.get(_failures_key(ip)) or 0
    except Exception:  # the cache is unreachable: no count to go by
        return
    if failures >= settings.API_AUTH_FAILURES_PER_MIN:
        raise Throttled(wait=60, detail="Too many wrong API tokens from this address; wait a minute.")


def auth_failure_record(request) -> None:
    key = _failures_key(request.META.get("REMOTE_ADDR", ""))
    try:
        if cache.add(key, 1, timeout=60):
            return
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=60)
    except Exception:  # the cache is unreachable: this failure goes uncounted
        log.warning("A wrong API token went uncounted: the cache is unreachable")
