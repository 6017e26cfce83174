"""Operators' tools: tasks the workers gave up on, and logging out (which closes the live connections of the login)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from infra import bus, jobs
from infra.models import DeadLetter
from web.access import org_for


@login_required
def dead_letters_page(request):
    """Tasks the workers gave up on (failed for good, or past the redelivery cap), newest first."""

    org = org_for(request, "look_after_dead_letters")
    message = ""
    if request.method == "POST":
        letter = DeadLetter.objects.filter(organization_id=org, pk=request.POST.get("id") or 0).first()
        if letter is None:
            raise Http404("No such dead letter in your organization.")
        if request.POST.get("action") == "retry":
            try:
                jobs.task(letter.task_name)
            except (KeyError, ImportError):
                return render(request, "controltower/dead_letters.html", status=409, context={
                    "letters": _letters(org),
                    "message": f"{letter.task_name} is not a task of this version of the control tower, so it cannot run "
                               "again; dismiss it, and redo its work by hand if it still matters."})
            jobs.enqueue(letter.task_name, *letter.args, kwargs=letter.kwargs)
            letter.retried_at = timezone.now()
            letter.save(update_fields=["retried_at"])
            message = f"{letter.task_name} queued again."
        else:
            letter.dismissed_at = timezone.now()
            letter.save(update_fields=["dismissed_at"])
            message = "Dismissed."
    return render(request, "controltower/dead_letters.html", {"letters": _letters(org), "message": message})


def _letters(organization_id: int):
    return DeadLetter.objects.filter(organization_id=organization_id, dismissed_at__isnull=True).order_by("-created_at")[:200]


class LogoutView(auth_views.LogoutView):
    """Logging out also closes the live connections that this login opened."""

    def post(self, request, *args, **kwargs):
        session_key = request.session.session_key or ""
        response = super().post(request, *args, **kwargs)
        bus.session_ended(session_key)
        return response
