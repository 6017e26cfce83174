"""Carrier adapters: one interface (base), one registry. Nothing outside this package names a carrier.

An adapter declares the operations it supports; calling another raises UnsupportedOperation
with a sentence a person can act on."""

from __future__ import annotations

from .base import (  # noqa: F401  (the package's interface)
    _REGISTRY,
    OPERATIONS,
    Adapter,
    BookingResult,
    CarrierError,
    Quote,
    UnsupportedOperation,
    register,
)


def adapter_for(carrier) -> Adapter:
    _load()
    try:
        return _REGISTRY[carrier.adapter](carrier)
    except KeyError:
        raise CarrierError(f"No adapter named {carrier.adapter!r} for carrier {carrier.code}; known: {', '.join(sorted(_REGISTRY))}") from None


def adapter_names() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def _load() -> None:
    from . import generic, manual, sandbox  # noqa: F401  (each registers itself)
