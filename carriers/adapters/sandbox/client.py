"""HTTP calls to the sandbox's native API. Nothing but requests and responses."""

from __future__ import annotations

from ... import http


class SandboxClient:
    def __init__(self, carrier):
        self.carrier = carrier
        cfg = carrier.config or {}
        self.base = cfg.get("base_url", "").rstrip("/")
        self.headers = {"Authorization": f"Bearer {cfg.get('api_key', '')}"}

    def _url(self, path: str) -> str:
        return f"{self.base}/v1/{path}"

    def quote(self, payload: dict):
        return http.request(self.carrier, "quote", "POST", self._url("quotes"), json=payload, headers=self.headers)

    def book(self, payload: dict, key: str):
        return http.request(self.carrier, "book", "POST", self._url("bookings"), json=payload,
                            headers={**self.headers, "Idempotency-Key": key})

    def cancel(self, external_id: str):
        return http.request(self.carrier, "cancel", "DELETE", self._url(f"bookings/{external_id}"), headers=self.headers)

    def get(self, external_id: str):
        return http.request(self.carrier, "track", "GET", self._url(f"bookings/{external_id}"), headers=self.headers)

    def health(self):
        return http.request(self.carrier, "health", "GET", self._url("health"), headers=self.headers)
