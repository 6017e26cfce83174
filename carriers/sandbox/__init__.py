"""A carrier sandbox: a separate server process that behaves like real carrier APIs.

    python -m carriers.sandbox --port 8100 --config sandbox.json

It hosts several carriers, each with its API key, zones, capacity per hour window, prices, lead
time and reliability, speaking one of two dialects: "native" (JSON, bearer key, /v1/...) and
"legacy" (different field names and status codes, X-Api-Key, /legacy/...). Bookings progress
over time and are reported back with signed webhooks. Failure modes are switched at run time:

    POST /_control/<code>/faults {"down": true, "slow_ms": 3000, "error_rate": 0.5, "reject": true,
                                  "capacity_exhausted": true, "webhooks": "stop"|"duplicate"|"out_of_order"|"normal"}
"""
