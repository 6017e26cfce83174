"""What every shop platform's module returns: a webhook's envelope and the shop's order, read into
plain data (no database), and the errors a platform's module raises."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime


class SignatureRefused(Exception):
    """The webhook is not the shop's: the message says why (missing, wrong secret, altered body)."""


class Unreadable(Exception):
    """The webhook is authentic but not an order we can read: the message says what is missing."""


class NothingToDeliver(Unreadable):
    """An authentic order that is not ours to deliver (yet): not paid, or nothing ships."""


class ShopRefused(Exception):
    """The shop's API refused or could not be reached. `retry` says whether trying later may help."""

    def __init__(self, message: str, *, retry: bool):
        super().__init__(message)
        self.message, self.retry = message, retry


@dataclass(frozen=True)
class Envelope:
    webhook_id: str
    action: str        # create, update, cancel, ping (answered, nothing stored), other (stored as ignored)
    topic: str         # as the shop named it
    shop_order_id: str


@dataclass(frozen=True)
class Item:
    sku: str
    quantity: int
    kg: float | None   # per item, None when the shop did not say


@dataclass
class ShopOrder:
    shop_order_id: str
    name: str                      # what the shop shows (#1001)
    number: str                    # what our reference is made of
    address: str
    lat: float | None
    lon: float | None
    customer_name: str
    email: str
    phone: str
    shipping: list[str]            # the shipping lines' codes and titles, lower case
    items: list[Item]
    cancelled: bool
    updated_at: datetime | None
    window: tuple[datetime, datetime] | None = None
    instructions: str = ""
    warnings: list[str] = field(default_factory=list)


def number(value, what: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise Unreadable(f"{what} is not a number: {str(value)[:40]!r}.") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise Unreadable(f"{what} is not a number: {value!r}.")
    return out


def when(value) -> datetime | None:
    if not value:
        return None
    try:
        out = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return out if out.tzinfo else None


def retry_after(headers, default: float = 2.0) -> float:
    try:
        return max(0.0, min(60.0, float(headers.get("Retry-After", default))))
    except (TypeError, ValueError):
        return default


def body_signature(raw: bytes, secret: str) -> str:
    """Base64 of the HMAC-SHA256 of the raw body: how Shopify and WooCommerce both sign webhooks."""
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def verify_body(raw: bytes, headers, secret: str, header: str, platform: str) -> None:
    given = headers.get(header)
    if not given:
        raise SignatureRefused(f"Missing {header} header: only {platform}'s signed webhooks are taken.")
    if not hmac.compare_digest(body_signature(raw, secret), given.strip()):
        raise SignatureRefused(f"{header} does not match the body with this store's secret (a wrong secret, or an altered body).")
