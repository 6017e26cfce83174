"""The canonical vocabulary every adapter maps into."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

STATUSES = ("picked_up", "out_for_delivery", "delivered", "failed", "returned", "eta")
FAILURE_REASONS = ("not_home", "refused", "address_problem", "damaged", "other")


class UnknownStatus(ValueError):
    """A carrier code with no mapping: raised as an alert for an admin, never silently dropped."""

    def __init__(self, code: str, kind: str = "status"):
        super().__init__(f"Unknown carrier {kind} code {code!r}: add it to the carrier's {kind} mapping")
        self.code, self.kind = code, kind


class MalformedPayload(ValueError):
    pass


@dataclass(frozen=True)
class CarrierEvent:
    event_id: str
    order_ref: str
    status: str
    failure_reason: str = ""
    occurred_at: datetime | None = None
    eta: datetime | None = None
    raw_status: str = ""
    proof: tuple = ()  # proof of delivery the carrier collected: ({"kind": ..., ...}, ...)


def map_code(code: str, mapping: dict[str, str], kind: str = "status") -> str:
    if code in mapping:
        return mapping[code]
    raise UnknownStatus(code, kind)
