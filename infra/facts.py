"""Facts a lower layer records and the one higher layer that reacts to each.

The domain core must not import the layers above it, yet some of what it does needs them: an order
that changed status is told to its customer (the engine's customer messages) and to integrators'
webhooks (the integrations), a carrier booking that is no longer an order's home is cancelled with
the carrier (the carrier integration). So the domain declares each such fact as a typed dataclass
(`dispatch.facts`) and records it; the layer that owns the reaction subscribes to that type in its
AppConfig.ready. Every fact has exactly one subscriber (a second is refused, a fact recorded with
none raises, and tests/test_architecture.py checks that each declared fact has one), so
go-to-definition leads from the record to the type, and the type's one `subscribe` names the handler.

The handler runs at once, in the caller's transaction, as a direct call would."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar


@dataclass(frozen=True)
class Fact:
    """Base of every fact type: subclass it as a frozen dataclass."""


F = TypeVar("F", bound=Fact)
_subscribers: dict[type[Fact], Callable[[Fact], None]] = {}


def subscribe(fact_type: type[F], handler: Callable[[F], None]) -> None:
    """Make `handler` the one reaction to `fact_type` (again with the same handler: nothing changes)."""
    if not (isinstance(fact_type, type) and issubclass(fact_type, Fact)) or fact_type is Fact:
        raise TypeError(f"{fact_type!r} is not a fact type")
    current = _subscribers.get(fact_type)
    if current is not None and current is not handler:
        raise RuntimeError(f"{fact_type.__name__} already has its subscriber, {current.__module__}.{current.__qualname__}; "
                           "a fact has exactly one")
    _subscribers[fact_type] = handler


def record(fact: Fact) -> None:
    """React to `fact` now, through its one subscriber."""
    handler = _subscribers.get(type(fact))
    if handler is None:
        raise LookupError(f"Nothing subscribes to {type(fact).__name__}: its layer's AppConfig.ready must")
    handler(fact)


def subscriber_of(fact_type: type[Fact]) -> Callable | None:
    return _subscribers.get(fact_type)


def declared() -> list[type[Fact]]:
    """Every fact type defined so far (the modules that declare them are imported)."""
    found, todo = [], list(Fact.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")
