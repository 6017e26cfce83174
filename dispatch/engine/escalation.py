"""Telling the organization's ops managers that an exception waited past its response SLA."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils import timezone

from dispatch.models import OrderException, User
from dispatch.status import Role


def email_ops_managers(*, exception_id: int) -> int:
    exc = OrderException.objects.select_related("organization", "holder").get(pk=exception_id)
    to = list(User.objects.filter(organization_id=exc.organization_id, role=Role.OPS_MANAGER, is_active=True)
              .exclude(email="").values_list("email", flat=True))
    if not to or exc.escalated_at is None:
        return 0
    holder = f"{exc.holder.get_username()} holds it" if exc.holder_id else "nobody has taken it"
    body = (f"{exc.get_kind_display()}: {exc.title}\n\nRaised {timezone.localtime(exc.detected_at):%H:%M}, severity "
            f"{exc.get_severity_display().lower()}, still {exc.get_state_display().lower()} at "
            f"{timezone.localtime(exc.escalated_at):%H:%M}; {holder}.\n\n{settings.PUBLIC_BASE_URL}/\n")
    with get_connection(timeout=10) as connection:
        EmailMessage(f"Escalated: {exc.title}", body, settings.DEFAULT_FROM_EMAIL, to, connection=connection,
                     headers={"Message-ID": f"<ct-escalation-{exc.id}@{settings.DEFAULT_FROM_EMAIL.split('@')[-1]}>"}).send()
    return len(to)
