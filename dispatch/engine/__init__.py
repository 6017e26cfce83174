"""The orchestration engine: detectors notice where reality left the plan (detectors), the
planning bridge turns the database into a planner problem and proposals (bridge), new orders are
placed as they arrive (placement), and decisions are applied, overridden or rejected (decisions).
It sits above the carrier integration and the domain core, and below the edge (views, API,
tasks, commands)."""
