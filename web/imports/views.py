"""Import orders: a CSV (or JSON) file checked row by row, then imported all together or not at all
(dispatch.api.order_files, the same rules and code as POST /api/orders/import/)."""

from __future__ import annotations

import io

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from dispatch import selectors
from dispatch.api import order_files, order_stream
from dispatch.services import ActorRef
from web.access import org_for

SHOWN = 100  # rows of a report listed on the page (the counts cover all of them)


@login_required
@require_http_methods(["GET", "POST"])
def import_page(request):
    """GET: the form. POST (`action` check or import, the file in `file`): the report; with htmx
    only the report, under the form, which keeps the file chosen for the import that follows."""
    org = org_for(request, "import_orders")
    if request.method == "GET":
        return render(request, "controltower/order_import.html", {"columns": order_files.COLUMNS, "required": order_files.REQUIRED,
                                                                  "max_rows": settings.ORDER_FILE_MAX_ROWS})
    action = request.POST.get("action", "check")
    upload = request.FILES.get("file")
    context, status, report = {"action": action}, 200, None
    if action not in ("check", "import"):
        context["problem"], status = "Choose Check the file or Import.", 400
    elif upload is None:
        context["problem"], status = "Choose a file first (CSV with the template's columns, or JSON).", 400
    else:
        try:
            if _is_json(upload):
                rows = order_files.read_rows(upload.read(settings.ORDER_FILE_MAX_BYTES + 1), upload.name or "")
                if action == "check":
                    report = order_files.check(organization_id=org, rows=rows)
                    report.pop("_valid")
                else:
                    report, created = order_files.import_orders(organization_id=org, rows=rows, actor=ActorRef.user(request.user))
                    context["created"] = len(created)
            else:  # a CSV of any size: streamed from disk, row by row
                if upload.size > settings.ORDER_STREAM_MAX_BYTES:
                    raise order_files.FileRefused(f"The file is {upload.size // 2**20} MB; at most "
                                                  f"{settings.ORDER_STREAM_MAX_BYTES // 2**20} MB in one import. Split it.")
                report = order_stream.stream_import(organization_id=org, stream=_text(upload), actor=ActorRef.user(request.user),
                                                    apply=action == "import")
                if report["error_count"] and action == "import":
                    context["problem"] = (f"{report['error_count']} error{'s' if report['error_count'] != 1 else ''} in the file; "
                                          "nothing was imported. Correct the rows named and import again.")
                    status = 400
                elif action == "import":
                    context["created"] = report["created"]
        except order_files.FileRefused as refused:
            context["problem"], status = refused.message, 400
        except order_files.Refused as refused:
            context["problem"], report, status = refused.message, refused.report, 400
    if report is not None:
        report.setdefault("error_count", len(report["errors"]))
        context.update(report=report, errors=report["errors"][:SHOWN], orders=report["orders"][:SHOWN], shown=SHOWN)
    template = "controltower/partials/import_report.html" if request.htmx else "controltower/order_import.html"
    if template.endswith("order_import.html"):
        context.update(columns=order_files.COLUMNS, required=order_files.REQUIRED, max_rows=settings.ORDER_FILE_MAX_ROWS)
    return render(request, template, context, status=status)


def _is_json(upload) -> bool:
    if (upload.name or "").lower().endswith(".json"):
        return True
    head = upload.read(64)
    upload.seek(0)
    return head.decode("utf-8-sig", "replace").lstrip()[:1] in ("[", "{")


def _text(upload):
    upload.seek(0)
    return io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline="", errors="strict")


@login_required
def import_template(request):
    """The CSV template: the columns, and one example order."""
    hub = selectors.hubs_for(organization_id=org_for(request, "import_orders")).values_list("code", flat=True).first()
    response = HttpResponse(order_files.template_csv(hub or "CENTRAL"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="orders-template.csv"'
    return response
