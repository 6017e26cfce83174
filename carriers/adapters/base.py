"""The adapter interface every carrier implements, its errors and canonical results, and the
registry adapters add themselves to.

An adapter declares the operations it supports; calling another raises UnsupportedOperation
with a sentence a person can act on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class CarrierError(Exception):
    """The carrier refused or failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False, code: str = "carrier_error"):
        super().__init__(message)
        self.retryable, self.code = retryable, code


class UnsupportedOperation(CarrierError):
    def __init__(self, adapter: str, operation: str):
        super().__init__(f"The {adapter} adapter does not support '{operation}'", code="unsupported_operation")


@dataclass(frozen=True)
class Quote:
    price: float
    promised_at: datetime


@dataclass(frozen=True)
class BookingResult:
    external_id: str
    price: float
    promised_at: datetime


OPERATIONS = ("quote", "book", "cancel", "track", "parse_webhook", "health_check")


class Adapter:
    name = "base"
    supports: frozenset[str] = frozenset()

    def __init__(self, carrier):
        self.carrier = carrier

    def _unsupported(self, operation: str):
        raise UnsupportedOperation(self.name, operation)

    def quote(self, *, order, now: datetime) -> Quote:
        self._unsupported("quote")

    def book(self, *, order, key: str, now: datetime) -> BookingResult:
        self._unsupported("book")

    def cancel(self, *, booking) -> None:
        self._unsupported("cancel")

    def track(self, *, booking) -> dict:
        self._unsupported("track")

    def parse_webhook(self, *, body: dict) -> list:
        """Canonical events (carriers.canonical.CarrierEvent) from one webhook body."""
        self._unsupported("parse_webhook")

    def webhook_event_id(self, *, body: dict) -> str:
        self._unsupported("parse_webhook")

    def health_check(self) -> bool:
        self._unsupported("health_check")


_REGISTRY: dict[str, type[Adapter]] = {}


def register(cls: type[Adapter]) -> type[Adapter]:
    _REGISTRY[cls.name] = cls
    return cls
