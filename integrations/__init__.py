"""The shop's and integrators' systems: outbound webhooks for integrators (`webhooks`), and where the
shop's order sources and compatible APIs live. Beside the carrier integration in the layers: it reads
and writes the domain core, and the engine and the edge use it."""
