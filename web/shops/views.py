"""Settings → Shops: connect a Shopify or WooCommerce store (its webhook address to paste into the
shop, its secret and API credentials stored sealed), see what each store sent and what went back,
and deal with what needs a person (an address the shop did not place, a refusal)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from dispatch.errors import Conflict, ValidationFailed
from dispatch.models import Hub, Organization
from dispatch.status import ServiceLevel
from integrations.models import ShopConnection, ShopPlatform, ShopUpdate, ShopWebhookReceipt
from integrations.shops import PLATFORMS
from integrations.shops import service as shops
from web.access import org_for

SHOWN = 50
STATUS_WORDS = {"pending": "waiting", "processed": "applied", "ignored": "not for us", "needs_attention": "needs you",
                "sent": "sent", "failed": "failed"}


def _form(connection: ShopConnection | None, posted=None) -> dict:
    if posted is not None:
        return {k: posted.get(k, "") for k in ("platform", "name", "shop_url", "hub", "ref_prefix", "default_service_level",
                                               "service_levels", "handling", "default_item_kg")} | {
            "send_back": bool(posted.get("send_back")), "active": bool(posted.get("active"))}
    if connection is None:
        return {"platform": "shopify", "ref_prefix": "SHOP-", "default_service_level": "next_day", "default_item_kg": "1",
                "service_levels": "", "handling": "", "send_back": True, "active": True}
    return {"platform": connection.platform, "name": connection.name, "shop_url": connection.shop_url, "hub": connection.hub.code,
            "ref_prefix": connection.ref_prefix, "default_service_level": connection.default_service_level,
            "service_levels": shops.mapping_text(connection.service_levels), "handling": shops.mapping_text(connection.handling),
            "default_item_kg": connection.default_item_kg, "send_back": connection.send_back, "active": connection.active}


def _common(org: int) -> dict:
    return {"platforms": ShopPlatform.choices, "levels": ServiceLevel.choices, "hubs": Hub.objects.filter(organization_id=org).order_by("code"),
            "help": {p: m.CREDENTIALS_HELP for p, m in PLATFORMS.items()}}


@login_required
@require_http_methods(["GET", "POST"])
def shops_page(request):
    """The connected stores, and the form that connects one more."""
    org = org_for(request, "configure")
    context, status = {"errors": {}, "message": "", "form": _form(None)}, 200
    if request.method == "POST":
        try:
            connection = shops.shop_save(organization_id=org, values=request.POST)
            return redirect(reverse("shop-page", args=[connection.id]) + "?saved=1")
        except ValidationFailed as e:
            context.update(errors=e.errors, message=e.message, form=_form(None, request.POST))
            status = 400
    context["connections"] = ShopConnection.objects.filter(organization_id=org).select_related("hub").order_by("name")
    return render(request, "controltower/settings/shops.html", {**context, **_common(org)}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def shop_page(request, shop: int):
    """One store: where the shop sends its webhooks, its settings, what it sent and what went back."""
    org = org_for(request, "configure")
    connection = get_object_or_404(ShopConnection.objects.select_related("hub"), pk=shop, organization_id=org)
    context, status = {"errors": {}, "message": "Saved: the shop's next webhook is read with these settings." if request.GET.get("saved") else ""}, 200
    form = _form(connection)
    if request.method == "POST":
        action = request.POST.get("action", "save")
        try:
            if action == "save":
                form = _form(connection, request.POST)
                connection = shops.shop_save(organization_id=org, values=request.POST, connection_id=connection.id)
                return redirect(reverse("shop-page", args=[connection.id]) + "?saved=1")
            if action == "locate":
                lat, lon = float(request.POST.get("lat", "")), float(request.POST.get("lon", ""))
                shops.receipt_locate(organization_id=org, receipt_id=int(request.POST.get("receipt", "0")), lat=lat, lon=lon)
                context["message"] = "Placed: the order was taken again with those coordinates (its line below says how it went)."
            elif action == "retry":
                shops.receipt_retry(organization_id=org, receipt_id=int(request.POST.get("receipt", "0")))
                context["message"] = "Taken again: its line below says how it went."
            elif action == "resend":
                update = get_object_or_404(ShopUpdate, pk=int(request.POST.get("update", "0")), link__connection=connection)
                outcome = shops.shop_update_send(update_id=update.id, manual=True)
                context["message"] = {"sent": "Sent to the shop.", "retry": "The shop could not take it yet; it is tried again."}.get(
                    outcome, "The shop refused it again: the reason is on its line.")
            else:
                raise ValidationFailed("Unknown action", errors={"action": ["Use save, locate, retry or resend."]})
        except ValidationFailed as e:
            context["errors"], context["message"], status = e.errors, e.message, 400
        except Conflict as e:
            context["message"], status = e.message, 409
        except (ValueError, ShopWebhookReceipt.DoesNotExist):
            context["message"], status = "Enter the latitude and longitude as numbers (e.g. 41.8781 and -87.6298).", 400
    receipts = list(ShopWebhookReceipt.objects.filter(connection=connection).order_by("-received_at", "-id")[:SHOWN])
    updates = list(ShopUpdate.objects.filter(link__connection=connection).select_related("link", "link__order")
                   .order_by("-created_at", "-id")[:SHOWN])
    for row in receipts + updates:
        row.word = STATUS_WORDS.get(row.status, row.status)
    slug = Organization.objects.filter(pk=org).values_list("slug", flat=True).get()
    context.update(connection=connection, form=form, receipts=receipts, updates=updates,
                   waiting=ShopWebhookReceipt.objects.filter(connection=connection, status="needs_attention").count(),
                   webhook_url=request.build_absolute_uri(reverse("shop-webhook", args=[slug, connection.id])),
                   topics=("orders/create", "orders/updated", "orders/cancelled") if connection.platform == "shopify"
                   else ("order.created", "order.updated", "order.deleted"))
    return render(request, "controltower/settings/shop.html", {**context, **_common(org)}, status=status)
