"""The Onfleet-compatible API's edge, `/onfleet/api/v2/...`: HTTP Basic with an API token as the
user name (empty password), Onfleet's error body and rate-limit headers (20 requests a second per
organization, X-RateLimit-Limit and X-RateLimit-Remaining on every success, never 0), DELETE and
force-complete answered with a status only, a JSON `null` body on GET and DELETE ignored. Each
route parses, calls one operation of integrations.onfleet.service (auto-assign and auto-dispatch
also the engine's placement) and answers in Onfleet's shape."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time

from django.core.cache import cache
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from dispatch.api.auth import hash_key
from dispatch.api.throttles import auth_failure_record
from dispatch.engine.placement import plan_new_orders
from dispatch.models import ApiToken, Order
from integrations.onfleet import service as of
from integrations.onfleet.shapes import (
    BAD_CREDENTIALS,
    INTERNAL,
    INVALID,
    NOT_FOUND,
    TOO_MANY,
    OnfleetError,
    oid,
    pk_of,
)

LIMIT = 20  # requests a second per organization, as Onfleet
MAX_BODY = 1_000_000


def _organization(request) -> int:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise OnfleetError(BAD_CREDENTIALS, "Send your API key as the HTTP Basic user name, with an empty password.")
    try:
        key = base64.b64decode(encoded.strip(), validate=True).decode().split(":", 1)[0]
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise OnfleetError(BAD_CREDENTIALS, "The Authorization header is not HTTP Basic credentials.") from None
    token = ApiToken.objects.filter(key_hash=hash_key(key), revoked_at__isnull=True).first() if key else None
    if token is None:
        auth_failure_record(request)
        raise OnfleetError(BAD_CREDENTIALS, "Unknown or revoked API key.")
    return token.organization_id


def _spend(org: int, second: int) -> int:
    """Requests left in this second for the organization (raises TOO_MANY past the limit)."""
    key = f"onfleet:rate:{org}:{second}"
    try:
        if cache.add(key, 1, timeout=3):
            used = 1
        else:
            used = cache.incr(key)
    except Exception:  # the cache is away: do not refuse work for it
        return LIMIT - 1
    if used > LIMIT:
        raise OnfleetError(TOO_MANY, f"You have exceeded the request limit of {LIMIT} requests a second; slow down and retry.")
    return LIMIT - used


def _body(request):
    if request.method in ("GET", "DELETE") or not request.body:
        return None
    if len(request.body) > MAX_BODY:
        raise OnfleetError(INVALID, f"The body is over {MAX_BODY} bytes.")
    try:
        return json.loads(request.body)
    except ValueError as exc:
        raise OnfleetError(INVALID, f"The body is not JSON: {exc}.") from None


def _tasks_page(org: int, orders, last_id) -> dict:
    out = {"tasks": of.tasks_json(org, orders)}
    if last_id:
        out["lastId"] = last_id
    return out


def _auto_assign(org: int, body) -> dict:
    ids = (body or {}).get("tasks") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids:
        raise OnfleetError(INVALID, 'Send {"tasks": [task ids], "options": {...}}.')
    pks = [pk_of("task", t) for t in ids]
    if Order.objects.filter(organization_id=org, pk__in=pks).count() != len(set(pks)):
        raise OnfleetError(NOT_FOUND, "One of the tasks does not exist.")
    plan_new_orders(organization_id=org)
    orders = list(Order.objects.filter(organization_id=org, pk__in=pks).select_related("hub", "vehicle"))
    assigned = {t["id"]: t["worker"] for t in of.tasks_json(org, orders) if t["worker"]}
    return {"assignedTasksCount": len(assigned), "assignedTasks": assigned}


def _dispatch(org: int, team_id: str) -> dict:
    of.team_get(org, team_id)
    result = plan_new_orders(organization_id=org)
    return {"dispatchId": f"{int(time.time() * 1000):x}", "placed": result.get("vans", 0) + result.get("carriers", 0)}


def _organization_by_id(org: int, wanted: str) -> dict:
    if wanted != oid("organization", org):
        raise OnfleetError(NOT_FOUND, "No organization you work with has that id.")
    return of.organization_json(org)


STATUS_ONLY = object()
log = logging.getLogger(__name__)

# (method, path pattern, handler(org, match, query, body) -> JSON-able or STATUS_ONLY)
ROUTES = [
    ("GET", r"auth/test", lambda o, m, q, b: {"message": f"Hello organization {oid('organization', o)}, you have been authenticated!"}),
    ("GET", r"organization", lambda o, m, q, b: of.organization_json(o)),
    ("GET", r"organizations/(?P<id>[^/]+)", lambda o, m, q, b: _organization_by_id(o, m["id"])),
    ("POST", r"tasks", lambda o, m, q, b: of.task_json(of.task_create(o, b))),
    ("POST", r"tasks/batch", lambda o, m, q, b: (lambda made: {"tasks": of.tasks_json(o, made[0]), "errors": made[1]})(of.task_batch(o, b))),
    ("POST", r"tasks/autoAssign", lambda o, m, q, b: _auto_assign(o, b)),
    ("GET", r"tasks/all", lambda o, m, q, b: _tasks_page(o, *of.tasks_list(o, q))),
    ("GET", r"tasks/shortId/(?P<short>[^/]+)", lambda o, m, q, b: of.task_by_short_id(o, m["short"])),
    ("GET", r"tasks/(?P<id>[^/]+)", lambda o, m, q, b: of.task_get(o, m["id"])),
    ("PUT", r"tasks/(?P<id>[^/]+)", lambda o, m, q, b: of.task_json(of.task_update(o, m["id"], b))),
    ("DELETE", r"tasks/(?P<id>[^/]+)", lambda o, m, q, b: (of.task_delete(o, m["id"]), STATUS_ONLY)[1]),
    ("POST", r"tasks/(?P<id>[^/]+)/clone", lambda o, m, q, b: of.task_json(of.task_clone(o, m["id"]))),
    ("POST", r"tasks/(?P<id>[^/]+)/complete", lambda o, m, q, b: (of.task_complete(o, m["id"], b), STATUS_ONLY)[1]),
    ("POST", r"destinations", lambda o, m, q, b: of.record_create(o, "destination", b)),
    ("GET", r"destinations/(?P<id>[^/]+)", lambda o, m, q, b: of.record_get(o, "destination", m["id"])),
    ("POST", r"recipients", lambda o, m, q, b: of.record_create(o, "recipient", b)),
    ("GET", r"recipients/name/(?P<name>[^/]+)", lambda o, m, q, b: of.recipient_find(o, name=m["name"])),
    ("GET", r"recipients/phone/(?P<phone>[^/]+)", lambda o, m, q, b: of.recipient_find(o, phone=m["phone"])),
    ("GET", r"recipients/(?P<id>[^/]+)", lambda o, m, q, b: of.record_get(o, "recipient", m["id"])),
    ("PUT", r"recipients/(?P<id>[^/]+)", lambda o, m, q, b: of.recipient_update(o, m["id"], b)),
    ("GET", r"workers", lambda o, m, q, b: of.workers_list(o)),
    ("GET", r"workers/location", lambda o, m, q, b: {"workers": of.workers_near(o, q)}),
    ("GET", r"workers/(?P<id>[^/]+)", lambda o, m, q, b: of.worker_get(o, m["id"])),
    ("GET", r"workers/(?P<id>[^/]+)/tasks", lambda o, m, q, b: {"tasks": of.tasks_json(o, of.worker_tasks(o, m["id"]))}),
    ("GET", r"workers/(?P<id>[^/]+)/schedule", lambda o, m, q, b: of.worker_schedule(o, m["id"])),
    ("GET", r"teams", lambda o, m, q, b: of.teams_list(o)),
    ("GET", r"teams/(?P<id>[^/]+)", lambda o, m, q, b: of.team_get(o, m["id"])),
    ("GET", r"teams/(?P<id>[^/]+)/tasks", lambda o, m, q, b: _tasks_page(o, *of.team_tasks(o, m["id"], q))),
    ("GET", r"teams/(?P<id>[^/]+)/estimate", lambda o, m, q, b: of.team_estimate(o, m["id"], q)),
    ("POST", r"teams/(?P<id>[^/]+)/dispatch", lambda o, m, q, b: _dispatch(o, m["id"])),
    ("GET", r"hubs", lambda o, m, q, b: of.hubs_list(o)),
    ("GET", r"webhooks", lambda o, m, q, b: of.webhooks_list(o)),
    ("POST", r"webhooks", lambda o, m, q, b: of.webhook_create(o, b)),
    ("DELETE", r"webhooks/(?P<id>[^/]+)", lambda o, m, q, b: (of.webhook_delete(o, m["id"]), STATUS_ONLY)[1]),
]
COMPILED = [(method, re.compile(pattern + r"/?\Z"), handler) for method, pattern, handler in ROUTES]


def _error(exc: OnfleetError) -> JsonResponse:
    return JsonResponse(exc.body(), status=exc.status)


@csrf_exempt
def onfleet_api(request, rest: str = ""):
    second = int(time.time())
    try:
        org = _organization(request)
        remaining = _spend(org, second)
        matches = [(method, m, handler) for method, pattern, handler in COMPILED if (m := pattern.match(rest))]
        if not matches:
            raise OnfleetError(NOT_FOUND, "No such endpoint in the Onfleet-compatible API (see the README for what is served).")
        route = next(((m, h) for method, m, h in matches if method == request.method), None)
        if route is None:
            raise OnfleetError(INVALID, f"{request.method} is not allowed there; use {', '.join(sorted({x[0] for x in matches}))}.")
        body = _body(request)
        match, handler = route
        result = handler(org, match, request.GET, body)
    except OnfleetError as exc:
        response = _error(exc)
        if exc.code == TOO_MANY:
            response["Retry-After"], response["X-RateLimit-Reset"] = "1", str(second + 1)
        return response
    except Exception:  # a defect of ours: Onfleet's service error shape, the detail in our logs
        log.exception("Onfleet-compatible API: %s %s", request.method, rest)
        return _error(OnfleetError(INTERNAL, "Something went wrong on our side; it is logged. Try again."))
    headers = {"X-RateLimit-Limit": str(LIMIT), "X-RateLimit-Remaining": str(max(1, remaining)), "X-RateLimit-Reset": str(second + 1)}
    if result is STATUS_ONLY:
        response = HttpResponse(status=200)
    else:
        response = JsonResponse(result, safe=False)
    for k, v in headers.items():
        response[k] = v
    return response

