from __future__ import annotations

from dispatch.models import Event

from . import ActorRef


def event_record(*, organization_id: int, kind: str, actor: ActorRef, order=None, vehicle=None,
                 carrier=None, data: dict | None = None) -> Event:
    return Event.objects.create(
        organization_id=organization_id, kind=kind, order=order, vehicle=vehicle, carrier=carrier,
        actor_type=actor.type, actor=actor.name, data=data or {},
    )
