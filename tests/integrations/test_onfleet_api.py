"""A shop's day through Onfleet's own Python client (pyonfleet 1.6.0, unmodified): its base URL
points at the live test server's /onfleet/api/v2, nothing else changes. Tasks are created one and
in a batch, listed, read, updated, auto-assigned to the van of a driver on shift, completed, failed
and deleted; workers, teams, hubs and the organization are read; a webhook registered with
Onfleet's ?check= handshake receives signed deliveries (X-Onfleet-Signature, HMAC-SHA512 with the
hex secret) in Onfleet's shape. Another organization's ids read as missing, errors come in
Onfleet's shape with its codes, and the rate limit answers 429 with error 2300."""

import base64
import hashlib
import hmac
import json
import threading
from concurrent.futures import ThreadPoolExecutor
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import onfleet.config
import onfleet.onfleet
import onfleet.request
import pytest
from django.utils import timezone
from onfleet import Onfleet
from onfleet.error import HttpError, ValidationError

from dispatch import clock
from dispatch.models import Event, Order
from dispatch.services import ActorRef
from dispatch.services.fleet import driver_set_status
from integrations.models import OnfleetAccount
from tests.factories import DriverFactory, FleetFactory, HubFactory, OrderFactory, OrganizationFactory, ShiftFactory, VehicleFactory, api_token

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    """An integrator's webhook endpoint: echoes Onfleet's ?check= and keeps what it is sent."""

    def __init__(self):
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                check = parse_qs(urlsplit(self.path).query).get("check", [""])[0].encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(check)))
                self.end_headers()
                self.wfile.write(check)

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((body, self.headers.get("X-Onfleet-Signature")))
                self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/onfleet-hook"


@pytest.fixture
def day(org, hub, live_server, settings, monkeypatch):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    base = f"{live_server.url}/onfleet/api/v2"
    for module in (onfleet.config, onfleet.request, onfleet.onfleet):  # the one setting an integrator changes (each module holds a copy)
        monkeypatch.setattr(module, "API_BASE_URL", base)
    fleet = FleetFactory(organization=org, hub=hub, name="North team")
    van = VehicleFactory(fleet=fleet, code="VAN-N1", lat=hub.lat, lon=hub.lon, capacity_kg=800)
    driver = DriverFactory(organization=org, name="Kim Driver", phone="+13125550199")
    ShiftFactory(driver=driver, vehicle=van, started_at=timezone.now())
    receiver = Receiver()
    yield {"api": Onfleet(api_key=api_token(org)), "live": live_server.url, "receiver": receiver, "van": van, "driver": driver,
           "fleet": fleet, "org": org, "hub": hub}
    receiver.server.shutdown()


def paced(fn, *args, **kwargs):
    time.sleep(0.06)  # pyonfleet's own client-side limit is 20 calls a second
    return fn(*args, **kwargs)


def task_body(ref, lon=-87.65, lat=41.9, minutes=30, **extra):
    start = clock.now() + timedelta(minutes=minutes)
    return {"destination": {"address": {"unparsed": f"{ref} Lake St, Chicago"}, "location": [lon, lat]},
            "recipients": [{"name": f"Customer {ref}", "phone": "+13125550100"}], "notes": "Ring twice",
            "completeAfter": int(start.timestamp() * 1000), "completeBefore": int((start + timedelta(hours=2)).timestamp() * 1000),
            "metadata": [{"name": "external_ref", "type": "string", "value": ref}], **extra}


def test_a_shops_day_through_the_unmodified_onfleet_client(day):
    api, receiver, org = day["api"], day["receiver"], day["org"]
    assert "authenticated" in paced(api.auth_test)["message"]
    hooks = {name: paced(api.webhooks.create, body={"url": receiver.url, "trigger": trigger, "name": name})
             for name, trigger in (("created", 6), ("assigned", 9), ("completed", 3), ("failed", 4), ("deleted", 8), ("updated", 7),
                                   ("duty", 5))}
    assert {h["trigger"] for h in hooks.values()} == {6, 9, 3, 4, 8, 7, 5} and all(h["isEnabled"] for h in hooks.values())
    assert len(paced(api.webhooks.get)) == 7

    one = paced(api.tasks.create, body=task_body("ACME-1"))
    batch = paced(api.tasks.batchCreate, body={"tasks": [task_body("ACME-2"), task_body("ACME-3"),
                                                         {"destination": {"address": {"unparsed": "Nowhere"}}}]})

    assert one["state"] == 0 and one["destination"]["location"] == [-87.65, 41.9] and one["recipients"][0]["name"] == "Customer ACME-1"
    assert [t["metadata"][0]["value"] for t in batch["tasks"]] == ["ACME-2", "ACME-3"]
    assert batch["errors"][0]["index"] == 2 and batch["errors"][0]["errorCode"] == 1000
    assert Order.objects.filter(organization=org, external_ref__startswith="ACME-").count() == 3
    since = int((clock.now() - timedelta(minutes=5)).timestamp() * 1000)
    listed = paced(api.tasks.get, queryParams={"from": since})
    assert {t["id"] for t in listed["tasks"]} == {one["id"], *(t["id"] for t in batch["tasks"])} and "lastId" not in listed
    assert paced(api.tasks.get, one["id"])["shortId"] == one["shortId"]
    assert paced(api.tasks.get, shortId=one["shortId"])["id"] == one["id"]
    updated = paced(api.tasks.update, one["id"], body={"notes": "Gate code 1234"})
    assert updated["notes"] == "Gate code 1234" and Order.objects.get(external_ref="ACME-1").instructions == "Gate code 1234"

    ids = [one["id"], *(t["id"] for t in batch["tasks"])]
    assigned = paced(api.tasks.autoAssign, body={"tasks": ids, "options": {"mode": "distance"}})
    worker_id = paced(api.workers.get)[0]["id"]
    assert assigned["assignedTasksCount"] == 3 and set(assigned["assignedTasks"].values()) == {worker_id}

    worker = paced(api.workers.get, worker_id)
    assert worker["name"] == "Kim Driver" and worker["vehicle"]["description"] == "VAN-N1" and set(worker["tasks"]) == set(ids)
    assert {t["id"] for t in paced(api.workers.getTasks, worker_id)["tasks"]} == set(ids)
    assert paced(api.workers.getSchedule, worker_id)["entries"][0]["shifts"]
    near = paced(api.workers.getByLocation, queryParams={"longitude": day["hub"].lon, "latitude": day["hub"].lat, "radius": 2000})
    assert [w["id"] for w in near["workers"]] == [worker_id]
    [team] = paced(api.teams.get)
    assert team["name"] == "North team" and team["workers"] == [worker_id]
    assert paced(api.teams.get, team["id"])["hub"] == paced(api.hubs.get)[0]["id"]
    assert {t["id"] for t in paced(api.teams.getTasks, team["id"])["tasks"]} == set(ids)
    eta = paced(api.teams.getWorkerEta, team["id"], queryParams={"dropoffLocation": "-87.66,41.91"})
    assert eta["workerId"] == worker_id and eta["estimate"] > 0
    assert paced(api.organization.get)["name"] == org.name

    assert paced(api.tasks.forceComplete, ids[0], body={"completionDetails": {"success": True, "notes": "Left with doorman"}}) == 200
    assert paced(api.tasks.forceComplete, ids[1], body={"completionDetails": {"success": False, "notes": "Nobody home"}}) == 200
    assert paced(api.tasks.deleteOne, ids[2]) == 200
    assert [Order.objects.get(external_ref=r).status for r in ("ACME-1", "ACME-2", "ACME-3")][0::2] == ["delivered", "cancelled"]
    # failed: the tower raises the failed delivery and places it again, as for any failed attempt
    assert Event.objects.filter(order__external_ref="ACME-2", kind="order.status", data__to="failed").exists()
    with pytest.raises(HttpError) as gone:
        paced(api.tasks.get, ids[2])
    assert gone.value.status == 1402
    clone = paced(api.tasks.clone, ids[0])
    assert clone["id"] not in ids and clone["destination"]["location"] == [-87.65, 41.9]

    driver_set_status(driver_id=day["driver"].pk, status="on_duty", actor=ActorRef.system("tests"))  # the driver goes on duty

    recipient = paced(api.recipients.create, body={"name": "Ana Ruiz", "phone": "+13125550177"})
    assert paced(api.recipients.get, name="Ana Ruiz")["id"] == recipient["id"]
    assert paced(api.recipients.get, phone="+13125550177")["id"] == recipient["id"]
    destination = paced(api.destinations.create, body={"address": {"unparsed": "1 Main St"}, "location": [-87.6, 41.88]})
    assert paced(api.destinations.get, destination["id"])["location"] == [-87.6, 41.88]
    assert paced(api.webhooks.deleteOne, hooks["deleted"]["id"]) == 200

    secret = OnfleetAccount.objects.get(organization=org).webhook_secret
    events = []
    for body, signature in receiver.received:
        assert hmac.compare_digest(signature, hmac.new(bytes.fromhex(secret), body, hashlib.sha512).hexdigest())
        events.append(json.loads(body))
    by_trigger = {}
    for e in events:
        by_trigger.setdefault(e["triggerName"], set()).add(e["taskId"])
    assert by_trigger["taskCreated"] >= set(ids) and by_trigger["taskAssigned"] == set(ids)
    assert by_trigger["taskCompleted"] == {ids[0]} and by_trigger["taskFailed"] == {ids[1]} and by_trigger["taskDeleted"] == {ids[2]}
    assert one["id"] in by_trigger["taskUpdated"]
    duty = [e for e in events if e["triggerName"] == "workerDuty"]
    assert [e["workerId"] for e in duty] == [worker_id] and duty[0]["data"]["worker"]["name"] == "Kim Driver"
    completed = next(e for e in events if e["triggerName"] == "taskCompleted")
    assert completed["triggerId"] == 3 and completed["data"]["task"]["state"] == 3 and completed["data"]["task"]["completionDetails"]["success"]


def test_errors_come_in_onfleets_shape_and_another_organizations_ids_do_not_exist(day):
    api, org = day["api"], day["org"]
    theirs = OrganizationFactory()
    foreign = OrderFactory(hub=HubFactory(organization=theirs), external_ref="THEIRS-1")
    from integrations.onfleet.shapes import oid

    with pytest.raises(HttpError) as missing:
        paced(api.tasks.get, oid("task", foreign.pk))
    assert missing.value.status == 1402 and "THEIRS" not in missing.value.message
    with pytest.raises(ValidationError) as invalid:
        paced(api.tasks.create, body={"recipients": [{"name": "X"}]})
    assert invalid.value.status in range(1000, 1013) and "destination" in invalid.value.message
    with pytest.raises(ValidationError):
        paced(api.tasks.create, body=task_body("BAD-1", lon=500))
    assert not Order.objects.filter(organization=org, external_ref="BAD-1").exists()

    base = f"{day['live']}/onfleet/api/v2"
    their_fleet = FleetFactory(organization=theirs, hub=foreign.hub)
    their_driver = DriverFactory(organization=theirs)
    ShiftFactory(driver=their_driver, vehicle=VehicleFactory(fleet=their_fleet), started_at=timezone.now())
    probes = [("GET", f"tasks/{oid('task', foreign.pk)}"), ("PUT", f"tasks/{oid('task', foreign.pk)}"),
              ("DELETE", f"tasks/{oid('task', foreign.pk)}"), ("POST", f"tasks/{oid('task', foreign.pk)}/clone"),
              ("POST", f"tasks/{oid('task', foreign.pk)}/complete"), ("GET", f"tasks/shortId/{foreign.pk:08x}"),
              ("GET", f"destinations/{oid('destination', foreign.pk)}"), ("GET", f"recipients/{oid('recipient', foreign.pk)}"),
              ("GET", f"workers/{oid('worker', their_driver.pk)}"), ("GET", f"workers/{oid('worker', their_driver.pk)}/tasks"),
              ("GET", f"workers/{oid('worker', their_driver.pk)}/schedule"), ("GET", f"teams/{oid('team', their_fleet.pk)}"),
              ("GET", f"teams/{oid('team', their_fleet.pk)}/tasks"), ("POST", f"teams/{oid('team', their_fleet.pk)}/dispatch"),
              ("GET", f"organizations/{oid('organization', theirs.pk)}")]
    key = api_token(org)
    for method, path in probes:
        body = {"notes": "x", "completionDetails": {"success": True}} if method in ("PUT", "POST") else None
        r = httpx.request(method, f"{base}/{path}", auth=(key, ""), json=body, timeout=10)
        assert r.status_code == 404 and r.json()["message"]["error"] == 1402, (method, path, r.status_code, r.text[:200])
    foreign.refresh_from_db()
    assert (foreign.status, foreign.instructions) == ("created", "")
    seen = httpx.get(f"{base}/workers", auth=(key, ""), timeout=10).json() + httpx.get(f"{base}/teams", auth=(key, ""), timeout=10).json()
    assert oid("worker", their_driver.pk) not in json.dumps(seen) and oid("team", their_fleet.pk) not in json.dumps(seen)
    anon = httpx.get(f"{base}/tasks/all?from=0", timeout=10)
    assert anon.status_code == 401 and anon.json()["message"]["error"] == 1100
    wrong = httpx.get(f"{base}/organization", auth=("not-a-key", ""), timeout=10)
    assert wrong.status_code == 401 and "Unknown" in wrong.json()["message"]["message"]


def test_the_rate_limit_is_onfleets_twenty_a_second_and_remaining_is_never_zero(day):
    key = api_token(day["org"])
    base = f"{day['live']}/onfleet/api/v2"
    windows: dict[str, list] = {}
    with httpx.Client(auth=(key, ""), timeout=10) as client, ThreadPoolExecutor(20) as pool:
        for _ in range(5):  # bursts of 40 at once until one second's window held more than 20 of them
            time.sleep(1.02 - time.time() % 1)
            for r in pool.map(lambda _: client.get(f"{base}/hubs"), range(40)):
                windows.setdefault(r.headers["X-RateLimit-Reset"], []).append(r)
            if any(len(rs) > 20 for rs in windows.values()):
                break
    crowded = [rs for rs in windows.values() if len(rs) > 20]
    assert crowded, f"no second held more than 20 requests ({[len(rs) for rs in windows.values()]}): the limit was not exercised"
    for answers in windows.values():
        ok = [r for r in answers if r.status_code == 200]
        limited = [r for r in answers if r.status_code == 429]
        assert len(ok) == min(20, len(answers)) and len(limited) == len(answers) - len(ok)
        assert all(r.headers["X-RateLimit-Limit"] == "20" and int(r.headers["X-RateLimit-Remaining"]) >= 1 for r in ok)
        assert all(r.json()["message"]["error"] == 2300 and r.headers["Retry-After"] == "1" for r in limited)
