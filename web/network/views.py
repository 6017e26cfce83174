"""Admins' network: hubs, fleets, vans, drivers and shifts, carriers with their zones, rate cards
and capacity, under the control tower's own pages (the Django admin is the platform operators'
tool only). One generic list / add / edit per kind, every form's choices and every save scoped to
the admin's organization. Costs are a setting with one write path: a new van, rate card or zone
gets its first costs here (checked by the cost rules' own validation, recorded as its first
version); every later change is made on the Costs page (dispatch.configuration.costs), versioned,
schedulable and checked for concurrent edits."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from carriers.models import CapacitySlot, Carrier, CarrierZone, RateCard
from dispatch import configuration
from dispatch.errors import ValidationFailed
from dispatch.configuration import network_files
from dispatch.models import Driver, Fleet, Hub, NetworkImport, Shift, Vehicle
from dispatch.status import ServiceLevel
from web.access import org_for


class NetworkForm(forms.ModelForm):
    """Limits every choice of another row to the organization's own."""

    def __init__(self, *args, organization_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization_id = organization_id
        for name, field in self.fields.items():
            if isinstance(field, forms.ModelChoiceField):
                model = field.queryset.model
                if model in (Hub, Fleet, Vehicle, Driver, Carrier):
                    field.queryset = field.queryset.filter(organization_id=organization_id)
                elif model is CarrierZone:
                    field.queryset = field.queryset.filter(carrier__organization_id=organization_id)

    def clean(self):
        data = super().clean()
        for name in ("service_levels", "skills"):
            if name in data and not isinstance(data[name], list):
                self.add_error(name, "A list, e.g. [\"express\", \"same_day\"].")
        levels = data.get("service_levels")
        if isinstance(levels, list) and not set(levels) <= set(ServiceLevel.values):
            self.add_error("service_levels", f"Use {', '.join(ServiceLevel.values)}.")
        if "config" in data and not isinstance(data["config"], dict):
            self.add_error("config", "An object, e.g. {\"base_url\": \"https://...\"}.")
        return data


def _form(model, fields):
    return forms.modelform_factory(model, form=NetworkForm, fields=fields, widgets={
        f: forms.DateTimeInput(attrs={"type": "datetime-local"}) for f in ("starts_at", "ends_at", "window_start", "window_end")
    } | {"pickup_cutoff": forms.TimeInput(attrs={"type": "time"})})


# kind -> (model, form fields, columns shown, how rows belong to the organization, title)
KINDS = {
    "hubs": (Hub, ["code", "name", "lat", "lon", "load_min_per_order"], ["code", "name", "lat", "lon"], "organization_id", "Hubs"),
    "fleets": (Fleet, ["name", "hub"], ["name", "hub"], "organization_id", "Fleets"),
    "vehicles": (Vehicle, ["code", "fleet", "capacity_kg", "capacity_m3", "skills", "cost_per_km", "cost_per_hour", "fixed_cost"],
                 ["code", "fleet", "capacity_kg", "status"], "organization_id", "Vans"),
    "drivers": (Driver, ["code", "name", "phone"], ["code", "name", "status"], "organization_id", "Drivers"),
    "shifts": (Shift, ["driver", "vehicle", "starts_at", "ends_at"], ["driver", "vehicle", "starts_at", "ends_at"], "driver__organization_id",
               "Shifts"),
    "carriers": (Carrier, ["code", "name", "adapter", "config", "service_levels", "skills", "lead_min", "pickup_cutoff"],
                 ["code", "name", "adapter", "health"], "organization_id", "Carriers"),
    "zones": (CarrierZone, ["carrier", "name", "lat", "lon", "radius_km", "surcharge"], ["carrier", "name", "radius_km", "surcharge"],
              "carrier__organization_id", "Carrier zones"),
    "rates": (RateCard, ["carrier", "service_level", "base", "per_kg", "per_km"], ["carrier", "service_level", "base", "per_kg", "per_km"],
              "carrier__organization_id", "Rate cards"),
    "capacity": (CapacitySlot, ["carrier", "zone", "window_start", "window_end", "capacity"], ["carrier", "zone", "window_start", "window_end",
                 "capacity"], "carrier__organization_id", "Carrier capacity"),
}


def _kind(kind: str):
    if kind not in KINDS:
        raise Http404("No such part of the network.")
    return KINDS[kind]


@login_required
def network_home(request):
    org = org_for(request, "configure")
    counts = [(k, title, model.objects.filter(**{owner: org}).count()) for k, (model, _, _, owner, title) in KINDS.items()]
    return render(request, "controltower/settings/network.html", {"counts": counts})


@login_required
def network_list(request, kind: str):
    org = org_for(request, "configure")
    model, _, columns, owner, title = _kind(kind)
    rows = [{"id": obj.pk, "cells": [getattr(obj, c) for c in columns]}
            for obj in model.objects.filter(**{owner: org}).order_by("pk")[:1000]]
    return render(request, "controltower/settings/network_list.html", {"kind": kind, "title": title, "columns": columns, "rows": rows})


@login_required
def network_edit(request, kind: str, pk: int | None = None):
    org = org_for(request, "configure")
    model, fields, _, owner, title = _kind(kind)
    instance = None
    if pk is not None:
        instance = model.objects.filter(**{owner: org}, pk=pk).first()
        if instance is None:
            raise Http404("Not one of your organization's.")
    versioned = configuration.VERSIONED_FIELDS.get(kind, ())
    if instance is not None:  # its costs change on the Costs page only
        fields = [f for f in fields if f not in versioned]
    form_class = _form(model, fields)
    status = 200
    if request.method == "POST":
        form = form_class(request.POST, instance=instance, organization_id=org)
        if form.is_valid():
            obj = form.save(commit=False)
            if owner == "organization_id":
                obj.organization_id = org
            try:
                if instance is None and versioned:
                    for field, value in configuration.FIRST_COSTS[kind](request.POST).items():
                        setattr(obj, field, value)
                with transaction.atomic():
                    obj.full_clean()
                    obj._history_user = request.user
                    obj._change_reason = "added on the network page"
                    obj.save()
                return redirect(f"/settings/network/{kind}/")
            except ValidationFailed as exc:
                for field, errors in exc.errors.items():
                    form.add_error(field if field in form.fields else None, errors)
            except IntegrityError:
                form.add_error(None, "One of these already exists (a code or name must be unique in your organization).")
            except forms.ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
        status = 400
    else:
        form = form_class(instance=instance, organization_id=org)
    return render(request, "controltower/settings/network_edit.html", {
        "kind": kind, "title": title, "form": form, "instance": instance, "costs_elsewhere": bool(instance is not None and versioned),
    }, status=status)


SHOWN = 200


@login_required
def network_import(request):
    """Import the network from files: check (a dry run, row by row), then import all or nothing."""
    org = org_for(request, "configure")
    context = {"kinds": network_files.KINDS.values(), "recent": NetworkImport.objects.filter(organization_id=org)
               .select_related("by").order_by("-at")[:10]}
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "check")
        uploads = request.FILES.getlist("files")
        try:
            if action not in ("check", "import"):
                raise network_files.FilesRefused("Choose Check the files or Import.")
            if not uploads:
                raise network_files.FilesRefused("Choose the files first: one CSV per kind (hubs.csv, vehicles.csv, ...) or an Excel workbook.")
            too_big = [u.name for u in uploads if u.size > network_files.MAX_FILE_BYTES]
            if too_big:
                raise network_files.FilesRefused(f"{', '.join(too_big)}: at most {network_files.MAX_FILE_BYTES // 2**20} MB a file; "
                                                 "split it by kind.")
            files = [(u.name or "file", u.read()) for u in uploads]
            tables = network_files.read_files(files)
            if action == "check":
                report = network_files.check(organization_id=org, tables=tables)
            else:
                record, report = network_files.import_network(organization_id=org, tables=tables, user=request.user,
                                                               files=[n for n, _ in files])
                context["imported"] = record
            context["report"] = report
            if report["errors"]:
                status = 400
        except network_files.FilesRefused as exc:
            context["problem"], status = exc.message, 400
        except network_files.Refused as exc:
            context.update(report=exc.report, problem=exc.message)
            status = 400
        context["action"] = action
    if "report" in context:
        report = context["report"]
        context.update(errors=report["errors"][:SHOWN], rows=[r for r in report["rows"] if r["action"] != "unchanged"][:SHOWN], shown=SHOWN)
    return render(request, "controltower/settings/network_import.html", context, status=status)


@login_required
def network_template(request, kind: str):
    org_for(request, "configure")
    if kind not in network_files.KINDS:
        raise Http404("No such kind of network file.")
    response = HttpResponse(network_files.template_csv(kind), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{kind}.csv"'
    return response


@login_required
def network_export(request, kind: str = ""):
    """The network as it is: one kind's CSV, or every kind as one Excel workbook (a sheet each)."""
    org = org_for(request, "configure")
    data = network_files.export_rows(org)
    if kind:
        if kind not in data:
            raise Http404("No such kind of network file.")
        response = HttpResponse(network_files.export_csv(data[kind]), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{kind}.csv"'
        return response
    response = HttpResponse(network_files.export_xlsx(data),
                            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = 'attachment; filename="network.xlsx"'
    return response
