"""Operators' tools: tasks the workers gave up on, and logging out (which closes the live connections of the login)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from controltower.celery import app
from infra import bus
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

            app.send_task(letter.task_name, args=letter.args, kwargs=letter.kwargs)
            letter.retried_at = timezone.now()
            letter.save(update_fields=["retried_at"])
            message = f"{letter.task_name} queued again."
        else:
            letter.dismissed_at = timezone.now()
            letter.save(update_fields=["dismissed_at"])
            message = "Dismissed."
    letters = DeadLetter.objects.filter(organization_id=org, dismissed_at__isnull=True).order_by("-created_at")[:200]
    return render(request, "controltower/dead_letters.html", {"letters": letters, "message": message})


class LogoutView(auth_views.LogoutView):
    """Logging out also closes the live connections that this login opened."""

    def post(self, request, *args, **kwargs):
        session_key = request.session.session_key or ""
        response = super().post(request, *args, **kwargs)
        bus.session_ended(session_key)
        return response
