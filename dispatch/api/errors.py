"""Turns every error into a 4xx a person can act on: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

import logging

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from dispatch.errors import DomainError, ValidationFailed

log = logging.getLogger(__name__)


def log_unavailable(method: str, path: str, exc: Exception) -> None:
    """A 503 for the database (unreachable, or this request a deadlock's victim): logged with its
    cause, so that which one it was is known. Used by the API's handler and by the middleware."""
    log.warning("503 for %s %s: %s: %s", method, path, type(exc).__name__, str(exc).strip()[:300])


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    body = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return body


def exception_handler(exc, context):
    if isinstance(exc, ValidationFailed):
        return Response(error_body(exc.code, exc.message, exc.errors), status=exc.http_status)
    if isinstance(exc, DomainError):
        fields = {exc.field: [exc.message]} if exc.field else None
        body = error_body(exc.code, exc.message, fields)
        if "current" in exc.context:
            body["error"]["current"] = exc.context["current"]
        return Response(body, status=exc.http_status)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("payload_too_large", "The request body is larger than the API accepts."),
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database is briefly unreachable (restart, failover) or chose this request as a
        # deadlock's victim: nothing was written; retry.
        request = context.get("request")
        log_unavailable(getattr(request, "method", "?"), getattr(request, "path", "?"), exc)
        response = Response(error_body("unavailable", "The database is briefly unavailable; nothing was written. "
                                       "Retry with the same Idempotency-Key."), status=503)
        response["Retry-After"] = "5"
        return response
    if isinstance(exc, IntegrityError):
        return Response(error_body("conflict", "A concurrent request changed the same data; nothing was written. Retry."), status=409)
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        return Response(error_body("not_found", "No such object in your organization."), status=404)
    if isinstance(exc, exceptions.ParseError):
        return Response(error_body("malformed_json", f"The body is not valid JSON: {exc.detail}"), status=400)
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return Response(error_body("validation_failed", "Some fields are invalid; nothing was written.", detail), status=400)
    response = drf_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "error")
        message = exc.detail if isinstance(getattr(exc, "detail", None), str) else str(getattr(exc, "detail", exc))
        response.data = error_body(code, message)
    return response
