"""The driver app (a phone's browser): the driver's shift and van, the van's stops in route order
with what each order needs and a hand-off to the phone's navigation, and the driver's actions on
them: picked up, delivered (with the PIN or age check the order requires), or failed with a reason.
A driver sees and acts on the stops of their own van only; the rest of the tower is closed to the
account (web.middleware.DriverAppMiddleware)."""

from __future__ import annotations

import functools
import hashlib
import json

from django.contrib.staticfiles import finders
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from dispatch import selectors
from dispatch.errors import DomainError, NotFound
from dispatch.services import ActorRef
from dispatch.services.orders import ProofFile
from dispatch.status import PROOF_MAX_BYTES, VEHICLE_CHECKS, FailureReason
from web.access import org_for
from web.driver import api

ACTIONS = api.ACTIONS


def _driver(request):
    org_for(request, "drive")
    if request.user.driver_id is None:
        raise PermissionDenied("Your account is not linked to a driver yet; ask your dispatcher or admin.")
    return request.user.driver


def _page(request, driver, message: str = "", status: int = 200, error: bool = False):
    day = selectors.driver_day(driver=driver)
    template = "controltower/partials/driver_stops.html" if request.GET.get("part") == "stops" else "controltower/driver.html"
    return render(request, template, {**day, "driver": driver, "message": message, "error": error,
                                      "reasons": FailureReason.choices}, status=status)


@login_required
@require_GET
def driver_home(request):
    """The driver's day; ?part=stops is the shift and stops alone (what the app reads again when
    dispatch changes the van's stops)."""
    return _page(request, _driver(request))


APP_FILES = [static(name) for name in ("controltower/driver.js", "controltower/app.css", "django_htmx/htmx-2.min.js")]


@functools.cache
def _files_version() -> str:
    """The app files' fingerprint: a new release of them installs a new service worker, which
    drops the cache of the old one."""
    digest = hashlib.sha256()
    for name in ("controltower/driver.js", "controltower/app.css", "django_htmx/htmx-2.min.js"):
        path = finders.find(name) or ""
        if path:
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()[:16]


@require_GET
def driver_service_worker(request):
    """The app's service worker, served from /driver/ so that it looks after the app's pages: it
    keeps the app's last page and its files so that the app opens without a network."""
    body = render_to_string("controltower/driver_sw.js", {"assets": json.dumps(APP_FILES), "version": json.dumps(_files_version())})
    return HttpResponse(body, content_type="text/javascript", headers={"Cache-Control": "no-cache"})


@require_GET
def driver_manifest(request):
    """What a phone needs to install the app on its home screen."""
    manifest = {
        "name": "Control Tower: my stops", "short_name": "My stops", "start_url": reverse("driver"), "scope": reverse("driver"),
        "display": "standalone", "background_color": "#ffffff", "theme_color": "#0b3d91",
        "icons": [{"src": static("controltower/driver-icon.svg"), "sizes": "any", "type": "image/svg+xml", "purpose": "any"}],
    }
    return JsonResponse(manifest, content_type="application/manifest+json")


@login_required
@require_POST
def driver_action(request, ref: str, action: str):
    driver = _driver(request)
    if action not in ACTIONS:
        raise Http404("No such action.")
    try:
        order = selectors.driver_order(driver=driver, ref=ref)
    except NotFound as exc:
        raise Http404(exc.message) from None
    actor = ActorRef.user(request.user)
    reason = request.POST.get("reason", "")
    unstarted = api.not_started(driver)
    if unstarted:
        return _page(request, driver, unstarted.message, status=unstarted.status, error=True)
    try:
        if action == "failed" and reason not in FailureReason.values:
            return _page(request, driver, f"Say why {ref} could not be delivered.", status=400, error=True)
        upload = request.FILES.get("photo")
        photo = ProofFile(upload.content_type, upload.read()) if upload is not None and upload.size <= PROOF_MAX_BYTES else None
        api.apply_action(order=order, actor=actor, action=action, reason=reason, pin=request.POST.get("pin", ""),
                         born=api.born_on(request.POST.get("born_on")), photo=photo,
                         signature=api.proof_file(request.POST.get("signature"), "signature"))
    except api.Refused as exc:
        return _page(request, driver, f"{ref}: {exc.message}", status=exc.status, error=True)
    except DomainError as exc:
        return _page(request, driver, f"{ref}: {exc.message}", status=exc.http_status, error=True)
    said = api.said(ref, action, reason)
    messages.success(request, said)
    return redirect("driver")  # the stops again: a reload does not send the action twice


@login_required
@require_POST
def driver_shift_action(request, action: str):
    """The shift's start (with the van's check), a break, back from it, its end: the page's forms
    without the app's script (post/redirect/get)."""
    driver = _driver(request)
    if action not in api.SHIFT_ACTIONS:
        raise Http404("No such action.")
    checks = {key: request.POST[f"check_{key}"] == "ok" for key, _, _ in VEHICLE_CHECKS if f"check_{key}" in request.POST}
    status, data = api.shift_act(driver, ActorRef.user(request.user), action, checks, request.POST.get("note", "")[:500], None)
    if status != 200:
        return _page(request, driver, data["error"]["message"], status=status, error=True)
    messages.success(request, data["message"])
    return redirect("driver")


@login_required
@require_POST
def driver_message(request):
    """A message to dispatch, from the page's form without the app's script."""
    driver = _driver(request)
    status, data = api.message_send(driver, ActorRef.user(request.user), request.POST.get("text", ""))
    if status != 200:
        return _page(request, driver, data["error"]["message"], status=status, error=True)
    messages.success(request, data["message"])
    return redirect("driver")
