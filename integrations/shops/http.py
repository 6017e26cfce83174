"""Calls to a shop's API: only to checked URLs (carriers.egress), a 429 waited out as its
Retry-After says (a few times, within a bound), a rate-limit header that says the bucket is nearly
full honoured by pausing before the next call, and every refusal turned into ShopRefused with a
sentence and whether trying later may help."""

from __future__ import annotations

import time

import httpx

from carriers import egress

from .common import ShopRefused, retry_after

TRIES = 4
MAX_WAIT_S = 20.0
TIMEOUT = httpx.Timeout(15, connect=5)


def call(method: str, url: str, *, what: str, pace=None, **kwargs) -> httpx.Response:
    """One logical call. `pace(response)` returns seconds to pause after a success (the platform's
    rate-limit headers), `what` names the call in errors ("creating the fulfillment")."""
    waited = 0.0
    for attempt in range(TRIES):
        try:
            r = egress.request(method, url, timeout=TIMEOUT, **kwargs)
        except egress.UnsafeURL as exc:
            raise ShopRefused(f"Not called while {what}: {exc}", retry=False) from None
        except httpx.HTTPError as exc:
            raise ShopRefused(f"The shop could not be reached while {what} ({type(exc).__name__}).", retry=True) from None
        if r.status_code == 429:
            wait = retry_after(r.headers)
            if attempt == TRIES - 1 or waited + wait > MAX_WAIT_S:
                raise ShopRefused(f"The shop's rate limit held us back while {what}; trying again later.", retry=True)
            time.sleep(wait)
            waited += wait
            continue
        if r.status_code >= 500:
            raise ShopRefused(f"The shop answered {r.status_code} while {what}; trying again later.", retry=True)
        if r.status_code in (401, 403):
            raise ShopRefused(f"The shop refused our credentials while {what} (HTTP {r.status_code}): enter the store's API "
                              "credentials again under Settings → Shops.", retry=False)
        if r.status_code >= 400:
            raise ShopRefused(f"The shop refused {what} (HTTP {r.status_code}): {_reason(r)}", retry=False)
        pause = pace(r) if pace else 0.0
        if pause > 0:
            time.sleep(min(pause, 5.0))
        return r
    raise ShopRefused(f"The shop's rate limit held us back while {what}; trying again later.", retry=True)


def _reason(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:150]
    if isinstance(body, dict):
        for key in ("errors", "error", "message"):
            if key in body:
                return str(body[key])[:150]
    return str(body)[:150]


def json_of(r: httpx.Response, what: str) -> dict:
    try:
        body = r.json()
    except ValueError:
        raise ShopRefused(f"The shop's answer to {what} is not JSON.", retry=True) from None
    if not isinstance(body, dict):
        raise ShopRefused(f"The shop's answer to {what} is not a JSON object.", retry=True)
    return body
