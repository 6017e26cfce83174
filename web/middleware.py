import json

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.handlers.exception import response_for_exception
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.utils import timezone

from dispatch import clock
from dispatch.api.errors import log_unavailable
from dispatch.errors import Forbidden, NotFound
from dispatch.selectors import hub_scope, user_hub_ids
from dispatch.status import Role


class ApiBodyLimitMiddleware:
    """Refuses an API request whose declared body is over the limit with a 413, before reading it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if not request.META.get("CONTENT_LENGTH") and request.method in ("POST", "PUT", "PATCH"):
                # No declared length (a chunked body): the server has spooled it; measure what arrived.
                try:
                    length = len(request.body)
                except RequestDataTooBig:
                    length = settings.API_MAX_BODY_BYTES + 1
            if length > settings.API_MAX_BODY_BYTES:
                size = f"The body is {length} bytes" if request.META.get("CONTENT_LENGTH") else "The body is too large"
                body = {"error": {"code": "payload_too_large",
                                  "message": f"{size}; the API accepts at most {settings.API_MAX_BODY_BYTES} bytes. Split the batch."}}
                return HttpResponse(json.dumps(body), status=413, content_type="application/json")
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """A page or call that finds the database unreachable (a restart, a failover) answers 503 with
    Retry-After instead of a 500: nothing was written and the same request may be sent again."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):

        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        log_unavailable(request.method, request.path, exception)
        body = {"error": {"code": "unavailable", "message": "The database is briefly unavailable; nothing was written. Retry."}}
        if request.path.startswith("/api/"):
            response = HttpResponse(json.dumps(body), status=503, content_type="application/json")
        else:
            response = HttpResponse("<h1>Briefly unavailable</h1><p>The database is restarting; nothing was written. "
                                    "This page reloads in a few seconds.</p>", status=503)
        response["Retry-After"] = "5"
        return response


class HubScopeMiddleware:
    """A dispatcher scoped to hubs: every read of this request (pages, partials, the API with a
    session) sees those hubs' orders, vans and exceptions only (dispatch.selectors.hub_scope)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):

        user = getattr(request, "user", None)
        scope = user_hub_ids(user) if user is not None and user.is_authenticated else None
        if scope is None:
            return self.get_response(request)
        with hub_scope(scope):
            return self.get_response(request)


class OrganizationTimeZoneMiddleware:
    """A person reads every time of this request in their organization's time zone (the customer's
    tracking page uses the order's organization's: web.tracking.views)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not getattr(user, "organization_id", None):
            return self.get_response(request)
        with timezone.override(clock.zone_of(user.organization)):
            return self.get_response(request)


class DomainErrorMiddleware:
    """A page's selector found nothing (NotFound) or may not show it (Forbidden): the same 404 or
    403 page Django gives for Http404 and PermissionDenied. The API answers these itself."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, NotFound):
            return response_for_exception(request, Http404(exception.message))
        if isinstance(exception, Forbidden):
            return response_for_exception(request, PermissionDenied(exception.message))
        return None


class DriverAppMiddleware:
    """A driver's account opens the driver app and nothing else of the tower: not the live page, the
    reports, settings, nor the API through its session. A page asked for is a redirect to the app;
    anything else is refused with where to go."""

    ALLOWED = ("/driver/", "/login/", "/logout/", "/static/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated and getattr(user, "role", None) == Role.DRIVER
                and not request.path.startswith(self.ALLOWED)):
            if request.method == "GET" and not request.path.startswith("/api/"):
                return HttpResponseRedirect("/driver/")
            return HttpResponse(json.dumps({"error": {"code": "forbidden", "message": "A driver's account uses the driver app "
                                                      "(/driver/) only."}}), status=403, content_type="application/json")
        return self.get_response(request)
