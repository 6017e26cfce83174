"""Orders from the shop, the same way for every platform: a webhook is verified on its raw body,
deduplicated on the shop's delivery id and kept as it arrived (the row is the outbox), answered at
once, and processed by a task: a new order is held to the rules the API applies to one order and made
by the same service, a change goes through the order's change service, a cancellation
through its cancellation. What we owe the shop back (the fulfillment with our tracking link when
the parcel leaves, then delivered) is recorded once per order and kind and sent by a task with no
transaction open."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from carriers import egress
from dispatch import clock, ports
from dispatch.errors import Conflict, DomainError, InvalidTransition, ValidationFailed
from dispatch.models import Hub, Order
from dispatch.selectors import scoped
from dispatch.services import ActorRef
from dispatch.services.orders import order_cancel, order_update, orders_create, windows_for_level
from dispatch.status import OrderStatus, ServiceLevel

from ..intake import order_check as _check
from ..models import ShopConnection, ShopOrderLink, ShopPlatform, ShopUpdate, ShopWebhookReceipt
from . import platform_of
from .common import NothingToDeliver, ShopOrder, ShopRefused, SignatureRefused, Unreadable

SKILLS = ("bulky", "regulated", "cold", "fragile")
# The window a shop order gets when the shop sends none: the first the service level can promise, this long.
WINDOW_MIN = {"express": 60, "same_day": 240, "scheduled": 120, "next_day": 480}
MAX_ATTEMPTS = 8
SHIPPED_ON = {OrderStatus.PICKED_UP, OrderStatus.OUT_FOR_DELIVERY}


def actor_for(connection: ShopConnection) -> ActorRef:
    return ActorRef.system(f"{ShopPlatform(connection.platform).label} {connection.name}")


# --- inbound --------------------------------------------------------------------------------------


def shop_webhook_receive(*, connection: ShopConnection, raw: bytes, headers) -> tuple[int, dict]:
    """(HTTP status, body). Nothing is stored or started unless the webhook is authentic and readable."""
    platform = platform_of(connection)
    if not connection.active:
        return 410, {"error": "disconnected", "message": "This store is disconnected in the control tower; remove the webhook in the shop."}
    if getattr(platform, "is_ping", None) and platform.is_ping(raw, headers):
        return 200, {"ping": True}
    secret = connection.webhook_secret
    if not secret:
        return 401, {"error": "no_secret", "message": "No webhook secret is stored for this store yet: enter it under Settings → Shops."}
    try:
        platform.verify(raw, headers, secret)
    except SignatureRefused as exc:
        return 401, {"error": "bad_signature", "message": str(exc)}
    try:
        body = json.loads(raw)
        env = platform.envelope(body, headers)
    except ValueError as exc:
        return 400, {"error": "malformed", "message": f"The body is not JSON: {exc}"}
    except Unreadable as exc:
        return 400, {"error": "malformed", "message": str(exc)}
    try:
        with transaction.atomic():
            receipt = ShopWebhookReceipt.objects.create(connection=connection, webhook_id=env.webhook_id, topic=env.topic,
                                                        action=env.action, shop_order_id=env.shop_order_id,
                                                        raw_body=raw.decode("utf-8", "replace"))
    except IntegrityError:
        return 200, {"duplicate": True, "webhook_id": env.webhook_id}
    ports.PROCESS_SHOP_WEBHOOK.start(receipt.id)
    return 202, {"accepted": env.webhook_id}


def shop_webhook_process(*, receipt_id: int) -> str:
    """Apply one receipt: 'processed', 'ignored' or 'needs_attention' (its result says why and what
    to do). Idempotent: a processed receipt is not applied again, and the shop's order maps to one
    of ours (ShopOrderLink, unique per shop order)."""
    with transaction.atomic():
        receipt = ShopWebhookReceipt.objects.select_for_update().select_related("connection", "connection__hub").get(pk=receipt_id)
        if receipt.status in ("processed", "ignored"):
            return receipt.status
        receipt.attempts += 1
        connection = receipt.connection
        link = (ShopOrderLink.objects.select_for_update().select_related("order")
                .filter(connection=connection, shop_order_id=receipt.shop_order_id).first())
        try:
            with transaction.atomic():
                status, result = _apply(receipt, connection, link)
        except NothingToDeliver as exc:
            status, result = "ignored", {"reason": str(exc)}
        except Unreadable as exc:
            status, result = "needs_attention", {"problem": str(exc)}
        except ValidationFailed as exc:
            status, result = "needs_attention", {"problem": exc.message, "errors": exc.errors}
        except DomainError as exc:
            status, result = "needs_attention", {"problem": exc.message}
        receipt.status, receipt.result = status, result
        receipt.save()
        return status


def _apply(receipt: ShopWebhookReceipt, connection: ShopConnection, link: ShopOrderLink | None) -> tuple[str, dict]:
    actor = actor_for(connection)
    if receipt.action == "other":
        return "ignored", {"reason": f"The topic {receipt.topic} is not one we act on."}
    body = json.loads(receipt.raw_body)
    if receipt.action == "cancel":
        return _cancel(link, actor, "cancelled in the shop")
    shop_order = platform_of(connection).read_order(body)
    if shop_order.cancelled:
        return _cancel(link, actor, "cancelled in the shop")
    if link and link.shop_updated_at and shop_order.updated_at and shop_order.updated_at < link.shop_updated_at:
        return "ignored", {"reason": "An older version of the order than the one already applied (webhooks arrive out of order)."}
    lat, lon = _place(connection, receipt, shop_order)
    data = _order_data(connection, shop_order, lat, lon)
    if link is None:
        _check(data, shop_order.warnings)
        [order] = orders_create(organization_id=connection.organization_id, orders=[dict(data, instructions=shop_order.instructions)],
                                actor=actor)
        ShopOrderLink.objects.create(connection=connection, shop_order_id=shop_order.shop_order_id, shop_order_name=shop_order.name,
                                     order=order, shop_updated_at=shop_order.updated_at)
        return "processed", {"order": order.external_ref, "created": True, "warnings": shop_order.warnings}
    _check(data, shop_order.warnings, new=False)
    changes = {k: data[k] for k in ("address", "lat", "lon", "weight_kg", "customer_name", "customer_email", "customer_phone")}
    changes["instructions"] = shop_order.instructions
    if shop_order.window:
        changes.update(window_start=shop_order.window[0], window_end=shop_order.window[1])
    order = link.order
    changes["requires"] = sorted(set(data["requires"]) | set(order.requires or []))  # what the order needed stays (the level's handling)
    try:
        updated = order_update(organization_id=connection.organization_id, order_id=order.id, changes=changes, actor=actor)
    except Conflict as exc:
        return "needs_attention", {"order": order.external_ref, "problem": f"Changed in the shop, not applied: {exc.message}"}
    link.shop_updated_at = shop_order.updated_at or link.shop_updated_at
    link.save(update_fields=["shop_updated_at"])
    return "processed", {"order": order.external_ref, "changed": updated.version != order.version or None}


def _cancel(link: ShopOrderLink | None, actor: ActorRef, reason: str) -> tuple[str, dict]:
    if link is None:
        return "ignored", {"reason": "Cancelled in the shop before we took it: nothing to cancel."}
    order = link.order
    if order.status == OrderStatus.CANCELLED:
        return "ignored", {"order": order.external_ref, "reason": "Already cancelled."}
    try:
        order_cancel(organization_id=order.organization_id, order_id=order.id, actor=actor, reason=reason)
    except InvalidTransition:
        return "needs_attention", {"order": order.external_ref,
                                   "problem": f"Cancelled in the shop, but the order is {OrderStatus(order.status).label.lower()}: "
                                              "call the driver or the carrier to bring it back."}
    return "processed", {"order": order.external_ref, "cancelled": True}


def _place(connection: ShopConnection, receipt: ShopWebhookReceipt, shop_order: ShopOrder) -> tuple[float, float]:
    """Where the address is: the shop's coordinates, else those a person gave for this receipt,
    else those of an earlier order of ours at the same address; otherwise the receipt waits for a
    person (Unreadable says so)."""
    if shop_order.lat is not None and shop_order.lon is not None and (shop_order.lat, shop_order.lon) != (0, 0):
        return shop_order.lat, shop_order.lon
    if receipt.location.get("lat") is not None:
        return float(receipt.location["lat"]), float(receipt.location["lon"])
    known = (Order.objects.filter(organization_id=connection.organization_id, address__iexact=shop_order.address)
             .exclude(lat=0, lon=0).order_by("-created_at").values_list("lat", "lon").first())
    if known:
        shop_order.warnings.append("Placed at the coordinates of an earlier order to the same address.")
        return known
    raise Unreadable(f"Cannot place “{shop_order.address}”: the shop sent no coordinates and no order of ours has gone to this "
                     "address. Enter its coordinates on this store's page (or have the checkout send them).")


def _order_data(connection: ShopConnection, shop_order: ShopOrder, lat: float, lon: float) -> dict:
    level = next((connection.service_levels[s] for s in shop_order.shipping if s in (connection.service_levels or {})),
                 connection.default_service_level)
    if level not in ServiceLevel.values:
        level = connection.default_service_level
    if shop_order.window:
        start, end = shop_order.window
    else:
        tomorrow = (timezone.localtime(clock.now()) + timedelta(days=1)).date() if level == ServiceLevel.NEXT_DAY else None
        offered = windows_for_level(connection.organization_id, level, length=timedelta(minutes=WINDOW_MIN[level]), count=1,
                                    not_before=tomorrow)
        if not offered:
            raise Unreadable(f"No {ServiceLevel(level).label.lower()} window can be promised in the next days.")
        start, end = offered[0]
    requires = set()
    for item in shop_order.items:
        for prefix, skills in (connection.handling or {}).items():
            if prefix and item.sku.upper().startswith(prefix.upper()):
                requires |= {s for s in (skills if isinstance(skills, list) else [skills]) if s in SKILLS}
    weight = sum((i.kg if i.kg is not None else connection.default_item_kg) * i.quantity for i in shop_order.items)
    return {"external_ref": reference(connection, shop_order), "hub": connection.hub.code, "address": shop_order.address,
            "lat": lat, "lon": lon, "window_start": start, "window_end": end, "service_level": level,
            "weight_kg": round(weight, 3), "requires": sorted(requires), "customer_name": shop_order.customer_name,
            "customer_email": shop_order.email, "customer_phone": shop_order.phone}


def reference(connection: ShopConnection, shop_order: ShopOrder) -> str:
    return re.sub(r"[^A-Za-z0-9._:\-]", "-", f"{connection.ref_prefix}{shop_order.number}")[:100]


# --- back to the shop -----------------------------------------------------------------------------


def on_order_status(*, organization_id: int, data: dict) -> None:
    """An order changed status (inside its transaction): when it is a shop's and leaves for the
    customer, or is delivered, record what the shop is owed and send it after commit."""
    to = data.get("to")
    if to not in SHIPPED_ON and to != OrderStatus.DELIVERED:
        return
    if not scoped(("shops", organization_id), lambda: ShopConnection.objects.filter(organization_id=organization_id).exists()):
        return
    link = (ShopOrderLink.objects.filter(connection__organization_id=organization_id, connection__send_back=True,
                                         order__external_ref=data.get("order")).first())
    if link is None:
        return
    for kind in ("shipped", "delivered") if to == OrderStatus.DELIVERED else ("shipped",):
        update, created = ShopUpdate.objects.get_or_create(link=link, kind=kind)
        if created:
            ports.SEND_TO_SHOP.start(update.id)


def shop_update_send(*, update_id: int, manual: bool = False) -> str:
    """One attempt: 'sent', 'retry' or 'failed'. The shop is called with no transaction open; the
    outcome is recorded under the row's lock. `delivered` waits until `shipped` is sent (the
    shop's fulfillment must exist first)."""
    update = ShopUpdate.objects.select_related("link", "link__connection", "link__order", "link__connection__organization").get(pk=update_id)
    if update.status == "sent" or (update.status == "failed" and not manual):
        return update.status
    link, connection = update.link, update.link.connection
    platform = platform_of(connection)
    remote_id, error, retry = link.remote_fulfillment_id, "", False
    try:
        if update.kind == "shipped":
            order = link.order
            remote_id = platform.ship(shop_url=connection.shop_url, credentials=connection.api_credentials,
                                      shop_order_id=link.shop_order_id, reference=order.external_ref,
                                      tracking_url=f"{settings.PUBLIC_BASE_URL}/track/{order.tracking_token}/",
                                      company=connection.organization.name)
        else:
            shipped = ShopUpdate.objects.filter(link=link, kind="shipped").first()
            if shipped is None or shipped.status != "sent":
                error, retry = "Waiting for the fulfillment to be sent first.", True
            else:
                platform.delivered(shop_url=connection.shop_url, credentials=connection.api_credentials,
                                   shop_order_id=link.shop_order_id, fulfillment_id=link.remote_fulfillment_id)
    except ShopRefused as exc:
        error, retry = exc.message, exc.retry
    with transaction.atomic():
        update = ShopUpdate.objects.select_for_update().get(pk=update_id)
        if update.status == "sent":
            return "sent"
        update.attempts += 1
        if not error:
            update.status, update.sent_at, update.error, update.next_attempt_at = "sent", clock.now(), "", None
            if update.kind == "shipped" and remote_id:
                ShopOrderLink.objects.filter(pk=link.pk).update(remote_fulfillment_id=remote_id[:64])
        elif retry and update.attempts < MAX_ATTEMPTS:
            update.status, update.error = "pending", error[:300]
            update.next_attempt_at = clock.now() + timedelta(seconds=min(3600, 10 * 3 ** (update.attempts - 1)))
        else:
            update.status, update.error, update.next_attempt_at = "failed", error[:300], None
        update.save()
        return {"sent": "sent", "pending": "retry"}.get(update.status, "failed")


# --- connecting a store ---------------------------------------------------------------------------


def _mapping(text: str, *, field: str, values: tuple[str, ...], many: bool) -> dict:
    """Lines 'key = value' (values separated by ',' when `many`) into a dict; errors name the line."""
    out, errors = {}, []
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            errors.append(f"Line {n}: write it as 'key = value'.")
            continue
        chosen = [v.strip() for v in value.split(",")] if many else [value]
        bad = [v for v in chosen if v not in values]
        if bad:
            errors.append(f"Line {n}: {', '.join(bad)} is not one of {', '.join(values)}.")
            continue
        out[key.lower() if not many else key] = chosen if many else chosen[0]
    if errors:
        raise ValidationFailed("The mapping cannot be read", errors={field: errors})
    return out


def mapping_text(mapping: dict) -> str:
    return "\n".join(f"{k} = {', '.join(v) if isinstance(v, list) else v}" for k, v in (mapping or {}).items())


@transaction.atomic
def shop_save(*, organization_id: int, values: dict, connection_id: int | None = None) -> ShopConnection:
    """Connect a store or change one. A blank secret or credentials field keeps what is stored."""
    errors: dict[str, list[str]] = {}
    if connection_id:
        connection = ShopConnection.objects.select_for_update().get(pk=connection_id, organization_id=organization_id)
    else:
        connection = ShopConnection(organization_id=organization_id)
        if values.get("platform") not in ShopPlatform.values:
            errors["platform"] = ["Choose Shopify or WooCommerce."]
        else:
            connection.platform = values["platform"]
    name = (values.get("name") or "").strip()[:100]
    if not name:
        errors["name"] = ["Name the store as your team calls it."]
    elif ShopConnection.objects.filter(organization_id=organization_id, name=name).exclude(pk=connection.pk).exists():
        errors["name"] = [f"A store called {name} is connected already."]
    url = (values.get("shop_url") or "").strip().rstrip("/")
    try:
        egress.check_url(url)
    except egress.UnsafeURL as exc:
        errors["shop_url"] = [f"{exc} (the store's address, e.g. https://your-store.myshopify.com)"]
    hub = Hub.objects.filter(organization_id=organization_id, code=(values.get("hub") or "").strip()).first()
    if hub is None:
        errors["hub"] = ["Choose the hub the store's parcels are picked up from."]
    prefix = (values.get("ref_prefix") or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9._:\-]{0,20}", prefix):
        errors["ref_prefix"] = ["Up to 20 letters, digits, '.', '_', ':' or '-'."]
    level = values.get("default_service_level") or ServiceLevel.NEXT_DAY
    if level not in ServiceLevel.values:
        errors["default_service_level"] = ["Choose a service level."]
    try:
        item_kg = float(values.get("default_item_kg") or 1.0)
        if not 0 < item_kg <= 500:
            raise ValueError
    except ValueError:
        errors["default_item_kg"] = ["A weight in kg, more than 0 and at most 500."]
        item_kg = 1.0
    mappings = {}
    for field, choices, many in (("service_levels", tuple(ServiceLevel.values), False), ("handling", SKILLS, True)):
        try:
            mappings[field] = _mapping(values.get(field, ""), field=field, values=choices, many=many)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    secret, credentials = (values.get("webhook_secret") or "").strip(), (values.get("api_credentials") or "").strip()
    if not connection.pk and not secret:
        errors["webhook_secret"] = ["The secret the shop signs its webhooks with (Shopify: the app's client secret)."]
    if credentials and connection.platform == ShopPlatform.WOOCOMMERCE and ":" not in credentials:
        errors["api_credentials"] = ["Enter the consumer key and secret as ck_...:cs_..."]
    if errors:
        raise ValidationFailed("The store is not saved; correct the fields marked", errors=errors)
    connection.name, connection.shop_url, connection.hub, connection.ref_prefix = name, url, hub, prefix
    connection.default_service_level, connection.default_item_kg = level, item_kg
    connection.service_levels, connection.handling = mappings["service_levels"], mappings["handling"]
    connection.send_back = bool(values.get("send_back"))
    connection.active = bool(values.get("active", True))
    if secret:
        connection.webhook_secret = secret
    if credentials:
        connection.api_credentials = credentials
    connection.save()
    return connection


@transaction.atomic
def receipt_locate(*, organization_id: int, receipt_id: int, lat: float, lon: float) -> ShopWebhookReceipt:
    """A person placed an address the shop did not: the receipt is processed again with it."""
    receipt = ShopWebhookReceipt.objects.select_for_update().get(pk=receipt_id, connection__organization_id=organization_id)
    if receipt.status != "needs_attention":
        raise Conflict("This webhook is not waiting for anything any more.", current=receipt.status)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat, lon) == (0, 0):
        raise ValidationFailed("Those are not coordinates of an address", errors={"lat": ["Latitude -90..90 and longitude -180..180."]})
    receipt.location, receipt.status = {"lat": lat, "lon": lon}, "pending"
    receipt.save(update_fields=["location", "status"])
    ports.PROCESS_SHOP_WEBHOOK.start(receipt.id)
    return receipt


@transaction.atomic
def receipt_retry(*, organization_id: int, receipt_id: int) -> ShopWebhookReceipt:
    receipt = ShopWebhookReceipt.objects.select_for_update().get(pk=receipt_id, connection__organization_id=organization_id)
    if receipt.status != "needs_attention":
        raise Conflict("This webhook is not waiting for anything any more.", current=receipt.status)
    receipt.status = "pending"
    receipt.save(update_fields=["status"])
    ports.PROCESS_SHOP_WEBHOOK.start(receipt.id)
    return receipt
