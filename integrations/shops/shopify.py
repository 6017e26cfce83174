"""Shopify, from its documentation: webhooks (orders/create, orders/updated, orders/cancelled)
signed with X-Shopify-Hmac-Sha256 (base64 HMAC-SHA256 of the raw body with the app's secret) and
identified by X-Shopify-Webhook-Id; the order's REST shape; status back through the Admin REST
API: an order's fulfillment orders, a fulfillment with tracking info, and a "delivered" fulfillment
event, authenticated with X-Shopify-Access-Token. Its REST rate limit is a leaky bucket reported in
X-Shopify-Shop-Api-Call-Limit ("used/size", leaking 2 a second) and a 429 with Retry-After."""

from __future__ import annotations

from django.conf import settings

from . import http
from .common import Envelope, Item, NothingToDeliver, ShopOrder, ShopRefused, Unreadable, body_signature, number, verify_body, when

SIGNATURE = "X-Shopify-Hmac-Sha256"
TOPICS = {"orders/create": "create", "orders/updated": "update", "orders/cancelled": "cancel", "orders/delete": "cancel"}
CREDENTIALS_HELP = "the Admin API access token (shpat_...) of the store's app"


def verify(raw: bytes, headers, secret: str) -> None:
    verify_body(raw, headers, secret, SIGNATURE, "Shopify")


def sign(raw: bytes, secret: str) -> dict:
    """The headers Shopify sends with `raw` (used by the test shop)."""
    return {SIGNATURE: body_signature(raw, secret)}


def envelope(body, headers) -> Envelope:
    webhook_id = (headers.get("X-Shopify-Webhook-Id") or "").strip()
    topic = (headers.get("X-Shopify-Topic") or "").strip()
    if not webhook_id or not topic:
        raise Unreadable("Missing X-Shopify-Webhook-Id or X-Shopify-Topic header.")
    if not isinstance(body, dict) or body.get("id") in (None, ""):
        raise Unreadable("The body is not a Shopify order (no id).")
    return Envelope(webhook_id=webhook_id[:200], action=TOPICS.get(topic, "other"), topic=topic[:60], shop_order_id=str(body["id"])[:64])


def read_order(body: dict) -> ShopOrder:
    a = body.get("shipping_address") or {}
    if not isinstance(a, dict) or not a:
        raise NothingToDeliver("The order has no shipping address (a pickup in store or a digital order): nothing to deliver.")
    street = ", ".join(str(p).strip() for p in (a.get("address1"), a.get("address2")) if p and str(p).strip())
    place = " ".join(str(p).strip() for p in (a.get("zip"), a.get("city")) if p and str(p).strip())
    address = ", ".join(p for p in (street, place) if p)
    if not address:
        raise Unreadable("The shipping address has no street or city.")
    customer = body.get("customer") or {}
    name = (a.get("name") or " ".join(p for p in (a.get("first_name"), a.get("last_name")) if p)
            or " ".join(p for p in (customer.get("first_name"), customer.get("last_name")) if p) or "Customer")
    items = []
    for line in body.get("line_items") or []:
        if not isinstance(line, dict) or line.get("requires_shipping") is False:
            continue
        grams = number(line.get("grams"), f"Line item {line.get('sku') or line.get('title')}'s grams")
        items.append(Item(sku=str(line.get("sku") or ""), quantity=max(1, int(number(line.get("quantity"), "A quantity") or 1)),
                          kg=grams / 1000 if grams else None))
    if not items:
        raise NothingToDeliver("No line item of the order needs shipping: nothing to deliver.")
    shipping = [str(line.get(k)).strip().lower() for line in body.get("shipping_lines") or [] if isinstance(line, dict)
                for k in ("code", "title") if line.get(k)]
    notes = {str(n.get("name", "")).strip().lower(): n.get("value") for n in body.get("note_attributes") or [] if isinstance(n, dict)}
    start, end = when(notes.get("delivery_window_start")), when(notes.get("delivery_window_end"))
    number_ = str(body.get("order_number") or body.get("name") or body["id"]).lstrip("#")
    return ShopOrder(
        shop_order_id=str(body["id"]), name=str(body.get("name") or f"#{number_}"), number=number_, address=address[:300],
        lat=number(a.get("latitude"), "The shipping address's latitude"), lon=number(a.get("longitude"), "The shipping address's longitude"),
        customer_name=str(name)[:200], email=str(body.get("email") or body.get("contact_email") or customer.get("email") or ""),
        phone=str(a.get("phone") or body.get("phone") or customer.get("phone") or "")[:40], shipping=shipping, items=items,
        cancelled=bool(body.get("cancelled_at")), updated_at=when(body.get("updated_at")),
        window=(start, end) if start and end else None, instructions=str(body.get("note") or "")[:500],
    )


# --- status back to the shop -------------------------------------------------------------------


def _base(shop_url: str) -> str:
    return f"{shop_url.rstrip('/')}/admin/api/{settings.SHOPIFY_API_VERSION}"


def _pace(r) -> float:
    """Seconds to pause so the next call finds room in the bucket (it leaks 2 calls a second)."""
    try:
        used, size = (int(x) for x in r.headers.get("X-Shopify-Shop-Api-Call-Limit", "").split("/"))
    except ValueError:
        return 0.0
    return max(0.0, (used - (size - 4)) / 2)


def _headers(token: str) -> dict:
    if not token:
        raise ShopRefused("No Admin API access token is stored for this store: enter it under Settings → Shops.", retry=False)
    return {"X-Shopify-Access-Token": token, "Accept": "application/json"}


def ship(*, shop_url: str, credentials: str, shop_order_id: str, reference: str, tracking_url: str, company: str) -> str:
    """A fulfillment of what is still open on the order, with our tracking link; the fulfillment's
    id. Safe to repeat: when nothing is open any more (an earlier try got through), the existing
    fulfillment with our tracking number is found and its id returned."""
    base, headers = _base(shop_url), _headers(credentials)
    r = http.call("GET", f"{base}/orders/{shop_order_id}/fulfillment_orders.json", headers=headers, pace=_pace,
                  what="reading the order's fulfillment orders")
    orders = http.json_of(r, "fulfillment orders").get("fulfillment_orders") or []
    open_ = [fo for fo in orders if isinstance(fo, dict) and fo.get("status") in ("open", "in_progress", "scheduled")]
    if not open_:
        r = http.call("GET", f"{base}/orders/{shop_order_id}/fulfillments.json", headers=headers, pace=_pace, what="reading the order's fulfillments")
        for f in http.json_of(r, "fulfillments").get("fulfillments") or []:
            if isinstance(f, dict) and (f.get("tracking_number") == reference or reference in (f.get("tracking_numbers") or [])):
                return str(f["id"])
        raise ShopRefused("The shop has nothing open to fulfil on this order (fulfilled or cancelled in the shop).", retry=False)
    body = {"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]} for fo in open_],
                            "tracking_info": {"number": reference, "url": tracking_url, "company": company},
                            "notify_customer": True}}
    r = http.call("POST", f"{base}/fulfillments.json", headers=headers, json=body, pace=_pace, what="creating the fulfillment")
    fulfillment = http.json_of(r, "the fulfillment").get("fulfillment") or {}
    if not fulfillment.get("id"):
        raise ShopRefused("The shop's answer has no fulfillment id.", retry=True)
    return str(fulfillment["id"])


def delivered(*, shop_url: str, credentials: str, shop_order_id: str, fulfillment_id: str) -> None:
    base, headers = _base(shop_url), _headers(credentials)
    http.call("POST", f"{base}/orders/{shop_order_id}/fulfillments/{fulfillment_id}/events.json", headers=headers, pace=_pace,
              json={"event": {"status": "delivered"}}, what="marking the fulfillment delivered")
