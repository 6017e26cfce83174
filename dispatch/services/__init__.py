"""Every write in the domain core. Keyword-only arguments, one transaction each, events
published and tasks enqueued on commit."""

from dataclasses import dataclass

from dispatch.status import Actor


@dataclass(frozen=True)
class ActorRef:
    """Who or what caused a change; recorded in the event log."""

    type: str
    name: str

    @classmethod
    def system(cls, name: str = "control-tower") -> "ActorRef":
        return cls(Actor.SYSTEM, name)

    @classmethod
    def customer(cls, how: str = "tracking page") -> "ActorRef":
        return cls(Actor.CUSTOMER, how)

    @classmethod
    def user(cls, user) -> "ActorRef":
        return cls(Actor.USER, user.get_username())
