"""Webhook signatures, both ways: HMAC-SHA256 over "<timestamp>.<raw body>", sent as
`Webhook-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`. A receiver accepts a signature made
with any of its active secrets (two during a rotation) within a 5-minute window."""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Webhook-Signature"
TOLERANCE_S = 300


class SignatureError(Exception):
    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.status = status


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(body: bytes, header: str | None, secrets: list[str], now: float | None = None) -> int:
    """Returns the signed timestamp, or raises SignatureError with a reason."""
    if not header:
        raise SignatureError(f"Missing {HEADER} header")
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k.strip() == "t"]
    macs = [v.strip() for k, v in parts if k.strip() == "v1"]
    if len(stamps) != 1 or not macs:
        raise SignatureError(f"Malformed {HEADER} header: expected t=<seconds>,v1=<hex>")
    try:
        t = int(stamps[0])
    except ValueError:
        raise SignatureError("The signature timestamp is not a number") from None
    now = time.time() if now is None else now
    if abs(now - t) > TOLERANCE_S:
        raise SignatureError(f"The signature timestamp is {int(now - t)} s off; at most {TOLERANCE_S} s is accepted")
    for secret in secrets:
        expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, m) for m in macs):
            return t
    raise SignatureError("The signature does not match the body with any active secret")
