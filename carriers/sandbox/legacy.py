"""How an admin describes the sandbox's legacy dialect to the generic adapter (no code, only this
configuration); the demo and the tests use it."""

GENERIC_CONFIG = {
    "endpoints": {"book": {"method": "POST", "path": "/legacy/shipments"}, "cancel": {"method": "DELETE", "path": "/legacy/shipments/{external_id}"},
                  "track": {"method": "GET", "path": "/legacy/shipments/{external_id}"}, "health": {"method": "GET", "path": "/legacy/ping"}},
    "request": {"ref": "reference", "kg": "weight_kg", "level": "service_level", "origin.lat": "pickup_lat", "origin.lng": "pickup_lon",
                "dest.lat": "dropoff_lat", "dest.lng": "dropoff_lon", "from": "window_start", "dedupe": "key"},
    "response": {"external_id": "shipment.id", "price": "shipment.cost", "promised_at": "shipment.eta"},
    "webhook": {"event_id": "event.uuid", "order": "event.ref", "status": "event.code", "occurred_at": "event.ts", "eta": "event.new_eta"},
    "status_map": {"PU": "picked_up", "OFD": "out_for_delivery", "DLV": "delivered", "NH": "failed", "RTS": "returned", "ETA": "eta"},
    "reason_map": {"NH": "not_home"},
}
