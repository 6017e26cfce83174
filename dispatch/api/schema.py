"""What the OpenAPI schema says beyond what drf-spectacular infers: token auth (what integrators
use) and the error responses every operation can give, in the one error shape the API returns."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from dispatch.status import OrderStatus

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Machine-readable reason, e.g. validation_failed, stale_version"},
                "message": {"type": "string", "description": "A sentence a person can act on"},
                "fields": {"type": "object", "additionalProperties": True, "description": "Per-field reasons"},
                "current": {"description": "What it is now, on a 409: a version number, a state's name, or an object"},
            },
        }
    },
}

ERRORS = {
    "400": "The request is invalid; the body says which fields and why. Nothing was written.",
    "401": "No valid credentials: send `Authorization: Token <key>` or log in.",
    "403": "Authenticated, but this role or organization may not do this.",
    "404": "No such object in your organization.",
    "405": "This method is not allowed here.",
    "406": "The requested response format is not available.",
    "409": "Conflict: someone acted first (stale version) or the Idempotency-Key was used with another body.",
    "413": "The body is larger than the API accepts.",
    "415": "Send JSON (Content-Type: application/json).",
    "429": "Too many requests; retry after the Retry-After header's seconds.",
    "503": "A dependency (database or broker) is briefly unavailable; retry with the same Idempotency-Key.",
}


class OrganizationTokenScheme(OpenApiAuthenticationExtension):
    target_class = "dispatch.api.auth.OrganizationTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An organization's API token: `Authorization: Token ct_…` (Bearer is accepted too).",
        }


NO_NUL = "^[^\\u0000]*$"


def _tighten(node) -> None:
    """Say in the schema what the API enforces on every string: no NUL character. (A time outside the
    years the product plans for, 2000-2100, is a 400 with its reason: a pattern on top of the
    date-time format left schema-driven clients almost nothing to generate.)"""
    if isinstance(node, dict):
        if node.get("type") == "string" and "enum" not in node and "pattern" not in node:
            if node.get("format") in (None, "uri"):
                node["pattern"] = NO_NUL
        for value in node.values():
            _tighten(value)
    elif isinstance(node, list):
        for value in node:
            _tighten(value)


def declare_error_responses(result, generator, request, public):
    """Postprocessing hook: every operation declares the error responses in the shared shape."""
    _tighten(result.get("components", {}).get("schemas", {}))
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict):
                _tighten(operation.get("parameters", []))
                for param in operation.get("parameters", []):
                    if param.get("in") == "path" and param.get("schema", {}).get("type") == "integer":
                        param["schema"]["minimum"] = 1
                    if param.get("in") == "query" and param.get("name") == "status":
                        statuses = "|".join(OrderStatus.values)
                        param["schema"]["pattern"] = f"^({statuses})(,({statuses}))*$"
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses.setdefault(status, {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                })
    return result
