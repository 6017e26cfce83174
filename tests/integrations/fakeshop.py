"""A local shop over real HTTP that speaks Shopify's and WooCommerce's documented shapes: it sends
signed webhooks like the platform does, and answers the Admin/REST calls the product makes back
(Shopify: fulfillment orders, fulfillments, fulfillment events, a leaky-bucket rate limit reported
in X-Shopify-Shop-Api-Call-Limit with a 429 and Retry-After when full; WooCommerce: order notes and
order updates, HTTP Basic with the consumer key and secret)."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from integrations.shops import shopify, woocommerce


class FakeShop:
    def __init__(self, platform: str, *, secret: str, token: str = "shpat_test", bucket: int = 40):
        self.platform, self.secret, self.token, self.bucket = platform, secret, token, bucket
        self.orders: dict[str, dict] = {}           # shop order id -> {"fulfillment_orders": [...], "fulfillments": [...], ...}
        self.calls: list[tuple[str, str]] = []
        self.used, self.leaked_at = 0.0, time.monotonic()
        self.throttle_next = 0                       # answer this many calls with 429 first
        self.lock = threading.Lock()
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body=None, headers=None):
                raw = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _handle(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                with shop.lock:
                    shop.calls.append((method, self.path))
                    status, out, headers = shop.route(method, self.path, self.headers, body)
                self._answer(status, out, headers)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_PUT(self):
                self._handle("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()

    # -- the platform's API ------------------------------------------------------------------

    def route(self, method, path, headers, body):
        if self.platform == "shopify":
            return self._shopify(method, path, headers, body)
        return self._woo(method, path, headers, body)

    def _bucket(self) -> dict:
        now = time.monotonic()
        self.used = max(0.0, self.used - 2 * (now - self.leaked_at))
        self.leaked_at = now
        return {"X-Shopify-Shop-Api-Call-Limit": f"{int(self.used)}/{self.bucket}"}

    def _shopify(self, method, path, headers, body):
        if headers.get("X-Shopify-Access-Token") != self.token:
            return 401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}, {}
        limit = self._bucket()
        if self.throttle_next or self.used + 1 > self.bucket:
            self.throttle_next = max(0, self.throttle_next - 1)
            return 429, {"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}, \
                {"Retry-After": "0.5", **limit}
        self.used += 1
        limit = self._bucket()
        m = re.fullmatch(r"/admin/api/[0-9-]+/orders/(\d+)/fulfillment_orders\.json", path)
        if m and method == "GET":
            return 200, {"fulfillment_orders": self.orders[m[1]]["fulfillment_orders"]}, limit
        m = re.fullmatch(r"/admin/api/[0-9-]+/orders/(\d+)/fulfillments\.json", path)
        if m and method == "GET":
            return 200, {"fulfillments": self.orders[m[1]]["fulfillments"]}, limit
        if re.fullmatch(r"/admin/api/[0-9-]+/fulfillments\.json", path) and method == "POST":
            f = body["fulfillment"]
            ids = {x["fulfillment_order_id"] for x in f["line_items_by_fulfillment_order"]}
            for order_id, order in self.orders.items():
                fos = [fo for fo in order["fulfillment_orders"] if fo["id"] in ids]
                if not fos:
                    continue
                if any(fo["status"] != "open" for fo in fos):
                    return 422, {"errors": ["Fulfillment order is not in an open state"]}, limit
                for fo in fos:
                    fo["status"] = "closed"
                info = f.get("tracking_info") or {}
                fulfillment = {"id": int(order_id) * 10 + len(order["fulfillments"]) + 1, "order_id": int(order_id), "status": "success",
                               "tracking_company": info.get("company"), "tracking_number": info.get("number"),
                               "tracking_numbers": [info.get("number")], "tracking_url": info.get("url"),
                               "notify_customer": f.get("notify_customer"), "events": []}
                order["fulfillments"].append(fulfillment)
                return 201, {"fulfillment": fulfillment}, limit
            return 404, {"errors": "Not Found"}, limit
        m = re.fullmatch(r"/admin/api/[0-9-]+/orders/(\d+)/fulfillments/(\d+)/events\.json", path)
        if m and method == "POST":
            f = next(x for x in self.orders[m[1]]["fulfillments"] if str(x["id"]) == m[2])
            f["events"].append(body["event"]["status"])
            return 201, {"fulfillment_event": {"id": len(f["events"]), "status": body["event"]["status"]}}, limit
        return 404, {"errors": "Not Found"}, limit

    def _woo(self, method, path, headers, body):
        expected = "Basic " + base64.b64encode(self.token.encode()).decode()
        if headers.get("Authorization") != expected:
            return 401, {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {"status": 401}}, {}
        m = re.fullmatch(r"/wp-json/wc/v3/orders/(\d+)/notes", path)
        if m and method == "GET":
            return 200, self.orders[m[1]]["notes"], {}
        if m and method == "POST":
            note = {"id": len(self.orders[m[1]]["notes"]) + 1, "note": body["note"], "customer_note": body.get("customer_note", False)}
            self.orders[m[1]]["notes"].append(note)
            return 201, note, {}
        m = re.fullmatch(r"/wp-json/wc/v3/orders/(\d+)", path)
        if m and method == "PUT":
            self.orders[m[1]]["status"] = body["status"]
            return 200, {"id": int(m[1]), "status": body["status"]}, {}
        return 404, {"code": "rest_no_route", "message": "No route was found matching the URL and request method."}, {}

    # -- the shop sends webhooks --------------------------------------------------------------

    def place(self, order: dict) -> None:
        with self.lock:
            self.orders[str(order["id"])] = {"fulfillment_orders": [{"id": int(order["id"]) * 100 + 1, "status": "open"}],
                                             "fulfillments": [], "notes": [], "status": order.get("status", "processing")}

    def webhook(self, endpoint: str, topic: str, order: dict, *, secret: str | None = None, delivery_id: str | None = None,
                tamper: bool = False) -> httpx.Response:
        raw = json.dumps(order).encode()
        platform = shopify if self.platform == "shopify" else woocommerce
        headers = platform.sign(raw, secret or self.secret)
        delivery_id = delivery_id or uuid.uuid4().hex
        if self.platform == "shopify":
            headers.update({"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": delivery_id, "X-Shopify-Shop-Domain": "test.myshopify.com",
                            "X-Shopify-API-Version": "2025-01"})
        else:
            headers.update({"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Delivery-ID": delivery_id, "X-WC-Webhook-Resource": "order",
                            "X-WC-Webhook-Event": topic.split(".")[1], "X-WC-Webhook-Source": self.url + "/"})
        if tamper:
            raw = raw.replace(b'"id": ', b'"id": 1', 1)  # another order id, under the original signature
        return httpx.post(endpoint, content=raw, headers={"Content-Type": "application/json", **headers}, timeout=10)


def shopify_order(n: int = 1001, *, lat=41.9, lon=-87.65, sku="BOOK-1", grams=1200, quantity=1, shipping="Local delivery",
                  address="12 Lake St", updated="2026-12-07T10:00:00-00:00", note_attributes=None, cancelled=False) -> dict:
    return {
        "id": 450789469000 + n, "name": f"#{n}", "order_number": n, "email": "ana@example.com", "phone": None,
        "created_at": "2026-12-07T09:58:00-00:00", "updated_at": updated, "cancelled_at": "2026-12-07T11:00:00-00:00" if cancelled else None,
        "financial_status": "paid", "total_weight": grams * quantity, "note": "Ring twice",
        "note_attributes": note_attributes or [],
        "customer": {"id": 1, "email": "ana@example.com", "first_name": "Ana", "last_name": "Ruiz", "phone": None},
        "shipping_address": {"first_name": "Ana", "last_name": "Ruiz", "name": "Ana Ruiz", "address1": address, "address2": "",
                             "city": "Chicago", "zip": "60601", "province": "Illinois", "country": "United States",
                             "phone": "+13125550100", "latitude": lat, "longitude": lon},
        "shipping_lines": [{"id": 1, "code": shipping, "title": shipping, "price": "5.00", "source": "shopify"}],
        "line_items": [{"id": 1, "sku": sku, "title": "A book", "quantity": quantity, "grams": grams, "requires_shipping": True,
                        "properties": []},
                       {"id": 2, "sku": "GIFT", "title": "Gift card", "quantity": 1, "grams": 0, "requires_shipping": False}],
    }


def woo_order(n: int = 727, *, status="processing", lat="41.91", lon="-87.64", address="5 Elm Ave", modified="2026-12-07T10:00:00") -> dict:
    meta = [{"id": 1, "key": "_shipping_latitude", "value": lat}, {"id": 2, "key": "_shipping_longitude", "value": lon}] if lat else []
    return {
        "id": n, "number": str(n), "status": status, "currency": "USD", "date_created_gmt": "2026-12-07T09:00:00",
        "date_modified_gmt": modified, "customer_note": "Leave with the concierge",
        "billing": {"first_name": "Bo", "last_name": "Lee", "email": "bo@example.com", "phone": "+13125550111"},
        "shipping": {"first_name": "Bo", "last_name": "Lee", "company": "", "address_1": address, "address_2": "Apt 3",
                     "city": "Chicago", "state": "IL", "postcode": "60602", "country": "US", "phone": ""},
        "shipping_lines": [{"id": 1, "method_id": "flat_rate", "method_title": "Same-day courier", "total": "9.00"}],
        "line_items": [{"id": 1, "name": "Chair", "sku": "BULK-CHAIR", "quantity": 2, "meta_data": [{"key": "weight", "value": "7.5"}]}],
        "meta_data": meta,
    }
