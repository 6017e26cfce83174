"""WooCommerce, from its documentation: webhooks (order.created, order.updated, order.deleted)
signed with X-WC-Webhook-Signature (base64 HMAC-SHA256 of the raw body with the webhook's secret),
each delivery identified by X-WC-Webhook-Delivery-ID, and a ping (`webhook_id=<id>`, form-encoded,
unsigned) when the webhook is saved; the order's REST (v3) shape; status back through the REST API
with the store's consumer key and secret (HTTP Basic): a note to the customer with the tracking
link, then the order completed. WooCommerce has no coordinates of its own: they are read from the
order's meta data where a checkout plugin puts them."""

from __future__ import annotations

from . import http
from .common import Envelope, Item, NothingToDeliver, ShopOrder, ShopRefused, Unreadable, body_signature, number, verify_body, when

SIGNATURE = "X-WC-Webhook-Signature"
TOPICS = {"order.created": "create", "order.updated": "update", "order.restored": "update", "order.deleted": "cancel"}
CANCELLED = {"cancelled", "refunded", "trash"}
UNPAID = {"pending", "on-hold", "failed", "checkout-draft"}
LAT_KEYS = ("_shipping_latitude", "shipping_latitude", "_shipping_lat", "latitude", "lat")
LON_KEYS = ("_shipping_longitude", "shipping_longitude", "_shipping_lng", "_shipping_lon", "longitude", "lng", "lon")
CREDENTIALS_HELP = "the REST API's consumer key and secret, as ck_...:cs_..."


def is_ping(raw: bytes, headers) -> bool:
    return not headers.get("X-WC-Webhook-Topic") and raw.strip().startswith(b"webhook_id=") and len(raw) < 100


def verify(raw: bytes, headers, secret: str) -> None:
    verify_body(raw, headers, secret, SIGNATURE, "WooCommerce")


def sign(raw: bytes, secret: str) -> dict:
    """The headers WooCommerce sends with `raw` (used by the test shop)."""
    return {SIGNATURE: body_signature(raw, secret)}


def envelope(body, headers) -> Envelope:
    delivery = (headers.get("X-WC-Webhook-Delivery-ID") or "").strip()
    topic = (headers.get("X-WC-Webhook-Topic") or "").strip()
    if not delivery or not topic:
        raise Unreadable("Missing X-WC-Webhook-Delivery-ID or X-WC-Webhook-Topic header.")
    if not isinstance(body, dict) or body.get("id") in (None, ""):
        raise Unreadable("The body is not a WooCommerce order (no id).")
    action = TOPICS.get(topic, "other")
    if action != "cancel" and str(body.get("status", "")) in CANCELLED:
        action = "cancel"
    return Envelope(webhook_id=delivery[:200], action=action, topic=topic[:60], shop_order_id=str(body["id"])[:64])


def _meta(entries) -> dict:
    return {str(m.get("key", "")).strip().lower(): m.get("value") for m in entries or [] if isinstance(m, dict)}


def read_order(body: dict) -> ShopOrder:
    status = str(body.get("status", ""))
    if status in UNPAID:
        raise NothingToDeliver(f"The order is '{status}' in the shop (not paid yet): it is taken once the shop marks it processing.")
    a = body.get("shipping") or {}
    if not isinstance(a, dict) or not (a.get("address_1") or a.get("city")):
        raise NothingToDeliver("The order has no shipping address: nothing to deliver.")
    street = ", ".join(str(p).strip() for p in (a.get("address_1"), a.get("address_2")) if p and str(p).strip())
    place = " ".join(str(p).strip() for p in (a.get("postcode"), a.get("city")) if p and str(p).strip())
    billing = body.get("billing") or {}
    meta = _meta(body.get("meta_data"))
    lat = next((meta[k] for k in LAT_KEYS if meta.get(k) not in (None, "")), None)
    lon = next((meta[k] for k in LON_KEYS if meta.get(k) not in (None, "")), None)
    items = []
    for line in body.get("line_items") or []:
        if not isinstance(line, dict):
            continue
        kg = number(_meta(line.get("meta_data")).get("weight"), f"Line item {line.get('sku') or line.get('name')}'s weight")
        items.append(Item(sku=str(line.get("sku") or ""), quantity=max(1, int(number(line.get("quantity"), "A quantity") or 1)), kg=kg))
    if not items:
        raise NothingToDeliver("The order has no line items: nothing to deliver.")
    shipping = [str(line.get(k)).strip().lower() for line in body.get("shipping_lines") or [] if isinstance(line, dict)
                for k in ("method_id", "method_title") if line.get(k)]
    name = " ".join(p for p in (a.get("first_name"), a.get("last_name")) if p) or \
        " ".join(p for p in (billing.get("first_name"), billing.get("last_name")) if p) or "Customer"
    start, end = when(meta.get("delivery_window_start")), when(meta.get("delivery_window_end"))
    number_ = str(body.get("number") or body["id"])
    modified = body.get("date_modified_gmt")
    return ShopOrder(
        shop_order_id=str(body["id"]), name=f"#{number_}", number=number_, address=", ".join(p for p in (street, place) if p)[:300],
        lat=number(lat, "The order's latitude (meta data)"), lon=number(lon, "The order's longitude (meta data)"),
        customer_name=str(name)[:200], email=str(billing.get("email") or ""), phone=str(a.get("phone") or billing.get("phone") or "")[:40],
        shipping=shipping, items=items, cancelled=status in CANCELLED,
        updated_at=when(f"{modified}+00:00" if modified and "+" not in str(modified) and not str(modified).endswith("Z") else modified),
        window=(start, end) if start and end else None, instructions=str(body.get("customer_note") or "")[:500],
    )


# --- status back to the shop -------------------------------------------------------------------


def _auth(credentials: str) -> tuple[str, str]:
    key, _, secret = credentials.partition(":")
    if not key or not secret:
        raise ShopRefused("No REST API key is stored for this store (ck_...:cs_...): enter it under Settings → Shops.", retry=False)
    return key, secret


def ship(*, shop_url: str, credentials: str, shop_order_id: str, reference: str, tracking_url: str, company: str) -> str:
    """A note to the customer with the tracking link (the note's id). Safe to repeat: a note that
    already carries the link is not written again."""
    base, auth = f"{shop_url.rstrip('/')}/wp-json/wc/v3/orders/{shop_order_id}", _auth(credentials)
    r = http.call("GET", f"{base}/notes", auth=auth, what="reading the order's notes")
    try:
        notes = r.json()
    except ValueError:
        notes = []
    for note in notes if isinstance(notes, list) else []:
        if isinstance(note, dict) and tracking_url in str(note.get("note", "")):
            return str(note.get("id", ""))
    r = http.call("POST", f"{base}/notes", auth=auth, what="adding the tracking note",
                  json={"note": f"Your order is out for delivery with {company} ({reference}). Track it: {tracking_url}",
                        "customer_note": True})
    return str(http.json_of(r, "the note").get("id", ""))


def delivered(*, shop_url: str, credentials: str, shop_order_id: str, fulfillment_id: str) -> None:
    base, auth = f"{shop_url.rstrip('/')}/wp-json/wc/v3/orders/{shop_order_id}", _auth(credentials)
    http.call("PUT", base, auth=auth, json={"status": "completed"}, what="completing the order")
