"""Orders from the shop: each platform's module (verify a webhook, read its order, send status
back) behind one shape, picked by the connection's platform; `service` does the rest the same way
for every shop."""

from __future__ import annotations

from types import ModuleType

from . import shopify, woocommerce

PLATFORMS: dict[str, ModuleType] = {"shopify": shopify, "woocommerce": woocommerce}


def platform_of(connection) -> ModuleType:
    return PLATFORMS[connection.platform]
