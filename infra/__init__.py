"""Cross-cutting infrastructure: the event bus to live screens (bus), work asked for after commit
(jobs), reliable Celery tasks and the dead-letter table, metrics, the channel layers, Redis, the
demo's in-process beat (ticker) and the test failpoints. It imports no domain package: the apps
that own events and metrics register them here when they start."""
