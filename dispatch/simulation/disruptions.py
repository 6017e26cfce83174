"""Disruptions the simulator can inject into a day. Each is scheduled at a simulated minute
after the start and acts only through the public API, like the real world would.

Spec syntax on the command line: KIND:TARGET@START[+DURATION], minutes after the start, e.g.
  carrier_outage:GIG@60+90   vehicle_breakdown:N01@45   driver_no_show:W03@0
  not_home:0.3@30+60         traffic:CHI-W@30+60        demand_spike:40@90   demand_spike:80/CHI-W@90
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass
class Disruption:
    target: str
    start_min: float
    duration_min: float | None = None
    started: bool = False
    ended: bool = False

    def tick(self, sim, elapsed_min: float) -> None:
        if not self.started and elapsed_min >= self.start_min:
            self.started = True
            sim.log(f"disruption starts: {self.describe()}")
            self.begin(sim)
        if self.started and not self.ended and self.duration_min is not None and elapsed_min >= self.start_min + self.duration_min:
            self.ended = True
            sim.log(f"disruption ends: {self.describe()}")
            self.end(sim)

    def describe(self) -> str:
        return f"{self.kind} {self.target}"

    def begin(self, sim) -> None:
        raise NotImplementedError

    def end(self, sim) -> None:
        pass


class CarrierOutage(Disruption):
    """A carrier with an API (sandbox) goes down at the carrier, and the control tower has to notice;
    a manually dispatched carrier reports its outage through the availability API."""

    kind = "carrier_outage"

    def begin(self, sim):
        sim.carriers_down.add(self.target)
        if self.target in sim.api_carriers and sim.sandbox_url:
            httpx.post(f"{sim.sandbox_url}/_control/{self.target}/faults", json={"down": True}, timeout=5)
        else:
            sim.client.post(f"/api/carriers/{self.target}/availability/", {"health": "down", "reason": "Carrier reported an outage"})

    def end(self, sim):
        sim.carriers_down.discard(self.target)
        if self.target in sim.api_carriers and sim.sandbox_url:
            httpx.post(f"{sim.sandbox_url}/_control/{self.target}/faults", json={"down": False}, timeout=5)
        else:
            sim.client.post(f"/api/carriers/{self.target}/availability/", {"health": "up", "reason": "recovered"})


class VehicleBreakdown(Disruption):
    """The van stops on its route and its telemetry goes quiet; nobody reports it. The control
    tower has to notice the silence by itself."""

    kind = "vehicle_breakdown"

    def begin(self, sim):
        sim.stopped_vans.add(self.target)
        sim.silent_vans.add(self.target)

    def end(self, sim):
        sim.stopped_vans.discard(self.target)
        sim.silent_vans.discard(self.target)


class DriverNoShow(Disruption):
    """The van's driver never starts: no duty status, no pings."""

    kind = "driver_no_show"

    def begin(self, sim):
        sim.stopped_vans.add(self.target)
        sim.silent_vans.add(self.target)

    def end(self, sim):
        sim.stopped_vans.discard(self.target)
        sim.silent_vans.discard(self.target)


class NotHome(Disruption):
    """Raises the share of customers who are not home to TARGET (a probability)."""

    kind = "not_home"

    def begin(self, sim):
        sim.not_home_rate = float(self.target)

    def end(self, sim):
        sim.not_home_rate = sim.base_not_home_rate


class TrafficSlowdown(Disruption):
    """Vans near the named hub (or everywhere, with '*') drive at 40% of their speed."""

    kind = "traffic"

    def begin(self, sim):
        sim.slow_areas[self.target] = 0.4

    def end(self, sim):
        sim.slow_areas.pop(self.target, None)


class DemandSpike(Disruption):
    """TARGET extra orders arrive at once: "80" anywhere in the city, "80/CHI-W" all for one hub's
    area and the same window two hours ahead (a local promotion: beyond what was planned there)."""

    kind = "demand_spike"

    def begin(self, sim):
        count, _, hub = self.target.partition("/")
        sim.new_orders(int(count), hub=hub)


KINDS = {cls.kind: cls for cls in (CarrierOutage, VehicleBreakdown, DriverNoShow, NotHome, TrafficSlowdown, DemandSpike)}


def parse(spec: str) -> Disruption:
    try:
        kind, rest = spec.split(":", 1)
        target, when = rest.rsplit("@", 1)
        start, _, duration = when.partition("+")
        return KINDS[kind](target=target, start_min=float(start), duration_min=float(duration) if duration else None)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"Bad disruption {spec!r}: use KIND:TARGET@START[+DURATION] with KIND one of {', '.join(KINDS)}") from exc
