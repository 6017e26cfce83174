"""HTTP calls for a configured REST carrier: endpoints and authentication come from its config."""

from __future__ import annotations

import base64

from ... import http


class GenericClient:
    def __init__(self, carrier):
        self.carrier = carrier
        self.config = carrier.config or {}
        self.base = self.config.get("base_url", "").rstrip("/")

    def headers(self) -> dict:
        auth = self.config.get("auth", {})
        kind = auth.get("type")
        if kind == "header":
            return {auth["name"]: auth["value"]}
        if kind == "bearer":
            return {"Authorization": f"Bearer {auth['token']}"}
        if kind == "basic":
            return {"Authorization": "Basic " + base64.b64encode(f"{auth['user']}:{auth['password']}".encode()).decode()}
        return {}

    def call(self, operation: str, *, json=None, **path_vars):
        endpoint = self.config.get("endpoints", {})[operation]
        path = endpoint["path"].format(**path_vars)
        idempotent = endpoint["method"].upper() in ("GET", "DELETE", "PUT") or operation == "book"
        return http.request(self.carrier, operation, endpoint["method"].upper(), self.base + path, json=json,
                            headers=self.headers(), idempotent=idempotent)
